//! An Amazon VPC CNI node as seeds 000 and 004 show it: one pod on the primary ENI (`512: to POD
//! lookup main`, routed out of eth0 by main) and one on the secondary ENI eth1 (`1536: from POD
//! lookup 2`, table 2 `default via 172.31.48.1 dev eth1`), with rule 1024 for SNAT-ed traffic.

use super::builder::*;
use crate::model::{KernelRouteQuery, table};
use crate::resolver::{self, KernelCheck, ProblemCode, RuleRef, Wiring};

pub const ON_ETH0: &str = "haydenarch-77c4f7cff9-dxsps";
pub const ON_ETH1: &str = "haydenarch-7d9ff55cbd-4b7pl";
pub const ETH0_MAC: &str = "02:4e:8b:21:7c:10";
pub const ETH1_MAC: &str = "02:d1:7d:e3:9c:ca";

pub struct VpcNode {
    pub node: Node,
    pub on_eth0: PodHandle,
    pub on_eth1: PodHandle,
}

/// Node ip-172-31-55-30: eth0 (primary ENI) and eth1 (secondary ENI, device 1, table 2).
pub fn vpc_node() -> VpcNode {
    let mut node = Node::new();
    node.device("eth0", ETH0_MAC);
    node.device("eth1", ETH1_MAC);
    node.addr("eth0", "172.31.55.30/20");
    node.addr("eth1", "172.31.58.94/20");
    let on_eth0 = node.pod(Pod::vpc(ON_ETH0, "172.31.49.84", "enid573ff579e6"));
    let mut pod = Pod::vpc(ON_ETH1, "172.31.55.218", "eni5a1e0c2b7d4");
    pod.host_mac = "be:5d:31:0a:8e:42".into();
    let on_eth1 = node.pod(pod);
    node.rules(
        "512: from all to 172.31.49.84 lookup main
         512: from all to 172.31.55.218 lookup main
         1024: from all fwmark 0x80/0x80 lookup main
         1536: from 172.31.55.218 lookup 2",
    );
    node.routes(
        "default via 172.31.48.1 dev eth0
         169.254.169.254 dev eth0
         172.31.48.0/20 dev eth0 proto kernel scope link src 172.31.55.30
         172.31.49.84 dev enid573ff579e6 scope link
         172.31.55.218 dev eni5a1e0c2b7d4 scope link
         default via 172.31.48.1 dev eth1 table 2
         172.31.48.1 dev eth1 table 2 scope link
         local 172.31.55.30 dev eth0 table local proto kernel scope host src 172.31.55.30
         local 172.31.58.94 dev eth1 table local proto kernel scope host src 172.31.58.94
         broadcast 172.31.63.255 dev eth0 table local proto kernel scope link src 172.31.55.30",
    );
    node.ipamd(vec![
        eni("eni-0a1b2c3d4e5f60718", 0, &["172.31.49.84", "172.31.50.3"]),
        eni(
            "eni-0f9e8d7c6b5a40312",
            1,
            &["172.31.55.218", "172.31.60.7"],
        ),
    ]);
    VpcNode {
        node,
        on_eth0,
        on_eth1,
    }
}

#[test]
fn pod_on_the_primary_eni_leaves_through_eth0_by_main() {
    let VpcNode { node, .. } = vpc_node();
    let pod = node.path(ON_ETH0);

    assert_eq!(pod.wiring, Wiring::AwsVpcCni);
    assert_eq!(pod.namespace.as_deref(), Some("default"));
    assert_eq!(pod.pod_interface.ip.unwrap().to_string(), "172.31.49.84/32");
    assert_eq!(
        pod.pod_interface.gateway.unwrap().to_string(),
        "169.254.1.1"
    );
    let neighbor = pod.pod_interface.gateway_neighbor.as_ref().unwrap();
    assert_eq!(
        neighbor.lladdr.unwrap().to_string(),
        "36:06:dc:85:42:a4",
        "the host veth's MAC"
    );
    assert_eq!(neighbor.state, vec!["PERMANENT"]);
    assert_eq!(pod.host_veth.as_ref().unwrap().name, "enid573ff579e6");
    assert_eq!(pod.bridge, None);
    assert_eq!(
        pod.rules,
        vec![RuleRef {
            priority: 512,
            selector: "to 172.31.49.84".into(),
            table: Some(table::MAIN),
            action: "lookup main".into()
        }]
    );

    let egress = pod.egress.as_ref().unwrap();
    assert_eq!(egress.label, "to 198.51.100.1");
    assert_eq!(egress.rule.as_ref().unwrap().priority, 32766);
    assert_eq!(pod.table(), Some(table::MAIN));
    assert_eq!(pod.egress_device().unwrap().name, "eth0");
    assert_eq!(
        egress.route.as_ref().unwrap().gateway.unwrap().to_string(),
        "172.31.48.1"
    );
    assert_eq!(egress.nic.as_ref().unwrap().name, "eth0");
    assert!(egress.layers.is_empty());
    assert_eq!(pod.eni_mac().unwrap().to_string(), ETH0_MAC);
    assert_eq!(pod.snat_egress, None, "main-table pods need no SNAT path");
    assert_eq!(pod.problems, vec![]);
}

