//! `ip route show table all` and `ip rule` lines, parsed into the model, so that tests state a
//! node's routing the way the write-ups print it.

use std::net::IpAddr;

use ipnet::IpNet;

use super::builder::route;
use crate::model::*;

pub fn net(text: &str, v6: bool) -> IpNet {
    match text {
        "default" | "all" if v6 => "::/0".parse().unwrap(),
        "default" | "all" => "0.0.0.0/0".parse().unwrap(),
        _ if text.contains('/') => text.parse().unwrap(),
        _ => IpNet::from(text.parse::<IpAddr>().unwrap()),
    }
}

fn table_id(text: &str) -> u32 {
    match text {
        "main" => table::MAIN,
        "local" => table::LOCAL,
        "default" => table::DEFAULT,
        n => n.parse().unwrap(),
    }
}

/// One line of `ip route show table all` (`dev #N` names a raw ifindex).
pub fn parse_route(line: &str, ifindex: impl Fn(&str) -> u32) -> Route {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut i = 0;
    let route_type = match words[0] {
        "local" => Some(RouteType::Local),
        "broadcast" => Some(RouteType::Broadcast),
        "unreachable" => Some(RouteType::Unreachable),
        "blackhole" => Some(RouteType::Blackhole),
        "prohibit" => Some(RouteType::Prohibit),
        "throw" => Some(RouteType::Throw),
        "multicast" => Some(RouteType::Multicast),
        "anycast" => Some(RouteType::Anycast),
        _ => None,
    };
    if route_type.is_some() {
        i += 1;
    }
    let v6 = words.iter().any(|w| {
        w.contains(':')
            && w.parse::<IpNet>()
                .or_else(|_| w.parse::<IpAddr>().map(IpNet::from))
                .is_ok()
    });
    let mut r = route(net(words[i], v6));
    r.route_type = route_type.unwrap_or(RouteType::Unicast);
    i += 1;
    while i < words.len() {
        let value = words.get(i + 1).copied().unwrap_or("");
        match words[i] {
            "via" => r.gateway = Some(value.parse().unwrap()),
            "dev" => r.oif = Some(ifindex(value)),
            "table" => r.table = table_id(value),
            "proto" => {
                r.protocol = match value {
                    "kernel" => 2,
                    "boot" => 3,
                    "static" => 4,
                    "bird" => 12,
                    n => n.parse().unwrap(),
                }
            }
            "scope" => {
                r.scope = match value {
                    "link" => RouteScope::Link,
                    "host" => RouteScope::Host,
                    _ => RouteScope::Universe,
                }
            }
            "src" => r.pref_src = Some(value.parse().unwrap()),
            "metric" => r.metric = value.parse().unwrap(),
            "tos" => r.tos = u8::from_str_radix(value.trim_start_matches("0x"), 16).unwrap(),
            "from" => r.source = Some(net(value, true)),
            "pref" => {}
            "onlink" => {
                r.onlink = true;
                i += 1;
                continue;
            }
            "nexthop" => {
                r.nexthops.push(NextHop {
                    oif: 0,
                    gateway: None,
                    weight: 1,
                    onlink: false,
                });
                i += 1;
                continue;
            }
            "weight" => {
                r.nexthops.last_mut().unwrap().weight = value.parse().unwrap();
            }
            other => panic!("route word {other:?} in {line:?}"),
        }
        // Inside a nexthop, via and dev describe the leg.
        if let Some(hop) = r.nexthops.last_mut() {
            match words[i] {
                "via" => hop.gateway = r.gateway.take(),
                "dev" => hop.oif = r.oif.take().unwrap(),
                _ => {}
            }
        }
        i += 2;
    }
    r
}

/// One line of `ip rule` (`PRIORITY: SELECTOR ACTION`).
pub fn parse_rule(line: &str, family: IpFamily) -> PolicyRule {
    let (priority, rest) = line.split_once(':').unwrap();
    let v6 = family == IpFamily::V6;
    let mut rule = PolicyRule {
        family,
        priority: priority.trim().parse().unwrap(),
        invert: false,
        source: None,
        destination: None,
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
        action: RuleAction::Nop,
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    let range = |text: &str| -> (u16, u16) {
        match text.split_once('-') {
            Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
            None => (text.parse().unwrap(), text.parse().unwrap()),
        }
    };
    let hex = |text: &str| u32::from_str_radix(text.trim_start_matches("0x"), 16).unwrap();
    let mut i = 0;
    while i < words.len() {
        let value = words.get(i + 1).copied().unwrap_or("");
        let mut takes_value = true;
        match words[i] {
            "not" => {
                rule.invert = true;
                takes_value = false;
            }
            "from" => rule.source = Some(value).filter(|v| *v != "all").map(|v| net(v, v6)),
            "to" => rule.destination = Some(net(value, v6)),
            "fwmark" => match value.split_once('/') {
                Some((mark, mask)) => {
                    rule.fwmark = Some(hex(mark));
                    rule.fwmask = Some(hex(mask));
                }
                None => rule.fwmark = Some(hex(value)),
            },
            "iif" => rule.iif = Some(value.into()),
            "oif" => rule.oif = Some(value.into()),
            "tos" => rule.tos = hex(value) as u8,
            "ipproto" => rule.ip_proto = Some(value.parse().unwrap()),
            "sport" => rule.sport = Some(range(value)),
            "dport" => rule.dport = Some(range(value)),
            "uidrange" => {
                let (a, b) = value.split_once('-').unwrap();
                rule.uid_range = Some((a.parse().unwrap(), b.parse().unwrap()));
            }
            "lookup" if value == "[l3mdev-table]" => {
                rule.l3mdev = true;
                rule.action = RuleAction::Lookup { table: 0 };
            }
            "lookup" => {
                rule.action = RuleAction::Lookup {
                    table: table_id(value),
                }
            }
            "suppress_prefixlength" => rule.suppress_prefixlength = Some(value.parse().unwrap()),
            "suppress_ifgroup" => rule.suppress_ifgroup = Some(value.parse().unwrap()),
            "goto" => {
                rule.action = RuleAction::Goto {
                    priority: value.parse().unwrap(),
                }
            }
            word => {
                takes_value = false;
                rule.action = match word {
                    "nop" => RuleAction::Nop,
                    "blackhole" => RuleAction::Blackhole,
                    "unreachable" => RuleAction::Unreachable,
                    "prohibit" => RuleAction::Prohibit,
                    other => panic!("rule word {other:?} in {line:?}"),
                };
            }
        }
        i += if takes_value { 2 } else { 1 };
    }
    rule
}
