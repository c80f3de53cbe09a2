//! The server's Kubernetes reflectors and its TokenReview authenticator against an API server.
//!
//! No Kubernetes API server can run here (no kube-apiserver, no etcd): `podwire_e2e::kube_api`
//! stands in for one, serving API objects shaped like `kubectl get --raw` output
//! (`tests/fixtures/kube/`) with the list, watch (newline-delimited `WatchEvent`s, a 410 Gone
//! `ERROR` event once the history is compacted), discovery and TokenReview protocol, over plain
//! HTTP, reached through a generated kubeconfig.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use podwire_e2e::kube_api::{KubeApi, fixture};
use podwire_server::cluster::client::connect;
use podwire_server::cluster::reflectors::KubeDirectory;
use podwire_server::cluster::status::{KubernetesStatus, ResourceState};
use podwire_server::cluster::{ClusterDirectory, TokenReviewSettings};
use podwire_server::ingest::token_review::TokenReviewer;
use podwire_server::ingest::{AgentAuthenticator, AuthError};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinSet;

const PODS: &str = "/api/v1/pods";
const NODES: &str = "/api/v1/nodes";
const ENI_CONFIGS: &str = "/apis/crd.k8s.amazonaws.com/v1alpha1/eniconfigs";
const NODE: &str = "ip-192-168-31-166.eu-west-1.compute.internal";

/// The recorded cluster: pods, nodes, ENIConfigs; no SecurityGroupPolicy CRD.
fn recorded_cluster() -> KubeApi {
    let api = KubeApi::start().expect("start the stand-in API server");
    api.serve_list(PODS, &fixture("pods.json").expect("pods fixture"));
    api.serve_list(NODES, &fixture("nodes.json").expect("nodes fixture"));
    api.serve_group(
        "crd.k8s.amazonaws.com/v1alpha1",
        "eniconfigs",
        "ENIConfig",
        false,
    );
    api.serve_list(
        ENI_CONFIGS,
        &fixture("eniconfigs.json").expect("eniconfigs fixture"),
    );
    api
}