#[test]
fn pod_on_a_secondary_eni_leaves_through_eth1_by_table_2() {
    let VpcNode { node, .. } = vpc_node();
    let pod = node.path(ON_ETH1);

    let rules: Vec<(u32, &str, &str)> = pod
        .rules
        .iter()
        .map(|r| (r.priority, r.selector.as_str(), r.action.as_str()))
        .collect();
    assert_eq!(
        rules,
        vec![
            (512, "to 172.31.55.218", "lookup main"),
            (1536, "from 172.31.55.218", "lookup 2")
        ]
    );

    let egress = pod.egress.as_ref().unwrap();
    assert_eq!(egress.rule.as_ref().unwrap().priority, 1536);
    assert_eq!(pod.table(), Some(2));
    let route = egress.route.as_ref().unwrap();
    assert_eq!(route.destination.to_string(), "0.0.0.0/0");
    assert_eq!(route.device.as_deref(), Some("eth1"));
    assert_eq!(pod.egress_device().unwrap().name, "eth1");
    assert_eq!(pod.eni_mac().unwrap().to_string(), ETH1_MAC);
    assert_eq!(egress.vlan_id, None);
    assert_eq!(pod.problems, vec![]);
}

#[test]
fn internet_bound_traffic_of_a_secondary_eni_pod_gets_a_labelled_snat_path() {
    let VpcNode { node, .. } = vpc_node();
    let pod = node.path(ON_ETH1);

    let snat = pod.snat_egress.as_ref().unwrap();
    assert_eq!(
        snat.label,
        "internet-bound after SNAT (fwmark 0x80/0x80, rule 1024)"
    );
    assert_eq!(snat.fwmark, Some(0x80));
    assert_eq!(snat.rule.as_ref().unwrap().priority, 1024);
    assert_eq!(snat.table, Some(table::MAIN));
    assert_eq!(snat.egress_device.as_ref().unwrap().name, "eth0");
    assert_eq!(snat.eni_mac.unwrap().to_string(), ETH0_MAC);
    // The primary path is not mixed with it.
    assert_eq!(pod.egress_device().unwrap().name, "eth1");
}

#[test]
fn kernel_queries_ask_each_traced_path_once() {
    let VpcNode {
        node,
        on_eth0,
        on_eth1,
    } = vpc_node();
    let probe = resolver::choose_probe(&node.snapshot);
    let probe_ip = probe.destination;
    let queries = resolver::kernel_queries(&node.snapshot, &probe);
    let query = |pod: &PodHandle, fwmark| KernelRouteQuery {
        destination: probe_ip,
        source: pod.ip,
        iif: pod.host_veth,
        fwmark,
    };
    assert_eq!(
        queries,
        vec![
            query(&on_eth0, None),
            query(&on_eth1, None),
            query(&on_eth1, Some(0x80))
        ]
    );
}

