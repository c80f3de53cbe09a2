//! An Amazon VPC CNI node, programmed the way aws/amazon-vpc-cni-k8s programs one
//! (`pkg/networkutils/network.go`, `cmd/routed-eni-cni-plugin/driver/driver.go`):
//!
//! - ENIs `eth0` (primary, device 0, table main), `eth1` (secondary, device 1, table 2) and `eth2`
//!   (trunk, device 2, table 3), each a veth whose peer is a port of the subnet's switch in a
//!   "vpc" namespace that holds the gateway 192.168.0.1; secondary ENIs get `GW dev ethN scope
//!   link` and `default via GW dev ethN` in table N+1, lose their connected route in main, and
//!   (except the trunk) get rule 32765 `from ENI_IP lookup N+1`; rule 1024
//!   `fwmark 0x80/0x80 lookup main`; with security groups for pods in strict mode the local rule
//!   moves from priority 0 to 20.
//! - Each pod: a veth `eni` + 11 hex of sha1("namespace.name") with the driver's random
//!   locally-administered MAC, pod side `eth0` with a /32, `169.254.1.1 dev eth0 scope link`,
//!   `default via 169.254.1.1`, a PERMANENT neighbour 169.254.1.1 → host veth MAC; on the host
//!   `POD dev eniXXX scope link`, rule 512 `to POD lookup main`, and for pods on the secondary ENI
//!   rule 1536 `from POD lookup 2`.
//! - Branch-ENI pods (strict mode): `vlan.eth.N` on the trunk — a macvlan of that name, MAC and
//!   parent, since this kernel has no 802.1Q — table 100+N with `GW dev vlan.eth.N scope link`,
//!   `default via GW dev vlan.eth.N` and `POD dev vlan<hash> scope link`, and rules
//!   `10: iif vlan.eth.N lookup 10N`, `10: iif vlan<hash> lookup 10N`.
//!
//! Beside the kernel state: `etc/cni/net.d/10-aws.conflist`, the libcni result cache, ipamd's
//! checkpoint `var/run/aws-node/ipam.json`, and an ipamd answering `/v1/enis` on the node's
//! 127.0.0.1:61679.

mod changes;
mod files;
pub mod ipamd;

use std::net::{IpAddr, Ipv4Addr};

use crate::cmd::{Batch, Cmd};
use crate::host_root::cni_cache::{self, CacheEntry};
use crate::ids::{self, Mac};
use crate::netns::NamePrefix;
use crate::topology::{
    BuiltNode, BuiltPod, ExpectedPath, ExtraPods, NodeKind, NodeParts, PodNetns, TopologyError,
    pod_identity,
};
use ipamd::{IpamdMode, IpamdServer};

/// The VPC's CIDR; the probe destination lies in it but off the node's subnet routes' reach.
pub const VPC_CIDR: &str = "192.168.0.0/16";
/// The subnet all ENIs (and branch ENIs) are in, and its gateway (EC2's `.1`).
pub const SUBNET_PREFIX_LEN: u8 = 19;
pub const SUBNET: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 0);
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
/// In-VPC traffic to another subnet: the path the write-ups trace (`from POD lookup 2` → eth1).
pub const PROBE: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 10);
/// VPC CNI's connection mark for traffic that must leave through the primary ENI.
pub const CONNMARK: u32 = 0x80;
const MTU: u32 = 9001;
const MAX_PODS_PER_SLOT: usize = 1000;

/// Which ENI a pod's IP belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EniSlot {
    /// A secondary IP of the primary ENI (eth0, table main).
    Primary,
    /// A secondary IP of the secondary ENI (eth1, table 2).
    Secondary,
    /// Its own branch ENI on the trunk (eth2), security groups for pods.
    Branch,
}

/// A VPC CNI node to build.
#[derive(Debug, Clone)]
pub struct VpcCniNode {
    primary: usize,
    secondary: usize,
    branch: usize,
    extra: ExtraPods,
    ipamd: IpamdMode,
    given: Option<GivenEnis>,
}

/// ENI ids and MACs chosen elsewhere (by the EC2 emulator), used instead of ones derived from
/// the node's name seed.
#[derive(Debug, Clone)]
pub struct GivenEnis {
    pub subnet_id: String,
    /// (id, MAC) of eth0 (primary), eth1 (secondary) and eth2 (trunk).
    pub node: [(String, Mac); 3],
    /// (id, MAC) of the branch ENIs, in the order of the branch pods (vlan 1, 2, …).
    pub branches: Vec<(String, Mac)>,
}

