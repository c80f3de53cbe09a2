//! RTM_NEWRULE messages → [`PolicyRule`].

use netlink_packet_route::AddressFamily;
use netlink_packet_route::rule::{RuleAction as WireAction, RuleAttribute, RuleFlags, RuleMessage};
use podwire_node_state::{IpFamily, PolicyRule, RuleAction};

use super::MessageError;
use super::routes::prefix;

/// The kernel's "not set" for `suppress_prefixlength` and `suppress_ifgroup` (−1 as a `u32`).
const UNSET: u32 = u32::MAX;

/// Converts one RTM_NEWRULE message; `None` for families other than IPv4 and IPv6 (the
/// multicast-routing rule sets come with an unspecified-family dump).
pub fn rule_from_message(message: &RuleMessage) -> Result<Option<PolicyRule>, MessageError> {
    let header = &message.header;
    let family = match header.family {
        AddressFamily::Inet => IpFamily::V4,
        AddressFamily::Inet6 => IpFamily::V6,
        _ => return Ok(None),
    };
    let mut rule = PolicyRule {
        family,
        // No FRA_PRIORITY attribute means priority 0.
        priority: 0,
        invert: header.flags.contains(RuleFlags::Invert),
        source: None,
        destination: None,
        iif: None,
        oif: None,
        fwmark: None,
        fwmask: None,
        tos: header.tos,
        ip_proto: None,
        sport: None,
        dport: None,
        uid_range: None,
        l3mdev: false,
        suppress_prefixlength: None,
        suppress_ifgroup: None,
        action: RuleAction::Nop,
    };
    let mut table = u32::from(header.table);
    let mut goto = None;
    for attribute in &message.attributes {
        match attribute {
            RuleAttribute::Priority(value) => rule.priority = *value,
            RuleAttribute::Source(ip) => rule.source = Some(prefix(*ip, header.src_len)?),
            RuleAttribute::Destination(ip) => rule.destination = Some(prefix(*ip, header.dst_len)?),
            RuleAttribute::Iifname(name) => rule.iif = Some(name.clone()),
            RuleAttribute::Oifname(name) => rule.oif = Some(name.clone()),
            RuleAttribute::FwMark(value) => rule.fwmark = Some(*value),
            RuleAttribute::FwMask(value) => rule.fwmask = Some(*value),
            RuleAttribute::IpProtocol(protocol) => rule.ip_proto = Some(u8::from(*protocol)),
            RuleAttribute::SourcePortRange(range) => rule.sport = Some((range.start, range.end)),
            RuleAttribute::DestinationPortRange(range) => {
                rule.dport = Some((range.start, range.end));
            }
            RuleAttribute::UidRange(range) => rule.uid_range = Some((range.start, range.end)),
            RuleAttribute::L3MDev(on) => rule.l3mdev = *on,
            RuleAttribute::SuppressPrefixLen(value) => {
                rule.suppress_prefixlength = Some(*value).filter(|&v| v != UNSET);
            }
            RuleAttribute::SuppressIfGroup(value) => {
                rule.suppress_ifgroup = Some(*value).filter(|&v| v != UNSET);
            }
            RuleAttribute::Table(id) => table = *id,
            RuleAttribute::Goto(priority) => goto = Some(*priority),
            _ => {}
        }
    }
    rule.action = match header.action {
        WireAction::ToTable => RuleAction::Lookup { table },
        WireAction::Goto => match goto {
            Some(priority) => RuleAction::Goto { priority },
            None => RuleAction::Other {
                code: u8::from(header.action),
            },
        },
        WireAction::Nop => RuleAction::Nop,
        WireAction::Blackhole => RuleAction::Blackhole,
        WireAction::Unreachable => RuleAction::Unreachable,
        WireAction::Prohibit => RuleAction::Prohibit,
        other => RuleAction::Other {
            code: u8::from(other),
        },
    };
    Ok(Some(rule))
}

#[cfg(test)]
mod tests {
    use netlink_packet_route::IpProtocol;
    use netlink_packet_route::rule::{RulePortRange, RuleUidRange};

    use super::*;

    fn message(
        family: AddressFamily,
        action: WireAction,
        attributes: Vec<RuleAttribute>,
    ) -> RuleMessage {
        let mut message = RuleMessage::default();
        message.header.family = family;
        message.header.action = action;
        message.attributes = attributes;
        message
    }

    #[test]
    fn rule_without_priority_is_priority_zero_lookup_local() {
        let mut m = message(
            AddressFamily::Inet,
            WireAction::ToTable,
            vec![RuleAttribute::Table(255)],
        );
        m.header.table = 255;
        let rule = rule_from_message(&m).unwrap().unwrap();
        assert_eq!(rule.priority, 0);
        assert_eq!(rule.action, RuleAction::Lookup { table: 255 });
        assert_eq!(rule.source, None);
        assert_eq!(rule.suppress_prefixlength, None);
    }

