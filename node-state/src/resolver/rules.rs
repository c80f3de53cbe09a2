//! Policy rules: whether a rule selects a packet, decided the way the kernel's `fib_rule_match`
//! and `fib4_rule_match` / `fib6_rule_match` decide it, and how `ip rule` prints a rule.

use std::net::IpAddr;

use ipnet::IpNet;

use super::index::{HostIndex, IndexedRule};
use super::path::RuleRef;
use super::prefix::bits;
use crate::model::{IpFamily, Link, PolicyRule, RuleAction, table};

/// The packet a routing question is asked for: what `ip route get DST from SRC iif DEV mark M`
/// describes. Forwarded traffic has no output device, no protocol or ports, tos 0 and uid 0.
#[derive(Debug, Clone, Copy)]
pub(super) struct Flow<'a> {
    pub destination: IpAddr,
    pub source: IpAddr,
    /// The device the packet enters the host's routing on.
    pub ingress: &'a Link,
    pub mark: u32,
}

/// Whether one rule selects a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RuleMatch {
    Selects,
    Skips,
    /// The rule's decision depends on state the snapshot does not hold.
    Unsupported(String),
}

/// A rule attribute the kernel reports as -1 when unset may reach us as `u32::MAX`.
fn set(value: Option<u32>) -> Option<u32> {
    value.filter(|&v| v != u32::MAX)
}

/// Decides whether `rule` selects `flow`, in the kernel's order, `not` applied last.
pub(super) fn evaluate(
    indexed: &IndexedRule<'_>,
    flow: &Flow<'_>,
    host: &HostIndex<'_>,
) -> RuleMatch {
    let rule = indexed.rule;
    if rule.l3mdev {
        // l3mdev_fib_rule_match: the rule matches only for devices in a VRF, and then looks up
        // the VRF's table, which the snapshot does not record.
        if host.in_vrf(flow.ingress) {
            return RuleMatch::Unsupported(format!(
                "rule {} (l3mdev) looks up the table of the VRF {} is enslaved to, which the snapshot does not record",
                rule.priority, flow.ingress.name
            ));
        }
        if rule.invert {
            return RuleMatch::Unsupported(format!(
                "rule {} (not l3mdev) selects traffic outside any VRF but names no table",
                rule.priority
            ));
        }
        return RuleMatch::Skips;
    }
    if selects(indexed, flow) != rule.invert {
        RuleMatch::Selects
    } else {
        RuleMatch::Skips
    }
}

/// The selector without `not`. The address prefixes come first: on a VPC CNI node nearly every
/// rule names one pod, so they settle most rules at the cost of two integer operations.
fn selects(indexed: &IndexedRule<'_>, flow: &Flow<'_>) -> bool {
    let rule = indexed.rule;
    if indexed
        .source
        .is_some_and(|p| !p.contains(bits(flow.source)))
        || indexed
            .destination
            .is_some_and(|p| !p.contains(bits(flow.destination)))
    {
        return false;
    }
    let (mark, mask) = effective_fwmark(rule);
    // Forwarded traffic is routed before it has an output device, as uid 0, and RTM_GETROUTE
    // asks with tos 0, no protocol and no ports: rules on any of these never select it (a uid
    // range does when it holds 0; a rule without a range covers every uid).
    rule.iif
        .as_deref()
        .is_none_or(|name| name == flow.ingress.name)
        && rule.oif.is_none()
        && (mark ^ flow.mark) & mask == 0
        && rule.uid_range.is_none_or(|(start, _)| start == 0)
        && rule.tos == 0
        && rule.ip_proto.is_none_or(|p| p == 0)
        && !port_range_set(rule.sport)
        && !port_range_set(rule.dport)
}

/// `fib_rule_port_range_set`: a range with a zero bound is unset.
fn port_range_set(range: Option<(u16, u16)>) -> bool {
    range.is_some_and(|(start, end)| start != 0 && end != 0)
}

/// The mark and mask the kernel compares: a non-zero mark without a mask compares every bit.
pub(super) fn effective_fwmark(rule: &PolicyRule) -> (u32, u32) {
    let mark = rule.fwmark.unwrap_or(0);
    let default_mask = if mark != 0 { u32::MAX } else { 0 };
    (mark, rule.fwmask.unwrap_or(default_mask))
}

/// The `suppress_prefixlength` of a rule, when set.
pub(super) fn suppress_prefixlength(rule: &PolicyRule) -> Option<u32> {
    set(rule.suppress_prefixlength)
}

/// The `suppress_ifgroup` of a rule, when set.
pub(super) fn suppress_ifgroup(rule: &PolicyRule) -> Option<u32> {
    set(rule.suppress_ifgroup)
}