impl Default for VpcCniNode {
    fn default() -> Self {
        VpcCniNode {
            primary: 2,
            secondary: 2,
            branch: 1,
            extra: ExtraPods::default(),
            ipamd: IpamdMode::Serve,
            given: None,
        }
    }
}

/// An ENI attached to the node.
#[derive(Debug, Clone)]
pub(crate) struct Eni {
    pub device: &'static str,
    pub id: String,
    pub mac: Mac,
    pub ip: Ipv4Addr,
    pub device_number: u32,
    pub is_trunk: bool,
    pub subnet_id: String,
    /// Secondary IPs ipamd holds on this ENI but has not handed out (the warm pool).
    pub warm_ips: Vec<Ipv4Addr>,
}

impl Eni {
    /// `CalculateRouteTableId`: main for device 0, device + 1 otherwise.
    pub fn route_table(&self) -> u32 {
        if self.device_number == 0 {
            254
        } else {
            self.device_number + 1
        }
    }
}

/// A branch ENI given to one pod.
#[derive(Debug, Clone)]
pub(crate) struct BranchEni {
    pub vlan_id: u16,
    pub mac: Mac,
    pub id: String,
}

impl BranchEni {
    pub fn link_name(&self) -> String {
        format!("vlan.eth.{}", self.vlan_id)
    }

    pub fn route_table(&self) -> u32 {
        100 + u32::from(self.vlan_id)
    }
}

/// One pod as the builder plans it.
#[derive(Debug, Clone)]
pub(crate) struct VpcPod {
    pub pod: BuiltPod,
    pub slot: EniSlot,
    pub branch: Option<BranchEni>,
    pub has_cache_entry: bool,
    /// When ipamd assigned the IP, nanoseconds since the epoch.
    pub assigned_at_unix_ns: i64,
}

impl VpcCniNode {
    pub fn new() -> Self {
        VpcCniNode::default()
    }

    /// How many ordinary pods to place on the primary ENI, the secondary ENI and branch ENIs.
    pub fn pods(mut self, primary: usize, secondary: usize, branch: usize) -> Self {
        self.primary = primary;
        self.secondary = secondary;
        self.branch = branch;
        self
    }

    /// Adds a pod without a cache entry (on the primary ENI) and/or a pod in an unnamed
    /// namespace (on the secondary ENI, so its path needs rule 1536).
    pub fn extra_pods(mut self, extra: ExtraPods) -> Self {
        self.extra = extra;
        self
    }

    pub fn ipamd(mut self, mode: IpamdMode) -> Self {
        self.ipamd = mode;
        self
    }

    /// Uses these ENI ids, MACs and subnet (an EC2 emulator's) for the node's ENIs and the
    /// branch pods' ENIs.
    pub fn given_enis(mut self, given: GivenEnis) -> Self {
        self.given = Some(given);
        self
    }