    #[test]
    fn table_above_255_comes_from_fra_table() {
        let mut m = message(
            AddressFamily::Inet,
            WireAction::ToTable,
            vec![RuleAttribute::Priority(1536), RuleAttribute::Table(1000)],
        );
        m.header.table = 252;
        let rule = rule_from_message(&m).unwrap().unwrap();
        assert_eq!(rule.action, RuleAction::Lookup { table: 1000 });
        assert_eq!(rule.priority, 1536);
    }

    #[test]
    fn every_selector_is_kept() {
        let mut m = message(
            AddressFamily::Inet,
            WireAction::ToTable,
            vec![
                RuleAttribute::Priority(10),
                RuleAttribute::Source("192.168.3.0".parse().unwrap()),
                RuleAttribute::Destination("10.0.0.7".parse().unwrap()),
                RuleAttribute::Iifname("vlan.eth.1".into()),
                RuleAttribute::Oifname("eth1".into()),
                RuleAttribute::FwMark(0x80),
                RuleAttribute::FwMask(0x80),
                RuleAttribute::IpProtocol(IpProtocol::Tcp),
                RuleAttribute::SourcePortRange(RulePortRange {
                    start: 1000,
                    end: 2000,
                }),
                RuleAttribute::DestinationPortRange(RulePortRange {
                    start: 443,
                    end: 443,
                }),
                RuleAttribute::UidRange(RuleUidRange {
                    start: 100,
                    end: 200,
                }),
                RuleAttribute::SuppressPrefixLen(0),
                RuleAttribute::SuppressIfGroup(u32::MAX),
                RuleAttribute::Table(101),
            ],
        );
        m.header.src_len = 24;
        m.header.dst_len = 32;
        m.header.tos = 0x10;
        m.header.flags = RuleFlags::Invert;
        let rule = rule_from_message(&m).unwrap().unwrap();
        assert_eq!(rule.family, IpFamily::V4);
        assert_eq!(rule.priority, 10);
        assert!(rule.invert);
        assert_eq!(rule.source, Some("192.168.3.0/24".parse().unwrap()));
        assert_eq!(rule.destination, Some("10.0.0.7/32".parse().unwrap()));
        assert_eq!(rule.iif.as_deref(), Some("vlan.eth.1"));
        assert_eq!(rule.oif.as_deref(), Some("eth1"));
        assert_eq!((rule.fwmark, rule.fwmask), (Some(0x80), Some(0x80)));
        assert_eq!(rule.tos, 0x10);
        assert_eq!(rule.ip_proto, Some(6));
        assert_eq!(rule.sport, Some((1000, 2000)));
        assert_eq!(rule.dport, Some((443, 443)));
        assert_eq!(rule.uid_range, Some((100, 200)));
        // `suppress_prefixlength 0` is a real setting; only −1 means unset.
        assert_eq!(rule.suppress_prefixlength, Some(0));
        assert_eq!(rule.suppress_ifgroup, None);
        assert_eq!(rule.action, RuleAction::Lookup { table: 101 });
    }

    #[test]
    fn unset_suppress_prefixlength_is_none() {
        let m = message(
            AddressFamily::Inet6,
            WireAction::ToTable,
            vec![
                RuleAttribute::SuppressPrefixLen(u32::MAX),
                RuleAttribute::Table(254),
            ],
        );
        let rule = rule_from_message(&m).unwrap().unwrap();
        assert_eq!(rule.family, IpFamily::V6);
        assert_eq!(rule.suppress_prefixlength, None);
    }

    #[test]
    fn actions() {
        let goto = message(
            AddressFamily::Inet,
            WireAction::Goto,
            vec![RuleAttribute::Goto(32000)],
        );
        assert_eq!(
            rule_from_message(&goto).unwrap().unwrap().action,
            RuleAction::Goto { priority: 32000 }
        );
        let dangling = message(AddressFamily::Inet, WireAction::Goto, vec![]);
        assert_eq!(
            rule_from_message(&dangling).unwrap().unwrap().action,
            RuleAction::Other { code: 2 }
        );
        for (wire, model) in [
            (WireAction::Unreachable, RuleAction::Unreachable),
            (WireAction::Blackhole, RuleAction::Blackhole),
            (WireAction::Prohibit, RuleAction::Prohibit),
            (WireAction::Nop, RuleAction::Nop),
            (WireAction::Other(42), RuleAction::Other { code: 42 }),
        ] {
            let m = message(AddressFamily::Inet, wire, vec![]);
            assert_eq!(rule_from_message(&m).unwrap().unwrap().action, model);
        }
    }

    #[test]
    fn multicast_routing_rules_are_skipped() {
        let mut m = message(AddressFamily::Inet, WireAction::ToTable, vec![]);
        m.header.family = AddressFamily::from(128u8);
        assert_eq!(rule_from_message(&m), Ok(None));
    }
}
