//! Pairing pod interfaces with host veths, and the order pods are reported in.

use super::builder::*;
use super::vpc_cni::{ON_ETH0, ON_ETH1, VpcNode, vpc_node};
use crate::model::LinkKind;
use crate::resolver::ProblemCode;

#[test]
fn a_namespace_the_host_has_no_nsid_for_is_paired_when_the_pairing_is_unique() {
    let VpcNode {
        mut node, on_eth1, ..
    } = vpc_node();
    node.namespace_mut(&on_eth1).nsid = None;
    let pod = node.path(ON_ETH1);
    assert_eq!(pod.host_veth.unwrap().name, "eni5a1e0c2b7d4");
    assert_eq!(pod.netns.nsid, None);
    assert_eq!(pod.egress.unwrap().egress_device.unwrap().name, "eth1");
}

#[test]
fn an_ambiguous_pairing_without_nsids_is_refused() {
    let VpcNode {
        mut node,
        on_eth0,
        on_eth1,
    } = vpc_node();
    // Both pods' eth0 (ifindex 3) now claim the same host veth, and the host has no nsid for
    // either namespace: the ifindexes alone cannot tell which one it leads into.
    node.namespace_mut(&on_eth0).nsid = None;
    node.namespace_mut(&on_eth1).nsid = None;
    node.namespace_mut(&on_eth1).links[1].link = Some(on_eth0.host_veth);
    for name in [ON_ETH0, ON_ETH1] {
        let pod = node.path(name);
        assert!(
            pod.has_problem(ProblemCode::NoHostVeth),
            "{name}: {:?}",
            pod.problems
        );
        assert_eq!(pod.host_veth, None, "{name}");
    }
}

#[test]
fn a_host_veth_leading_into_another_namespace_is_not_paired() {
    let VpcNode { mut node, .. } = vpc_node();
    node.link_mut("eni5a1e0c2b7d4").link_netnsid = Some(40);
    let pod = node.path(ON_ETH1);
    assert!(pod.has_problem(ProblemCode::NoHostVeth));
}

#[test]
fn each_veth_of_a_multi_homed_pod_is_a_path_and_lo_is_none() {
    let VpcNode {
        mut node, on_eth1, ..
    } = vpc_node();
    let host_end = node
        .snapshot
        .host
        .links
        .iter()
        .map(|l| l.ifindex)
        .max()
        .unwrap()
        + 1;
    let mut net1 = link("net1", LinkKind::Veth, Some("66:00:00:00:00:01"));
    net1.ifindex = 4;
    net1.link = Some(host_end);
    net1.link_netnsid = Some(0);
    let ns = node.namespace_mut(&on_eth1);
    let nsid = ns.nsid;
    ns.links.push(net1);
    let mut host = link("eni-net1", LinkKind::Veth, Some("66:00:00:00:00:02"));
    host.ifindex = host_end;
    host.link = Some(4);
    host.link_netnsid = nsid;
    node.snapshot.host.links.push(host);

    let pods = node.resolve().pods;
    let interfaces: Vec<(&str, &str)> = pods
        .iter()
        .filter(|p| p.name.as_deref() == Some(ON_ETH1))
        .map(|p| {
            (
                p.pod_interface.name.as_str(),
                p.host_veth.as_ref().unwrap().name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        interfaces,
        vec![("eth0", "eni5a1e0c2b7d4"), ("net1", "eni-net1")]
    );
    let net1_path = pods
        .iter()
        .find(|p| p.pod_interface.name == "net1")
        .unwrap();
    assert!(net1_path.has_problem(ProblemCode::NoPodAddress));
}

#[test]
fn pods_are_ordered_by_namespace_and_name_with_unknown_pods_last() {
    let VpcNode { mut node, .. } = vpc_node();
    node.pod(Pod::vpc("zookeeper-0", "172.31.60.7", "eni0000000001").in_namespace("apps"));
    node.pod(Pod::vpc("unnamed", "172.31.60.8", "eni0000000002").uncached());
    node.pod(Pod::vpc("coredns", "172.31.60.9", "eni0000000003").in_namespace("kube-system"));
    let names: Vec<String> = node
        .resolve()
        .pods
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p.namespace.as_deref().unwrap_or("?"),
                p.name.as_deref().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            "apps/zookeeper-0".to_owned(),
            format!("default/{ON_ETH0}"),
            format!("default/{ON_ETH1}"),
            "kube-system/coredns".to_owned(),
            "?/?".to_owned(),
        ]
    );
}
