//! The routing decision for one flow: policy rules walked in priority order
//! (`fib_rules_lookup`), each `lookup` answered by a longest-prefix match in its table
//! (`fib_table_lookup`).

use super::index::HostIndex;
use super::prefix::bits;
use super::rules::{self, Flow, RuleMatch};
use crate::model::{IpFamily, PolicyRule, Route, RouteType, RuleAction, table};

/// How the walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// A unicast route: the packet leaves through the route's device.
    Forward,
    /// A local, broadcast, anycast or multicast route: the packet is delivered on the node.
    OnNode,
    /// A route or a rule action drops or rejects the packet; the text says which.
    Rejected(String),
    /// No rule produced a route.
    NoRoute,
    /// A rule or route the resolver cannot evaluate from the snapshot; the text says why.
    Unsupported(String),
}

/// The kernel's routing decision for one flow, as the resolver reproduces it.
#[derive(Debug, Clone)]
pub(super) struct Decision<'a> {
    /// The rule whose action ended the walk.
    pub rule: Option<&'a PolicyRule>,
    /// The table that rule looked up.
    pub table: Option<u32>,
    pub route: Option<&'a Route>,
    pub outcome: Outcome,
}

impl Decision<'_> {
    fn ended(outcome: Outcome) -> Self {
        Decision {
            rule: None,
            table: None,
            route: None,
            outcome,
        }
    }
}

/// Longest-prefix match in one table: the most specific route whose destination (and, for IPv6,
/// source prefix) holds the flow; lowest metric among equals. Routes with a tos never match,
/// since the question is asked with tos 0.
pub(super) fn lookup_table<'a>(
    host: &HostIndex<'a>,
    table_id: u32,
    flow: &Flow<'_>,
) -> Option<&'a Route> {
    let (destination, source) = (bits(flow.destination), bits(flow.source));
    host.route_table(IpFamily::of(&flow.destination), table_id)?
        .first_match(destination, |indexed| {
            indexed.route.tos == 0 && indexed.source.is_none_or(|prefix| prefix.contains(source))
        })
        .map(|indexed| indexed.route)
}

/// Walks the host's policy rules for one flow, the way `fib_rules_lookup` does.
pub(super) fn decide<'a>(host: &HostIndex<'a>, flow: &Flow<'_>) -> Decision<'a> {
    let family = IpFamily::of(&flow.destination);
    let rules = host.rules(family);
    // Only the rules that may select the flow; the others would all be skipped (`rule_index`).
    let candidates =
        host.rule_index(family)
            .for_flow(flow.source, flow.destination, &flow.ingress.name);
    let mut next = 0;
    let mut cursor = 0;
    loop {
        while candidates
            .get(cursor)
            .is_some_and(|&position| position < next)
        {
            cursor += 1;
        }
        let Some(indexed) = candidates.get(cursor).and_then(|&position| {
            next = position + 1;
            rules.get(position)
        }) else {
            break;
        };
        let rule = indexed.rule;
        match rules::evaluate(indexed, flow, host) {
            RuleMatch::Skips => continue,
            RuleMatch::Unsupported(reason) => {
                return Decision {
                    rule: Some(rule),
                    ..Decision::ended(Outcome::Unsupported(reason))
                };
            }
            RuleMatch::Selects => {}
        }
        let reject = |what: String| Decision {
            rule: Some(rule),
            ..Decision::ended(Outcome::Rejected(what))
        };
        let table_id = match rule.action {
            RuleAction::Goto { priority } => {
                // The kernel binds a goto to the first rule of exactly the target priority and
                // refuses backward jumps; a goto whose target does not exist is skipped.
                if let Some(target) = rules.iter().position(|r| r.rule.priority == priority)
                    && target >= next
                {
                    next = target;
                }
                continue;
            }
            RuleAction::Nop => continue,
            RuleAction::Blackhole | RuleAction::Unreachable | RuleAction::Prohibit => {
                return reject(format!(
                    "rule {} drops it ({})",
                    rule.priority,
                    rules::action_text(rule)
                ));
            }
            RuleAction::Other { code } => {
                return reject(format!(
                    "rule {} has action {code}, which the kernel answers with EINVAL",
                    rule.priority
                ));
            }
            RuleAction::Lookup { table } => table,
        };
        let Some(route) = lookup_table(host, table_id, flow) else {
            continue;
        };
        let found = |outcome| Decision {
            rule: Some(rule),
            table: Some(table_id),
            route: Some(route),
            outcome,
        };
        let on_node = match route.route_type {
            RouteType::Throw => continue,
            RouteType::Unreachable
            | RouteType::Blackhole
            | RouteType::Prohibit
            | RouteType::Nat => {
                return found(Outcome::Rejected(format!(
                    "table {} routes it to a {} route ({})",
                    table::name(table_id),
                    route_type_name(route.route_type),
                    route.destination
                )));
            }
            RouteType::Other(code) => {
                return found(Outcome::Unsupported(format!(
                    "table {} holds a route of type {code} for {}, which the resolver does not follow",
                    table::name(table_id),
                    route.destination
                )));
            }
            RouteType::Unicast | RouteType::Unspec => false,
            RouteType::Local | RouteType::Broadcast | RouteType::Anycast | RouteType::Multicast => {
                true
            }
        };
        if rules::suppress_prefixlength(rule)
            .is_some_and(|len| u32::from(route.destination.prefix_len()) <= len)
        {
            continue;
        }
        if let Some(group) = rules::suppress_ifgroup(rule) {
            return found(Outcome::Unsupported(format!(
                "rule {} suppresses routes through interface group {group}, and the snapshot does not record link groups",
                rule.priority
            )));
        }
        return found(if on_node {
            Outcome::OnNode
        } else {
            Outcome::Forward
        });
    }
    Decision::ended(Outcome::NoRoute)
}

/// The route type as `ip route` prints it.
pub(super) fn route_type_name(route_type: RouteType) -> String {
    match route_type {
        RouteType::Unspec => "unspec".into(),
        RouteType::Unicast => "unicast".into(),
        RouteType::Local => "local".into(),
        RouteType::Broadcast => "broadcast".into(),
        RouteType::Anycast => "anycast".into(),
        RouteType::Multicast => "multicast".into(),
        RouteType::Blackhole => "blackhole".into(),
        RouteType::Unreachable => "unreachable".into(),
        RouteType::Prohibit => "prohibit".into(),
        RouteType::Throw => "throw".into(),
        RouteType::Nat => "nat".into(),
        RouteType::Other(code) => code.to_string(),
    }
}
