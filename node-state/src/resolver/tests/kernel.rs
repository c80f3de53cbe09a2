//! Comparing each path with the kernel's recorded answer to the same RTM_GETROUTE question.

use super::vpc_cni::{ON_ETH1, VpcNode, vpc_node};
use crate::model::{KernelRouteAnswer, RouteType, table};
use crate::resolver::{KernelCheck, ProblemCode};

fn refused() -> KernelRouteAnswer {
    KernelRouteAnswer::Error {
        errno: 101,
        message: "Network is unreachable".into(),
    }
}

#[test]
fn the_kernel_choosing_another_table_is_flagged_with_both_answers() {
    let VpcNode {
        mut node, on_eth1, ..
    } = vpc_node();
    let answer = node.kernel_route(table::MAIN, "eth0", Some("172.31.48.1"));
    node.kernel_says(&on_eth1, "198.51.100.1", None, answer);
    let pod = node.path(ON_ETH1);
    let egress = pod.egress.as_ref().unwrap();
    assert_eq!(
        egress.kernel,
        KernelCheck::Disagrees {
            kernel: "table main dev eth0 via 172.31.48.1".into()
        }
    );
    let problem = pod
        .problems
        .iter()
        .find(|p| p.code == ProblemCode::KernelDisagrees)
        .unwrap();
    assert_eq!(
        problem.message,
        "to 198.51.100.1: the kernel chose table main dev eth0 via 172.31.48.1; the resolver table 2 dev eth1 via 172.31.48.1"
    );
    // The resolver's own answer stands; it is flagged, not replaced.
    assert_eq!(pod.egress_device().unwrap().name, "eth1");
}

#[test]
fn answers_are_compared_on_table_device_and_gateway() {
    let cases = [
        (
            "same table, device and gateway",
            Some(2),
            "eth1",
            Some("172.31.48.1"),
            true,
        ),
        (
            "another gateway",
            Some(2),
            "eth1",
            Some("172.31.48.2"),
            false,
        ),
        (
            "another device",
            Some(2),
            "eth0",
            Some("172.31.48.1"),
            false,
        ),
        ("another table", Some(3), "eth1", Some("172.31.48.1"), false),
        ("a refusal", None, "", None, false),
    ];
    for (what, table_id, dev, via, agrees) in cases {
        let VpcNode {
            mut node, on_eth1, ..
        } = vpc_node();
        let answer = match table_id {
            Some(t) => node.kernel_route(t, dev, via),
            None => refused(),
        };
        node.kernel_says(&on_eth1, "198.51.100.1", None, answer);
        let pod = node.path(ON_ETH1);
        let check = &pod.egress.as_ref().unwrap().kernel;
        assert_eq!(*check == KernelCheck::Agrees, agrees, "{what}: {check:?}");
        assert_eq!(
            pod.has_problem(ProblemCode::KernelDisagrees),
            !agrees,
            "{what}"
        );
    }
}

#[test]
fn a_refusal_agrees_with_no_route_and_disagrees_with_a_route() {
    let VpcNode {
        mut node, on_eth1, ..
    } = vpc_node();
    node.kernel_says(&on_eth1, "198.51.100.1", None, refused());
    let pod = node.path(ON_ETH1);
    assert_eq!(
        pod.egress.unwrap().kernel,
        KernelCheck::Disagrees {
            kernel: "refused: Network is unreachable (errno 101)".into()
        }
    );

    node.clear_rules();
    node.rules("0: from all lookup local");
    assert_eq!(
        node.path(ON_ETH1).egress.unwrap().kernel,
        KernelCheck::Agrees
    );
}

#[test]
fn an_unreachable_route_answer_is_a_refusal() {
    let VpcNode {
        mut node, on_eth1, ..
    } = vpc_node();
    node.routes("unreachable 198.51.100.0/24 table 2");
    node.probe("198.51.100.1");
    let answer = KernelRouteAnswer::Route {
        route_type: RouteType::Unreachable,
        table: 2,
        oif: Some(1),
        gateway: None,
        pref_src: None,
    };
    node.kernel_says(&on_eth1, "198.51.100.1", None, answer);
    let pod = node.path(ON_ETH1);
    assert!(
        pod.has_problem(ProblemCode::RouteRejects),
        "{:?}",
        pod.problems
    );
    assert_eq!(pod.egress.unwrap().kernel, KernelCheck::Agrees);
}