#[test]
fn both_paths_are_checked_against_the_kernel() {
    let VpcNode {
        mut node, on_eth1, ..
    } = vpc_node();
    let eth1 = node.kernel_route(2, "eth1", Some("172.31.48.1"));
    let eth0 = node.kernel_route(table::MAIN, "eth0", Some("172.31.48.1"));
    node.kernel_says(&on_eth1, "198.51.100.1", None, eth1);
    node.kernel_says(&on_eth1, "198.51.100.1", Some(0x80), eth0);

    let pod = node.path(ON_ETH1);
    assert_eq!(pod.egress.as_ref().unwrap().kernel, KernelCheck::Agrees);
    assert_eq!(
        pod.snat_egress.as_ref().unwrap().kernel,
        KernelCheck::Agrees
    );
    assert_eq!(
        node.path(ON_ETH0).egress.unwrap().kernel,
        KernelCheck::NotAsked
    );
}

#[test]
fn ipamd_agreeing_with_the_wiring_raises_nothing() {
    let VpcNode { node, .. } = vpc_node();
    for name in [ON_ETH0, ON_ETH1] {
        assert!(
            !node.path(name).has_problem(ProblemCode::IpamMismatch),
            "{name}"
        );
    }
}

#[test]
fn ipamd_disagreeing_with_the_wiring_is_flagged() {
    struct Case {
        what: &'static str,
        enis: Vec<crate::model::IpamdEni>,
        says: &'static str,
    }
    let cases = [
        Case {
            what: "ipamd puts the pod on the primary ENI, the node routes it by table 2",
            enis: vec![eni(
                "eni-0a1b2c3d4e5f60718",
                0,
                &["172.31.49.84", "172.31.55.218"],
            )],
            says: "ipamd puts 172.31.55.218 on ENI eni-0a1b2c3d4e5f60718 (device 0), whose pods route through table main, but the node routes it through table 2",
        },
        Case {
            what: "ipamd puts the pod on device 2",
            enis: vec![
                eni("eni-0a1b2c3d4e5f60718", 0, &["172.31.49.84"]),
                eni("eni-2", 2, &["172.31.55.218"]),
            ],
            says: "whose pods route through table 3, but the node routes it through table 2",
        },
        Case {
            what: "ipamd does not know the IP",
            enis: vec![eni("eni-0a1b2c3d4e5f60718", 0, &["172.31.49.84"])],
            says: "ipamd holds 172.31.55.218 on none of its ENIs",
        },
    ];
    for case in cases {
        let VpcNode { mut node, .. } = vpc_node();
        node.ipamd(case.enis);
        let pod = node.path(ON_ETH1);
        let mismatches: Vec<&str> = pod
            .problems
            .iter()
            .filter(|p| p.code == ProblemCode::IpamMismatch)
            .map(|p| p.message.as_str())
            .collect();
        assert_eq!(mismatches.len(), 1, "{}: {:?}", case.what, pod.problems);
        assert!(
            mismatches[0].contains(case.says),
            "{}: {}",
            case.what,
            mismatches[0]
        );
    }
}

#[test]
fn an_ip_ipamd_holds_but_has_not_assigned_is_flagged() {
    let VpcNode { mut node, .. } = vpc_node();
    let mut secondary = eni("eni-0f9e8d7c6b5a40312", 1, &["172.31.55.218"]);
    secondary.cidrs[0].addresses[0].assigned = false;
    node.ipamd(vec![
        eni("eni-0a1b2c3d4e5f60718", 0, &["172.31.49.84"]),
        secondary,
    ]);
    let pod = node.path(ON_ETH1);
    let problem = pod
        .problems
        .iter()
        .find(|p| p.code == ProblemCode::IpamMismatch)
        .unwrap();
    assert!(
        problem.message.contains("does not list it as assigned"),
        "{}",
        problem.message
    );
}

#[test]
fn a_prefix_delegated_ip_is_found_in_its_prefix() {
    let VpcNode { mut node, .. } = vpc_node();
    let mut secondary = eni("eni-0f9e8d7c6b5a40312", 1, &["172.31.55.208/28"]);
    secondary.cidrs[0].is_prefix = true;
    secondary.cidrs[0].addresses[0].ip = "172.31.55.218".parse().unwrap();
    node.ipamd(vec![
        eni("eni-0a1b2c3d4e5f60718", 0, &["172.31.49.84"]),
        secondary,
    ]);
    assert_eq!(node.path(ON_ETH1).problems, vec![]);
}
