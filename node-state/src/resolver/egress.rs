//! One egress path: the routing decision for a flow from a pod, the chosen route's device, the
//! link stack below it down to the NIC and ENI MAC, and how the kernel's own answer compares.

use std::net::IpAddr;

use foldhash::HashMap;

use super::facts::Detail;
use super::index::HostIndex;
use super::kernel::{self, legs};
use super::layers;
use super::lookup::{self, Outcome};
use super::path::{Egress, KernelCheck, LinkRef, Problem, ProblemCode, RouteRef};
use super::rules::{self, Flow};
use crate::model::{IpFamily, KernelRouteAnswer, KernelRouteQuery, PolicyRule, Route, table};

/// Where the kernel's answers to the resolver's routing questions come from: the answers a
/// snapshot recorded, or the kernel itself, asked while resolving.
pub(super) trait KernelAnswers {
    /// The kernel's answer to `query`; `None` when there is none (not asked, or asking failed).
    fn answer(&self, query: &KernelRouteQuery) -> Option<KernelRouteAnswer>;
}

/// The answers a snapshot recorded, by question.
#[derive(Debug, Default)]
pub(super) struct RecordedAnswers<'a>(HashMap<&'a KernelRouteQuery, &'a KernelRouteAnswer>);

impl<'a> FromIterator<(&'a KernelRouteQuery, &'a KernelRouteAnswer)> for RecordedAnswers<'a> {
    fn from_iter<I: IntoIterator<Item = (&'a KernelRouteQuery, &'a KernelRouteAnswer)>>(
        answers: I,
    ) -> Self {
        RecordedAnswers(answers.into_iter().collect())
    }
}

impl KernelAnswers for RecordedAnswers<'_> {
    fn answer(&self, query: &KernelRouteQuery) -> Option<KernelRouteAnswer> {
        self.0.get(query).map(|answer| (*answer).clone())
    }
}

/// One traced path and what it found.
#[derive(Debug)]
pub(super) struct Traced<'a> {
    pub egress: Egress,
    pub problems: Vec<Problem>,
    /// The path crossed a VPC CNI branch link (`vlan.eth.<id>`).
    pub crossed_branch: bool,
    /// The rule whose lookup produced the route.
    pub rule: Option<&'a PolicyRule>,
}

/// The RTM_GETROUTE question that matches a flow.
pub(super) fn query_for(flow: &Flow<'_>) -> KernelRouteQuery {
    KernelRouteQuery {
        destination: flow.destination,
        source: flow.source,
        iif: flow.ingress.ifindex,
        fwmark: (flow.mark != 0).then_some(flow.mark),
    }
}

fn route_ref(host: &HostIndex<'_>, route: &Route) -> RouteRef {
    RouteRef {
        table: route.table,
        destination: route.destination,
        route_type: route.route_type,
        gateway: route.gateway,
        device: route.oif.map(|oif| host.link_name(oif)),
        scope: route.scope,
        metric: route.metric,
        protocol: route.protocol,
    }
}

/// Traces traffic of `flow` through the host, labelled `label` in the result and its problems;
/// at [`Detail::Facts`] without the deciding rule's and route's descriptions.
pub(super) fn trace<'a>(
    host: &HostIndex<'a>,
    flow: &Flow<'_>,
    label: String,
    answers: &dyn KernelAnswers,
    detail: Detail,
) -> Traced<'a> {
    let decision = lookup::decide(host, flow);
    let texts = detail.texts();
    let mut problems = Vec::new();
    let mut egress = Egress {
        label,
        destination: flow.destination,
        fwmark: (flow.mark != 0).then_some(flow.mark),
        ingress: LinkRef::from(flow.ingress),
        rule: decision.rule.filter(|_| texts).map(rules::rule_ref),
        table: decision.table,
        route: decision.route.filter(|_| texts).map(|r| route_ref(host, r)),
        egress_device: None,
        layers: Vec::new(),
        nic: None,
        stays_on_node: None,
        eni_mac: None,
        vlan_id: None,
        trunk_device: None,
        kernel: KernelCheck::NotAsked,
    };
    let label = egress.label.clone();
    let mut crossed_branch = false;
    match (&decision.outcome, decision.route) {
        (Outcome::NoRoute, _) => problems.push(Problem::new(
            ProblemCode::NoRoute,
            format!("{label}: no policy rule leads to a route (`ip route get` answers: network unreachable)"),
        )),
        (Outcome::Rejected(why), _) => problems.push(Problem::new(ProblemCode::RouteRejects, format!("{label}: {why}"))),
        (Outcome::Unsupported(why), _) => {
            problems.push(Problem::new(ProblemCode::UnsupportedRule, format!("{label}: {why}")));
        }
        (Outcome::OnNode, Some(route)) => {
            egress.egress_device = route.oif.and_then(|oif| host.link(oif)).map(LinkRef::from);
            egress.stays_on_node = Some(format!(
                "{} route {} in table {}: delivered on the node",
                lookup::route_type_name(route.route_type),
                route.destination,
                table::name(route.table)
            ));
        }
        (Outcome::Forward, Some(route)) => {
            crossed_branch = follow_route(host, route, &label, &mut egress, &mut problems);
        }
        (Outcome::OnNode | Outcome::Forward, None) => {}
    }
    let answer = answers.answer(&query_for(flow));
    egress.kernel = kernel::compare(&decision, answer.as_ref(), host);
    if let KernelCheck::Disagrees { kernel } = &egress.kernel {
        problems.push(Problem::new(
            ProblemCode::KernelDisagrees,
            format!(
                "{label}: the kernel chose {kernel}; the resolver {}",
                kernel::describe_decision(&decision, host)
            ),
        ));
    }
    Traced {
        egress,
        problems,
        crossed_branch,
        rule: decision.rule,
    }
}

