//! RTM_NEWNEIGH messages → [`Neighbor`].

use std::net::IpAddr;

use netlink_packet_route::AddressFamily;
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use podwire_node_state::{MacAddr, Neighbor};

use super::MessageError;

/// NUD bits and the names `ip neigh` prints for them, in its order.
const NUD_NAMES: [(u16, &str); 8] = [
    (0x01, "INCOMPLETE"),
    (0x02, "REACHABLE"),
    (0x04, "STALE"),
    (0x08, "DELAY"),
    (0x10, "PROBE"),
    (0x20, "FAILED"),
    (0x40, "NOARP"),
    (0x80, "PERMANENT"),
];

/// Converts one RTM_NEWNEIGH message; `None` for anything but IPv4 (ARP) and IPv6 (NDP)
/// entries — bridge fdb entries (`AF_BRIDGE`) included.
pub fn neighbor_from_message(message: &NeighbourMessage) -> Result<Option<Neighbor>, MessageError> {
    let header = &message.header;
    if !matches!(header.family, AddressFamily::Inet | AddressFamily::Inet6) {
        return Ok(None);
    }
    let mut address = None;
    let mut lladdr = None;
    for attribute in &message.attributes {
        match attribute {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => {
                address = Some(IpAddr::V4(*ip));
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => {
                address = Some(IpAddr::V6(*ip));
            }
            NeighbourAttribute::Destination(_) => {
                return Err(MessageError::NotAnIpAddress {
                    attribute: "NDA_DST",
                });
            }
            NeighbourAttribute::LinkLayerAddress(bytes) => lladdr = MacAddr::from_bytes(bytes),
            _ => {}
        }
    }
    let address = address.ok_or(MessageError::MissingAddress {
        what: "neighbour entry",
        ifindex: header.ifindex,
    })?;
    Ok(Some(Neighbor {
        ifindex: header.ifindex,
        address,
        lladdr,
        state: nud_state_names(u16::from(header.state)),
    }))
}

/// The names of the NUD bits set in `state`, as `ip neigh` prints them; bits without a name are
/// printed in hex, as `ip` does.
pub fn nud_state_names(state: u16) -> Vec<String> {
    let mut rest = state;
    let mut names: Vec<String> = NUD_NAMES
        .iter()
        .filter(|(bit, _)| state & bit != 0)
        .map(|(bit, name)| {
            rest &= !bit;
            (*name).to_owned()
        })
        .collect();
    if rest != 0 {
        names.push(format!("{rest:x}"));
    }
    names
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use netlink_packet_route::neighbour::NeighbourState;

    use super::*;

    fn message(
        family: AddressFamily,
        state: u16,
        attributes: Vec<NeighbourAttribute>,
    ) -> NeighbourMessage {
        let mut message = NeighbourMessage::default();
        message.header.family = family;
        message.header.ifindex = 4;
        message.header.state = NeighbourState::from(state);
        message.attributes = attributes;
        message
    }

    #[test]
    fn permanent_gateway_neighbor() {
        let m = message(
            AddressFamily::Inet,
            0x80,
            vec![
                NeighbourAttribute::Destination(NeighbourAddress::Inet(Ipv4Addr::new(
                    169, 254, 1, 1,
                ))),
                NeighbourAttribute::LinkLayerAddress(vec![0x0a, 0x58, 0x0a, 0xf4, 0x00, 0x01]),
            ],
        );
        let neighbor = neighbor_from_message(&m).unwrap().unwrap();
        assert_eq!(neighbor.address, IpAddr::V4(Ipv4Addr::new(169, 254, 1, 1)));
        assert_eq!(neighbor.lladdr, Some("0a:58:0a:f4:00:01".parse().unwrap()));
        assert_eq!(neighbor.state, vec!["PERMANENT"]);
        assert!(neighbor.is_permanent());
        assert_eq!(neighbor.ifindex, 4);
    }

    #[test]
    fn combined_and_unknown_states_are_all_named() {
        assert_eq!(nud_state_names(0x02), vec!["REACHABLE"]);
        assert_eq!(nud_state_names(0x44), vec!["STALE", "NOARP"]);
        assert_eq!(nud_state_names(0x00), Vec::<String>::new());
        assert_eq!(nud_state_names(0x180), vec!["PERMANENT", "100"]);
    }

    #[test]
    fn incomplete_entry_has_no_lladdr() {
        let m = message(
            AddressFamily::Inet6,
            0x01,
            vec![NeighbourAttribute::Destination(NeighbourAddress::Inet6(
                "fe80::1".parse().unwrap(),
            ))],
        );
        let neighbor = neighbor_from_message(&m).unwrap().unwrap();
        assert_eq!(neighbor.lladdr, None);
        assert_eq!(neighbor.state, vec!["INCOMPLETE"]);
    }

    #[test]
    fn bridge_fdb_entries_are_skipped() {
        let m = message(
            AddressFamily::Bridge,
            0x80,
            vec![NeighbourAttribute::LinkLayerAddress(vec![2, 0, 0, 0, 0, 1])],
        );
        assert_eq!(neighbor_from_message(&m), Ok(None));
    }

    #[test]
    fn entry_without_address_is_malformed() {
        let m = message(AddressFamily::Inet, 0x02, vec![]);
        assert!(neighbor_from_message(&m).is_err());
    }
}