/// Waits (bounded, checking every 50 ms) until `probe` holds; nothing is timed.
async fn eventually<F, Fut>(what: &str, diagnostics: impl Fn() -> String, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..1200 {
        if probe().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within a minute\n{}", diagnostics());
}

fn state_of(status: &KubernetesStatus, resource: &str) -> Option<(ResourceState, usize, u64)> {
    status
        .resources
        .iter()
        .find(|r| r.resource == resource)
        .map(|r| (r.state, r.objects, r.lists))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflectors_list_watch_and_relist_after_a_410() {
    let api = recorded_cluster();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kubeconfig = api.write_kubeconfig(dir.path()).expect("kubeconfig");
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let directory = KubeDirectory::start(
        connect(Some(&kubeconfig)).await,
        Some("ironman-2022".into()),
        &mut tasks,
        stopping,
    );
    let status = || format!("{:#?}", directory.status());
    eventually("every resource synced or found absent", status, || {
        let s = directory.status();
        async move {
            state_of(&s, "pods") == Some((ResourceState::Synced, 3, 1))
                && state_of(&s, "nodes") == Some((ResourceState::Synced, 2, 1))
                && state_of(&s, "eniconfigs.crd.k8s.amazonaws.com")
                    == Some((ResourceState::Synced, 1, 1))
                && state_of(&s, "securitygrouppolicies.vpcresources.k8s.aws")
                    .is_some_and(|(state, ..)| state == ResourceState::Absent)
        }
    })
    .await;
    assert!(directory.status().connection_error.is_none());

    // The branch-ENI pod of seed 002, its annotation parsed; managedFields trimmed.
    let pod = directory
        .pod("default", "aws-cli")
        .expect("aws-cli reflected");
    assert_eq!(pod.uid, "b6f0b3d4-5c1e-4c8a-9f0e-2d7a1c3e9b41");
    assert_eq!(pod.labels["role"], "trusted");
    assert_eq!(pod.workload, None);
    assert_eq!(pod.node_name.as_deref(), Some(NODE));
    assert_eq!(
        pod.pod_ips,
        ["192.168.26.162".parse::<std::net::IpAddr>().unwrap()]
    );
    let enis = pod.pod_eni.clone().expect("annotated").expect("parsed");
    assert_eq!(enis[0].eni_id, "eni-09a7a909e06fc4be6");
    assert_eq!(enis[0].vlan_id, 1);
    assert_eq!(enis[0].if_address.to_string(), "02:b0:01:6c:b5:79");
    let stored = directory.pod_object("default", "aws-cli").expect("stored");
    assert!(
        stored
            .metadata
            .managed_fields
            .as_ref()
            .is_none_or(Vec::is_empty),
        "managedFields kept: {:?}",
        stored.metadata.managed_fields
    );

    // Workloads: ReplicaSet followed to its Deployment by name; a DaemonSet as it is.
    let deployed = directory
        .pod("payments", "api-7d4b9c8f6d-x2xkq")
        .expect("api pod");
    let workload = deployed.workload.expect("owned");
    assert_eq!(
        (workload.kind.as_str(), workload.name.as_str()),
        ("Deployment", "api")
    );
    let aws_node = directory
        .pod("kube-system", "aws-node-8xq5w")
        .expect("aws-node");
    assert!(aws_node.host_network);
    assert_eq!(aws_node.workload.expect("owned").kind, "DaemonSet");

    // Nodes: providerID → instance id and zone; the EKS labels; the node's ENIConfig.
    let node = directory.node(NODE).expect("node reflected");
    assert_eq!(node.instance_id.as_deref(), Some("i-01ac2403f4932c7ee"));
    assert_eq!(node.availability_zone.as_deref(), Some("eu-west-1a"));
    assert_eq!(node.instance_type.as_deref(), Some("m5.large"));
    assert_eq!(node.trunk_attached, Some(true));
    assert_eq!(node.eni_config.as_deref(), Some("eu-west-1a"));
    let eni_config = directory.eni_config("eu-west-1a").expect("ENIConfig");
    assert_eq!(
        eni_config.subnet.as_deref(),
        Some("subnet-0e863f9fbcda592a3")
    );
    assert_eq!(eni_config.security_groups, ["sg-032f6354cf0b25196"]);

    // A watched change arrives without a new list.
    let mut added = fixture("pods.json").expect("pods fixture")["items"][1].clone();
    added["metadata"]["name"] = json!("api-7d4b9c8f6d-k9z2m");
    api.put(PODS, added, true);
    eventually("the watched pod", status, || {
        let found = directory.pod("payments", "api-7d4b9c8f6d-k9z2m").is_some();
        async move { found }
    })
    .await;
    assert_eq!(api.lists(PODS), 1);

    // Changes the watch never saw (history compacted), then 410 Gone: only a relist finds them.
    let mut unseen = fixture("pods.json").expect("pods fixture")["items"][1].clone();
    unseen["metadata"]["name"] = json!("api-7d4b9c8f6d-unseen");
    api.put(PODS, unseen, false);
    api.delete(PODS, "default/aws-cli", false);
    assert!(directory.pod("default", "aws-cli").is_some());
    api.expire_watches();
    eventually("the relisted pods", status, || {
        let relisted = directory.pod("payments", "api-7d4b9c8f6d-unseen").is_some()
            && directory.pod("default", "aws-cli").is_none();
        async move { relisted }
    })
    .await;
    assert!(api.lists(PODS) >= 2, "relisted: {}", api.lists(PODS));
    let (_, objects, lists) = state_of(&directory.status(), "pods").expect("pods");
    // The three recorded, the watched one and the unseen one, without aws-cli.
    assert_eq!(objects, 4, "{}", status());
    assert!(lists >= 2, "{}", status());
    eventually("pods synced again", status, || {
        let s = state_of(&directory.status(), "pods").map(|p| p.0);
        async move { s == Some(ResourceState::Synced) }
    })
    .await;

    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_review_accepts_only_the_agent_service_account_for_its_audience() {
    let api = KubeApi::start().expect("start the stand-in API server");
    api.service_account_token("agent-token", "podwire", "podwire-agent", &["podwire"]);
    api.service_account_token(
        "wrong-audience",
        "podwire",
        "podwire-agent",
        &["https://kubernetes.default.svc"],
    );
    api.service_account_token("wrong-account", "default", "default", &["podwire"]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kubeconfig = api.write_kubeconfig(dir.path()).expect("kubeconfig");
    let client = connect(Some(&kubeconfig)).await.expect("a client");
    let reviewer: Arc<dyn AgentAuthenticator> = Arc::new(TokenReviewer::new(
        client,
        TokenReviewSettings {
            audience: "podwire".into(),
            namespace: "podwire".into(),
            service_account: "podwire-agent".into(),
            cache_for: Duration::from_secs(60),
        },
    ));
    let principal = reviewer
        .authenticate(Some("agent-token"))
        .await
        .expect("the agent's token is accepted");
    assert!(
        principal
            .name
            .starts_with("system:serviceaccount:podwire:podwire-agent (pod podwire-agent-x7k2p"),
        "{}",
        principal.name
    );
    for token in ["wrong-audience", "wrong-account", "not-a-token"] {
        assert!(
            matches!(
                reviewer.authenticate(Some(token)).await,
                Err(AuthError::Rejected)
            ),
            "{token} accepted"
        );
    }
    assert!(matches!(
        reviewer.authenticate(None).await,
        Err(AuthError::Missing)
    ));
    // Accepted tokens are remembered; refused ones are asked again.
    let asked = api.token_reviews();
    reviewer
        .authenticate(Some("agent-token"))
        .await
        .expect("cached");
    assert_eq!(api.token_reviews(), asked);
    let _ = reviewer.authenticate(Some("not-a-token")).await;
    assert_eq!(api.token_reviews(), asked + 1);

    // The API server gone: the agent is told to retry, not that it is refused.
    drop(api);
    assert!(matches!(
        reviewer.authenticate(Some("another-token")).await,
        Err(AuthError::Unavailable(_))
    ));
}
