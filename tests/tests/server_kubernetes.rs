//! Kubernetes end to end: `podwire-server --kubeconfig … --agent-token-review` beside an Amazon
//! VPC CNI node (a pod on the primary ENI, two on branch ENIs) whose `podwire-agent run`
//! authenticates with a ServiceAccount token.
//!
//! No Kubernetes API server can run here (no kube-apiserver, no etcd): `podwire_e2e::kube_api`
//! stands in for one, serving Pod and Node objects shaped like `kubectl get --raw` output
//! (`tests/fixtures/kube/`, renamed to the pods the test builds) and answering TokenReviews, over
//! plain HTTP through a generated kubeconfig.
//!
//! Checked as a person would: the agent with the podwire ServiceAccount's token is accepted and
//! one with a token for another audience is refused UNAUTHENTICATED with nothing of its node
//! stored; every pod's path carries its workload and labels; the branch pod whose
//! `vpc.amazonaws.com/pod-eni` annotation matches the kernel agrees on every cross-check, and the
//! one whose annotation names another vlan id is flagged — in the API and on the pod page.

mod common;

use common::{TestDatabase, logs, netns_path, nodes, pod_path, pods, wait_until};
use podwire_e2e::agent_run::AgentRun;
use podwire_e2e::kube_api::{KubeApi, fixture};
use podwire_e2e::relay::NetnsRelay;
use podwire_e2e::server::{ServerOptions, ServerProcess};
use podwire_e2e::topology::BuiltPod;
use podwire_e2e::topology::vpc_cni::VpcCniNode;
use serde_json::{Value, json};

const CLUSTER: &str = "e2e";
const NODE: &str = "ip-192-168-31-166";
const REFUSED_NODE: &str = "ip-192-168-9-59";
const AGENT_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.podwire-agent-projected-token";
const OTHER_AUDIENCE_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.api-server-audience-token";

/// The recorded Deployment pod, renamed to `built` (its IP, its node), with `annotation` as its
/// `vpc.amazonaws.com/pod-eni` when given.
fn pod_object(template: &Value, built: &BuiltPod, annotation: Option<Value>) -> Value {
    let mut pod = template.clone();
    pod["metadata"]["name"] = json!(built.name);
    pod["metadata"]["namespace"] = json!(built.namespace);
    pod["metadata"]["uid"] = json!(built.uid);
    pod["metadata"]["labels"]["podwire.test/pod"] = json!(built.name);
    pod["spec"]["nodeName"] = json!(NODE);
    pod["status"]["podIP"] = json!(built.ip.to_string());
    pod["status"]["podIPs"] = json!([{"ip": built.ip.to_string()}]);
    if let Some(annotation) = annotation {
        pod["metadata"]["annotations"] =
            json!({"vpc.amazonaws.com/pod-eni": annotation.to_string()});
    }
    pod
}

/// The annotation the VPC resource controller writes for a branch pod, with its vlan id moved
/// by `vlan_offset`.
fn pod_eni(built: &BuiltPod, vlan_offset: u16) -> Value {
    let vlan = built.expected.vlan_id.expect("a branch pod") + vlan_offset;
    json!([{
        "eniId": format!("eni-0b{:015x}", u64::from(vlan)),
        "ifAddress": built.expected.eni_mac,
        "privateIp": built.ip.to_string(),
        "vlanId": vlan,
        "subnetCidr": "192.168.0.0/19"
    }])
}

fn checks(interface: &Value) -> Vec<(String, bool)> {
    interface["cross_checks"]
        .as_array()
        .expect("cross_checks")
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap_or("").to_owned(),
                c["agrees"] == true,
            )
        })
        .collect()
}