    /// Builds the node in the kernel and on disk.
    pub fn build(self) -> Result<BuiltNode, TopologyError> {
        let mut parts = NodeParts::new()?;
        let vpc = parts.add_peer("vpc")?;
        let seed = parts.prefix.as_str().to_owned();
        let mut enis = plan_enis(&seed, self.given.as_ref());
        let plans = self.pod_plans();
        // Each slot's addresses come from a /22 (and vlan ids stay far below 4094).
        for slot in [EniSlot::Primary, EniSlot::Secondary, EniSlot::Branch] {
            let count = plans.iter().filter(|(s, _, _)| *s == slot).count();
            if count > MAX_PODS_PER_SLOT {
                return Err(TopologyError::TooManyPods { count });
            }
        }

        let mut pods = Vec::with_capacity(plans.len());
        let mut next = SlotCounters::default();
        for (index, (slot, cached, unnamed)) in plans.into_iter().enumerate() {
            let netns = parts.add_pod_netns(&format!("pod{index}"), unnamed)?;
            let mut pod = plan_pod(&seed, index, slot, cached, netns, &enis, &mut next);
            if let (Some(branch), Some(given)) = (pod.branch.as_mut(), self.given.as_ref())
                && let Some((id, mac)) = given.branches.get(usize::from(branch.vlan_id) - 1)
            {
                branch.id = id.clone();
                branch.mac = *mac;
                pod.pod.expected.eni_mac = mac.to_string();
            }
            pods.push(pod);
        }
        for eni in enis.iter_mut().filter(|e| !e.is_trunk) {
            // Two unused secondary IPs per ENI, outside the pods' ranges: ipamd's warm pool.
            let third = 28 + eni.device_number as u8;
            eni.warm_ips = (0..2)
                .map(|i| Ipv4Addr::new(192, 168, third, 200 + i))
                .collect();
        }

        wire_vpc_switch(&vpc, &enis, false)?;
        wire_host(parts.node.name(), &vpc, &enis, &pods)?;
        wire_vpc_switch(&vpc, &enis, true)?;
        Cmd::new("ip")
            .args(["netns", "exec", parts.node.name(), "sysctl", "-q", "-w"])
            .arg("net.ipv4.ip_forward=1")
            .run()?;
        for pod in &pods {
            wire_pod_side(pod)?;
        }

        let conflist = files::conflist(enis[0].ip);
        parts
            .host_root
            .write("etc/cni/net.d/10-aws.conflist", conflist.as_bytes())?;
        for pod in pods.iter().filter(|p| p.has_cache_entry) {
            let entry = cache_entry(pod, conflist.as_bytes());
            parts
                .host_root
                .write(&entry.relative_path(), entry.to_bytes())?;
        }
        parts
            .host_root
            .write("var/run/aws-node/ipam.json", files::checkpoint(&pods))?;

        let ipamd = match self.ipamd {
            IpamdMode::Down => None,
            mode => Some(IpamdServer::start(
                &parts.node.path(),
                mode.response(ipamd::enis_response(&enis, &pods)),
            )?),
        };
        parts.pods = pods.iter().map(|p| p.pod.clone()).collect();
        let state = VpcState {
            prefix: parts.prefix.clone(),
            enis,
            next_index: pods.len(),
            pods,
            next,
            conflist,
            ipamd_mode: self.ipamd,
        };
        let mut node = parts.finish(NodeKind::VpcCni, IpAddr::V4(PROBE), ipamd);
        node.vpc = Some(state);
        Ok(node)
    }

    /// (slot, has a cache entry, unnamed namespace) for every pod, ordinary pods first.
    fn pod_plans(&self) -> Vec<(EniSlot, bool, bool)> {
        let mut plans = Vec::new();
        plans.extend(std::iter::repeat_n(
            (EniSlot::Primary, true, false),
            self.primary,
        ));
        plans.extend(std::iter::repeat_n(
            (EniSlot::Secondary, true, false),
            self.secondary,
        ));
        plans.extend(std::iter::repeat_n(
            (EniSlot::Branch, true, false),
            self.branch,
        ));
        if self.extra.without_cache_entry {
            plans.push((EniSlot::Primary, false, false));
        }
        if self.extra.unnamed_netns {
            plans.push((EniSlot::Secondary, true, true));
        }
        plans
    }
}

fn plan_enis(seed: &str, given: Option<&GivenEnis>) -> Vec<Eni> {
    let eni = |device: &'static str, ip: [u8; 4], device_number: u32, is_trunk: bool| Eni {
        device,
        id: given.map_or_else(
            || ids::eni_id(&format!("{seed}{device}")),
            |g| g.node[device_number as usize].0.clone(),
        ),
        mac: given.map_or_else(
            || Mac::eni(&format!("{seed}{device}")),
            |g| g.node[device_number as usize].1,
        ),
        ip: Ipv4Addr::from(ip),
        device_number,
        is_trunk,
        subnet_id: given.map_or_else(|| ids::subnet_id(seed), |g| g.subnet_id.clone()),
        warm_ips: Vec::new(),
    };
    vec![
        eni("eth0", [192, 168, 31, 166], 0, false),
        eni("eth1", [192, 168, 9, 59], 1, false),
        eni("eth2", [192, 168, 12, 40], 2, true),
    ]
}

/// What changing a built VPC CNI node needs ([`changes`]): its ENIs, its pods as planned, and
/// the counters that name and address the next pod.
#[derive(Debug)]
pub(crate) struct VpcState {
    prefix: NamePrefix,
    enis: Vec<Eni>,
    pods: Vec<VpcPod>,
    next: SlotCounters,
    /// The next pod's index, which seeds its name.
    next_index: usize,
    conflist: String,
    ipamd_mode: IpamdMode,
}

/// Next free pod address per slot, and the next vlan id.
#[derive(Debug, Default)]
struct SlotCounters {
    primary: u16,
    secondary: u16,
    branch: u16,
}

