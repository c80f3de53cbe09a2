//! Security groups for pods, as seed 002 shows: the branch ENI 02:b0:01:6c:b5:79 is `vlan.eth.1`
//! on the trunk ENI eth1, the pod's host veth `vlanafd4c544f81` is selected by
//! `10: iif vlanafd4c544f81 lookup 101`, and table 101 sends everything out of `vlan.eth.1`.

use super::builder::*;
use crate::model::{LinkKind, VlanProtocol};
use crate::resolver::{KernelCheck, Layer, LinkRef, RuleRef, Wiring};

const BRANCH_MAC: &str = "02:b0:01:6c:b5:79";

/// `ip route show table all` on ip-192-168-31-166, verbatim from seed 002.
const SEED_002_ROUTES: &str = "
default via 192.168.0.1 dev eth1 table 3
192.168.0.1 dev eth1 table 3 scope link
default via 192.168.0.1 dev vlan.eth.1 table 101
192.168.0.1 dev vlan.eth.1 table 101 scope link
192.168.26.162 dev vlanafd4c544f81 table 101 scope link
default via 192.168.0.1 dev eth0
169.254.169.254 dev eth0
192.168.0.0/19 dev eth0 proto kernel scope link src 192.168.31.166
broadcast 127.0.0.0 dev lo table local proto kernel scope link src 127.0.0.1
local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1
broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1
broadcast 192.168.0.0 dev eth0 table local proto kernel scope link src 192.168.31.166
broadcast 192.168.0.0 dev eth1 table local proto kernel scope link src 192.168.9.59
local 192.168.9.59 dev eth1 table local proto kernel scope host src 192.168.9.59
local 192.168.31.166 dev eth0 table local proto kernel scope host src 192.168.31.166
broadcast 192.168.31.255 dev eth0 table local proto kernel scope link src 192.168.31.166
broadcast 192.168.31.255 dev eth1 table local proto kernel scope link src 192.168.9.59
unreachable ::/96 dev lo metric 1024 pref medium
unreachable ::ffff:0.0.0.0/96 dev lo metric 1024 pref medium
unreachable 2002:a00::/24 dev lo metric 1024 pref medium
unreachable 3ffe:ffff::/32 dev lo metric 1024 pref medium
fe80::/64 dev eth0 proto kernel metric 256 pref medium
fe80::/64 dev eth1 proto kernel metric 256 pref medium
fe80::/64 dev vlanafd4c544f81 proto kernel metric 256 pref medium
fe80::/64 dev vlan.eth.1 proto kernel metric 256 pref medium
local ::1 dev lo table local proto kernel metric 0 pref medium
local fe80::b0:1ff:fe6c:b579 dev vlan.eth.1 table local proto kernel metric 0 pref medium
multicast ff00::/8 dev vlan.eth.1 table local proto kernel metric 256 pref medium
";

/// The seed 002 node, with `vlan.eth.1` of the given kind (a real vlan, or the macvlan tests
/// stand in for it on kernels without 802.1Q).
pub(super) fn branch_node(vlan_kind: LinkKind) -> (Node, PodHandle) {
    let mut node = Node::new();
    node.device("eth0", "02:a5:ee:3d:4a:c9");
    node.device("eth1", "02:27:6e:aa:23:15");
    node.addr("eth0", "192.168.31.166/19");
    node.addr("eth1", "192.168.9.59/19");
    let mut pod = Pod::vpc("aws-cli", "192.168.26.162", "vlanafd4c544f81");
    pod.host_mac = "3e:fa:50:37:79:5b".into();
    let handle = node.pod(pod);
    node.stacked("vlan.eth.1", vlan_kind, BRANCH_MAC, "eth1");
    node.rules(
        "10: from all iif vlanafd4c544f81 lookup 101
         10: from all iif vlan.eth.1 lookup 101
         1024: from all fwmark 0x80/0x80 lookup main",
    );
    node.routes(SEED_002_ROUTES);
    (node, handle)
}