#[test]
fn local_delivery_agrees_with_the_kernels_local_answer() {
    let VpcNode {
        mut node, on_eth1, ..
    } = vpc_node();
    node.probe("172.31.55.30");
    // The kernel reports local delivery on lo, whatever device holds the address.
    let answer = KernelRouteAnswer::Route {
        route_type: RouteType::Local,
        table: table::LOCAL,
        oif: Some(1),
        gateway: None,
        pref_src: None,
    };
    node.kernel_says(&on_eth1, "172.31.55.30", None, answer);
    let pod = node.path(ON_ETH1);
    assert_eq!(pod.egress.as_ref().unwrap().kernel, KernelCheck::Agrees);
    assert_eq!(pod.table(), Some(table::LOCAL));
}

#[test]
fn when_the_resolver_cannot_decide_the_kernels_answer_is_shown_not_judged() {
    let VpcNode {
        mut node, on_eth1, ..
    } = vpc_node();
    node.rules("5: from all lookup main suppress_ifgroup 7");
    let answer = node.kernel_route(table::MAIN, "eth0", Some("172.31.48.1"));
    node.kernel_says(&on_eth1, "198.51.100.1", None, answer);
    let pod = node.path(ON_ETH1);
    assert_eq!(
        pod.egress.as_ref().unwrap().kernel,
        KernelCheck::Unresolved {
            kernel: "table main dev eth0 via 172.31.48.1".into()
        }
    );
    assert!(pod.has_problem(ProblemCode::UnsupportedRule));
    assert!(!pod.has_problem(ProblemCode::KernelDisagrees));
}

#[test]
fn asking_while_resolving_resolves_as_the_recorded_answers_do() {
    let VpcNode {
        mut node,
        on_eth0,
        on_eth1,
    } = vpc_node();
    let via_eth1 = node.kernel_route(2, "eth1", Some("172.31.48.1"));
    let mut asked = Vec::new();
    let (resolution, decisions) = crate::resolver::resolve_asking(&node.snapshot, &mut |query| {
        asked.push(query.clone());
        // The pod on eth0 gets no answer (as when asking fails); the kernel disagrees about
        // the SNAT path of the pod on eth1.
        if query.source == on_eth0.ip {
            None
        } else if query.fwmark.is_some() {
            Some(refused())
        } else {
            Some(via_eth1.clone())
        }
    });

    // Each question the resolver lists is asked once, and the answered ones are recorded in
    // that order.
    let probe = crate::resolver::choose_probe(&node.snapshot);
    let questions = crate::resolver::kernel_queries(&node.snapshot, &probe);
    let mut asked_sorted = asked.clone();
    asked_sorted.sort_by_key(|q| format!("{q:?}"));
    let mut questions_sorted = questions.clone();
    questions_sorted.sort_by_key(|q| format!("{q:?}"));
    assert_eq!(asked_sorted, questions_sorted);
    let recorded: Vec<_> = decisions.iter().map(|d| d.query.clone()).collect();
    let answered: Vec<_> = questions
        .into_iter()
        .filter(|q| q.source == on_eth1.ip)
        .collect();
    assert_eq!(recorded, answered);
    assert_eq!(
        recorded.len(),
        2,
        "the egress and SNAT paths of the pod on eth1"
    );

    // The same resolution as from the recorded answers.
    node.snapshot.kernel_routes = decisions;
    assert_eq!(resolution, node.resolve());
    let pod = node.path(ON_ETH1);
    assert_eq!(pod.egress.unwrap().kernel, KernelCheck::Agrees);
    assert!(matches!(
        pod.snat_egress.unwrap().kernel,
        KernelCheck::Disagrees { .. }
    ));
}
