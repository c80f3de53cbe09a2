//! RTM_NEWROUTE messages → [`Route`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteNextHop, RouteNextHopFlags,
    RouteVia,
};
use podwire_node_state::{NextHop, Route, RouteScope, RouteType};

use super::MessageError;

/// Converts one RTM_NEWROUTE message; `None` for families other than IPv4 and IPv6.
///
/// The header's table is a `u8` (252, `RT_TABLE_COMPAT`, for every table above 255), so the
/// table comes from `RTA_TABLE` whenever the kernel sends it.
pub fn route_from_message(message: &RouteMessage) -> Result<Option<Route>, MessageError> {
    let header = &message.header;
    let Some(unspecified) = unspecified(header.address_family) else {
        return Ok(None);
    };
    let mut table = u32::from(header.table);
    let mut destination = None;
    let mut source = None;
    let mut pref_src = None;
    let mut gateway = None;
    let mut oif = None;
    let mut metric = 0;
    let mut nexthops = Vec::new();
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Table(id) => table = *id,
            RouteAttribute::Destination(address) => destination = Some(ip_of(address, "RTA_DST")?),
            RouteAttribute::Source(address) => source = Some(ip_of(address, "RTA_SRC")?),
            RouteAttribute::PrefSource(address) => {
                pref_src = Some(ip_of(address, "RTA_PREFSRC")?);
            }
            RouteAttribute::Gateway(address) => gateway = Some(ip_of(address, "RTA_GATEWAY")?),
            RouteAttribute::Via(via) => gateway = Some(via_of(via)?),
            RouteAttribute::Oif(index) => oif = Some(*index),
            RouteAttribute::Priority(value) => metric = *value,
            RouteAttribute::MultiPath(hops) => {
                nexthops = hops.iter().map(nexthop_of).collect::<Result<_, _>>()?;
            }
            _ => {}
        }
    }
    let destination = prefix(
        destination.unwrap_or(unspecified),
        header.destination_prefix_length,
    )?;
    let source = source
        .map(|ip| prefix(ip, header.source_prefix_length))
        .transpose()?;
    Ok(Some(Route {
        table,
        destination,
        route_type: route_type_of(u8::from(header.kind)),
        protocol: u8::from(header.protocol),
        scope: scope_of(u8::from(header.scope)),
        metric,
        tos: header.tos,
        pref_src,
        source,
        oif,
        gateway,
        onlink: header.flags.contains(RouteFlags::Onlink),
        nexthops,
    }))
}

/// One `nexthop` of an `RTA_MULTIPATH`; the kernel stores weight − 1 in `rtnh_hops`.
fn nexthop_of(hop: &RouteNextHop) -> Result<NextHop, MessageError> {
    let mut gateway = None;
    for attribute in &hop.attributes {
        match attribute {
            RouteAttribute::Gateway(address) => gateway = Some(ip_of(address, "RTA_GATEWAY")?),
            RouteAttribute::Via(via) => gateway = Some(via_of(via)?),
            _ => {}
        }
    }
    Ok(NextHop {
        oif: hop.interface_index,
        gateway,
        weight: u16::from(hop.hops) + 1,
        onlink: hop.flags.contains(RouteNextHopFlags::Onlink),
    })
}

fn unspecified(family: AddressFamily) -> Option<IpAddr> {
    match family {
        AddressFamily::Inet => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        AddressFamily::Inet6 => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        _ => None,
    }
}

pub(super) fn ip_of(
    address: &RouteAddress,
    attribute: &'static str,
) -> Result<IpAddr, MessageError> {
    match address {
        RouteAddress::Inet(ip) => Ok(IpAddr::V4(*ip)),
        RouteAddress::Inet6(ip) => Ok(IpAddr::V6(*ip)),
        _ => Err(MessageError::NotAnIpAddress { attribute }),
    }
}

/// `RTA_VIA`: a gateway of the other family (`via inet6 fe80::1` on an IPv4 route).
pub(super) fn via_of(via: &RouteVia) -> Result<IpAddr, MessageError> {
    match via {
        RouteVia::Inet(ip) => Ok(IpAddr::V4(*ip)),
        RouteVia::Inet6(ip) => Ok(IpAddr::V6(*ip)),
        _ => Err(MessageError::NotAnIpAddress {
            attribute: "RTA_VIA",
        }),
    }
}

pub(super) fn prefix(address: IpAddr, length: u8) -> Result<IpNet, MessageError> {
    IpNet::new(address, length).map_err(|_| MessageError::PrefixLength { address, length })
}

/// `rtm_type` by its number (`RTN_*`).
pub(super) fn route_type_of(value: u8) -> RouteType {
    match value {
        0 => RouteType::Unspec,
        1 => RouteType::Unicast,
        2 => RouteType::Local,
        3 => RouteType::Broadcast,
        4 => RouteType::Anycast,
        5 => RouteType::Multicast,
        6 => RouteType::Blackhole,
        7 => RouteType::Unreachable,
        8 => RouteType::Prohibit,
        9 => RouteType::Throw,
        10 => RouteType::Nat,
        other => RouteType::Other(other),
    }
}

/// `rtm_scope` / `ifa_scope` by number (`RT_SCOPE_*`).
pub(super) fn scope_of(value: u8) -> RouteScope {
    match value {
        0 => RouteScope::Universe,
        200 => RouteScope::Site,
        253 => RouteScope::Link,
        254 => RouteScope::Host,
        255 => RouteScope::Nowhere,
        other => RouteScope::Other(other),
    }
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
