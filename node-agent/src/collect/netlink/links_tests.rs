use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{InfoVeth, LinkHeader};

use super::*;
use crate::collect::netlink::decode_message;

// ---- Raw RTM_NEWLINK messages, laid out byte by byte as the kernel emits them ----

const RTM_NEWLINK: u16 = 16;
const NLM_F_MULTI: u16 = 2;
const ARPHRD_ETHER: u16 = 1;
const IFF_UP: u32 = 0x1;
const IFF_BROADCAST: u32 = 0x2;
const IFF_RUNNING: u32 = 0x40;
const IFF_NOARP: u32 = 0x80;
const IFF_MULTICAST: u32 = 0x1000;
const IFF_LOWER_UP: u32 = 0x1_0000;

const IFLA_ADDRESS: u16 = 1;
const IFLA_BROADCAST: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_QDISC: u16 = 6;
const IFLA_TXQLEN: u16 = 13;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKMODE: u16 = 17;
const IFLA_LINKINFO: u16 = 18;
const IFLA_GROUP: u16 = 27;
const IFLA_PROMISCUITY: u16 = 30;
const IFLA_NUM_TX_QUEUES: u16 = 31;
const IFLA_NUM_RX_QUEUES: u16 = 32;
const IFLA_CARRIER: u16 = 33;
const IFLA_MIN_MTU: u16 = 50;
const IFLA_MAX_MTU: u16 = 51;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_VLAN_ID: u16 = 1;
const IFLA_VLAN_FLAGS: u16 = 2;
const IFLA_VLAN_PROTOCOL: u16 = 5;
const IF_OPER_UNKNOWN: u8 = 0;
const IF_OPER_UP: u8 = 6;

