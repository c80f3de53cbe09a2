//! Cross-checking a VPC CNI pod's routing against ipamd: the ENI that holds the pod's IP decides
//! which table its traffic must use (the primary ENI's pods use `main`, a secondary ENI's pods
//! its own table, `device number + 1` unless ipamd reports another).

use std::net::IpAddr;

use foldhash::HashMap;

use super::index::HostIndex;
use super::path::{Problem, ProblemCode};
use super::prefix::bits;
use crate::model::{IpFamily, IpamdCidr, IpamdEni, RuleAction, VpcCniState, table};

/// The table VPC CNI routes an ENI's pods through.
fn expected_table(eni: &IpamdEni) -> u32 {
    if eni.is_primary {
        table::MAIN
    } else {
        eni.route_table_id
            .filter(|&id| id != 0)
            .unwrap_or(eni.device_number + 1)
    }
}

fn eni_name(eni: &IpamdEni) -> String {
    if eni.id.is_empty() {
        format!("device {}", eni.device_number)
    } else {
        format!("{} (device {})", eni.id, eni.device_number)
    }
}

/// Whether a `from POD to CIDR lookup TABLE` rule routes the pod's in-VPC traffic through
/// `table_id`: VPC CNI before v1.6 wrote one such rule per VPC CIDR instead of `from POD`, so
/// its pods reach the probe destination through `main` while their ENI's table is still in use.
fn vpc_scoped_rule_uses(host: &HostIndex<'_>, pod_ip: IpAddr, table_id: u32) -> bool {
    let pod = bits(pod_ip);
    let family = IpFamily::of(&pod_ip);
    let rules = host.rules(family);
    // A rule with both selectors is never filed under one address (`rule_index`).
    let others = host.rule_index(family).others().iter();
    others.filter_map(|&p| rules.get(p)).any(|r| {
        r.source.is_some_and(|s| s.contains(pod))
            && r.destination.is_some()
            && r.rule.action == RuleAction::Lookup { table: table_id }
    })
}

/// ipamd's CIDRs, indexed once per resolution: a secondary IP (a single-address CIDR) by its
/// address, the rest (prefixes) in a list, each with its position in ipamd's order, so that a
/// pod's holder is found without testing every CIDR of the node.
#[derive(Debug, Default)]
pub(super) struct Holders<'a> {
    /// Whether ipamd was read at all: when not, there is nothing to check against.
    read: bool,
    by_address: HashMap<IpAddr, (usize, &'a IpamdEni, &'a IpamdCidr)>,
    prefixes: Vec<(usize, &'a IpamdEni, &'a IpamdCidr)>,
}

impl<'a> Holders<'a> {
    pub(super) fn new(vpc: Option<&'a VpcCniState>) -> Self {
        let Some(ipamd) = vpc.and_then(|v| v.ipamd.as_ref()) else {
            return Holders::default();
        };
        let mut holders = Holders {
            read: true,
            ..Holders::default()
        };
        let cidrs = ipamd
            .network_cards
            .iter()
            .flat_map(|card| &card.enis)
            .flat_map(|eni| eni.cidrs.iter().map(move |cidr| (eni, cidr)));
        for (position, (eni, cidr)) in cidrs.enumerate() {
            if cidr.cidr.prefix_len() == cidr.cidr.max_prefix_len() {
                // The first CIDR in ipamd's order holding the address wins, as in a scan.
                holders
                    .by_address
                    .entry(cidr.cidr.addr())
                    .or_insert((position, eni, cidr));
            } else {
                holders.prefixes.push((position, eni, cidr));
            }
        }
        holders
    }

    /// The first ENI and CIDR, in ipamd's order, that hold `ip`.
    fn holder(&self, ip: IpAddr) -> Option<(&'a IpamdEni, &'a IpamdCidr)> {
        let single = self.by_address.get(&ip).copied();
        let prefix = self
            .prefixes
            .iter()
            .find(|(_, _, cidr)| cidr.cidr.contains(&ip))
            .copied();
        let first = match (single, prefix) {
            (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        first.map(|(_, eni, cidr)| (eni, cidr))
    }
}

/// Problems found comparing ipamd's view of `pod_ip` with the table the node routes it through.
/// Nothing to say when ipamd was not read.
pub(super) fn cross_check(
    host: &HostIndex<'_>,
    holders: &Holders<'_>,
    pod_ip: IpAddr,
    routed_table: Option<u32>,
) -> Vec<Problem> {
    if !holders.read {
        return Vec::new();
    }
    let holder = holders.holder(pod_ip);
    let Some((eni, cidr)) = holder else {
        return vec![Problem::new(
            ProblemCode::IpamMismatch,
            format!("ipamd holds {pod_ip} on none of its ENIs, yet a pod uses it"),
        )];
    };
    let mut problems = Vec::new();
    if !cidr.addresses.iter().any(|a| a.ip == pod_ip && a.assigned) {
        problems.push(Problem::new(
            ProblemCode::IpamMismatch,
            format!(
                "ipamd holds {pod_ip} in {} on ENI {} but does not list it as assigned, yet a pod uses it",
                cidr.cidr,
                eni_name(eni)
            ),
        ));
    }
    let expected = expected_table(eni);
    let differs = |&t: &u32| t != expected && !vpc_scoped_rule_uses(host, pod_ip, expected);
    if let Some(routed) = routed_table.filter(differs) {
        problems.push(Problem::new(
            ProblemCode::IpamMismatch,
            format!(
                "ipamd puts {pod_ip} on ENI {}, whose pods route through table {}, but the node routes it through table {}",
                eni_name(eni),
                table::name(expected),
                table::name(routed)
            ),
        ));
    }
    problems
}