fn plan_pod(
    seed: &str,
    index: usize,
    slot: EniSlot,
    has_cache_entry: bool,
    netns: PodNetns,
    enis: &[Eni],
    next: &mut SlotCounters,
) -> VpcPod {
    let (namespace, name) = pod_identity(seed, index);
    let pod_seed = format!("{seed}{namespace}.{name}");
    let counter = match slot {
        EniSlot::Primary => &mut next.primary,
        EniSlot::Secondary => &mut next.secondary,
        EniSlot::Branch => &mut next.branch,
    };
    let n = *counter;
    *counter += 1;
    // Pod addresses: secondary IPs of the ENI (or the branch ENI's own IP) from 192.168.16+.
    let third = match slot {
        EniSlot::Primary => 16,
        EniSlot::Secondary => 20,
        EniSlot::Branch => 24,
    };
    let offset = 10 + n;
    let ip = Ipv4Addr::new(192, 168, third + (offset / 256) as u8, (offset % 256) as u8);
    let branch = (slot == EniSlot::Branch).then(|| BranchEni {
        vlan_id: n + 1,
        mac: Mac::eni(&format!("{pod_seed}/branch")),
        id: ids::eni_id(&format!("{pod_seed}/branch")),
    });
    let veth_prefix = if branch.is_some() { "vlan" } else { "eni" };
    let host_veth = ids::vpc_cni_host_veth_name(veth_prefix, &namespace, &name);
    let expected = match (&branch, slot) {
        (Some(b), _) => ExpectedPath {
            table: b.route_table(),
            egress_device: b.link_name(),
            eni_mac: b.mac.to_string(),
            vlan_id: Some(b.vlan_id),
            trunk_device: Some("eth2".to_owned()),
            wiring: "aws-vpc-cni-branch",
        },
        (None, slot) => expected_on_eni(enis, slot),
    };
    let container_id = ids::container_id(&pod_seed);
    let cache_entry =
        has_cache_entry.then(|| format!("{}/aws-cni-{container_id}-eth0", cni_cache::RESULTS_DIR));
    VpcPod {
        pod: BuiltPod {
            uid: ids::uuid(&format!("{pod_seed}/uid")),
            container_id,
            netns,
            ip,
            prefix_len: 32,
            mac: Mac::local(&format!("{pod_seed}/eth0")).to_string(),
            host_veth,
            host_veth_mac: Mac::local(&format!("{pod_seed}/host")).to_string(),
            bridge: None,
            cache_entry,
            expected,
            namespace,
            name,
        },
        slot,
        branch,
        has_cache_entry,
        assigned_at_unix_ns: (files::ASSIGNED_BASE_UNIX_S + index as i64) * 1_000_000_000,
    }
}

/// The path of a pod holding a secondary IP of the primary (`eth0`, main) or the secondary ENI
/// (`eth1`, table 2).
fn expected_on_eni(enis: &[Eni], slot: EniSlot) -> ExpectedPath {
    let eni = if slot == EniSlot::Primary {
        &enis[0]
    } else {
        &enis[1]
    };
    ExpectedPath {
        table: eni.route_table(),
        egress_device: eni.device.to_owned(),
        eni_mac: eni.mac.to_string(),
        vlan_id: None,
        trunk_device: None,
        wiring: "aws-vpc-cni",
    }
}

/// The subnet's switch in the vpc namespace: a bridge holding the gateway, the ENIs' peers as
/// its ports (added once the ENIs exist).
fn wire_vpc_switch(vpc: &str, enis: &[Eni], ports: bool) -> Result<(), TopologyError> {
    let mut batch = Batch::new();
    if ports {
        for i in 0..enis.len() {
            batch.push(format!("link set port{i} master subnet0"));
            batch.push(format!("link set port{i} mtu {MTU} up"));
        }
    } else {
        batch.push("link set lo up");
        batch.push(format!("link add subnet0 mtu {MTU} type bridge"));
        batch.push("link set subnet0 up");
        batch.push(format!(
            "address add {GATEWAY}/{SUBNET_PREFIX_LEN} dev subnet0"
        ));
    }
    Ok(batch.run_ip(vpc)?)
}