/// A prefix as `ip rule` prints it: host prefixes without their length.
fn prefix_text(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// `fwmark 0x80/0x80`, or `fwmark 0x80` when every bit is compared.
pub(super) fn fwmark_text(rule: &PolicyRule) -> Option<String> {
    if rule.fwmark.is_none() && rule.fwmask.is_none() {
        return None;
    }
    let (mark, mask) = effective_fwmark(rule);
    Some(if mask == u32::MAX {
        format!("fwmark {mark:#x}")
    } else {
        format!("fwmark {mark:#x}/{mask:#x}")
    })
}

/// The selector part of `ip rule` output, leaving out the `from all` that `ip` prints for rules
/// with other selectors: `from 172.31.55.218`, `to 10.0.0.0/8 iif eth0`, `not fwmark 0x1`, `all`.
pub(super) fn selector_text(rule: &PolicyRule) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(net) = rule.source.filter(|n| n.prefix_len() > 0) {
        parts.push(format!("from {}", prefix_text(&net)));
    }
    if let Some(net) = rule.destination.filter(|n| n.prefix_len() > 0) {
        parts.push(format!("to {}", prefix_text(&net)));
    }
    if rule.tos != 0 {
        parts.push(format!("tos {:#x}", rule.tos));
    }
    parts.extend(fwmark_text(rule));
    if let Some(iif) = &rule.iif {
        parts.push(format!("iif {iif}"));
    }
    if let Some(oif) = &rule.oif {
        parts.push(format!("oif {oif}"));
    }
    if rule.l3mdev {
        parts.push("l3mdev".into());
    }
    if let Some((start, end)) = rule.uid_range {
        parts.push(format!("uidrange {start}-{end}"));
    }
    if let Some(proto) = rule.ip_proto {
        parts.push(format!("ipproto {proto}"));
    }
    for (name, range) in [("sport", rule.sport), ("dport", rule.dport)] {
        match range {
            Some((start, end)) if start == end => parts.push(format!("{name} {start}")),
            Some((start, end)) => parts.push(format!("{name} {start}-{end}")),
            None => {}
        }
    }
    let selector = if parts.is_empty() {
        "all".to_owned()
    } else {
        parts.join(" ")
    };
    if rule.invert {
        format!("not {selector}")
    } else {
        selector
    }
}

/// The action part of `ip rule` output: `lookup 2`, `lookup main suppress_prefixlength 0`, `goto 100`.
pub(super) fn action_text(rule: &PolicyRule) -> String {
    let mut text = match rule.action {
        RuleAction::Lookup { .. } if rule.l3mdev => "lookup [l3mdev-table]".to_owned(),
        RuleAction::Lookup { table: id } => format!("lookup {}", table::name(id)),
        RuleAction::Goto { priority } => format!("goto {priority}"),
        RuleAction::Nop => "nop".into(),
        RuleAction::Blackhole => "blackhole".into(),
        RuleAction::Unreachable => "unreachable".into(),
        RuleAction::Prohibit => "prohibit".into(),
        RuleAction::Other { code } => format!("action {code}"),
    };
    if let Some(len) = suppress_prefixlength(rule) {
        text.push_str(&format!(" suppress_prefixlength {len}"));
    }
    if let Some(group) = suppress_ifgroup(rule) {
        text.push_str(&format!(" suppress_ifgroup {group}"));
    }
    text
}

pub(super) fn rule_ref(rule: &PolicyRule) -> RuleRef {
    RuleRef {
        priority: rule.priority,
        selector: selector_text(rule),
        table: match rule.action {
            RuleAction::Lookup { table } if !rule.l3mdev => Some(table),
            _ => None,
        },
        action: action_text(rule),
    }
}

/// The host rules that name a pod: a source or destination prefix (longer than 0) holding its IP,
/// or an input device that is its host veth or bridge. In the order the kernel tries them.
pub(super) fn rules_naming_pod(
    host: &HostIndex<'_>,
    pod_ip: IpAddr,
    devices: &[&str],
) -> Vec<RuleRef> {
    let family = IpFamily::of(&pod_ip);
    let rules = host.rules(family);
    host.rule_index(family)
        .naming(pod_ip, devices)
        .into_iter()
        .filter_map(|position| rules.get(position))
        .filter(|r| {
            r.names(pod_ip)
                || r.rule
                    .iif
                    .as_deref()
                    .is_some_and(|iif| devices.contains(&iif))
        })
        .map(|r| rule_ref(r.rule))
        .collect()
}
