//! EC2 enrichment end to end: moto (the EC2 emulator, from the venv `deploy/local/install-deps
//! test` creates) seeded like an EKS node with security groups for pods — an instance with its
//! primary ENI, a secondary ENI, a trunk ENI and branch ENIs described and tagged as the EKS VPC
//! resource controller does; the VPC CNI node built in network namespaces with the MACs moto
//! chose; `podwire-agent run` streaming to `podwire-server`, whose enrichment asks moto.
//!
//! Checked as a person would: `GET /api/v1/pods/{ns}/{name}` names each pod's ENI (id, type,
//! security groups, subnet with CIDR and free count) for primary-, secondary- and branch-ENI
//! pods; the free count follows moto when addresses are assigned; with moto down the paths are
//! still served and enrichment is marked stale, and it recovers when moto is back (moto keeps
//! state in memory only: the restarted, empty moto is seeded again with the same random seed, so
//! it hands out the same ids and MACs); and `podwire-agent inspect --ec2-enis FILE`, given
//! moto's describe-network-interfaces JSON, names the same ENI for every pod as the API. The same
//! facts reach the pod pages (the path ends at the ENI with type, security group and subnet), the
//! ENI endpoint and page (a trunk lists its branches, a branch names its trunk), the subnets list
//! (CIDR, moto's free count) and the nodes list (m5.large: 3 ENIs).

mod common;

use common::{TOKEN, TestDatabase, logs, netns_path, pod_path, token_file, wait_until};
use podwire_e2e::agent::Inspect;
use podwire_e2e::agent_run::AgentRun;
use podwire_e2e::api::ApiClient;
use podwire_e2e::moto::{Moto, MotoNode};
use podwire_e2e::relay::NetnsRelay;
use podwire_e2e::server::{ServerOptions, ServerProcess};
use podwire_e2e::topology::vpc_cni::{GivenEnis, VpcCniNode};
use podwire_e2e::topology::{BuiltNode, BuiltPod};
use serde_json::Value;

const CLUSTER: &str = "e2e";
const BRANCH_PODS: usize = 2;

/// The ENI a pod should be named with: (id, type, security group id, security group name).
fn expected_eni<'a>(seeded: &'a MotoNode, pod: &BuiltPod) -> (&'a str, &'static str, &'a str) {
    let mac = pod.expected.eni_mac.as_str();
    if let Some(branch) = seeded.branches.iter().find(|b| b.mac == mac) {
        return (&branch.id, "branch", &seeded.pod_sg);
    }
    if seeded.primary.mac == mac {
        return (&seeded.primary.id, "primary", &seeded.node_sg);
    }
    assert_eq!(seeded.secondary.mac, mac, "{}", pod.qualified_name());
    (&seeded.secondary.id, "secondary", &seeded.node_sg)
}

/// `GET path` as a page: 200 and its HTML.
fn page(api: &ApiClient, path: &str) -> String {
    let response = api.get(path).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(response.status, 200, "{path}: {}", response.body);
    response.body
}

