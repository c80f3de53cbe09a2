//! What the resolver produces: one [`PodPath`] per pod interface, the way a person writes it down
//! after tracing a pod by hand — pod eth0 → host veth → bridge → rule → table → route → device →
//! ENI MAC — plus every problem met on the way.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::model::{Link, MacAddr, RouteScope, RouteType};

/// The resolution of one node snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeResolution {
    pub probe: Probe,
    /// One entry per pod interface, ordered by Kubernetes namespace and name (pods whose identity
    /// is unknown last), then netns name and interface name.
    pub pods: Vec<PodPath>,
}

/// The destinations the egress paths were resolved for, and why each was chosen.
///
/// A pod is probed with `destination` when it has an IPv4 address and with `destination_v6` when
/// it is IPv6-only: a routing question is only meaningful within one address family. A
/// `--probe-dst` of either family replaces the automatic choice for that family only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// The destination for pods with an IPv4 address (always an IPv4 address).
    pub destination: IpAddr,
    pub reason: String,
    /// The destination for IPv6-only pods (always an IPv6 address).
    pub destination_v6: IpAddr,
    pub reason_v6: String,
}

impl Probe {
    /// The destination to probe a pod whose address is `pod_ip` with.
    pub fn for_pod(&self, pod_ip: IpAddr) -> IpAddr {
        if pod_ip.is_ipv4() {
            self.destination
        } else {
            self.destination_v6
        }
    }
}

/// How a pod is wired, as detected from the CNI cache, the configuration and the kernel objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Wiring {
    /// Amazon VPC CNI: routed veth (`eni…`), /32 pod IP, 169.254.1.1 gateway, per-ENI tables.
    #[serde(rename = "aws-vpc-cni")]
    AwsVpcCni,
    /// Amazon VPC CNI security groups for pods: a branch ENI on `vlan.eth.N` of the trunk ENI.
    #[serde(rename = "aws-vpc-cni-branch")]
    AwsVpcCniBranch,
    /// flannel: veth on `cni0`, VXLAN `flannel.1` towards other nodes.
    #[serde(rename = "flannel")]
    Flannel,
    /// The reference `bridge` plugin with host-local IPAM.
    #[serde(rename = "bridge")]
    Bridge,
    /// kube-router: veth on `kube-bridge`, BGP-learned routes to other nodes' pod CIDRs.
    #[serde(rename = "kube-router")]
    KubeRouter,
    #[serde(rename = "unknown")]
    Unknown,
}

impl Wiring {
    pub fn as_str(&self) -> &'static str {
        match self {
            Wiring::AwsVpcCni => "aws-vpc-cni",
            Wiring::AwsVpcCniBranch => "aws-vpc-cni-branch",
            Wiring::Flannel => "flannel",
            Wiring::Bridge => "bridge",
            Wiring::KubeRouter => "kube-router",
            Wiring::Unknown => "unknown",
        }
    }
}

/// One pod interface's path from inside the pod to the node's NIC and ENI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodPath {
    /// Kubernetes namespace and name, from the CNI result cache; `None` when no entry names the pod.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub container_id: Option<String>,
    pub netns: NetnsRef,
    pub wiring: Wiring,
    pub pod_interface: PodInterface,
    /// The host end of the pod's veth.
    pub host_veth: Option<LinkRef>,
    /// The bridge the host veth is enslaved to.
    pub bridge: Option<LinkRef>,
    /// Every host policy rule whose selector names this pod (its IP, its host veth), in priority
    /// order: `512: to POD lookup main`, `1536: from POD lookup 2`, `10: iif vlan… lookup 101`.
    pub rules: Vec<RuleRef>,
    /// The path of traffic from the pod to the probe destination, as the pod's packets take it
    /// (no firewall mark).
    pub egress: Option<Egress>,
    /// A second, labelled path where one can be read from the node: VPC CNI's SNAT egress for
    /// internet-bound traffic from pods on secondary ENIs (connmark 0x80 restored as fwmark,
    /// rule 1024 `fwmark 0x80/0x80 lookup main`).
    pub snat_egress: Option<Egress>,
    /// Everything that could not be resolved, with the reason. Never a guess.
    pub problems: Vec<Problem>,
}

impl PodPath {
    /// The pod's IP address, without its prefix length.
    pub fn ip(&self) -> Option<IpAddr> {
        self.pod_interface.ip.map(|net| net.addr())
    }

    /// The routing table that carries the pod's traffic to the probe destination.
    pub fn table(&self) -> Option<u32> {
        self.egress.as_ref().and_then(|e| e.table)
    }

    /// The device the chosen route sends the pod's traffic out of.
    pub fn egress_device(&self) -> Option<&LinkRef> {
        self.egress.as_ref().and_then(|e| e.egress_device.as_ref())
    }

    /// The MAC of the ENI that carries the pod's traffic (the branch ENI's for branch pods).
    pub fn eni_mac(&self) -> Option<MacAddr> {
        self.egress.as_ref().and_then(|e| e.eni_mac)
    }

    /// Whether any problem of this kind was found.
    pub fn has_problem(&self, code: ProblemCode) -> bool {
        self.problems.iter().any(|p| p.code == code)
    }
}

/// Where the pod's namespace was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsRef {
    pub inode: u64,
    pub name: Option<String>,
    pub path: String,
    pub nsid: Option<i32>,
}

