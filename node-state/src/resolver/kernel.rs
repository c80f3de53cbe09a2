//! Comparing the resolver's decision with the kernel's own answer to the same RTM_GETROUTE
//! question: same table, same output device, same gateway, or both refusing.

use std::net::IpAddr;

use super::index::HostIndex;
use super::lookup::{Decision, Outcome, route_type_name};
use super::path::KernelCheck;
use crate::model::{KernelRouteAnswer, Route, RouteType, table};

/// A routing answer reduced to what both sides can state.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Refused: no route, or an unreachable / blackhole / prohibit route or rule.
    Refuses,
    /// Delivered on the node, from this table.
    OnNode { table: u32 },
    /// Forwarded from this table through one of these (device, gateway) legs.
    Forwards {
        table: u32,
        legs: Vec<(Option<u32>, Option<IpAddr>)>,
    },
}

/// The (device, gateway) legs of a route: one, or one per multipath next hop.
pub(super) fn legs(route: &Route) -> Vec<(Option<u32>, Option<IpAddr>)> {
    if route.nexthops.is_empty() {
        vec![(route.oif, route.gateway)]
    } else {
        route
            .nexthops
            .iter()
            .map(|nh| (Some(nh.oif), nh.gateway))
            .collect()
    }
}

fn resolver_verdict(decision: &Decision<'_>) -> Option<Verdict> {
    match (&decision.outcome, decision.table, decision.route) {
        (Outcome::Rejected(_) | Outcome::NoRoute, _, _) => Some(Verdict::Refuses),
        (Outcome::OnNode, Some(table), _) => Some(Verdict::OnNode { table }),
        (Outcome::Forward, Some(table), Some(route)) => Some(Verdict::Forwards {
            table,
            legs: legs(route),
        }),
        _ => None,
    }
}

fn kernel_verdict(answer: &KernelRouteAnswer) -> Verdict {
    match answer {
        KernelRouteAnswer::Error { .. } => Verdict::Refuses,
        KernelRouteAnswer::Route {
            route_type,
            table,
            oif,
            gateway,
            ..
        } => match route_type {
            RouteType::Unreachable
            | RouteType::Blackhole
            | RouteType::Prohibit
            | RouteType::Throw
            | RouteType::Nat => Verdict::Refuses,
            RouteType::Local | RouteType::Broadcast | RouteType::Anycast | RouteType::Multicast => {
                Verdict::OnNode { table: *table }
            }
            RouteType::Unicast | RouteType::Unspec | RouteType::Other(_) => Verdict::Forwards {
                table: *table,
                legs: vec![(*oif, *gateway)],
            },
        },
    }
}

/// Compares the resolver's decision with the kernel's answer, when the snapshot holds one.
pub(super) fn compare(
    decision: &Decision<'_>,
    answer: Option<&KernelRouteAnswer>,
    host: &HostIndex<'_>,
) -> KernelCheck {
    let Some(answer) = answer else {
        return KernelCheck::NotAsked;
    };
    // The description is only kept when the two differ or cannot be compared: most paths agree,
    // and formatting it for each of them was a tenth of a resolution's time.
    let Some(ours) = resolver_verdict(decision) else {
        return KernelCheck::Unresolved {
            kernel: describe_answer(answer, host),
        };
    };
    let agrees = match (ours, kernel_verdict(answer)) {
        (Verdict::Refuses, Verdict::Refuses) => true,
        (Verdict::OnNode { table: a }, Verdict::OnNode { table: b }) => a == b,
        (
            Verdict::Forwards { table: a, legs },
            Verdict::Forwards {
                table: b,
                legs: chosen,
            },
        ) => {
            // A multipath route agrees when the kernel took any of its legs.
            a == b && chosen.iter().all(|leg| legs.contains(leg))
        }
        _ => false,
    };
    if agrees {
        KernelCheck::Agrees
    } else {
        KernelCheck::Disagrees {
            kernel: describe_answer(answer, host),
        }
    }
}

fn via(host: &HostIndex<'_>, oif: Option<u32>, gateway: Option<IpAddr>) -> String {
    let mut text = String::new();
    if let Some(oif) = oif {
        text.push_str(&format!(" dev {}", host.link_name(oif)));
    }
    if let Some(gateway) = gateway {
        text.push_str(&format!(" via {gateway}"));
    }
    text
}

/// The kernel's answer as a person reads it: `table 2 dev eth1 via 172.31.48.1`.
pub(super) fn describe_answer(answer: &KernelRouteAnswer, host: &HostIndex<'_>) -> String {
    match answer {
        KernelRouteAnswer::Error { errno, message } => {
            format!("refused: {message} (errno {errno})")
        }
        KernelRouteAnswer::Route {
            route_type,
            table: id,
            oif,
            gateway,
            ..
        } => {
            let kind = match route_type {
                RouteType::Unicast => String::new(),
                other => format!("{} ", route_type_name(*other)),
            };
            format!(
                "{kind}table {}{}",
                table::name(*id),
                via(host, *oif, *gateway)
            )
        }
    }
}

/// The resolver's decision in the same words.
pub(super) fn describe_decision(decision: &Decision<'_>, host: &HostIndex<'_>) -> String {
    match (&decision.outcome, decision.table, decision.route) {
        (Outcome::NoRoute, ..) => "no route".into(),
        (Outcome::Rejected(why) | Outcome::Unsupported(why), ..) => why.clone(),
        (_, Some(id), Some(route)) => {
            let kind = match route.route_type {
                RouteType::Unicast => String::new(),
                other => format!("{} ", route_type_name(other)),
            };
            let legs: Vec<String> = legs(route)
                .into_iter()
                .map(|(oif, gw)| via(host, oif, gw))
                .collect();
            format!("{kind}table {}{}", table::name(id), legs.join(" or"))
        }
        _ => "no decision".into(),
    }
}