/// Fills in the egress device and the stack below it; says whether a branch link was crossed.
fn follow_route(
    host: &HostIndex<'_>,
    route: &Route,
    label: &str,
    egress: &mut Egress,
    problems: &mut Vec<Problem>,
) -> bool {
    let legs = legs(route);
    let [(oif, _)] = legs.as_slice() else {
        let described: Vec<String> = route
            .nexthops
            .iter()
            .map(|nh| {
                let via = nh
                    .gateway
                    .map(|gw| format!("via {gw} "))
                    .unwrap_or_default();
                format!("{via}dev {} weight {}", host.link_name(nh.oif), nh.weight)
            })
            .collect();
        problems.push(Problem::new(
            ProblemCode::Multipath,
            format!(
                "{label}: route {} in table {} has {} legs ({}); the flow hash picks one per connection",
                route.destination,
                table::name(route.table),
                legs.len(),
                described.join(", ")
            ),
        ));
        return false;
    };
    let Some(oif) = *oif else {
        problems.push(Problem::new(
            ProblemCode::MissingLink,
            format!(
                "{label}: route {} in table {} names no device",
                route.destination,
                table::name(route.table)
            ),
        ));
        return false;
    };
    let Some(device) = host.link(oif) else {
        problems.push(Problem::new(
            ProblemCode::MissingLink,
            format!(
                "{label}: route {} in table {} leaves through ifindex {oif}, which the snapshot does not hold",
                route.destination,
                table::name(route.table)
            ),
        ));
        return false;
    };
    egress.egress_device = Some(LinkRef::from(device));
    let stack = layers::walk(host, device);
    egress.layers = stack.layers;
    egress.nic = stack.nic.map(LinkRef::from);
    egress.stays_on_node = stack.stays_on_node;
    problems.extend(
        stack
            .problems
            .into_iter()
            .map(|p| Problem::new(p.code, format!("{label}: {}", p.message))),
    );
    match &stack.branch {
        Some(branch) => {
            egress.eni_mac = branch.link.mac;
            egress.vlan_id = Some(branch.vlan_id);
            egress.trunk_device = Some(branch.trunk.clone());
        }
        None => egress.eni_mac = stack.nic.and_then(|nic| nic.mac),
    }
    stack.branch.is_some()
}

/// VPC CNI's SNAT rule for a pod whose traffic `selecting` sends to its ENI's table: a rule with
/// a firewall mark that looks up `main` and is tried first (1024 `fwmark 0x80/0x80 lookup main`,
/// matching the connmark VPC CNI's iptables rules restore on internet-bound connections).
pub(super) fn snat_rule<'a>(
    host: &HostIndex<'a>,
    pod_ip: IpAddr,
    selecting: &PolicyRule,
) -> Option<&'a PolicyRule> {
    host.fwmark_main_rules(IpFamily::of(&pod_ip))
        .iter()
        .copied()
        .find(|rule| rule.priority < selecting.priority)
}

/// The label of the SNAT path: `internet-bound after SNAT (fwmark 0x80/0x80, rule 1024)`.
pub(super) fn snat_label(rule: &PolicyRule) -> String {
    let mark = rules::fwmark_text(rule).unwrap_or_default();
    format!("internet-bound after SNAT ({mark}, rule {})", rule.priority)
}
