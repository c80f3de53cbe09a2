//! One network namespace's kernel state: links, addresses, routes of every table, policy rules and
//! neighbours, as `ip -d link`, `ip addr`, `ip route show table all`, `ip rule` and `ip neigh` show it.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::MacAddr;

/// A network namespace and what netlink reported inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NetnsState {
    /// The namespace's inode (`stat -L /proc/PID/ns/net`): its identity across names and processes.
    pub inode: u64,
    /// Its name in the netns directory (`ip netns list`), when it has one.
    pub name: Option<String>,
    /// Where the agent opened it: `/var/run/netns/NAME` or `/proc/PID/ns/net`.
    pub path: String,
    /// The id the host namespace uses for this namespace (`ip netns list` "id: N"; the
    /// `link-netnsid` of the host veths that lead into it). `None` for the host itself and for
    /// namespaces the host has no id for.
    pub nsid: Option<i32>,
    pub links: Vec<Link>,
    pub addresses: Vec<Address>,
    pub routes: Vec<Route>,
    pub rules: Vec<PolicyRule>,
    pub neighbors: Vec<Neighbor>,
}

impl NetnsState {
    pub fn link(&self, ifindex: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.ifindex == ifindex)
    }

    pub fn link_by_name(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// The addresses configured on one link.
    pub fn addresses_of(&self, ifindex: u32) -> impl Iterator<Item = &Address> {
        self.addresses.iter().filter(move |a| a.ifindex == ifindex)
    }

    /// The links enslaved to `master` (a bridge's ports).
    pub fn ports_of(&self, master: u32) -> impl Iterator<Item = &Link> {
        self.links.iter().filter(move |l| l.master == Some(master))
    }
}

/// One network device (`ip -d link show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub ifindex: u32,
    pub name: String,
    pub kind: LinkKind,
    /// Link-layer address when it is a 48-bit MAC.
    pub mac: Option<MacAddr>,
    pub mtu: u32,
    /// `IFF_UP`: administratively up.
    pub admin_up: bool,
    pub oper_state: OperState,
    /// `master`: the bridge (or bond, vrf) this link is enslaved to.
    pub master: Option<u32>,
    /// `IFLA_LINK` (`@ifN` in `ip link`): a veth's peer, or the lower device of a vlan, macvlan,
    /// ipvlan or vxlan. It lives in the namespace named by `link_netnsid` when that is set, else in
    /// this one.
    pub link: Option<u32>,
    /// `IFLA_LINK_NETNSID` (`link-netnsid N`): the namespace of `link`, as this namespace numbers it.
    pub link_netnsid: Option<i32>,
}

impl Link {
    pub fn is_veth(&self) -> bool {
        matches!(self.kind, LinkKind::Veth)
    }

    pub fn is_bridge(&self) -> bool {
        matches!(self.kind, LinkKind::Bridge)
    }
}

/// The link's type, with the details that matter for following a packet through it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LinkKind {
    /// No `IFLA_INFO_KIND`: a physical NIC (an ENI on EC2), or a virtual one the kernel does not
    /// name.
    Device,
    Loopback,
    Veth,
    Bridge,
    /// An 802.1Q (or 802.1ad) sub-interface: VPC CNI's `vlan.eth.N` for branch ENIs.
    Vlan {
        id: u16,
        protocol: VlanProtocol,
    },
    /// A VXLAN tunnel endpoint, as flannel's `flannel.1`.
    Vxlan {
        vni: u32,
        /// Underlay device (`dev`), when pinned.
        underlay: Option<u32>,
        local: Option<IpAddr>,
        /// Unicast remote or multicast group, when set.
        remote: Option<IpAddr>,
        /// UDP destination port (`dstport`).
        port: Option<u16>,
    },
    Macvlan {
        mode: String,
    },
    Ipvlan {
        mode: String,
    },
    Dummy,
    /// Any other kind the kernel names (`ifb`, `tun`, `wireguard`, `bond`, …), by that name.
    Other {
        name: String,
    },
}

