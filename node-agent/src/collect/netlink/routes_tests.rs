use netlink_packet_route::route::{RouteProtocol, RouteScope as WireScope, RouteType as WireType};

use super::*;

fn message(family: AddressFamily, attributes: Vec<RouteAttribute>) -> RouteMessage {
    let mut message = RouteMessage::default();
    message.header.address_family = family;
    message.header.kind = WireType::Unicast;
    message.header.protocol = RouteProtocol::Boot;
    message.header.table = 254;
    message.attributes = attributes;
    message
}

fn v4(ip: &str) -> RouteAddress {
    RouteAddress::Inet(ip.parse().unwrap())
}

#[test]
fn default_route_of_main_table() {
    let m = message(
        AddressFamily::Inet,
        vec![
            RouteAttribute::Table(254),
            RouteAttribute::Gateway(v4("172.31.48.1")),
            RouteAttribute::Oif(2),
        ],
    );
    let route = route_from_message(&m).unwrap().unwrap();
    assert_eq!(route.table, 254);
    assert_eq!(route.destination, "0.0.0.0/0".parse::<IpNet>().unwrap());
    assert_eq!(route.route_type, RouteType::Unicast);
    assert_eq!(route.protocol, 3, "proto boot");
    assert_eq!(route.scope, RouteScope::Universe);
    assert_eq!(route.metric, 0, "no RTA_PRIORITY");
    assert_eq!(route.gateway, Some("172.31.48.1".parse().unwrap()));
    assert_eq!(route.oif, Some(2));
    assert!(route.nexthops.is_empty());
}

#[test]
fn table_above_255_comes_from_rta_table_not_the_header() {
    let mut m = message(
        AddressFamily::Inet,
        vec![
            RouteAttribute::Table(1000),
            RouteAttribute::Destination(v4("10.0.0.0")),
            RouteAttribute::Oif(4),
            RouteAttribute::Priority(100),
        ],
    );
    m.header.table = 252;
    m.header.destination_prefix_length = 8;
    m.header.scope = WireScope::Link;
    m.header.flags = RouteFlags::Onlink;
    let route = route_from_message(&m).unwrap().unwrap();
    assert_eq!(route.table, 1000);
    assert_eq!(route.destination, "10.0.0.0/8".parse::<IpNet>().unwrap());
    assert_eq!(route.metric, 100);
    assert_eq!(route.scope, RouteScope::Link);
    assert!(route.onlink);
}

#[test]
fn header_table_is_used_when_rta_table_is_absent() {
    let mut m = message(AddressFamily::Inet, vec![]);
    m.header.table = 100;
    assert_eq!(route_from_message(&m).unwrap().unwrap().table, 100);
}

#[test]
fn multipath_nexthops_carry_weight_and_onlink() {
    let mut first = RouteNextHop::default();
    first.interface_index = 3;
    first.hops = 0;
    first.attributes = vec![RouteAttribute::Gateway(v4("10.0.0.1"))];
    let mut second = RouteNextHop::default();
    second.interface_index = 4;
    second.hops = 2;
    second.flags = RouteNextHopFlags::Onlink;
    second.attributes = vec![RouteAttribute::Via(RouteVia::Inet6(
        "fe80::1".parse().unwrap(),
    ))];
    let m = message(
        AddressFamily::Inet,
        vec![RouteAttribute::MultiPath(vec![first, second])],
    );
    let route = route_from_message(&m).unwrap().unwrap();
    assert_eq!(route.oif, None);
    assert_eq!(
        route.nexthops,
        vec![
            NextHop {
                oif: 3,
                gateway: Some("10.0.0.1".parse().unwrap()),
                weight: 1,
                onlink: false
            },
            NextHop {
                oif: 4,
                gateway: Some("fe80::1".parse().unwrap()),
                weight: 3,
                onlink: true
            },
        ]
    );
}

#[test]
fn ipv6_source_specific_route_and_route_types() {
    let mut m = message(
        AddressFamily::Inet6,
        vec![
            RouteAttribute::Destination(RouteAddress::Inet6("2001:db8::".parse().unwrap())),
            RouteAttribute::Source(RouteAddress::Inet6("fd00:1::".parse().unwrap())),
            RouteAttribute::PrefSource(RouteAddress::Inet6("fd00:1::5".parse().unwrap())),
            RouteAttribute::Priority(1024),
        ],
    );
    m.header.destination_prefix_length = 32;
    m.header.source_prefix_length = 48;
    m.header.kind = WireType::Unreachable;
    m.header.tos = 0;
    let route = route_from_message(&m).unwrap().unwrap();
    assert_eq!(route.destination, "2001:db8::/32".parse::<IpNet>().unwrap());
    assert_eq!(route.source, Some("fd00:1::/48".parse().unwrap()));
    assert_eq!(route.pref_src, Some("fd00:1::5".parse().unwrap()));
    assert_eq!(route.route_type, RouteType::Unreachable);
    assert_eq!(route.metric, 1024);

    for (number, expected) in [
        (2, RouteType::Local),
        (6, RouteType::Blackhole),
        (9, RouteType::Throw),
        (11, RouteType::Other(11)),
    ] {
        assert_eq!(route_type_of(number), expected);
    }
    assert_eq!(scope_of(254), RouteScope::Host);
    assert_eq!(scope_of(7), RouteScope::Other(7));
}

#[test]
fn other_families_are_skipped_and_bad_messages_refused() {
    let m = message(AddressFamily::Mpls, vec![]);
    assert_eq!(route_from_message(&m), Ok(None));

    let mut bad = message(
        AddressFamily::Inet,
        vec![RouteAttribute::Destination(v4("10.0.0.0"))],
    );
    bad.header.destination_prefix_length = 40;
    assert!(matches!(
        route_from_message(&bad),
        Err(MessageError::PrefixLength { length: 40, .. })
    ));

    let other = message(
        AddressFamily::Inet,
        vec![RouteAttribute::Gateway(RouteAddress::Other(vec![1, 2]))],
    );
    assert_eq!(
        route_from_message(&other),
        Err(MessageError::NotAnIpAddress {
            attribute: "RTA_GATEWAY"
        })
    );
}
