//! What lies below the egress device: multipath routes, missing links, vxlan, bridges, macvlan
//! chains and loops.

use super::builder::*;
use crate::model::{LinkKind, table};
use crate::resolver::{KernelCheck, PodPath, ProblemCode};

const ETH0_MAC: &str = "02:00:00:00:0e:00";
const ETH1_MAC: &str = "02:00:00:00:0e:01";

/// A node with eth0 and eth1 and one routed pod; the test adds the routes.
fn node() -> (Node, PodHandle) {
    let mut node = Node::new();
    node.device("eth0", ETH0_MAC);
    node.device("eth1", ETH1_MAC);
    node.addr("eth0", "10.0.0.10/24");
    node.addr("eth1", "10.0.1.10/24");
    let pod = node.pod(Pod::vpc("walker", "10.1.0.5", "eniwalker"));
    node.probe("198.51.100.1");
    (node, pod)
}

fn problem(path: &PodPath, code: ProblemCode) -> String {
    path.problems
        .iter()
        .find(|p| p.code == code)
        .map(|p| p.message.clone())
        .unwrap_or_else(|| panic!("no {code:?} in {:?}", path.problems))
}

#[test]
fn a_multipath_route_lists_its_legs_and_chooses_none() {
    let (mut node, pod) = node();
    node.routes("default proto static nexthop via 10.0.0.1 dev eth0 weight 1 nexthop via 10.0.1.1 dev eth1 weight 2");
    let path = node.path("walker");
    assert_eq!(
        problem(&path, ProblemCode::Multipath),
        "to 198.51.100.1: route 0.0.0.0/0 in table main has 2 legs (via 10.0.0.1 dev eth0 weight 1, \
         via 10.0.1.1 dev eth1 weight 2); the flow hash picks one per connection"
    );
    assert_eq!(path.table(), Some(table::MAIN));
    assert_eq!(path.egress_device(), None);
    assert_eq!(path.eni_mac(), None);

    // The kernel took one of the legs: that agrees; a device that is no leg does not.
    let leg = node.kernel_route(table::MAIN, "eth1", Some("10.0.1.1"));
    node.kernel_says(&pod, "198.51.100.1", None, leg);
    assert_eq!(
        node.path("walker").egress.unwrap().kernel,
        KernelCheck::Agrees
    );
    node.snapshot.kernel_routes.clear();
    let elsewhere = node.kernel_route(table::MAIN, "eth1", Some("10.0.1.254"));
    node.kernel_says(&pod, "198.51.100.1", None, elsewhere);
    assert!(
        node.path("walker")
            .has_problem(ProblemCode::KernelDisagrees)
    );
}

#[test]
fn a_route_through_a_link_the_snapshot_lacks_is_reported() {
    let (mut node, _) = node();
    node.routes("default via 10.0.0.1 dev #42");
    let path = node.path("walker");
    assert_eq!(
        problem(&path, ProblemCode::MissingLink),
        "to 198.51.100.1: route 0.0.0.0/0 in table main leaves through ifindex 42, which the snapshot does not hold"
    );
    assert_eq!(
        path.egress
            .as_ref()
            .unwrap()
            .route
            .as_ref()
            .unwrap()
            .device
            .as_deref(),
        Some("if42")
    );
    assert_eq!(path.egress_device(), None);
}

#[test]
fn a_vxlan_without_local_address_or_device_is_not_guessed() {
    let (mut node, _) = node();
    node.vxlan("vxlan0", "5e:c4:91:2a:77:03", 42, None, None);
    node.routes("default via 10.9.0.1 dev vxlan0 onlink");
    let path = node.path("walker");
    assert!(
        problem(&path, ProblemCode::UnresolvedLayer)
            .contains("vxlan vxlan0 (vni 42) names neither an underlay device nor a local address")
    );
    assert_eq!(path.egress_device().unwrap().name, "vxlan0");
    assert_eq!(path.egress.as_ref().unwrap().nic, None);
    assert_eq!(path.eni_mac(), None);
}

#[test]
fn a_vxlan_whose_local_address_no_link_holds_is_not_guessed() {
    let (mut node, _) = node();
    node.vxlan("vxlan0", "5e:c4:91:2a:77:03", 42, None, Some("10.7.7.7"));
    node.routes("default via 10.9.0.1 dev vxlan0 onlink");
    let path = node.path("walker");
    assert!(
        problem(&path, ProblemCode::UnresolvedLayer)
            .contains("sends from local 10.7.7.7, which no host link holds")
    );
}

