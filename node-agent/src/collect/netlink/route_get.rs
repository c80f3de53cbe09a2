//! RTM_GETROUTE for one packet: the kernel's own routing decision, asked the way
//! `ip route get DST from SRC iif DEV [mark M]` asks it.

use std::net::IpAddr;

use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteFlags, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use podwire_node_state::{KernelRouteAnswer, KernelRouteQuery};

use super::MessageError;
use super::routes::{ip_of, route_type_of, via_of};
use super::socket::{NetlinkError, Request, RouteSocket};

impl RouteSocket {
    /// Asks the socket's namespace where a packet from `query.source` to `query.destination`
    /// entering on `query.iif` (with `query.fwmark`) would go. Refusals by the kernel
    /// (`ENETUNREACH`, `EHOSTUNREACH`, `EINVAL` for a martian…) are answers, not errors; only a
    /// failed conversation or a query mixing IPv4 and IPv6 is an error.
    pub fn route_get(
        &mut self,
        query: &KernelRouteQuery,
    ) -> Result<KernelRouteAnswer, NetlinkError> {
        let request = Request::RouteGet;
        let message = route_get_message(query)?;
        match self.ask(request, RouteNetlinkMessage::GetRoute(message))? {
            Ok(RouteNetlinkMessage::NewRoute(answer)) => route_answer_from_message(&answer)
                .map_err(|source| NetlinkError::Malformed { request, source }),
            Ok(other) => Err(NetlinkError::Unexpected {
                request,
                message_type: other.message_type(),
            }),
            Err(errno) => Ok(KernelRouteAnswer::Error {
                errno,
                message: nix::errno::Errno::from_raw(errno).desc().to_owned(),
            }),
        }
    }
}

/// The RTM_GETROUTE request for `query`: full-length destination and source prefixes, the input
/// device, the mark, and `RTM_F_LOOKUP_TABLE` so that the answer names the table that matched
/// (without it the kernel reports every answer as table `main`).
pub fn route_get_message(query: &KernelRouteQuery) -> Result<RouteMessage, NetlinkError> {
    let (family, bits) = match (query.destination, query.source) {
        (IpAddr::V4(_), IpAddr::V4(_)) => (AddressFamily::Inet, 32),
        (IpAddr::V6(_), IpAddr::V6(_)) => (AddressFamily::Inet6, 128),
        (to, from) => return Err(NetlinkError::MixedFamilies { from, to }),
    };
    let mut message = RouteMessage::default();
    message.header.address_family = family;
    message.header.destination_prefix_length = bits;
    message.header.source_prefix_length = bits;
    message.header.flags = RouteFlags::LookupTable;
    message.attributes = vec![
        RouteAttribute::Destination(route_address(query.destination)),
        RouteAttribute::Source(route_address(query.source)),
        RouteAttribute::Iif(query.iif),
    ];
    if let Some(mark) = query.fwmark {
        message.attributes.push(RouteAttribute::Mark(mark));
    }
    Ok(message)
}

/// The decision in an RTM_NEWROUTE answer to an RTM_GETROUTE question.
pub fn route_answer_from_message(
    message: &RouteMessage,
) -> Result<KernelRouteAnswer, MessageError> {
    let mut table = u32::from(message.header.table);
    let mut oif = None;
    let mut gateway = None;
    let mut pref_src = None;
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Table(id) => table = *id,
            RouteAttribute::Oif(index) => oif = Some(*index),
            RouteAttribute::Gateway(address) => gateway = Some(ip_of(address, "RTA_GATEWAY")?),
            RouteAttribute::Via(via) => gateway = Some(via_of(via)?),
            RouteAttribute::PrefSource(address) => {
                pref_src = Some(ip_of(address, "RTA_PREFSRC")?);
            }
            _ => {}
        }
    }
    Ok(KernelRouteAnswer::Route {
        route_type: route_type_of(u8::from(message.header.kind)),
        table,
        oif,
        gateway,
        pref_src,
    })
}

fn route_address(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(v4) => RouteAddress::Inet(v4),
        IpAddr::V6(v6) => RouteAddress::Inet6(v6),
    }
}

#[cfg(test)]
mod tests {
    use netlink_packet_route::route::RouteType as WireRouteType;
    use podwire_node_state::RouteType;

    use super::*;

    fn query(destination: &str, source: &str) -> KernelRouteQuery {
        KernelRouteQuery {
            destination: destination.parse().unwrap(),
            source: source.parse().unwrap(),
            iif: 7,
            fwmark: Some(0x80),
        }
    }

    #[test]
    fn request_asks_like_ip_route_get_with_the_lookup_table_flag() {
        let m = route_get_message(&query("8.8.8.8", "192.168.3.41")).unwrap();
        assert_eq!(m.header.address_family, AddressFamily::Inet);
        assert_eq!(m.header.destination_prefix_length, 32);
        assert_eq!(m.header.source_prefix_length, 32);
        assert!(m.header.flags.contains(RouteFlags::LookupTable));
        assert_eq!(
            m.attributes,
            vec![
                RouteAttribute::Destination(RouteAddress::Inet("8.8.8.8".parse().unwrap())),
                RouteAttribute::Source(RouteAddress::Inet("192.168.3.41".parse().unwrap())),
                RouteAttribute::Iif(7),
                RouteAttribute::Mark(0x80),
            ]
        );
        let v6 = route_get_message(&query("2001:db8::1", "fd00::5")).unwrap();
        assert_eq!(v6.header.address_family, AddressFamily::Inet6);
        assert_eq!(v6.header.destination_prefix_length, 128);
    }

    #[test]
    fn mixed_families_are_refused_before_asking() {
        assert!(matches!(
            route_get_message(&query("8.8.8.8", "fd00::5")),
            Err(NetlinkError::MixedFamilies { .. })
        ));
    }

    #[test]
    fn answer_table_comes_from_rta_table() {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = 252;
        m.header.kind = WireRouteType::Unicast;
        m.attributes = vec![
            RouteAttribute::Table(1000),
            RouteAttribute::Oif(3),
            RouteAttribute::Gateway(RouteAddress::Inet("10.0.0.1".parse().unwrap())),
            RouteAttribute::PrefSource(RouteAddress::Inet("10.0.0.5".parse().unwrap())),
        ];
        assert_eq!(
            route_answer_from_message(&m),
            Ok(KernelRouteAnswer::Route {
                route_type: RouteType::Unicast,
                table: 1000,
                oif: Some(3),
                gateway: Some("10.0.0.1".parse().unwrap()),
                pref_src: Some("10.0.0.5".parse().unwrap()),
            })
        );
    }
}
