//! Two nodes stream to one `podwire-server`: an Amazon VPC CNI node (pods on the primary ENI, the
//! secondary ENI and branch ENIs) and a flannel node, each with `podwire-agent run` as a separate
//! process inside it. Every pod of both appears in `GET /api/v1/pods` exactly as the builder wired
//! it, `GET /api/v1/pods/{namespace}/{name}` answers its path hop by hop, and `GET /api/v1/nodes`
//! lists both nodes alive.

mod common;

use common::{
    TOKEN, TestDatabase, caught_up, logs, netns_path, node_differences, nodes, pod_path, pods,
    status_of, token_file, wait_until,
};
use podwire_e2e::agent_run::AgentRun;
use podwire_e2e::relay::NetnsRelay;
use podwire_e2e::server::{ServerOptions, ServerProcess};
use podwire_e2e::topology::flannel::FlannelNode;
use podwire_e2e::topology::vpc_cni::VpcCniNode;
use podwire_e2e::topology::{BuiltNode, NodeKind};

const CLUSTER: &str = "e2e";

#[test]
fn every_pod_of_a_vpc_cni_node_and_a_flannel_node_is_served_with_its_path() {
    let vpc = VpcCniNode::new()
        .pods(2, 2, 2)
        .build()
        .expect("build a VPC CNI node");
    let flannel = FlannelNode::new()
        .pods(3)
        .build()
        .expect("build a flannel node");
    let db = TestDatabase::create();
    let tokens = token_file(TOKEN);
    let server = ServerProcess::start(ServerOptions {
        database_url: Some(db.url.clone()),
        token_file: Some(tokens.path().to_owned()),
        ..ServerOptions::default()
    })
    .expect("start podwire-server");
    let nodes_and_names = [(&vpc, "ip-192-168-31-166"), (&flannel, "flannel-1")];
    let mut relays = Vec::new();
    let mut agents = Vec::new();
    for (node, name) in nodes_and_names {
        let relay =
            NetnsRelay::start(&netns_path(node), server.grpc_addr()).expect("relay to the server");
        agents.push(
            AgentRun::on(node, &relay.url(), CLUSTER, name)
                .token_file(tokens.path())
                .start()
                .expect("start podwire-agent run"),
        );
        relays.push(relay);
    }
    let api = server.api();
    let diagnostics = || logs(&server, &agents.iter().collect::<Vec<_>>());

    for ((node, name), agent) in nodes_and_names.into_iter().zip(&agents) {
        let listed = wait_until(&format!("every pod of {name} listed"), diagnostics, || {
            let listed = pods(&api, CLUSTER, name, None);
            (listed.len() >= node.pods.len()).then_some(listed)
        });
        let differences = node_differences(&listed, node);
        assert!(
            differences.is_empty(),
            "{name}: the API differs from the node as built:\n{}",
            differences.join("\n")
        );
        for interval in &listed {
            assert_eq!(
                (interval.cluster.as_str(), interval.node.as_str()),
                (CLUSTER, name)
            );
            assert_eq!(interval.valid_to, None, "{} is current", interval.label());
        }
        for built in &node.pods {
            check_pod_path(&api, node, built);
        }
        let status = wait_until(
            &format!("the agent of {name} caught up"),
            diagnostics,
            || status_of(agent).filter(caught_up),
        );
        assert_eq!(status["last_collection"]["pods"], node.pods.len());
    }

    let known = nodes(&api);
    assert_eq!(known.len(), 2, "{known:#?}");
    for (node, name) in nodes_and_names {
        let summary = known
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in GET /api/v1/nodes: {known:#?}"));
        assert_eq!(summary["cluster"], CLUSTER);
        assert_eq!(summary["stale"], false, "{summary:#}");
        assert_eq!(summary["pods"], node.pods.len(), "{summary:#}");
        assert_eq!(summary["pods_with_problems"], 0, "{summary:#}");
        let wiring = match node.kind {
            NodeKind::VpcCni => "aws-vpc-cni",
            _ => "flannel",
        };
        assert_eq!(summary["wiring"], wiring, "{summary:#}");
    }
    drop(agents);
}

/// `GET /api/v1/pods/{namespace}/{name}`: one interface, the same columns as the list, and the
/// full path re-resolved from the stored snapshot — host veth, bridge, the rule and table chosen,
/// the egress device, the ENI MAC — with ipamd's ENI for pods on the node's own ENIs.
fn check_pod_path(
    api: &podwire_e2e::api::ApiClient,
    node: &BuiltNode,
    built: &podwire_e2e::topology::BuiltPod,
) {
    let name = built.qualified_name();
    let answer = pod_path(api, &name, None).unwrap_or_else(|| panic!("GET pod {name}: 404"));
    let interfaces = answer["interfaces"].as_array().expect("interfaces");
    assert_eq!(interfaces.len(), 1, "{name}: {answer:#}");
    let interface = &interfaces[0];
    let want = &built.expected;
    assert_eq!(interface["ip"], built.ip.to_string(), "{name}");
    assert_eq!(interface["route_table"], want.table, "{name}");
    assert_eq!(
        interface["egress_device"],
        want.egress_device.as_str(),
        "{name}"
    );
    assert_eq!(interface["eni_mac"], want.eni_mac.as_str(), "{name}");
    let path = &interface["path"];
    assert_eq!(
        path["host_veth"]["name"],
        built.host_veth.as_str(),
        "{name}: {path:#}"
    );
    match &built.bridge {
        Some(bridge) => assert_eq!(path["bridge"]["name"], bridge.as_str(), "{name}"),
        None => assert!(path["bridge"].is_null(), "{name}: {path:#}"),
    }
    let egress = &path["egress"];
    assert_eq!(
        egress["destination"],
        node.probe.to_string(),
        "{name}: {egress:#}"
    );
    assert_eq!(egress["table"], want.table, "{name}: {egress:#}");
    assert_eq!(
        egress["egress_device"]["name"],
        want.egress_device.as_str(),
        "{name}: {egress:#}"
    );
    assert_eq!(
        egress["eni_mac"],
        want.eni_mac.as_str(),
        "{name}: {egress:#}"
    );
    assert_eq!(path["problems"], serde_json::json!([]), "{name}: {path:#}");
    assert!(
        interface["snapshot"]["collected_at"].is_string(),
        "{name}: resolved from a stored snapshot: {interface:#}"
    );
    let on_own_eni = node.kind == NodeKind::VpcCni && want.vlan_id.is_none();
    if on_own_eni {
        let eni = &interface["eni"];
        assert_eq!(
            eni["device"],
            want.egress_device.as_str(),
            "{name}: {eni:#}"
        );
        assert_eq!(eni["mac"], want.eni_mac.as_str(), "{name}: {eni:#}");
        assert_eq!(eni["route_table"], want.table, "{name}: {eni:#}");
        assert!(
            eni["eni_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("eni-")),
            "{name}: {eni:#}"
        );
    } else {
        assert!(interface["eni"].is_null(), "{name}: {interface:#}");
    }
}
