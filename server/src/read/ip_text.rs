//! Kernel objects written the way `ip rule`, `ip route` and `ip addr` write them, so that the
//! dashboard's tables read like the write-ups' terminal output.

use podwire_node_state::{
    LinkKind, NetnsState, PolicyRule, Route, RouteScope, RouteType, RuleAction, table,
};

/// `ip rule`: `512:\tfrom all to 172.31.55.218 lookup main`, without the tab.
pub fn rule_text(rule: &PolicyRule) -> String {
    let mut out = format!("{}: ", rule.priority);
    if rule.invert {
        out.push_str("not ");
    }
    match &rule.source {
        Some(net) => out.push_str(&format!("from {}", prefix_text(net))),
        None => out.push_str("from all"),
    }
    if let Some(net) = &rule.destination {
        out.push_str(&format!(" to {}", prefix_text(net)));
    }
    if let Some(mark) = rule.fwmark {
        match rule.fwmask {
            Some(mask) if mask != u32::MAX => out.push_str(&format!(" fwmark {mark:#x}/{mask:#x}")),
            _ => out.push_str(&format!(" fwmark {mark:#x}")),
        }
    }
    if let Some(iif) = &rule.iif {
        out.push_str(&format!(" iif {iif}"));
    }
    if let Some(oif) = &rule.oif {
        out.push_str(&format!(" oif {oif}"));
    }
    if rule.l3mdev {
        out.push_str(" lookup [l3mdev-table]");
        return out;
    }
    match rule.action {
        RuleAction::Lookup { table: id } => out.push_str(&format!(" lookup {}", table::name(id))),
        RuleAction::Goto { priority } => out.push_str(&format!(" goto {priority}")),
        RuleAction::Nop => out.push_str(" nop"),
        RuleAction::Blackhole => out.push_str(" blackhole"),
        RuleAction::Unreachable => out.push_str(" unreachable"),
        RuleAction::Prohibit => out.push_str(" prohibit"),
        RuleAction::Other { code } => out.push_str(&format!(" action {code}")),
    }
    if let Some(len) = rule.suppress_prefixlength {
        out.push_str(&format!(" suppress_prefixlength {len}"));
    }
    out
}

/// `ip route show table all`, one route: `default via 172.31.48.1 dev eth1 table 2`.
pub fn route_text(route: &Route, ns: &NetnsState) -> String {
    let mut out = String::new();
    match route.route_type {
        RouteType::Unicast => {}
        other => out.push_str(&format!("{} ", route_type_name(other))),
    }
    if route.destination.prefix_len() == 0 {
        out.push_str("default");
    } else {
        out.push_str(&prefix_text(&route.destination));
    }
    if let Some(gw) = route.gateway {
        out.push_str(&format!(" via {gw}"));
    }
    if let Some(oif) = route.oif {
        out.push_str(&format!(" dev {}", link_name(ns, oif)));
    }
    for hop in &route.nexthops {
        out.push_str(" nexthop");
        if let Some(gw) = hop.gateway {
            out.push_str(&format!(" via {gw}"));
        }
        out.push_str(&format!(
            " dev {} weight {}",
            link_name(ns, hop.oif),
            hop.weight
        ));
    }
    if route.table != table::MAIN {
        out.push_str(&format!(" table {}", table::name(route.table)));
    }
    match route.protocol {
        2 => out.push_str(" proto kernel"),
        3 | 0 => {}
        4 => out.push_str(" proto static"),
        12 => out.push_str(" proto bird"),
        186 => out.push_str(" proto bgp"),
        other => out.push_str(&format!(" proto {other}")),
    }
    match route.scope {
        RouteScope::Universe => {}
        other => out.push_str(&format!(" scope {}", scope_name(other))),
    }
    if let Some(src) = route.pref_src {
        out.push_str(&format!(" src {src}"));
    }
    if route.metric != 0 {
        out.push_str(&format!(" metric {}", route.metric));
    }
    out
}