#[test]
fn a_bridge_is_followed_to_its_single_uplink() {
    let (mut node, _) = node();
    node.bridge("br0", "02:00:00:00:0b:00");
    node.enslave("eth0", "br0");
    node.routes("default via 10.0.0.1 dev br0");
    // Another pod's veth on the same bridge is no uplink.
    node.pod(Pod::bridged(
        "neighbour",
        "10.0.0.50/24",
        "vethneighbour",
        "br0",
        "10.0.0.1",
    ));
    let path = node.path("walker");
    let egress = path.egress.as_ref().unwrap();
    let layers: Vec<(&str, &str)> = egress
        .layers
        .iter()
        .map(|l| (l.link.name.as_str(), l.via.as_str()))
        .collect();
    assert_eq!(layers, vec![("br0", "bridge port eth0")]);
    assert_eq!(egress.nic.as_ref().unwrap().name, "eth0");
    assert_eq!(path.eni_mac().unwrap().to_string(), ETH0_MAC);
    assert_eq!(path.problems, vec![]);
}

#[test]
fn a_bridge_with_several_uplinks_is_not_guessed() {
    let (mut node, _) = node();
    node.bridge("br0", "02:00:00:00:0b:00");
    node.enslave("eth0", "br0");
    node.enslave("eth1", "br0");
    node.routes("default via 10.0.0.1 dev br0");
    let path = node.path("walker");
    assert!(
        problem(&path, ProblemCode::UnresolvedLayer)
            .contains("bridge br0 has several uplink ports (eth0, eth1)")
    );
    assert_eq!(path.eni_mac(), None);
}

#[test]
fn a_macvlan_is_followed_to_its_parent() {
    let (mut node, _) = node();
    node.stacked(
        "mv0",
        LinkKind::Macvlan {
            mode: "bridge".into(),
        },
        "02:00:00:00:0a:00",
        "eth1",
    );
    node.routes("default via 10.0.1.1 dev mv0");
    let path = node.path("walker");
    let egress = path.egress.as_ref().unwrap();
    assert_eq!(egress.layers[0].via, "macvlan on eth1 (mode bridge)");
    assert_eq!(egress.nic.as_ref().unwrap().name, "eth1");
    assert_eq!(
        path.eni_mac().unwrap().to_string(),
        ETH1_MAC,
        "a macvlan that is no branch ENI: the NIC's MAC"
    );
    assert_eq!(egress.vlan_id, None);
}

#[test]
fn a_loop_in_the_link_stack_is_reported() {
    let (mut node, _) = node();
    let a = node.stacked(
        "mva",
        LinkKind::Macvlan {
            mode: "bridge".into(),
        },
        "02:00:00:00:0a:0a",
        "eth0",
    );
    node.stacked(
        "mvb",
        LinkKind::Macvlan {
            mode: "bridge".into(),
        },
        "02:00:00:00:0a:0b",
        "mva",
    );
    let b = node.ifindex("mvb");
    node.link_mut("mva").link = Some(b);
    assert_ne!(a, b);
    node.routes("default via 10.0.0.1 dev mva");
    let path = node.path("walker");
    assert_eq!(
        problem(&path, ProblemCode::UnresolvedLayer),
        "to 198.51.100.1: the link stack below mva loops back to mva"
    );
}

#[test]
fn a_veth_into_another_pod_keeps_the_path_on_the_node() {
    let (mut node, _) = node();
    node.pod(Pod::vpc("other", "10.1.0.6", "eniother"));
    node.routes("10.1.0.6 dev eniother scope link");
    node.probe("10.1.0.6");
    let path = node.path("walker");
    let egress = path.egress.as_ref().unwrap();
    assert_eq!(path.egress_device().unwrap().name, "eniother");
    assert_eq!(
        egress.stays_on_node.as_deref(),
        Some("eniother leads into another pod's namespace")
    );
    assert_eq!(egress.nic, None);
}

#[test]
fn a_veth_into_a_namespace_that_is_no_pod_is_the_nic() {
    let (mut node, _) = node();
    let mut veth = link("veth-vm", LinkKind::Veth, Some("02:00:00:00:0c:00"));
    veth.link = Some(2);
    veth.link_netnsid = Some(77);
    node.snapshot.host.links.push(veth);
    node.snapshot.host.links.last_mut().unwrap().ifindex = 50;
    node.routes("default via 10.5.0.1 dev veth-vm");
    let path = node.path("walker");
    assert_eq!(
        path.egress.as_ref().unwrap().nic.as_ref().unwrap().name,
        "veth-vm"
    );
}
