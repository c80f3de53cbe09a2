//! RTM_NEWADDR messages → [`Address`].

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use podwire_node_state::Address;

use super::MessageError;
use super::routes::{prefix, scope_of};

/// Converts one RTM_NEWADDR message; `None` for families other than IPv4 and IPv6.
///
/// `IFA_LOCAL` is the interface's own address and `IFA_ADDRESS` the peer on point-to-point links;
/// IPv6 usually sends only `IFA_ADDRESS`, which is then the local address.
pub fn address_from_message(message: &AddressMessage) -> Result<Option<Address>, MessageError> {
    let header = &message.header;
    if !matches!(header.family, AddressFamily::Inet | AddressFamily::Inet6) {
        return Ok(None);
    }
    let mut local = None;
    let mut address = None;
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            _ => {}
        }
    }
    let own: IpAddr = local.or(address).ok_or(MessageError::MissingAddress {
        what: "address",
        ifindex: header.index,
    })?;
    let peer = match (local, address) {
        (Some(local), Some(address)) if local != address => Some(address),
        _ => None,
    };
    let address: IpNet = prefix(own, header.prefix_len)?;
    Ok(Some(Address {
        ifindex: header.index,
        address,
        peer,
        scope: scope_of(u8::from(header.scope)),
    }))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use netlink_packet_route::address::AddressScope;
    use podwire_node_state::RouteScope;

    use super::*;

    fn message(
        family: AddressFamily,
        prefix_len: u8,
        scope: AddressScope,
        attributes: Vec<AddressAttribute>,
    ) -> AddressMessage {
        let mut message = AddressMessage::default();
        message.header.family = family;
        message.header.prefix_len = prefix_len;
        message.header.scope = scope;
        message.header.index = 3;
        message.attributes = attributes;
        message
    }

    #[test]
    fn ipv4_address_with_local_equal_to_address_has_no_peer() {
        let ip = IpAddr::V4(Ipv4Addr::new(172, 31, 58, 94));
        let m = message(
            AddressFamily::Inet,
            20,
            AddressScope::Universe,
            vec![AddressAttribute::Address(ip), AddressAttribute::Local(ip)],
        );
        let address = address_from_message(&m).unwrap().unwrap();
        assert_eq!(address.address, "172.31.58.94/20".parse::<IpNet>().unwrap());
        assert_eq!(address.peer, None);
        assert_eq!(address.ifindex, 3);
        assert_eq!(address.scope, RouteScope::Universe);
    }

    #[test]
    fn point_to_point_address_reports_its_peer() {
        let m = message(
            AddressFamily::Inet,
            32,
            AddressScope::Universe,
            vec![
                AddressAttribute::Address("10.0.0.2".parse().unwrap()),
                AddressAttribute::Local("10.0.0.1".parse().unwrap()),
            ],
        );
        let address = address_from_message(&m).unwrap().unwrap();
        assert_eq!(address.address, "10.0.0.1/32".parse::<IpNet>().unwrap());
        assert_eq!(address.peer, Some("10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn ipv6_address_comes_in_ifa_address_alone() {
        let ip = IpAddr::V6("fe80::1".parse::<Ipv6Addr>().unwrap());
        let m = message(
            AddressFamily::Inet6,
            64,
            AddressScope::Link,
            vec![AddressAttribute::Address(ip)],
        );
        let address = address_from_message(&m).unwrap().unwrap();
        assert_eq!(address.address, "fe80::1/64".parse::<IpNet>().unwrap());
        assert_eq!(address.peer, None);
        assert_eq!(address.scope, RouteScope::Link);
    }

    #[test]
    fn other_families_are_skipped_and_bad_prefixes_refused() {
        let m = message(AddressFamily::Mpls, 20, AddressScope::Universe, vec![]);
        assert_eq!(address_from_message(&m), Ok(None));

        let m = message(
            AddressFamily::Inet,
            33,
            AddressScope::Universe,
            vec![AddressAttribute::Local("10.0.0.1".parse().unwrap())],
        );
        assert!(matches!(
            address_from_message(&m),
            Err(MessageError::PrefixLength { length: 33, .. })
        ));

        let m = message(AddressFamily::Inet, 24, AddressScope::Universe, vec![]);
        assert!(matches!(
            address_from_message(&m),
            Err(MessageError::MissingAddress { ifindex: 3, .. })
        ));
    }
}