/// Everything VPC CNI (ipamd and the CNI plugin) programs in the node's namespace.
fn wire_host(node: &str, vpc: &str, enis: &[Eni], pods: &[VpcPod]) -> Result<(), TopologyError> {
    let mut b = Batch::new();
    b.push("link set lo up");
    for (i, eni) in enis.iter().enumerate() {
        let dev = eni.device;
        b.push(format!(
            "link add {dev} address {} mtu {MTU} type veth peer name port{i} netns {vpc}",
            eni.mac
        ));
        b.push(format!("link set {dev} up"));
        let subnet = format!("{SUBNET}/{SUBNET_PREFIX_LEN}");
        if eni.device_number == 0 {
            // The primary ENI as the instance's DHCP client configured it.
            b.push(format!(
                "address add {}/{SUBNET_PREFIX_LEN} dev {dev} valid_lft 3600 preferred_lft 3600",
                eni.ip
            ));
            b.push(format!("route add default via {GATEWAY} dev {dev}"));
            b.push(format!("route add 169.254.169.254 dev {dev}"));
            continue;
        }
        // setupENINetwork: the ENI's address, its table, and no connected route in main.
        let table = eni.route_table();
        b.push(format!(
            "address add {}/{SUBNET_PREFIX_LEN} dev {dev}",
            eni.ip
        ));
        b.push(format!("route del {subnet} dev {dev} src {}", eni.ip));
        b.push(format!(
            "route add {GATEWAY}/32 dev {dev} scope link table {table}"
        ));
        b.push(format!(
            "route add default via {GATEWAY} dev {dev} table {table}"
        ));
        if !eni.is_trunk {
            b.push(format!(
                "rule add from {}/32 lookup {table} pref 32765",
                eni.ip
            ));
        }
    }
    // SetupHostNetwork: the connmark rule, and (pod ENI, strict mode) local lookup after the vlan
    // rules.
    b.push(format!(
        "rule add fwmark {CONNMARK:#x}/{CONNMARK:#x} lookup main pref 1024"
    ));
    b.push("rule add lookup local pref 20");
    b.push("rule del pref 0 lookup local");

    for pod in pods {
        let p = &pod.pod;
        b.push(format!(
            "link add {} address {} mtu {MTU} type veth peer name eth0 address {} mtu {MTU} netns {}",
            p.host_veth,
            p.host_veth_mac,
            p.mac,
            p.netns.ip_netns_arg()
        ));
        b.push(format!("link set {} up", p.host_veth));
        match &pod.branch {
            None => {
                b.push(format!(
                    "route add {}/32 dev {} scope link",
                    p.ip, p.host_veth
                ));
                b.push(format!("rule add to {}/32 lookup main pref 512", p.ip));
                if pod.slot == EniSlot::Secondary {
                    b.push(format!(
                        "rule add from {}/32 lookup {} pref 1536",
                        p.ip,
                        enis[1].route_table()
                    ));
                }
            }
            Some(branch) => {
                let vlan = branch.link_name();
                let table = branch.route_table();
                // Stand-in for `link add link eth2 name vlan.eth.N type vlan id N`.
                b.push(format!(
                    "link add link eth2 name {vlan} address {} type macvlan mode bridge",
                    branch.mac
                ));
                b.push(format!("link set {vlan} up"));
                b.push(format!(
                    "route add {GATEWAY}/32 dev {vlan} scope link table {table}"
                ));
                b.push(format!(
                    "route add default via {GATEWAY} dev {vlan} table {table}"
                ));
                b.push(format!(
                    "route add {}/32 dev {} scope link table {table}",
                    p.ip, p.host_veth
                ));
                b.push(format!("rule add iif {vlan} lookup {table} pref 10"));
                b.push(format!(
                    "rule add iif {} lookup {table} pref 10",
                    p.host_veth
                ));
            }
        }
    }
    Ok(b.run_ip(node)?)
}

/// The driver's `createVethPairContext.run`, inside the pod.
fn wire_pod_side(pod: &VpcPod) -> Result<(), TopologyError> {
    let p = &pod.pod;
    let mut b = Batch::new();
    b.push("link set lo up");
    b.push("link set eth0 up");
    b.push("route replace 169.254.1.1/32 dev eth0 scope link");
    b.push("route add default via 169.254.1.1 dev eth0");
    b.push(format!("address add {}/32 dev eth0", p.ip));
    b.push(format!(
        "neigh add 169.254.1.1 dev eth0 lladdr {} nud permanent",
        p.host_veth_mac
    ));
    Ok(p.netns.run_ip(&b)?)
}

fn cache_entry(pod: &VpcPod, conflist: &[u8]) -> CacheEntry {
    let p = &pod.pod;
    CacheEntry {
        network_name: "aws-cni".to_owned(),
        container_id: p.container_id.clone(),
        if_name: "eth0".to_owned(),
        netns: p.netns.path(),
        config: conflist.to_vec(),
        cni_args: cni_cache::kubernetes_cni_args(&p.namespace, &p.name, &p.uid, &p.container_id),
        capability_args: cni_cache::kubernetes_capability_args(files::pod_annotations(pod)),
        result: files::cache_result(pod),
    }
}