/// One netlink attribute: `nla_len`, `nla_type`, the payload, padding to 4 bytes.
fn nla(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(4 + payload.len() as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

fn nla_u32(kind: u16, value: u32) -> Vec<u8> {
    nla(kind, &value.to_ne_bytes())
}

fn nla_str(kind: u16, value: &str) -> Vec<u8> {
    let mut bytes = value.as_bytes().to_vec();
    bytes.push(0);
    nla(kind, &bytes)
}

/// A whole RTM_NEWLINK datagram: `nlmsghdr`, `ifinfomsg`, attributes.
fn rtm_newlink(ifindex: u32, flags: u32, attributes: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = attributes.concat();
    let mut out = Vec::new();
    out.extend_from_slice(&(16 + 16 + body.len() as u32).to_ne_bytes());
    out.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    out.extend_from_slice(&NLM_F_MULTI.to_ne_bytes());
    out.extend_from_slice(&7u32.to_ne_bytes()); // nlmsg_seq
    out.extend_from_slice(&4242u32.to_ne_bytes()); // nlmsg_pid
    out.push(0); // ifi_family AF_UNSPEC
    out.push(0); // pad
    out.extend_from_slice(&ARPHRD_ETHER.to_ne_bytes());
    out.extend_from_slice(&ifindex.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes()); // ifi_change
    out.extend_from_slice(&body);
    out
}

/// The attributes every Ethernet-like device carries, in the kernel's order
/// (`rtnl_fill_ifinfo`).
fn common_attributes(name: &str, mtu: u32, oper: u8, mac: [u8; 6]) -> Vec<Vec<u8>> {
    vec![
        nla_str(IFLA_IFNAME, name),
        nla_u32(IFLA_TXQLEN, 1000),
        nla(IFLA_OPERSTATE, &[oper]),
        nla(IFLA_LINKMODE, &[0]),
        nla_u32(IFLA_MTU, mtu),
        nla_u32(IFLA_MIN_MTU, 68),
        nla_u32(IFLA_MAX_MTU, 65535),
        nla_u32(IFLA_GROUP, 0),
        nla_u32(IFLA_PROMISCUITY, 0),
        nla_u32(IFLA_NUM_TX_QUEUES, 1),
        nla_u32(IFLA_NUM_RX_QUEUES, 1),
        nla(IFLA_CARRIER, &[1]),
        nla_str(IFLA_QDISC, "noqueue"),
        nla(IFLA_ADDRESS, &mac),
        nla(IFLA_BROADCAST, &[0xff; 6]),
    ]
}

/// `vlan.eth.1@eth1` as VPC CNI creates it for a branch ENI: kind `vlan`, VLAN id 1, 802.1Q,
/// `IFLA_LINK` = the trunk `eth1` (ifindex 3), the branch ENI's MAC.
fn vlan_datagram(protocol: u16) -> Vec<u8> {
    let mut vlan_flags = Vec::new();
    vlan_flags.extend_from_slice(&1u32.to_ne_bytes()); // VLAN_FLAG_REORDER_HDR
    vlan_flags.extend_from_slice(&u32::MAX.to_ne_bytes()); // mask
    // vlan_fill_info: protocol (big endian), then id, then flags.
    let info_data = [
        nla(IFLA_VLAN_PROTOCOL, &protocol.to_be_bytes()),
        nla(IFLA_VLAN_ID, &1u16.to_ne_bytes()),
        nla(IFLA_VLAN_FLAGS, &vlan_flags),
    ]
    .concat();
    let link_info = [
        nla_str(IFLA_INFO_KIND, "vlan"),
        nla(IFLA_INFO_DATA, &info_data),
    ]
    .concat();
    let mut attributes = common_attributes(
        "vlan.eth.1",
        9001,
        IF_OPER_UP,
        [0x02, 0xb8, 0x3c, 0x51, 0x7e, 0x21],
    );
    attributes.insert(12, nla_u32(IFLA_LINK, 3));
    attributes.push(nla(IFLA_LINKINFO, &link_info));
    rtm_newlink(
        9,
        IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST | IFF_LOWER_UP,
        &attributes,
    )
}

/// Decodes a datagram the way the socket does and converts its link message.
fn link_of_datagram(bytes: &[u8]) -> Link {
    let message = decode_message(bytes).expect("the datagram decodes");
    let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) = message.payload else {
        panic!("not an RTM_NEWLINK: {message:?}");
    };
    link_from_message(&link).expect("the link converts")
}

#[test]
fn vlan_link_from_kernel_bytes() {
    let link = link_of_datagram(&vlan_datagram(0x8100));
    assert_eq!(
        link,
        Link {
            ifindex: 9,
            name: "vlan.eth.1".into(),
            kind: LinkKind::Vlan {
                id: 1,
                protocol: VlanProtocol::Dot1Q
            },
            mac: Some("02:b8:3c:51:7e:21".parse().unwrap()),
            mtu: 9001,
            admin_up: true,
            oper_state: OperState::Up,
            master: None,
            link: Some(3),
            link_netnsid: None,
        }
    );
}

#[test]
fn qinq_vlan_link_from_kernel_bytes() {
    let link = link_of_datagram(&vlan_datagram(0x88a8));
    assert_eq!(
        link.kind,
        LinkKind::Vlan {
            id: 1,
            protocol: VlanProtocol::Dot1Ad
        }
    );
}

#[test]
fn dummy_link_from_kernel_bytes() {
    // kube-router's kube-dummy-if: kind `dummy` and no IFLA_INFO_DATA (dummy has no fill_info).
    let mut attributes = common_attributes(
        "kube-dummy-if",
        1500,
        IF_OPER_UNKNOWN,
        [0x8a, 0x1d, 0, 0, 0, 7],
    );
    attributes.push(nla(IFLA_LINKINFO, &nla_str(IFLA_INFO_KIND, "dummy")));
    let bytes = rtm_newlink(
        5,
        IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_NOARP | IFF_LOWER_UP,
        &attributes,
    );
    let link = link_of_datagram(&bytes);
    assert_eq!(link.kind, LinkKind::Dummy);
    assert_eq!(link.name, "kube-dummy-if");
    assert_eq!(link.oper_state, OperState::Unknown);
    assert!(link.admin_up);
    assert_eq!(link.link, None);
}

#[test]
fn vlan_without_id_is_not_given_one() {
    let link_info = [
        nla_str(IFLA_INFO_KIND, "vlan"),
        nla(
            IFLA_INFO_DATA,
            &nla(IFLA_VLAN_PROTOCOL, &0x8100u16.to_be_bytes()),
        ),
    ]
    .concat();
    let mut attributes = common_attributes("vlan9", 1500, IF_OPER_UP, [2, 0, 0, 0, 0, 9]);
    attributes.push(nla(IFLA_LINKINFO, &link_info));
    let link = link_of_datagram(&rtm_newlink(4, IFF_UP, &attributes));
    assert_eq!(
        link.kind,
        LinkKind::Other {
            name: "vlan".into()
        }
    );
}

// ---- Messages built with the crate's types ----

fn message(index: u32, attributes: Vec<LinkAttribute>) -> LinkMessage {
    let mut message = LinkMessage::default();
    message.header = LinkHeader {
        index,
        link_layer_type: LinkLayerType::Ether,
        ..LinkHeader::default()
    };
    message.attributes = attributes;
    message
}

fn kind(kind: InfoKind, data: Option<InfoData>) -> LinkAttribute {
    let mut infos = vec![LinkInfo::Kind(kind)];
    infos.extend(data.map(LinkInfo::Data));
    LinkAttribute::LinkInfo(infos)
}

#[test]
fn host_veth_with_peer_in_another_namespace() {
    let m = message(
        12,
        vec![
            LinkAttribute::IfName("eni3a1b2c4d5e6".into()),
            LinkAttribute::Address(vec![0x6a, 0x1f, 0x2e, 0x3d, 0x4c, 0x5b]),
            LinkAttribute::Mtu(9001),
            LinkAttribute::OperState(State::Up),
            LinkAttribute::Link(3),
            LinkAttribute::LinkNetNsId(0),
            kind(InfoKind::Veth, None),
        ],
    );
    let link = link_from_message(&m).unwrap();
    assert_eq!(link.kind, LinkKind::Veth);
    assert_eq!((link.link, link.link_netnsid), (Some(3), Some(0)));
    assert_eq!(link.mac, Some("6a:1f:2e:3d:4c:5b".parse().unwrap()));
    assert!(!link.admin_up, "IFF_UP is not set in this header");
}

#[test]
fn veth_peer_details_in_linkinfo_do_not_change_the_kind() {
    let m = message(
        2,
        vec![
            LinkAttribute::IfName("v0".into()),
            kind(
                InfoKind::Veth,
                Some(InfoData::Veth(InfoVeth::Peer(LinkMessage::default()))),
            ),
        ],
    );
    assert_eq!(link_from_message(&m).unwrap().kind, LinkKind::Veth);
}

#[test]
fn bridge_port_reports_its_master() {
    let m = message(
        7,
        vec![
            LinkAttribute::IfName("veth1234".into()),
            LinkAttribute::Controller(4),
            kind(InfoKind::Veth, None),
        ],
    );
    assert_eq!(link_from_message(&m).unwrap().master, Some(4));
    let bridge = message(
        4,
        vec![
            LinkAttribute::IfName("cni0".into()),
            kind(InfoKind::Bridge, None),
        ],
    );
    assert_eq!(link_from_message(&bridge).unwrap().kind, LinkKind::Bridge);
}

#[test]
fn vxlan_details() {
    let m = message(
        5,
        vec![
            LinkAttribute::IfName("flannel.1".into()),
            kind(
                InfoKind::Vxlan,
                Some(InfoData::Vxlan(vec![
                    InfoVxlan::Id(1),
                    InfoVxlan::Link(2),
                    InfoVxlan::Local("10.0.1.17".parse().unwrap()),
                    InfoVxlan::Ttl(0),
                    InfoVxlan::Port(8472),
                ])),
            ),
        ],
    );
    assert_eq!(
        link_from_message(&m).unwrap().kind,
        LinkKind::Vxlan {
            vni: 1,
            underlay: Some(2),
            local: Some("10.0.1.17".parse().unwrap()),
            remote: None,
            port: Some(8472),
        }
    );
    let multicast = message(
        6,
        vec![
            LinkAttribute::IfName("vx6".into()),
            kind(
                InfoKind::Vxlan,
                Some(InfoData::Vxlan(vec![
                    InfoVxlan::Id(100),
                    InfoVxlan::Group6("ff05::100".parse().unwrap()),
                    InfoVxlan::Local6("fd00::1".parse().unwrap()),
                ])),
            ),
        ],
    );
    assert_eq!(
        link_from_message(&multicast).unwrap().kind,
        LinkKind::Vxlan {
            vni: 100,
            underlay: None,
            local: Some("fd00::1".parse().unwrap()),
            remote: Some("ff05::100".parse().unwrap()),
            port: None,
        }
    );
}

#[test]
fn macvlan_and_ipvlan_modes_are_named_like_ip() {
    for (mode, name) in [
        (MacVlanMode::Bridge, "bridge"),
        (MacVlanMode::Passthrough, "passthru"),
        (MacVlanMode::Private, "private"),
        (MacVlanMode::Vepa, "vepa"),
        (MacVlanMode::Source, "source"),
    ] {
        let m = message(
            8,
            vec![
                LinkAttribute::IfName("mv0".into()),
                kind(
                    InfoKind::MacVlan,
                    Some(InfoData::MacVlan(vec![InfoMacVlan::Mode(mode)])),
                ),
            ],
        );
        assert_eq!(
            link_from_message(&m).unwrap().kind,
            LinkKind::Macvlan { mode: name.into() }
        );
    }
    let m = message(
        8,
        vec![
            LinkAttribute::IfName("ipvl0".into()),
            kind(
                InfoKind::IpVlan,
                Some(InfoData::IpVlan(vec![InfoIpVlan::Mode(IpVlanMode::L3S)])),
            ),
        ],
    );
    assert_eq!(
        link_from_message(&m).unwrap().kind,
        LinkKind::Ipvlan { mode: "l3s".into() }
    );
}

#[test]
fn kindless_links_are_devices_or_loopback() {
    let eth = message(2, vec![LinkAttribute::IfName("eth0".into())]);
    assert_eq!(link_from_message(&eth).unwrap().kind, LinkKind::Device);

    let mut lo = message(1, vec![LinkAttribute::IfName("lo".into())]);
    lo.header.link_layer_type = LinkLayerType::Loopback;
    assert_eq!(link_from_message(&lo).unwrap().kind, LinkKind::Loopback);
}

#[test]
fn other_kinds_keep_their_name_and_odd_addresses_are_not_macs() {
    let m = message(
        9,
        vec![
            LinkAttribute::IfName("tunl0".into()),
            LinkAttribute::Address(vec![0, 0, 0, 0]),
            LinkAttribute::Link(0),
            kind(InfoKind::IpIp, None),
        ],
    );
    let link = link_from_message(&m).unwrap();
    assert_eq!(
        link.kind,
        LinkKind::Other {
            name: "ipip".into()
        }
    );
    assert_eq!(link.mac, None);
    assert_eq!(link.link, None, "IFLA_LINK 0 is `@NONE`");

    let ifb = message(
        10,
        vec![
            LinkAttribute::IfName("ifb0".into()),
            kind(InfoKind::Ifb, None),
        ],
    );
    assert_eq!(
        link_from_message(&ifb).unwrap().kind,
        LinkKind::Other { name: "ifb".into() }
    );
}

#[test]
fn link_without_a_name_is_malformed() {
    let m = message(11, vec![LinkAttribute::Mtu(1500)]);
    assert_eq!(
        link_from_message(&m),
        Err(MessageError::LinkWithoutName { ifindex: 11 })
    );
}