/// What the dashboard and the other endpoints make of the same EC2 facts: each pod's page ends
/// its path at the ENI with type, security group and subnet; a trunk and its branches name each
/// other (API and page); the subnet carries moto's CIDR and free count; the node its m5.large's
/// ENI limit.
fn pages_and_lists_show_ec2(
    api: &ApiClient,
    moto: &Moto,
    seeded: &MotoNode,
    node: &BuiltNode,
    diagnostics: &dyn Fn() -> String,
) {
    for pod in &node.pods {
        let (id, kind, sg) = expected_eni(seeded, pod);
        let name = pod.qualified_name();
        let html = page(api, &format!("/pods/{name}"));
        for expected in [
            format!("{id} ({kind}, {})", pod.expected.eni_mac),
            sg.to_owned(),
            format!("{} · 192.168.0.0/19", seeded.subnet_id),
        ] {
            assert!(
                html.contains(&expected),
                "{name}: page lacks {expected:?}\n{html}"
            );
        }
    }

    let trunk = &seeded.trunk.id;
    let trunk_answer = api
        .json(&format!("/api/v1/enis/{trunk}"))
        .expect("the trunk ENI");
    assert_eq!(trunk_answer["ec2"]["type"], "trunk", "{trunk_answer:#}");
    let branch_ids: Vec<&str> = trunk_answer["branch_enis"]
        .as_array()
        .expect("branch_enis")
        .iter()
        .filter_map(|b| b["eni_id"].as_str())
        .collect();
    let trunk_page = page(api, &format!("/enis/{trunk}"));
    for branch in &seeded.branches {
        assert!(branch_ids.contains(&branch.id.as_str()), "{trunk_answer:#}");
        assert!(
            trunk_page.contains(&branch.id),
            "trunk page lacks {}",
            branch.id
        );
        // A branch ENI, which no ipamd lists, is found by id and names its trunk and its pod.
        let answer = api
            .json(&format!("/api/v1/enis/{}", branch.id))
            .expect("a branch ENI by id");
        assert_eq!(answer["ec2"]["type"], "branch", "{answer:#}");
        assert_eq!(answer["trunk_eni_id"], trunk.as_str(), "{answer:#}");
        let pod = node
            .pods
            .iter()
            .find(|p| p.expected.eni_mac == branch.mac)
            .expect("a pod on the branch ENI");
        assert_eq!(answer["pods"][0]["name"], pod.name, "{answer:#}");
        let branch_page = page(api, &format!("/enis/{}", branch.id));
        assert!(
            branch_page.contains(trunk.as_str()),
            "branch page lacks its trunk"
        );
    }

    let free = moto.available_ips(&seeded.subnet_id).expect("subnet");
    let subnet = wait_until("subnet listed with moto's figures", diagnostics, || {
        let answer = api.json("/api/v1/subnets").ok()?;
        let subnet = answer["subnets"]
            .as_array()?
            .iter()
            .find(|s| s["subnet_id"] == seeded.subnet_id.as_str())?
            .clone();
        (subnet["ec2"]["available_ip_address_count"] == free).then_some(subnet)
    });
    assert_eq!(subnet["ec2"]["cidr"], "192.168.0.0/19", "{subnet:#}");
    assert!(subnet["utilization_percent"].is_f64(), "{subnet:#}");

    let node_row = wait_until("the node's ENI limit", diagnostics, || {
        let answer = api.json("/api/v1/nodes").ok()?;
        answer["nodes"]
            .as_array()?
            .iter()
            .find(|n| n["max_enis"].is_i64())
            .cloned()
    });
    assert_eq!(node_row["max_enis"], 3, "m5.large: {node_row:#}");
    assert_eq!(node_row["instance_id"], seeded.instance_id, "{node_row:#}");
    assert_eq!(node_row["instance_type"], "m5.large", "{node_row:#}");
}

/// The pod's one interface, once `check` holds for it.
fn interface_when(
    api: &ApiClient,
    pod: &BuiltPod,
    what: &str,
    diagnostics: &dyn Fn() -> String,
    check: impl Fn(&Value, &Value) -> bool,
) -> (Value, Value) {
    let name = pod.qualified_name();
    wait_until(&format!("{name}: {what}"), diagnostics, || {
        let answer = pod_path(api, &name, None)?;
        let interface = answer["interfaces"][0].clone();
        check(&interface, &answer).then_some((interface, answer["enrichment"].clone()))
    })
}

