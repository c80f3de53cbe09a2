//! The kernel's policy-routing semantics, one at a time: which device a packet from the pod
//! 10.1.0.5 (entering on its veth `eni0test`) to 198.51.100.1 leaves through, given the rules.
//! Table main leaves through eth0, table 10 through eth1, table 20 through eth2.

use super::builder::*;
use super::ip_text::parse_rule;
use crate::model::{IpFamily, LinkKind};
use crate::resolver::index::HostIndex;
use crate::resolver::lookup::{self, Outcome};
use crate::resolver::rules::{Flow, action_text, selector_text};
use crate::resolver::{KernelCheck, ProblemCode};

#[derive(Debug, PartialEq)]
enum Expect {
    /// Forwarded out of this device.
    Out(String),
    OnNode,
    Rejects,
    NoRoute,
    Unsupported,
}
use Expect::*;

fn out(device: &str) -> Expect {
    Out(device.to_owned())
}

fn three_table_node() -> (Node, PodHandle) {
    let mut node = Node::new();
    node.device("eth0", "02:00:00:00:00:00");
    node.device("eth1", "02:00:00:00:00:01");
    node.device("eth2", "02:00:00:00:00:02");
    node.addr("eth0", "10.0.0.10/24");
    let pod = node.pod(Pod::vpc("probe-me", "10.1.0.5", "eni0test"));
    node.probe("198.51.100.1");
    node.routes(
        "default via 10.0.0.1 dev eth0
         default via 10.0.1.1 dev eth1 table 10
         default via 10.0.2.1 dev eth2 table 20
         local 10.0.0.10 dev eth0 table local proto kernel scope host src 10.0.0.10",
    );
    node.clear_rules();
    (node, pod)
}

fn decide(node: &Node, pod: &PodHandle, destination: &str, mark: u32) -> Expect {
    let host = HostIndex::new(&node.snapshot);
    let ingress = node.snapshot.host.link(pod.host_veth).unwrap();
    let flow = Flow {
        destination: destination.parse().unwrap(),
        source: pod.ip,
        ingress,
        mark,
    };
    let decision = lookup::decide(&host, &flow);
    match decision.outcome {
        Outcome::Forward => {
            let oif = decision.route.unwrap().oif.unwrap();
            Out(node.snapshot.host.link(oif).unwrap().name.clone())
        }
        Outcome::OnNode => OnNode,
        Outcome::Rejected(_) => Rejects,
        Outcome::NoRoute => NoRoute,
        Outcome::Unsupported(_) => Unsupported,
    }
}

struct Case {
    what: &'static str,
    /// Rules between `0: lookup local` and `32766: lookup main`.
    rules: &'static str,
    routes: &'static str,
    mark: u32,
    expect: Expect,
}

fn case(
    what: &'static str,
    rules: &'static str,
    routes: &'static str,
    mark: u32,
    expect: Expect,
) -> Case {
    Case {
        what,
        rules,
        routes,
        mark,
        expect,
    }
}