#[test]
fn pod_paths_carry_workload_labels_and_branch_eni_cross_checks_for_service_account_agents() {
    let node = VpcCniNode::new()
        .pods(1, 0, 2)
        .build()
        .expect("build a VPC CNI node");
    let branch: Vec<&BuiltPod> = node
        .pods
        .iter()
        .filter(|p| p.expected.vlan_id.is_some())
        .collect();
    let primary = node
        .pods
        .iter()
        .find(|p| p.expected.vlan_id.is_none())
        .expect("a primary-ENI pod");
    let (agreeing, disagreeing) = (branch[0], branch[1]);

    let kube = KubeApi::start().expect("start the stand-in API server");
    let recorded = fixture("pods.json").expect("pods fixture");
    let template = &recorded["items"][1];
    let items = vec![
        pod_object(template, primary, None),
        pod_object(template, agreeing, Some(pod_eni(agreeing, 0))),
        pod_object(template, disagreeing, Some(pod_eni(disagreeing, 1))),
    ];
    kube.serve_list(
        "/api/v1/pods",
        &json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}),
    );
    let mut nodes_list = fixture("nodes.json").expect("nodes fixture");
    nodes_list["items"][0]["metadata"]["name"] = json!(NODE);
    kube.serve_list("/api/v1/nodes", &nodes_list);
    kube.service_account_token(AGENT_TOKEN, "podwire", "podwire-agent", &["podwire"]);
    kube.service_account_token(
        OTHER_AUDIENCE_TOKEN,
        "podwire",
        "podwire-agent",
        &["https://kubernetes.default.svc"],
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kubeconfig = kube.write_kubeconfig(dir.path()).expect("kubeconfig");

    let db = TestDatabase::create();
    let server = ServerProcess::start(ServerOptions {
        database_url: Some(db.url.clone()),
        args: [
            "--kubeconfig",
            &kubeconfig.to_string_lossy(),
            "--kubernetes-cluster",
            CLUSTER,
            "--agent-token-review",
            "--agent-service-account",
            "podwire/podwire-agent",
        ]
        .map(str::to_owned)
        .to_vec(),
        ..ServerOptions::default()
    })
    .expect("start podwire-server");
    let relay = NetnsRelay::start(&netns_path(&node), server.grpc_addr()).expect("relay");
    let token_file = |token: &str| {
        let path = dir.path().join(format!("token-{}", token.len()));
        std::fs::write(&path, token).expect("write a projected token");
        path
    };
    let agent = AgentRun::on(&node, &relay.url(), CLUSTER, NODE)
        .token_file(&token_file(AGENT_TOKEN))
        .start()
        .expect("start the agent");
    let refused = AgentRun::on(&node, &relay.url(), CLUSTER, REFUSED_NODE)
        .token_file(&token_file(OTHER_AUDIENCE_TOKEN))
        .arg("--status-listen", "127.0.0.1:9103")
        .arg("--rejected-backoff", "3s")
        .start()
        .expect("start the agent with a token for another audience");
    let api = server.api();
    let diagnostics = || logs(&server, &[&agent, &refused]);

    wait_until("every pod listed", diagnostics, || {
        (pods(&api, CLUSTER, NODE, None).len() >= node.pods.len()).then_some(())
    });
    wait_until("the pods reflected", diagnostics, || {
        let status = api.json("/api/v1/kubernetes").ok()?;
        let pods = status["resources"]
            .as_array()?
            .iter()
            .find(|r| r["resource"] == "pods")?
            .clone();
        (pods["state"] == "synced" && pods["objects"] == 3).then_some(())
    });

    for built in [primary, agreeing, disagreeing] {
        let name = built.qualified_name();
        let answer = pod_path(&api, &name, None).unwrap_or_else(|| panic!("{name}: 404"));
        let k8s = &answer["kubernetes"];
        assert_eq!(k8s["uid"], built.uid.as_str(), "{name}: {k8s:#}");
        assert_eq!(
            k8s["workload"],
            json!({"kind": "Deployment", "name": "api"}),
            "{name}"
        );
        assert_eq!(
            k8s["labels"]["podwire.test/pod"],
            built.name.as_str(),
            "{name}"
        );
        assert_eq!(k8s["node_name"], NODE, "{name}");
        assert_eq!(k8s["pod_ips"], json!([built.ip.to_string()]), "{name}");
        assert_eq!(
            k8s["node"]["instance_id"], "i-01ac2403f4932c7ee",
            "{name}: {k8s:#}"
        );
        assert_eq!(k8s["node"]["trunk_attached"], true, "{name}");
        let interface = &answer["interfaces"][0];
        let found = checks(interface);
        let disagreements: Vec<&str> = found
            .iter()
            .filter(|(_, agrees)| !agrees)
            .map(|(check, _)| check.as_str())
            .collect();
        if std::ptr::eq(built, primary) {
            assert_eq!(found, [("node".to_owned(), true)], "{name}: {interface:#}");
            assert!(k8s["pod_eni"].is_null(), "{name}");
        } else if std::ptr::eq(built, agreeing) {
            assert_eq!(found.len(), 4, "{name}: {interface:#}");
            assert!(disagreements.is_empty(), "{name}: {interface:#}");
            assert_eq!(
                k8s["pod_eni"][0]["vlanId"],
                json!(built.expected.vlan_id),
                "{name}"
            );
        } else {
            assert_eq!(
                disagreements,
                ["branch-eni-vlan-id"],
                "{name}: {interface:#}"
            );
        }
    }

    // The pod page shows the workload and labels, and the disagreement among the problems.
    let page = api
        .get(&format!("/pods/{}", disagreeing.qualified_name()))
        .expect("the pod page");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Deployment api"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("podwire.test/pod={}", disagreeing.name))
    );
    assert!(
        page.body.contains("kubernetes: branch-eni-vlan-id"),
        "{}",
        page.body
    );

    // The agent whose token is bound to another audience: refused, nothing of its node stored.
    // (Its status endpoint is on another port than the kit asks, so its log tells.)
    let refusal = wait_until("the other agent refused", diagnostics, || {
        refused
            .log()
            .lines()
            .find(|l| l.contains("the server refused this agent"))
            .map(str::to_owned)
    });
    assert!(refusal.contains("Unauthenticated"), "{refusal}");
    let known: Vec<String> = nodes(&api)
        .iter()
        .map(|n| n["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(known, [NODE]);
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM nodes WHERE name = '{REFUSED_NODE}'"
        )),
        0
    );
    assert!(kube.token_reviews() >= 2);
    drop((agent, refused));
}