#[test]
fn pod_paths_name_their_ec2_enis_and_survive_an_ec2_outage() {
    let mut moto = Moto::start().expect("start moto");
    let seeded = moto.seed_node(BRANCH_PODS).expect("seed moto");
    let mac = |eni: &podwire_e2e::moto::MotoEni| eni.mac().expect("moto MAC");
    let node: BuiltNode = VpcCniNode::new()
        .pods(2, 2, BRANCH_PODS)
        .given_enis(GivenEnis {
            subnet_id: seeded.subnet_id.clone(),
            node: [
                (seeded.primary.id.clone(), mac(&seeded.primary)),
                (seeded.secondary.id.clone(), mac(&seeded.secondary)),
                (seeded.trunk.id.clone(), mac(&seeded.trunk)),
            ],
            branches: seeded
                .branches
                .iter()
                .map(|b| {
                    let m = podwire_e2e::moto::MotoEni {
                        id: b.id.clone(),
                        mac: b.mac.clone(),
                    };
                    (b.id.clone(), mac(&m))
                })
                .collect(),
        })
        .build()
        .expect("build a VPC CNI node with moto's MACs");

    let db = TestDatabase::create();
    let tokens = token_file(TOKEN);
    let server = ServerProcess::start(ServerOptions {
        database_url: Some(db.url.clone()),
        token_file: Some(tokens.path().to_owned()),
        args: [
            "--ec2-enrichment",
            "on",
            "--ec2-refresh-interval",
            "1s",
            "--ec2-min-call-interval",
            "10ms",
            "--ec2-retries",
            "1",
        ]
        .map(str::to_owned)
        .to_vec(),
        env: moto.server_env(),
        ..ServerOptions::default()
    })
    .expect("start podwire-server");
    let relay = NetnsRelay::start(&netns_path(&node), server.grpc_addr()).expect("relay");
    let agent = AgentRun::on(&node, &relay.url(), CLUSTER, "ip-192-168-31-166")
        .token_file(tokens.path())
        .start()
        .expect("start podwire-agent run");
    let api = server.api();
    let diagnostics = || logs(&server, &[&agent]);

    // Every pod names its ENI as EC2 describes it.
    let mut answered = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for pod in &node.pods {
        let (id, kind, sg) = expected_eni(&seeded, pod);
        let (interface, enrichment) =
            interface_when(&api, pod, "ENI described", &diagnostics, |i, _| {
                i["ec2_eni"]["id"] == id
            });
        let eni = &interface["ec2_eni"];
        let name = pod.qualified_name();
        assert_eq!(eni["type"], kind, "{name}: {eni:#}");
        assert_eq!(eni["mac"], pod.expected.eni_mac, "{name}: joined by MAC");
        assert_eq!(eni["vpc_id"], seeded.vpc_id, "{name}");
        let groups = eni["security_groups"].as_array().expect("security groups");
        assert_eq!(groups.len(), 1, "{name}: {eni:#}");
        assert_eq!(groups[0]["id"], sg, "{name}");
        let sg_name = if kind == "branch" {
            "payments-pods"
        } else {
            "eks-node"
        };
        assert_eq!(groups[0]["name"], sg_name, "{name}");
        assert_eq!(eni["subnet"]["id"], seeded.subnet_id, "{name}");
        assert_eq!(eni["subnet"]["cidr"], "192.168.0.0/19", "{name}");
        assert!(
            eni["subnet"]["available_ip_address_count"].is_i64(),
            "{name}: {eni:#}"
        );
        if kind == "branch" {
            assert_eq!(
                eni["vlan_id"], interface["vlan_id"],
                "{name}: vlan tag = vlan link"
            );
            assert_eq!(eni["description"], "aws-k8s-branch-eni", "{name}");
        }
        assert_eq!(enrichment["stale"], false, "{name}: {enrichment:#}");
        kinds.insert(kind);
        answered.push((name, eni["id"].clone()));
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["branch", "primary", "secondary"]
    );
    pages_and_lists_show_ec2(&api, &moto, &seeded, &node, &diagnostics);

    // inspect --ec2-enis names the same ENI for every pod.
    let described = tempfile::NamedTempFile::new().expect("temp file");
    let json = moto.describe_enis_json().expect("describe ENIs");
    std::fs::write(described.path(), json.to_string()).expect("write describe JSON");
    let report = Inspect::on(&node)
        .ec2_enis(described.path())
        .json()
        .expect("inspect --ec2-enis");
    for (name, id) in &answered {
        let row = report
            .pods
            .iter()
            .find(|p| {
                format!(
                    "{}/{}",
                    p.namespace.as_deref().unwrap_or(""),
                    p.name.as_deref().unwrap_or("")
                ) == *name
            })
            .unwrap_or_else(|| panic!("{name} missing from inspect"));
        assert_eq!(
            row.eni_id.as_deref(),
            id.as_str(),
            "{name}: inspect and the API"
        );
    }
    let branch_row = report
        .pods
        .iter()
        .find(|p| p.vlan_id.is_some())
        .expect("a branch pod");
    assert_eq!(branch_row.eni_type.as_deref(), Some("branch"));

    // Free addresses follow moto: assign five more to the secondary ENI.
    let probe = &node.pods[0];
    let before = moto.available_ips(&seeded.subnet_id).expect("subnet");
    moto.assign_ips(&seeded.secondary.id, 5)
        .expect("assign IPs");
    let after = moto.available_ips(&seeded.subnet_id).expect("subnet");
    assert_eq!(after, before - 5, "moto counts assigned addresses");
    interface_when(&api, probe, "free count dropped", &diagnostics, |i, _| {
        i["ec2_eni"]["subnet"]["available_ip_address_count"] == after
    });

    // EC2 down: paths still served with what was described, marked stale with the reason.
    moto.kill();
    let (interface, enrichment) =
        interface_when(&api, probe, "enrichment stale", &diagnostics, |_, a| {
            a["enrichment"]["stale"] == true
        });
    assert!(
        enrichment["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("DescribeNetworkInterfaces")),
        "{enrichment:#}"
    );
    assert!(
        !interface["ec2_eni"].is_null(),
        "the last description is kept"
    );
    assert!(
        interface["egress_device"].is_string(),
        "the path is still served"
    );

    // EC2 back (same port, seeded again with the same seed): fresh again. A refresh between the
    // restart and the seeding finds none of the MACs and closes their ENIs' intervals; the next
    // one describes them again.
    moto.restart().expect("restart moto");
    let reseeded = moto.seed_node(BRANCH_PODS).expect("seed moto again");
    assert_eq!(reseeded.primary.mac, seeded.primary.mac, "the same MACs");
    let (_, enrichment) =
        interface_when(&api, probe, "enrichment recovered", &diagnostics, |i, a| {
            a["enrichment"]["stale"] == false && i["ec2_eni"]["id"] == answered[0].1
        });
    assert_eq!(enrichment["last_error"], Value::Null);
    drop(agent);
}