#[test]
fn rules_select_and_act_as_the_kernel_does() {
    let cases = [
        case("only the default rules", "", "", 0, out("eth0")),
        case(
            "from the pod",
            "100: from 10.1.0.5 lookup 10",
            "",
            0,
            out("eth1"),
        ),
        case(
            "from a prefix holding the pod",
            "100: from 10.1.0.0/16 lookup 10",
            "",
            0,
            out("eth1"),
        ),
        case(
            "from another pod",
            "100: from 10.1.0.6 lookup 10",
            "",
            0,
            out("eth0"),
        ),
        case(
            "to the destination's prefix",
            "100: from all to 198.51.100.0/24 lookup 10",
            "",
            0,
            out("eth1"),
        ),
        case(
            "to elsewhere",
            "100: from all to 203.0.113.0/24 lookup 10",
            "",
            0,
            out("eth0"),
        ),
        case(
            "rules of equal priority in dump order",
            "100: from all lookup 20\n100: from all lookup 10",
            "",
            0,
            out("eth2"),
        ),
        // goto
        case(
            "goto jumps over rules",
            "100: from all goto 300\n200: from all lookup 10\n300: from all lookup 20",
            "",
            0,
            out("eth2"),
        ),
        case(
            "goto whose own selector fails",
            "100: from 10.9.9.9 goto 300\n200: from all lookup 10\n300: from all lookup 20",
            "",
            0,
            out("eth1"),
        ),
        case(
            "goto to a priority no rule has is skipped",
            "100: from all goto 250\n200: from all lookup 10\n300: from all lookup 20",
            "",
            0,
            out("eth1"),
        ),
        case(
            "goto lands on the first rule of its priority",
            "100: from all goto 300\n200: from all lookup 10\n300: from 10.9.9.9 lookup 10\n300: from all lookup 20",
            "",
            0,
            out("eth2"),
        ),
        // nop, throw, empty tables
        case(
            "nop",
            "100: from all nop\n200: from all lookup 10",
            "",
            0,
            out("eth1"),
        ),
        case(
            "throw falls through to the next rule",
            "100: from all lookup 30",
            "throw 198.51.100.0/24 table 30\ndefault via 10.0.1.1 dev eth1 table 30",
            0,
            out("eth0"),
        ),
        case(
            "a table without a match falls through",
            "100: from all lookup 40",
            "",
            0,
            out("eth0"),
        ),
        // route lookup
        case(
            "longest prefix wins",
            "",
            "198.51.0.0/16 via 10.0.1.1 dev eth1\n198.51.100.0/24 via 10.0.2.1 dev eth2",
            0,
            out("eth2"),
        ),
        case(
            "lowest metric wins among equal prefixes",
            "100: from all lookup 30",
            "default via 10.0.1.1 dev eth1 table 30 metric 200\ndefault via 10.0.2.1 dev eth2 table 30 metric 100",
            0,
            out("eth2"),
        ),
        case(
            "a route with a tos never matches a tos-0 question",
            "",
            "198.51.100.0/24 tos 0x10 via 10.0.2.1 dev eth2",
            0,
            out("eth0"),
        ),
        // suppress_prefixlength
        case(
            "suppress_prefixlength 0 ignores default routes",
            "100: from all lookup main suppress_prefixlength 0\n200: from all lookup 10",
            "",
            0,
            out("eth1"),
        ),
        case(
            "suppress_prefixlength 0 keeps specific routes",
            "100: from all lookup main suppress_prefixlength 0\n200: from all lookup 10",
            "198.51.100.0/24 via 10.0.2.1 dev eth2",
            0,
            out("eth2"),
        ),
        case(
            "suppress_prefixlength 24 also ignores a /24",
            "100: from all lookup main suppress_prefixlength 24\n200: from all lookup 10",
            "198.51.100.0/24 via 10.0.2.1 dev eth2",
            0,
            out("eth1"),
        ),
        // not
        case(
            "not from the pod",
            "100: not from 10.1.0.5 lookup 10\n200: from all lookup 20",
            "",
            0,
            out("eth2"),
        ),
        case(
            "not to the VPC",
            "100: not from all to 10.0.0.0/8 lookup 10",
            "",
            0,
            out("eth1"),
        ),
        // fwmark
        case(
            "fwmark rule, unmarked packet",
            "100: from all fwmark 0x80/0x80 lookup 10",
            "",
            0,
            out("eth0"),
        ),
        case(
            "fwmark rule, marked packet",
            "100: from all fwmark 0x80/0x80 lookup 10",
            "",
            0x80,
            out("eth1"),
        ),
        case(
            "fwmark mask ignores other bits",
            "100: from all fwmark 0x80/0x80 lookup 10",
            "",
            0x4080,
            out("eth1"),
        ),
        case(
            "fwmark without mask compares every bit",
            "100: from all fwmark 0x80 lookup 10",
            "",
            0x4080,
            out("eth0"),
        ),
        case(
            "fwmark 0 with a mask matches clear bits",
            "100: from all fwmark 0/0xff lookup 10",
            "",
            0x4000,
            out("eth1"),
        ),
        // devices
        case(
            "iif of another veth",
            "100: from all iif eni-other lookup 10\n200: from all iif eni0test lookup 20",
            "",
            0,
            out("eth2"),
        ),
        case(
            "oif never matches forwarded traffic",
            "100: from all oif eth1 lookup 10",
            "",
            0,
            out("eth0"),
        ),
        case(
            "not oif therefore always matches",
            "100: not from all oif eth1 lookup 10",
            "",
            0,
            out("eth1"),
        ),
        // selectors a protocol-less question never satisfies
        case(
            "uidrange holding uid 0",
            "100: from all uidrange 0-0 lookup 10",
            "",
            0,
            out("eth1"),
        ),
        case(
            "uidrange without uid 0",
            "100: from all uidrange 1000-2000 lookup 10",
            "",
            0,
            out("eth0"),
        ),
        case(
            "ipproto",
            "100: from all ipproto 6 lookup 10",
            "",
            0,
            out("eth0"),
        ),
        case(
            "dport",
            "100: from all dport 443 lookup 10",
            "",
            0,
            out("eth0"),
        ),
        case(
            "sport range",
            "100: from all sport 1024-65535 lookup 10",
            "",
            0,
            out("eth0"),
        ),
        case(
            "tos",
            "100: from all tos 0x10 lookup 10",
            "",
            0,
            out("eth0"),
        ),
        case(
            "l3mdev outside any VRF",
            "1000: from all lookup [l3mdev-table]",
            "",
            0,
            out("eth0"),
        ),
        // refusals
        case(
            "unreachable rule",
            "100: from 10.1.0.5 unreachable",
            "",
            0,
            Rejects,
        ),
        case(
            "blackhole rule",
            "100: from 10.1.0.5 blackhole",
            "",
            0,
            Rejects,
        ),
        case("prohibit rule", "100: from all prohibit", "", 0, Rejects),
        case(
            "unreachable route",
            "100: from all lookup 30",
            "unreachable 198.51.100.0/24 table 30",
            0,
            Rejects,
        ),
        case(
            "blackhole route",
            "100: from all lookup 30",
            "blackhole default table 30",
            0,
            Rejects,
        ),
        case(
            "prohibit route",
            "100: from all lookup 30",
            "prohibit 198.51.0.0/16 table 30",
            0,
            Rejects,
        ),
        // what the resolver cannot know
        case(
            "suppress_ifgroup needs link groups",
            "100: from all lookup main suppress_ifgroup 5",
            "",
            0,
            Unsupported,
        ),
    ];
    for c in cases {
        let (mut node, pod) = three_table_node();
        node.rules("0: from all lookup local\n32766: from all lookup main");
        node.rules(c.rules);
        node.routes(c.routes);
        assert_eq!(
            decide(&node, &pod, "198.51.100.1", c.mark),
            c.expect,
            "{}",
            c.what
        );
    }
}