pub(super) fn vlan_kinds() -> [(&'static str, LinkKind); 2] {
    [
        (
            "802.1Q vlan",
            LinkKind::Vlan {
                id: 1,
                protocol: VlanProtocol::Dot1Q,
            },
        ),
        (
            "macvlan stand-in",
            LinkKind::Macvlan {
                mode: "bridge".into(),
            },
        ),
    ]
}

#[test]
fn branch_pod_leaves_through_its_branch_eni_on_the_trunk() {
    for (what, kind) in vlan_kinds() {
        let (node, _) = branch_node(kind);
        let pod = node.path("aws-cli");

        assert_eq!(pod.wiring, Wiring::AwsVpcCniBranch, "{what}");
        assert_eq!(
            pod.rules,
            vec![RuleRef {
                priority: 10,
                selector: "iif vlanafd4c544f81".into(),
                table: Some(101),
                action: "lookup 101".into()
            }],
            "{what}"
        );
        let egress = pod.egress.as_ref().unwrap();
        assert_eq!(egress.ingress.name, "vlanafd4c544f81", "{what}");
        assert_eq!(egress.rule.as_ref().unwrap().priority, 10, "{what}");
        assert_eq!(pod.table(), Some(101), "{what}");
        assert_eq!(pod.egress_device().unwrap().name, "vlan.eth.1", "{what}");
        assert_eq!(egress.layers.len(), 1, "{what}");
        let Layer { link, via } = &egress.layers[0];
        assert_eq!(
            (link.name.as_str(), via.as_str()),
            ("vlan.eth.1", "vlan 1 on eth1"),
            "{what}"
        );
        assert_eq!(
            egress.nic.as_ref().map(|n| n.name.as_str()),
            Some("eth1"),
            "{what}"
        );
        assert_eq!(
            pod.eni_mac().unwrap().to_string(),
            BRANCH_MAC,
            "{what}: the branch ENI, not the trunk"
        );
        assert_eq!(egress.vlan_id, Some(1), "{what}");
        assert_eq!(egress.trunk_device.as_deref(), Some("eth1"), "{what}");
        assert_eq!(
            pod.snat_egress, None,
            "{what}: branch pods have no SNAT path"
        );
        assert_eq!(pod.problems, vec![], "{what}");
    }
}

#[test]
fn the_vlan_id_of_a_real_vlan_comes_from_the_kernel_not_the_name() {
    let (node, _) = branch_node(LinkKind::Vlan {
        id: 7,
        protocol: VlanProtocol::Dot1Q,
    });
    let egress = node.path("aws-cli").egress.unwrap();
    assert_eq!(egress.vlan_id, Some(7));
    assert_eq!(egress.layers[0].via, "vlan 7 on eth1");
}

#[test]
fn branch_pod_agrees_with_the_kernel() {
    let (mut node, pod) = branch_node(LinkKind::Macvlan {
        mode: "bridge".into(),
    });
    let answer = node.kernel_route(101, "vlan.eth.1", Some("192.168.0.1"));
    node.kernel_says(&pod, "198.51.100.1", None, answer);
    assert_eq!(
        node.path("aws-cli").egress.unwrap().kernel,
        KernelCheck::Agrees
    );
}

#[test]
fn branch_wiring_is_recognised_from_the_iif_rule_even_when_the_route_is_unusable() {
    let (mut node, _) = branch_node(LinkKind::Macvlan {
        mode: "bridge".into(),
    });
    // The branch link's parent is gone from the snapshot: the walk cannot cross it, but the
    // rule for the host veth still leads to a branch link.
    node.link_mut("vlan.eth.1").link = Some(99);
    let pod = node.path("aws-cli");
    assert_eq!(pod.wiring, Wiring::AwsVpcCniBranch);
    assert_eq!(pod.egress.as_ref().unwrap().nic, None);
    assert_eq!(pod.table(), Some(101));
    assert!(
        pod.problems.iter().any(|p| p
            .message
            .contains("vlan.eth.1's parent device (ifindex 99)")),
        "{:?}",
        pod.problems
    );
}

#[test]
fn the_branch_link_ref_carries_its_own_mac() {
    let (node, _) = branch_node(LinkKind::Macvlan {
        mode: "bridge".into(),
    });
    let device: LinkRef = node.path("aws-cli").egress_device().cloned().unwrap();
    assert_eq!(device.mac.unwrap().to_string(), BRANCH_MAC);
    assert_eq!(device.kind, "macvlan");
}
