//! kube-router as seed 003 shows it: pod veths on `kube-bridge`, other nodes' pod CIDRs learned
//! over BGP (`10.233.65.0/24 via 192.168.50.52 dev eth0 proto 17`), service IPs on
//! `kube-dummy-if` (an `ifb` here: this kernel has no dummy links).

use super::builder::*;
use crate::model::{CniIpamConfig, CniNetworkConfig, CniPluginConfig, LinkKind};
use crate::resolver::Wiring;

const ETH0_MAC: &str = "52:54:00:5a:1c:33";

pub(super) fn kube_router_node() -> Node {
    let mut node = Node::new();
    node.device("eth0", ETH0_MAC);
    node.addr("eth0", "192.168.50.51/24");
    node.bridge("kube-bridge", "e6:1b:7f:3a:00:01");
    node.addr("kube-bridge", "10.233.64.1/24");
    node.other("kube-dummy-if", LinkKind::Other { name: "ifb".into() });
    node.addr("kube-dummy-if", "10.233.0.1/32");
    node.pod(
        Pod::bridged(
            "busybox",
            "10.233.64.9/24",
            "veth2e7c1d0a",
            "kube-bridge",
            "10.233.64.1",
        )
        .plugins("mynet", &["bridge", "portmap"]),
    );
    node.routes(
        "default via 192.168.50.1 dev eth0
         192.168.50.0/24 dev eth0 proto kernel scope link src 192.168.50.51
         10.233.64.0/24 dev kube-bridge proto kernel scope link src 10.233.64.1
         10.233.65.0/24 via 192.168.50.52 dev eth0 proto 17
         10.233.66.0/24 via 192.168.50.53 dev eth0 proto 17",
    );
    node.snapshot.cni.configs.push(CniNetworkConfig {
        file: "etc/cni/net.d/10-kuberouter.conflist".into(),
        name: "mynet".into(),
        cni_version: Some("0.3.0".into()),
        plugins: vec![CniPluginConfig {
            plugin_type: "bridge".into(),
            bridge: Some("kube-bridge".into()),
            ipam: Some(CniIpamConfig {
                ipam_type: "host-local".into(),
                subnets: vec!["10.233.64.0/24".parse().unwrap()],
                data_dir: None,
            }),
            delegate_type: None,
        }],
    });
    node
}

#[test]
fn kube_router_pod_leaves_through_eth0() {
    let node = kube_router_node();
    let pod = node.path("busybox");
    assert_eq!(pod.wiring, Wiring::KubeRouter);
    assert_eq!(pod.bridge.as_ref().unwrap().name, "kube-bridge");
    assert_eq!(pod.egress.as_ref().unwrap().ingress.name, "kube-bridge");
    assert_eq!(pod.egress_device().unwrap().name, "eth0");
    assert_eq!(pod.eni_mac().unwrap().to_string(), ETH0_MAC);
    assert_eq!(pod.problems, vec![]);
}

#[test]
fn traffic_to_another_nodes_pod_cidr_follows_the_bgp_route() {
    let mut node = kube_router_node();
    node.probe("10.233.65.10");
    let pod = node.path("busybox");
    let route = pod.egress.as_ref().unwrap().route.clone().unwrap();
    assert_eq!(route.destination.to_string(), "10.233.65.0/24");
    assert_eq!(route.gateway.unwrap().to_string(), "192.168.50.52");
    assert_eq!(route.protocol, 17);
    assert_eq!(pod.egress_device().unwrap().name, "eth0");
    assert_eq!(pod.eni_mac().unwrap().to_string(), ETH0_MAC);
}
