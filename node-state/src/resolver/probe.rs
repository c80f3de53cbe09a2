//! Choosing the destination the pods' egress paths are resolved for.
//!
//! The question the write-ups answer is "which ENI carries this pod's traffic off the node", so the
//! probe must be a destination that only the default routes reach: anything the node routes more
//! specifically (a pod, a peer node's pod CIDR, the VPC subnet) would answer another question.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::index::{HostIndex, IndexedRule};
use super::path::Probe;
use super::prefix::bits;
use crate::model::{IpFamily, NodeSnapshot};

/// Documentation addresses first (never anyone's real traffic), then well-known public resolvers.
const V4_CANDIDATES: [(IpAddr, &str); 5] = [
    (IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), "TEST-NET-2"),
    (IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), "TEST-NET-3"),
    (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), "TEST-NET-1"),
    (IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)), "public resolver"),
    (IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)), "public resolver"),
];

const V6_CANDIDATES: [(IpAddr, &str); 2] = [
    (
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        "documentation prefix",
    ),
    (
        IpAddr::V6(Ipv6Addr::new(0x2606, 0x4700, 0x4700, 0, 0, 0, 0, 0x1111)),
        "public resolver",
    ),
];

const CONFIGURED: &str = "set with --probe-dst";

pub(super) fn choose(snapshot: &NodeSnapshot, host: &HostIndex<'_>) -> Probe {
    let (destination, reason) = match snapshot.probe_destination {
        Some(ip @ IpAddr::V4(_)) => (ip, CONFIGURED.to_owned()),
        _ => pick(host, &V4_CANDIDATES),
    };
    let (destination_v6, reason_v6) = match snapshot.probe_destination {
        Some(ip @ IpAddr::V6(_)) => (ip, CONFIGURED.to_owned()),
        _ => pick(host, &V6_CANDIDATES),
    };
    Probe {
        destination,
        reason,
        destination_v6,
        reason_v6,
    }
}

/// What on the node routes `ip` more specifically than a default route, if anything.
fn covered_by(host: &HostIndex<'_>, ip: IpAddr) -> Option<String> {
    if let Some(route) = host
        .specific_routes()
        .iter()
        .find(|r| r.destination.contains(&ip))
    {
        return Some(format!(
            "{ip} is inside route {} (table {})",
            route.destination,
            crate::model::table::name(route.table)
        ));
    }
    host.rules(IpFamily::of(&ip))
        .iter()
        .find(|r| r.destination.is_some_and(|d| d.contains(bits(ip))))
        .map(|&IndexedRule { rule, .. }| {
            format!(
                "{ip} is inside rule {} ({})",
                rule.priority,
                super::rules::selector_text(rule)
            )
        })
}

fn pick(host: &HostIndex<'_>, candidates: &[(IpAddr, &str)]) -> (IpAddr, String) {
    let mut passed_over = Vec::new();
    for &(ip, label) in candidates {
        match covered_by(host, ip) {
            Some(why) => passed_over.push(why),
            None => {
                let mut reason = format!(
                    "{label}: outside every route of the node but the default routes, and named by no rule"
                );
                if !passed_over.is_empty() {
                    reason.push_str(&format!("; passed over: {}", passed_over.join("; ")));
                }
                return (ip, reason);
            }
        }
    }
    let (first, label) = candidates[0];
    (
        first,
        format!(
            "{label}, although the node routes every candidate specifically ({}); set --probe-dst",
            passed_over.join("; ")
        ),
    )
}