/// The pod's own interface (eth0) and its default gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInterface {
    pub name: String,
    pub ifindex: u32,
    /// The pod's primary IPv4 address (IPv6 when it has no IPv4), with its prefix length.
    pub ip: Option<IpNet>,
    pub mac: Option<MacAddr>,
    /// The gateway of the pod's default route.
    pub gateway: Option<IpAddr>,
    /// The pod's neighbour entry for that gateway (VPC CNI installs a PERMANENT one for
    /// 169.254.1.1 pointing at the host veth's MAC).
    pub gateway_neighbor: Option<NeighborRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborRef {
    pub lladdr: Option<MacAddr>,
    pub state: Vec<String>,
}

/// A link, named the way `ip link` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRef {
    pub name: String,
    pub ifindex: u32,
    pub kind: String,
    pub mac: Option<MacAddr>,
}

impl From<&Link> for LinkRef {
    fn from(link: &Link) -> Self {
        LinkRef {
            name: link.name.clone(),
            ifindex: link.ifindex,
            kind: link.kind.name().to_owned(),
            mac: link.mac,
        }
    }
}

/// A policy rule, as `ip rule` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRef {
    pub priority: u32,
    /// `from 172.31.55.218`, `to 172.31.55.218`, `iif vlanafd4c544f81`, `fwmark 0x80/0x80`, `all`.
    pub selector: String,
    /// The table it looks up (`None` for goto/blackhole/… actions).
    pub table: Option<u32>,
    /// `lookup 2`, `goto 100`, `blackhole` …
    pub action: String,
}

/// A route, as `ip route show table N` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRef {
    pub table: u32,
    pub destination: IpNet,
    pub route_type: RouteType,
    pub gateway: Option<IpAddr>,
    pub device: Option<String>,
    pub scope: RouteScope,
    pub metric: u32,
    pub protocol: u8,
}

/// Traffic from the pod towards one destination, hop by hop through the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Egress {
    /// What this path is: `"to 198.51.100.1"` or `"internet-bound after SNAT (fwmark 0x80)"`.
    pub label: String,
    pub destination: IpAddr,
    pub fwmark: Option<u32>,
    /// Where the packet enters the host's routing: the host veth, or the bridge it is enslaved to.
    pub ingress: LinkRef,
    /// The rule that decided: the first, in priority order, whose selector matched and whose
    /// lookup produced a route, or whose action (or route) refused the packet.
    pub rule: Option<RuleRef>,
    pub table: Option<u32>,
    pub route: Option<RouteRef>,
    /// The route's output device.
    pub egress_device: Option<LinkRef>,
    /// From the egress device down to the NIC: vlan → parent, macvlan → parent, vxlan →
    /// underlay, bridge → its uplink port. Each entry says which link and why it was followed.
    pub layers: Vec<Layer>,
    /// The bottom of the stack: the device that carries the traffic off the node.
    pub nic: Option<LinkRef>,
    /// Why the path ends on the node rather than on a NIC: a local or broadcast route, a bridge
    /// with no uplink port, a veth into another pod. `None` when the path leaves the node or could
    /// not be followed (see the pod's problems).
    pub stays_on_node: Option<String>,
    /// The MAC of the ENI carrying the traffic: the egress link's MAC, or for a branch ENI the
    /// vlan link's MAC.
    pub eni_mac: Option<MacAddr>,
    /// Branch ENIs: the vlan id and the trunk ENI's device.
    pub vlan_id: Option<u16>,
    pub trunk_device: Option<String>,
    /// How the kernel's own decision compares.
    pub kernel: KernelCheck,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub link: LinkRef,
    /// Why the walk went below it: `vlan 1 on eth1`, `vxlan vni 1 local 10.0.0.1`, …
    pub via: String,
}

/// The kernel's answer to the same question, compared with the resolver's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum KernelCheck {
    /// The kernel chose the same table, device and gateway.
    Agrees,
    /// The kernel chose otherwise; `kernel` says what it chose.
    Disagrees { kernel: String },
    /// The snapshot holds no kernel answer for this question.
    NotAsked,
    /// The kernel answered, but the resolver could not decide (see the pod's problems), so there
    /// is nothing to compare; `kernel` says what the kernel chose.
    Unresolved { kernel: String },
}

/// Something the resolver could not resolve, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub code: ProblemCode,
    pub message: String,
}

impl Problem {
    pub fn new(code: ProblemCode, message: impl Into<String>) -> Self {
        Problem {
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// No CNI result cache entry names this namespace: the pod's Kubernetes identity is unknown.
    NoCniCacheEntry,
    /// The pod's interface has no IP address.
    NoPodAddress,
    /// No host veth leads into this namespace.
    NoHostVeth,
    /// No policy rule produced a route for the probe destination.
    NoRoute,
    /// The chosen route drops or rejects the traffic (unreachable, blackhole, prohibit).
    RouteRejects,
    /// A multipath route: the leg depends on the flow hash.
    Multipath,
    /// A link the path needs is missing from the snapshot.
    MissingLink,
    /// The link stack below the egress device cannot be followed (loop, several bridge uplinks).
    UnresolvedLayer,
    /// A rule selector the resolver does not evaluate (uid range, l3mdev, ip proto, ports).
    UnsupportedRule,
    /// The kernel's own decision differs from the resolver's.
    KernelDisagrees,
    /// ipamd's view of the pod's IP differs from the kernel wiring (other ENI, other table).
    IpamMismatch,
    /// The namespace could not be read completely.
    IncompleteNamespace,
}