impl LinkKind {
    /// The short name `ip -d link` prints.
    pub fn name(&self) -> &str {
        match self {
            LinkKind::Device => "device",
            LinkKind::Loopback => "loopback",
            LinkKind::Veth => "veth",
            LinkKind::Bridge => "bridge",
            LinkKind::Vlan { .. } => "vlan",
            LinkKind::Vxlan { .. } => "vxlan",
            LinkKind::Macvlan { .. } => "macvlan",
            LinkKind::Ipvlan { .. } => "ipvlan",
            LinkKind::Dummy => "dummy",
            LinkKind::Other { name } => name,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VlanProtocol {
    #[serde(rename = "802.1q")]
    Dot1Q,
    #[serde(rename = "802.1ad")]
    Dot1Ad,
}

/// RFC 2863 operational state (`state UP` in `ip link`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperState {
    Unknown,
    NotPresent,
    Down,
    LowerLayerDown,
    Testing,
    Dormant,
    Up,
}

/// An address on a link (`ip addr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub ifindex: u32,
    /// The address with its prefix length, as `inet 172.31.58.94/20`.
    pub address: IpNet,
    /// `IFA_ADDRESS` when it differs from the local address (point-to-point peers).
    pub peer: Option<IpAddr>,
    pub scope: RouteScope,
}

/// One route of one table (`ip route show table all`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Routing table id: 254 is `main`, 255 `local`, 253 `default`; VPC CNI uses N+1 for device N.
    pub table: u32,
    pub destination: IpNet,
    pub route_type: RouteType,
    /// Who installed it (`proto kernel`, `boot`, `static`, `bird`…), as the kernel's number.
    pub protocol: u8,
    pub scope: RouteScope,
    /// `metric` / priority; lower wins among equal prefixes.
    pub metric: u32,
    pub tos: u8,
    pub pref_src: Option<IpAddr>,
    /// Source prefix of an IPv6 source-specific route (`from`).
    pub source: Option<IpNet>,
    /// Single-path routes: the output device and gateway. Multipath routes list them in
    /// `nexthops` instead.
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
    pub onlink: bool,
    pub nexthops: Vec<NextHop>,
}

/// One leg of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextHop {
    pub oif: u32,
    pub gateway: Option<IpAddr>,
    pub weight: u16,
    pub onlink: bool,
}

/// `rtm_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteType {
    Unspec,
    Unicast,
    Local,
    Broadcast,
    Anycast,
    Multicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    Nat,
    Other(u8),
}

/// `rtm_scope` / `ifa_scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteScope {
    Universe,
    Site,
    Link,
    Host,
    Nowhere,
    Other(u8),
}

/// Well-known routing table ids.
pub mod table {
    pub const DEFAULT: u32 = 253;
    pub const MAIN: u32 = 254;
    pub const LOCAL: u32 = 255;

    /// The name `ip` prints for a table id.
    pub fn name(id: u32) -> String {
        match id {
            DEFAULT => "default".into(),
            MAIN => "main".into(),
            LOCAL => "local".into(),
            other => other.to_string(),
        }
    }
}

/// One policy routing rule (`ip rule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRule {
    pub family: IpFamily,
    /// Rules are tried in ascending priority; a missing priority attribute is 0.
    pub priority: u32,
    /// `not`: the selector is inverted.
    pub invert: bool,
    pub source: Option<IpNet>,
    pub destination: Option<IpNet>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub tos: u8,
    pub ip_proto: Option<u8>,
    pub sport: Option<(u16, u16)>,
    pub dport: Option<(u16, u16)>,
    pub uid_range: Option<(u32, u32)>,
    /// `l3mdev`: look up the table of the VRF the packet's device belongs to.
    pub l3mdev: bool,
    /// `suppress_prefixlength N`: ignore a lookup result whose prefix is N bits or shorter.
    pub suppress_prefixlength: Option<u32>,
    pub suppress_ifgroup: Option<u32>,
    pub action: RuleAction,
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuleAction {
    /// `lookup TABLE`.
    Lookup {
        table: u32,
    },
    /// `goto PRIORITY`.
    Goto {
        priority: u32,
    },
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
    Other {
        code: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    pub fn of(ip: &IpAddr) -> Self {
        if ip.is_ipv4() {
            IpFamily::V4
        } else {
            IpFamily::V6
        }
    }
}

/// One neighbour entry (`ip neigh`): ARP for IPv4, NDP for IPv6.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbor {
    pub ifindex: u32,
    pub address: IpAddr,
    pub lladdr: Option<MacAddr>,
    /// NUD states as `ip neigh` names them (`PERMANENT`, `REACHABLE`, `STALE`, …).
    pub state: Vec<String>,
}

impl Neighbor {
    pub fn is_permanent(&self) -> bool {
        self.state.iter().any(|s| s == "PERMANENT")
    }
}
