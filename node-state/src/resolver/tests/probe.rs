//! Choosing the probe destination: one only the default routes reach.

use super::builder::*;
use super::vpc_cni::vpc_node;
use crate::resolver;

#[test]
fn the_first_documentation_address_outside_every_specific_route_is_chosen() {
    let node = vpc_node().node;
    let probe = resolver::choose_probe(&node.snapshot);
    assert_eq!(probe.destination.to_string(), "198.51.100.1");
    assert_eq!(
        probe.reason,
        "TEST-NET-2: outside every route of the node but the default routes, and named by no rule"
    );
    assert_eq!(probe.destination_v6.to_string(), "2001:db8::1");
}

#[test]
fn candidates_a_route_or_rule_covers_are_passed_over_with_the_reason() {
    let mut node = Node::new();
    node.device("eth0", "02:00:00:00:00:01");
    node.routes("198.51.100.0/24 via 10.0.0.1 dev eth0 table 7");
    node.rules("100: from all to 203.0.113.0/24 lookup 7");
    let probe = resolver::choose_probe(&node.snapshot);
    assert_eq!(probe.destination.to_string(), "192.0.2.1");
    assert!(
        probe
            .reason
            .contains("198.51.100.1 is inside route 198.51.100.0/24 (table 7)"),
        "{}",
        probe.reason
    );
    assert!(
        probe
            .reason
            .contains("203.0.113.1 is inside rule 100 (to 203.0.113.0/24)"),
        "{}",
        probe.reason
    );
}

#[test]
fn when_every_candidate_is_covered_the_first_is_used_and_the_reason_says_so() {
    let mut node = Node::new();
    node.device("eth0", "02:00:00:00:00:01");
    node.routes("0.0.0.0/1 via 10.0.0.1 dev eth0\n128.0.0.0/1 via 10.0.0.1 dev eth0");
    let probe = resolver::choose_probe(&node.snapshot);
    assert_eq!(probe.destination.to_string(), "198.51.100.1");
    assert!(
        probe
            .reason
            .contains("although the node routes every candidate specifically"),
        "{}",
        probe.reason
    );
    assert!(probe.reason.contains("set --probe-dst"), "{}", probe.reason);
}

#[test]
fn a_configured_destination_is_used_for_its_family() {
    let mut node = vpc_node().node;
    node.probe("10.20.30.40");
    let probe = resolver::choose_probe(&node.snapshot);
    assert_eq!(
        (
            probe.destination.to_string().as_str(),
            probe.reason.as_str()
        ),
        ("10.20.30.40", "set with --probe-dst")
    );
    assert_eq!(probe.destination_v6.to_string(), "2001:db8::1");

    node.probe("2600:1f18::5");
    let probe = resolver::choose_probe(&node.snapshot);
    assert_eq!(probe.destination.to_string(), "198.51.100.1");
    assert_eq!(
        (
            probe.destination_v6.to_string().as_str(),
            probe.reason_v6.as_str()
        ),
        ("2600:1f18::5", "set with --probe-dst")
    );
}

#[test]
fn ipv6_only_pods_are_probed_with_the_ipv6_destination() {
    let mut node = Node::new();
    node.device("eth0", "02:00:00:00:00:01");
    node.routes("2001:db8::/32 via fe80::1 dev eth0\ndefault via fe80::1 dev eth0 metric 1024");
    node.rules6("0: from all lookup local\n32766: from all lookup main");
    let mut pod = Pod::vpc("v6-only", "2600:1f18:1234:5678::a", "eniv6");
    pod.ip = "2600:1f18:1234:5678::a/128".into();
    pod.gateway = Some("fe80::1".into());
    node.pod(pod);

    let resolution = node.resolve();
    assert_eq!(
        resolution.probe.destination_v6.to_string(),
        "2606:4700:4700::1111",
        "2001:db8::1 is routed specifically"
    );
    let path = &resolution.pods[0];
    let egress = path.egress.as_ref().unwrap();
    assert_eq!(egress.destination.to_string(), "2606:4700:4700::1111");
    assert_eq!(
        egress.route.as_ref().unwrap().destination.to_string(),
        "::/0"
    );
    assert_eq!(path.egress_device().unwrap().name, "eth0");
}
