//! RTM_NEWLINK messages → [`Link`]: the device, its state, and the kind details needed to follow
//! a packet through it (veth peer, vlan id, vxlan endpoint, macvlan mode…).

use std::net::IpAddr;

use netlink_packet_core::{DecodeError, NlasIterator, ParseableParametrized};
use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoVlan, InfoVxlan, IpVlanMode, LinkAttribute,
    LinkFlags, LinkHeader, LinkInfo, LinkLayerType, LinkMessage, MacVlanMode, State,
    VlanProtocol as WireVlanProtocol,
};
use podwire_node_state::{Link, LinkKind, MacAddr, OperState, VlanProtocol};

use super::MessageError;

/// The attributes [`link_from_message`] reads (`IFLA_ADDRESS`, `IFLA_IFNAME`, `IFLA_MTU`,
/// `IFLA_LINK`, `IFLA_MASTER`, `IFLA_OPERSTATE`, `IFLA_LINKINFO`, `IFLA_LINK_NETNSID`).
const READ_ATTRIBUTES: [u16; 8] = [1, 3, 4, 5, 10, 16, 18, 37];

/// The length of `struct ifinfomsg`, before the attributes.
const LINK_HEADER_LEN: usize = 16;

/// Decodes an RTM_NEWLINK payload with only the attributes [`link_from_message`] reads. Most of
/// a link message is per-family configuration and statistics (`IFLA_AF_SPEC` alone is about
/// 1 KiB per link); decoding all of it took four times as long as this, for nothing read. What is
/// skipped is not checked beyond its attribute framing.
pub(super) fn link_message_of_payload(payload: &[u8]) -> Result<LinkMessage, DecodeError> {
    let header = LinkHeader::parse(payload)?;
    let mut message = LinkMessage::default();
    for nla in NlasIterator::new(payload.get(LINK_HEADER_LEN..).unwrap_or_default()) {
        let nla = nla?;
        if READ_ATTRIBUTES.contains(&nla.kind()) {
            let attribute = LinkAttribute::parse_with_param(&nla, header.interface_family)?;
            message.attributes.push(attribute);
        }
    }
    message.header = header;
    Ok(message)
}

/// Converts one RTM_NEWLINK message.
pub fn link_from_message(message: &LinkMessage) -> Result<Link, MessageError> {
    let ifindex = message.header.index;
    let mut name = None;
    let mut mac = None;
    let mut mtu = 0;
    let mut oper_state = OperState::Unknown;
    let mut master = None;
    let mut link = None;
    let mut link_netnsid = None;
    let mut info: &[LinkInfo] = &[];
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(value) => name = Some(value.clone()),
            LinkAttribute::Address(bytes) => mac = MacAddr::from_bytes(bytes),
            LinkAttribute::Mtu(value) => mtu = *value,
            LinkAttribute::OperState(state) => oper_state = oper_state_of(*state),
            LinkAttribute::Controller(index) => master = Some(*index),
            // `@NONE` in `ip link`: no lower device.
            LinkAttribute::Link(index) => link = Some(*index).filter(|&i| i != 0),
            LinkAttribute::LinkNetNsId(id) => link_netnsid = Some(*id),
            LinkAttribute::LinkInfo(infos) => info = infos,
            _ => {}
        }
    }
    let name = name.ok_or(MessageError::LinkWithoutName { ifindex })?;
    let kind = kind_of(info, message.header.link_layer_type, &name);
    Ok(Link {
        ifindex,
        name,
        kind,
        mac,
        mtu,
        admin_up: message.header.flags.contains(LinkFlags::Up),
        oper_state,
        master,
        link,
        link_netnsid,
    })
}

fn oper_state_of(state: State) -> OperState {
    match state {
        State::NotPresent => OperState::NotPresent,
        State::Down => OperState::Down,
        State::LowerLayerDown => OperState::LowerLayerDown,
        State::Testing => OperState::Testing,
        State::Dormant => OperState::Dormant,
        State::Up => OperState::Up,
        // RFC 2863 has no other states.
        _ => OperState::Unknown,
    }
}