#[test]
fn without_a_catch_all_rule_there_is_no_route() {
    let (mut node, pod) = three_table_node();
    node.rules("0: from all lookup local\n100: from 10.9.9.9 lookup main");
    assert_eq!(decide(&node, &pod, "198.51.100.1", 0), NoRoute);

    let path = node.path("probe-me");
    assert!(
        path.has_problem(ProblemCode::NoRoute),
        "{:?}",
        path.problems
    );
    assert_eq!(path.egress_device(), None);
}

#[test]
fn a_local_destination_ends_on_the_node() {
    let (mut node, pod) = three_table_node();
    node.rules("0: from all lookup local\n32766: from all lookup main");
    assert_eq!(decide(&node, &pod, "10.0.0.10", 0), OnNode);

    node.probe("10.0.0.10");
    let path = node.path("probe-me");
    let egress = path.egress.as_ref().unwrap();
    assert_eq!(egress.table, Some(255));
    assert_eq!(egress.nic, None);
    assert_eq!(
        egress.stays_on_node.as_deref(),
        Some("local route 10.0.0.10/32 in table local: delivered on the node")
    );
    assert_eq!(path.problems, vec![]);
}

#[test]
fn refusals_are_reported_with_the_rule_or_route_that_refuses() {
    let (mut node, pod) = three_table_node();
    node.rules("0: from all lookup local\n100: from all lookup 30\n32766: from all lookup main");
    node.routes("unreachable 198.51.100.0/24 table 30");
    let path = node.path("probe-me");
    let problem = path
        .problems
        .iter()
        .find(|p| p.code == ProblemCode::RouteRejects)
        .unwrap();
    assert_eq!(
        problem.message,
        "to 198.51.100.1: table 30 routes it to a unreachable route (198.51.100.0/24)"
    );
    assert_eq!(path.table(), Some(30));
    assert_eq!(path.egress_device(), None);

    // The kernel refuses too: that is agreement.
    node.kernel_says(
        &pod,
        "198.51.100.1",
        None,
        crate::model::KernelRouteAnswer::Error {
            errno: 113,
            message: "No route to host".into(),
        },
    );
    assert_eq!(
        node.path("probe-me").egress.unwrap().kernel,
        KernelCheck::Agrees
    );
}

