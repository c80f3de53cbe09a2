//! Cross-checking a VPC CNI pod's routing against ipamd: the ENI that holds the pod's IP decides
//! which table its traffic must use (the primary ENI's pods use `main`, a secondary ENI's pods
//! its own table, `device number + 1` unless ipamd reports another).

use std::net::IpAddr;

use super::index::HostIndex;
use super::path::{Problem, ProblemCode};
use super::prefix::bits;
use crate::model::{IpFamily, IpamdEni, RuleAction, VpcCniState, table};

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

/// Problems found comparing ipamd's view of `pod_ip` with the table the node routes it through.
/// Nothing to say when ipamd was not read.
pub(super) fn cross_check(
    host: &HostIndex<'_>,
    vpc: Option<&VpcCniState>,
    pod_ip: IpAddr,
    routed_table: Option<u32>,
) -> Vec<Problem> {
    let Some(ipamd) = vpc.and_then(|v| v.ipamd.as_ref()) else {
        return Vec::new();
    };
    let holder = ipamd
        .network_cards
        .iter()
        .flat_map(|card| &card.enis)
        .find_map(|eni| {
            eni.cidrs
                .iter()
                .find(|c| c.cidr.contains(&pod_ip))
                .map(|cidr| (eni, cidr))
        });
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