/// The link's kind from `IFLA_LINKINFO`. A kind whose details the kernel left out (it always
/// sends them) is reported as [`LinkKind::Other`] by name rather than with made-up details.
fn kind_of(info: &[LinkInfo], link_layer_type: LinkLayerType, name: &str) -> LinkKind {
    let kind = info.iter().find_map(|i| match i {
        LinkInfo::Kind(kind) => Some(kind),
        _ => None,
    });
    let data = info.iter().find_map(|i| match i {
        LinkInfo::Data(data) => Some(data),
        _ => None,
    });
    let Some(kind) = kind else {
        return if link_layer_type == LinkLayerType::Loopback || name == "lo" {
            LinkKind::Loopback
        } else {
            LinkKind::Device
        };
    };
    let detailed = match (kind, data) {
        (InfoKind::Veth, _) => Some(LinkKind::Veth),
        (InfoKind::Bridge, _) => Some(LinkKind::Bridge),
        (InfoKind::Dummy, _) => Some(LinkKind::Dummy),
        (InfoKind::Vlan, Some(InfoData::Vlan(vlan))) => vlan_kind(vlan),
        (InfoKind::Vxlan, Some(InfoData::Vxlan(vxlan))) => vxlan_kind(vxlan),
        (InfoKind::MacVlan, Some(InfoData::MacVlan(macvlan))) => macvlan_kind(macvlan),
        (InfoKind::IpVlan, Some(InfoData::IpVlan(ipvlan))) => ipvlan_kind(ipvlan),
        _ => None,
    };
    detailed.unwrap_or_else(|| LinkKind::Other {
        name: kind.to_string(),
    })
}

fn vlan_kind(attributes: &[InfoVlan]) -> Option<LinkKind> {
    let mut id = None;
    let mut protocol = VlanProtocol::Dot1Q;
    for attribute in attributes {
        match attribute {
            InfoVlan::Id(value) => id = Some(*value),
            InfoVlan::Protocol(WireVlanProtocol::Ieee8021Ad) => protocol = VlanProtocol::Dot1Ad,
            _ => {}
        }
    }
    Some(LinkKind::Vlan { id: id?, protocol })
}

fn vxlan_kind(attributes: &[InfoVxlan]) -> Option<LinkKind> {
    let mut vni = None;
    let mut underlay = None;
    let mut local = None;
    let mut remote = None;
    let mut port = None;
    for attribute in attributes {
        match attribute {
            InfoVxlan::Id(value) => vni = Some(*value),
            InfoVxlan::Link(index) => underlay = Some(*index).filter(|&i| i != 0),
            InfoVxlan::Local(ip) => local = Some(IpAddr::V4(*ip)),
            InfoVxlan::Local6(ip) => local = Some(IpAddr::V6(*ip)),
            InfoVxlan::Group(ip) => remote = Some(IpAddr::V4(*ip)),
            InfoVxlan::Group6(ip) => remote = Some(IpAddr::V6(*ip)),
            InfoVxlan::Port(value) => port = Some(*value),
            _ => {}
        }
    }
    Some(LinkKind::Vxlan {
        vni: vni?,
        underlay,
        local,
        remote,
        port,
    })
}

/// Modes named as `ip -d link` names them.
fn macvlan_kind(attributes: &[InfoMacVlan]) -> Option<LinkKind> {
    attributes.iter().find_map(|attribute| match attribute {
        InfoMacVlan::Mode(mode) => Some(LinkKind::Macvlan {
            mode: match mode {
                MacVlanMode::Private => "private".to_owned(),
                MacVlanMode::Vepa => "vepa".to_owned(),
                MacVlanMode::Bridge => "bridge".to_owned(),
                MacVlanMode::Passthrough => "passthru".to_owned(),
                MacVlanMode::Source => "source".to_owned(),
                other => format!("unknown({})", u32::from(*other)),
            },
        }),
        _ => None,
    })
}

fn ipvlan_kind(attributes: &[InfoIpVlan]) -> Option<LinkKind> {
    attributes.iter().find_map(|attribute| match attribute {
        InfoIpVlan::Mode(mode) => Some(LinkKind::Ipvlan {
            mode: match mode {
                IpVlanMode::L2 => "l2".to_owned(),
                IpVlanMode::L3 => "l3".to_owned(),
                IpVlanMode::L3S => "l3s".to_owned(),
                other => format!("unknown({})", u16::from(*other)),
            },
        }),
        _ => None,
    })
}

#[cfg(test)]
#[path = "links_tests.rs"]
mod tests;