/// A link's kind with its details: `vlan id 1`, `vxlan vni 1 dstport 8472`, `veth`.
pub fn link_kind_text(kind: &LinkKind) -> String {
    match kind {
        LinkKind::Vlan { id, .. } => format!("vlan id {id}"),
        LinkKind::Vxlan {
            vni, local, port, ..
        } => {
            let mut out = format!("vxlan vni {vni}");
            if let Some(local) = local {
                out.push_str(&format!(" local {local}"));
            }
            if let Some(port) = port {
                out.push_str(&format!(" dstport {port}"));
            }
            out
        }
        LinkKind::Macvlan { mode } => format!("macvlan mode {mode}"),
        LinkKind::Ipvlan { mode } => format!("ipvlan mode {mode}"),
        other => other.name().to_owned(),
    }
}

/// A link's name, or `if7` when the snapshot does not hold it.
pub fn link_name(ns: &NetnsState, ifindex: u32) -> String {
    ns.link(ifindex)
        .map_or_else(|| format!("if{ifindex}"), |l| l.name.clone())
}

/// `172.31.55.218` for a host prefix, `10.0.0.0/24` otherwise.
fn prefix_text(net: &ipnet::IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

fn route_type_name(t: RouteType) -> String {
    match t {
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
        RouteType::Other(n) => n.to_string(),
    }
}

fn scope_name(s: RouteScope) -> String {
    match s {
        RouteScope::Universe => "global".into(),
        RouteScope::Site => "site".into(),
        RouteScope::Link => "link".into(),
        RouteScope::Host => "host".into(),
        RouteScope::Nowhere => "nowhere".into(),
        RouteScope::Other(n) => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use podwire_node_state::{IpFamily, Link, OperState};

    use super::*;

    fn rule(priority: u32, from: Option<&str>, to: Option<&str>, action: RuleAction) -> PolicyRule {
        PolicyRule {
            family: IpFamily::V4,
            priority,
            invert: false,
            source: from.map(|s| s.parse().unwrap()),
            destination: to.map(|s| s.parse().unwrap()),
            iif: None,
            oif: None,
            fwmark: None,
            fwmask: None,
            tos: 0,
            ip_proto: None,
            sport: None,
            dport: None,
            uid_range: None,
            l3mdev: false,
            suppress_prefixlength: None,
            suppress_ifgroup: None,
            action,
        }
    }

    #[test]
    fn rules_read_like_ip_rule() {
        let to_pod = rule(
            512,
            None,
            Some("172.31.55.218/32"),
            RuleAction::Lookup { table: 254 },
        );
        assert_eq!(
            rule_text(&to_pod),
            "512: from all to 172.31.55.218 lookup main"
        );
        let from_pod = rule(
            1536,
            Some("172.31.55.218/32"),
            None,
            RuleAction::Lookup { table: 2 },
        );
        assert_eq!(rule_text(&from_pod), "1536: from 172.31.55.218 lookup 2");
        let mut snat = rule(1024, None, None, RuleAction::Lookup { table: 254 });
        snat.fwmark = Some(0x80);
        snat.fwmask = Some(0x80);
        assert_eq!(
            rule_text(&snat),
            "1024: from all fwmark 0x80/0x80 lookup main"
        );
    }

    #[test]
    fn routes_read_like_ip_route() {
        let mut ns = NetnsState::default();
        ns.links.push(Link {
            ifindex: 17,
            name: "eth1".into(),
            kind: LinkKind::Device,
            mac: None,
            mtu: 9001,
            admin_up: true,
            oper_state: OperState::Up,
            master: None,
            link: None,
            link_netnsid: None,
        });
        let route = Route {
            table: 2,
            destination: "0.0.0.0/0".parse().unwrap(),
            route_type: RouteType::Unicast,
            protocol: 3,
            scope: RouteScope::Universe,
            metric: 0,
            tos: 0,
            pref_src: None,
            source: None,
            oif: Some(17),
            gateway: Some("172.31.48.1".parse().unwrap()),
            onlink: false,
            nexthops: vec![],
        };
        assert_eq!(
            route_text(&route, &ns),
            "default via 172.31.48.1 dev eth1 table 2"
        );
        let link_route = Route {
            destination: "172.31.48.1/32".parse().unwrap(),
            gateway: None,
            scope: RouteScope::Link,
            ..route
        };
        assert_eq!(
            route_text(&link_route, &ns),
            "172.31.48.1 dev eth1 table 2 scope link"
        );
    }
}
