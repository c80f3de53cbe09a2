//! flannel as seed 001 shows it: pod veths on `cni0`, other nodes' pod subnets routed onlink
//! through the VXLAN device `flannel.1`, which sends from the node's address on eth0.

use super::builder::*;
use crate::model::{CniNetworkConfig, CniPluginConfig};
use crate::resolver::Wiring;

pub const ETH0_MAC: &str = "02:42:0a:00:00:0b";

/// A flannel node; `flannel.1` is pinned to `dev` and/or sends from `local`.
pub fn flannel_node(dev: Option<&str>, local: Option<&str>) -> Node {
    let mut node = Node::new();
    node.device("eth0", ETH0_MAC);
    node.addr("eth0", "10.0.0.11/24");
    node.bridge("cni0", "0a:58:0a:f4:00:01");
    node.addr("cni0", "10.244.0.1/24");
    node.vxlan("flannel.1", "5e:c4:91:2a:77:03", 1, dev, local);
    node.addr("flannel.1", "10.244.0.0/32");
    for (name, ip, veth) in [
        ("nginx-6799fc88d8-8s7zq", "10.244.0.5/24", "vethcd30ef34"),
        ("redis-0", "10.244.0.6/24", "veth5e2f1a9b"),
    ] {
        node.pod(
            Pod::bridged(name, ip, veth, "cni0", "10.244.0.1")
                .plugins("cbr0", &["flannel", "portmap"]),
        );
    }
    node.routes(
        "default via 10.0.0.1 dev eth0
         10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.11
         10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1
         10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink
         local 10.0.0.11 dev eth0 table local proto kernel scope host src 10.0.0.11",
    );
    node.snapshot.cni.configs.push(CniNetworkConfig {
        file: "etc/cni/net.d/10-flannel.conflist".into(),
        name: "cbr0".into(),
        cni_version: Some("0.3.1".into()),
        plugins: vec![
            CniPluginConfig {
                plugin_type: "flannel".into(),
                bridge: None,
                ipam: None,
                delegate_type: None,
            },
            CniPluginConfig {
                plugin_type: "portmap".into(),
                bridge: None,
                ipam: None,
                delegate_type: None,
            },
        ],
    });
    node
}

#[test]
fn flannel_pod_enters_on_cni0_and_leaves_through_eth0() {
    let node = flannel_node(Some("eth0"), Some("10.0.0.11"));
    let pod = node.path("nginx-6799fc88d8-8s7zq");
    assert_eq!(pod.wiring, Wiring::Flannel);
    assert_eq!(pod.host_veth.as_ref().unwrap().name, "vethcd30ef34");
    assert_eq!(pod.bridge.as_ref().unwrap().name, "cni0");
    assert_eq!(pod.pod_interface.gateway.unwrap().to_string(), "10.244.0.1");
    assert_eq!(pod.rules, vec![], "flannel selects pods by no rule");
    let egress = pod.egress.as_ref().unwrap();
    assert_eq!(egress.ingress.name, "cni0");
    assert_eq!(pod.table(), Some(254));
    assert_eq!(pod.egress_device().unwrap().name, "eth0");
    assert_eq!(pod.eni_mac().unwrap().to_string(), ETH0_MAC);
    assert_eq!(pod.problems, vec![]);
}

#[test]
fn traffic_to_another_nodes_pods_crosses_flannel_1_down_to_eth0() {
    let cases = [
        (
            "dev and local",
            Some("eth0"),
            Some("10.0.0.11"),
            "vxlan vni 1 dev eth0",
        ),
        ("dev only", Some("eth0"), None, "vxlan vni 1 dev eth0"),
        (
            "local only",
            None,
            Some("10.0.0.11"),
            "vxlan vni 1 local 10.0.0.11",
        ),
    ];
    for (what, dev, local, via) in cases {
        let mut node = flannel_node(dev, local);
        node.probe("10.244.1.7");
        let pod = node.path("nginx-6799fc88d8-8s7zq");
        let egress = pod.egress.as_ref().unwrap();
        let route = egress.route.as_ref().unwrap();
        assert_eq!(route.destination.to_string(), "10.244.1.0/24", "{what}");
        assert_eq!(route.gateway.unwrap().to_string(), "10.244.1.0", "{what}");
        assert_eq!(pod.egress_device().unwrap().name, "flannel.1", "{what}");
        let layers: Vec<(&str, &str)> = egress
            .layers
            .iter()
            .map(|l| (l.link.name.as_str(), l.via.as_str()))
            .collect();
        assert_eq!(layers, vec![("flannel.1", via)], "{what}");
        assert_eq!(egress.nic.as_ref().unwrap().name, "eth0", "{what}");
        assert_eq!(pod.eni_mac().unwrap().to_string(), ETH0_MAC, "{what}");
        assert_eq!(pod.problems, vec![], "{what}");
    }
}

#[test]
fn traffic_to_a_pod_on_the_same_node_stays_on_cni0() {
    let mut node = flannel_node(Some("eth0"), None);
    node.probe("10.244.0.6");
    let pod = node.path("nginx-6799fc88d8-8s7zq");
    let egress = pod.egress.as_ref().unwrap();
    assert_eq!(pod.egress_device().unwrap().name, "cni0");
    assert_eq!(egress.nic, None);
    assert_eq!(pod.eni_mac(), None);
    assert_eq!(
        egress.stays_on_node.as_deref(),
        Some("bridge cni0 has no uplink port: the traffic stays on the node")
    );
    assert_eq!(pod.problems, vec![]);
}