#[test]
fn an_l3mdev_rule_for_a_vrf_port_is_not_guessed() {
    let (mut node, pod) = three_table_node();
    node.other("vrf-blue", LinkKind::Other { name: "vrf".into() });
    node.enslave("eni0test", "vrf-blue");
    node.rules("0: from all lookup local\n1000: from all lookup [l3mdev-table]\n32766: from all lookup main");
    assert_eq!(decide(&node, &pod, "198.51.100.1", 0), Unsupported);
    let path = node.path("probe-me");
    assert!(
        path.has_problem(ProblemCode::UnsupportedRule),
        "{:?}",
        path.problems
    );
    assert_eq!(path.egress_device(), None);
}

#[test]
fn rules_print_as_ip_rule_prints_them() {
    let cases = [
        (
            "512: from all to 172.31.55.218 lookup main",
            "to 172.31.55.218",
            "lookup main",
        ),
        (
            "1536: from 172.31.55.218 lookup 2",
            "from 172.31.55.218",
            "lookup 2",
        ),
        (
            "10: from all iif vlanafd4c544f81 lookup 101",
            "iif vlanafd4c544f81",
            "lookup 101",
        ),
        (
            "1024: from all fwmark 0x80/0x80 lookup main",
            "fwmark 0x80/0x80",
            "lookup main",
        ),
        (
            "100: from all fwmark 0x1 lookup 5",
            "fwmark 0x1",
            "lookup 5",
        ),
        ("32766: from all lookup main", "all", "lookup main"),
        (
            "100: not from 10.0.0.0/8 goto 200",
            "not from 10.0.0.0/8",
            "goto 200",
        ),
        (
            "100: from all lookup main suppress_prefixlength 0",
            "all",
            "lookup main suppress_prefixlength 0",
        ),
        (
            "100: from all uidrange 1000-2000 ipproto 6 dport 443 unreachable",
            "uidrange 1000-2000 ipproto 6 dport 443",
            "unreachable",
        ),
        (
            "1000: from all lookup [l3mdev-table]",
            "l3mdev",
            "lookup [l3mdev-table]",
        ),
    ];
    for (line, selector, action) in cases {
        let rule = parse_rule(line, IpFamily::V4);
        assert_eq!(
            (selector_text(&rule).as_str(), action_text(&rule).as_str()),
            (selector, action),
            "{line}"
        );
    }
}
