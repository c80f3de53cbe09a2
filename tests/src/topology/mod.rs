//! Nodes built from real kernel objects in network namespaces, wired the way each CNI wires a
//! real node, together with the files that node would hold. Every builder returns a
//! [`BuiltNode`] describing what it intended — per pod its identity, namespace, IP, host veth
//! and the path its traffic to the node's probe destination must take — so tests check the agent
//! against the builder's intent, never against the agent's own output.

mod bridged;
pub mod flannel;
pub mod kube_router;
pub mod vpc_cni;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::cmd::{Batch, CommandError};
use crate::host_root::{HostRoot, HostRootError};
use crate::ids;
use crate::netns::{HeldNetns, NETNS_RUN_DIR, NamePrefix, NetnsError, NetnsGuard};
use vpc_cni::ipamd::{IpamdError, IpamdServer};

/// A topology that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    HostRoot(#[from] HostRootError),
    #[error(transparent)]
    Ipamd(#[from] IpamdError),
    #[error("could not prepare the netns directory {path}")]
    NetnsDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no pod {0} in this topology")]
    NoSuchPod(String),
    #[error("{count} pods do not fit in the node's pod address range")]
    TooManyPods { count: usize },
    #[error("{0} changes only Amazon VPC CNI nodes")]
    NotVpcCni(&'static str),
    #[error("this change is not supported: {0}")]
    Unsupported(String),
    #[error("a change did not complete: {0}")]
    Lingering(String),
}

/// Which CNI's node a topology imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    VpcCni,
    Flannel,
    KubeRouter,
}

/// How a pod's network namespace exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodNetns {
    /// `/var/run/netns/NAME`, as CRI runtimes create them (`cni-<uuid>`).
    Named { name: String },
    /// No name: only the process `pid` (the pod's pause process) holds it.
    Unnamed { pid: u32 },
}

impl PodNetns {
    /// The path the runtime passes to CNI: `/var/run/netns/NAME` or `/proc/PID/ns/net`.
    pub fn path(&self) -> String {
        match self {
            PodNetns::Named { name } => format!("{NETNS_RUN_DIR}/{name}"),
            PodNetns::Unnamed { pid } => format!("/proc/{pid}/ns/net"),
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            PodNetns::Named { name } => Some(name),
            PodNetns::Unnamed { .. } => None,
        }
    }

    /// What `ip link … netns X` takes: the name, or the holder's pid.
    pub(crate) fn ip_netns_arg(&self) -> String {
        match self {
            PodNetns::Named { name } => name.clone(),
            PodNetns::Unnamed { pid } => pid.to_string(),
        }
    }

    /// Runs an `ip -batch` script inside the namespace.
    pub(crate) fn run_ip(&self, batch: &Batch) -> Result<(), CommandError> {
        match self {
            PodNetns::Named { name } => batch.run_ip(name),
            PodNetns::Unnamed { .. } => batch.run_ip_at(&self.path()),
        }
    }
}

/// The path a pod's traffic to the node's probe destination must take, as the builder wired it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedPath {
    /// The routing table the kernel uses (254 is `main`).
    pub table: u32,
    /// The route's output device (`eth1`, `vlan.eth.1`, `flannel.1`).
    pub egress_device: String,
    /// The MAC of the ENI (NIC) carrying the traffic off the node; for a branch ENI the
    /// `vlan.eth.N` link's MAC.
    pub eni_mac: String,
    pub vlan_id: Option<u16>,
    pub trunk_device: Option<String>,
    /// The wiring the agent should detect (`aws-vpc-cni`, `aws-vpc-cni-branch`, `flannel`, …).
    pub wiring: &'static str,
}

/// One pod the builder created, and what it intends for it.
#[derive(Debug, Clone)]
pub struct BuiltPod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub container_id: String,
    pub netns: PodNetns,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// The pod's eth0 MAC.
    pub mac: String,
    pub host_veth: String,
    pub host_veth_mac: String,
    /// The bridge the host veth is enslaved to (`cni0`, `kube-bridge`).
    pub bridge: Option<String>,
    /// The CNI result cache file, relative to the host root; `None` for a pod built without one.
    pub cache_entry: Option<String>,
    pub expected: ExpectedPath,
}

impl BuiltPod {
    /// `NAMESPACE/NAME`, as `--pod` takes it.
    pub fn qualified_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The device the pod's packets enter the node's routing on: the bridge, else the host veth.
    pub fn ingress(&self) -> &str {
        self.bridge.as_deref().unwrap_or(&self.host_veth)
    }
}

/// Which extra pods a builder adds beyond its ordinary ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtraPods {
    /// A pod wired like the others whose CNI result cache entry is missing.
    pub without_cache_entry: bool,
    /// A pod whose namespace has no name, held only by a process (`unshare --net`).
    pub unnamed_netns: bool,
}

/// A node that exists in the kernel right now. Dropping it removes every namespace and file.
#[derive(Debug)]
pub struct BuiltNode {
    pub kind: NodeKind,
    /// A destination off the node whose path the builder knows for every pod.
    pub probe: IpAddr,
    pub pods: Vec<BuiltPod>,
    // Teardown runs in field order: ipamd leaves the node first (it holds a socket there), then
    // the pods' holders and namespaces, the node, its peers, and finally the files.
    ipamd: Option<IpamdServer>,
    held: Vec<HeldNetns>,
    pod_namespaces: Vec<NetnsGuard>,
    node: NetnsGuard,
    peers: Vec<NetnsGuard>,
    host_root: HostRoot,
    netns_dir: TempDir,
    /// What a VPC CNI node's later changes need (its ENIs, its pods' ENIs, ipamd's answer).
    vpc: Option<vpc_cni::VpcState>,
}

impl BuiltNode {
    /// The node's host namespace: run the agent here (`ip netns exec NAME …`).
    pub fn node_netns(&self) -> &str {
        self.node.name()
    }

    pub fn host_root(&self) -> &HostRoot {
        &self.host_root
    }

    /// A directory holding only this node's named pod namespaces (symlinks into
    /// `/var/run/netns`), to pass as `--netns-dir` so the agent does not read other tests' nodes.
    pub fn netns_dir(&self) -> &Path {
        self.netns_dir.path()
    }

    /// The namespaces beside the node (the VPC's subnet switch, the underlay network).
    pub fn peer_namespaces(&self) -> Vec<&str> {
        self.peers.iter().map(NetnsGuard::name).collect()
    }

    /// The pids holding this node's unnamed pod namespaces.
    pub fn namespace_holders(&self) -> Vec<u32> {
        self.held.iter().map(HeldNetns::pid).collect()
    }

    pub fn pod(&self, qualified_name: &str) -> Result<&BuiltPod, TopologyError> {
        self.pods
            .iter()
            .find(|p| p.qualified_name() == qualified_name)
            .ok_or_else(|| TopologyError::NoSuchPod(qualified_name.to_owned()))
    }

    /// Deletes a named pod namespace now (`ip netns del`), leaving everything else in place.
    pub fn delete_pod_netns(&mut self, netns_name: &str) -> Result<(), TopologyError> {
        let guard = self
            .pod_namespaces
            .iter_mut()
            .find(|g| g.name() == netns_name)
            .ok_or_else(|| TopologyError::NoSuchPod(netns_name.to_owned()))?;
        guard.delete()?;
        Ok(())
    }

    /// Stops the node's ipamd, if one runs (as if aws-node were restarting).
    pub fn stop_ipamd(&mut self) {
        self.ipamd = None;
    }

    /// Adds a CNI configuration file that does not parse, after the real one in load order.
    pub fn write_broken_conflist(&self) -> Result<PathBuf, TopologyError> {
        Ok(self.host_root.write(
            "etc/cni/net.d/99-broken.conflist",
            br#"{"cniVersion": "0.4.0", "name": "broken", "plugins": [{"type": "#,
        )?)
    }

    /// Damages one pod's CNI result cache file; returns its path.
    pub fn damage_cache_entry(
        &self,
        pod: &BuiltPod,
        damage: CacheDamage,
    ) -> Result<PathBuf, TopologyError> {
        let relative = pod
            .cache_entry
            .as_deref()
            .ok_or_else(|| TopologyError::NoSuchPod(pod.qualified_name()))?;
        let original = self.host_root.read(relative)?;
        let damaged = match damage {
            // A write cut off half-way (node crash while libcni wrote the file).
            CacheDamage::Truncated => original[..original.len() / 2].to_vec(),
            // Well-formed JSON of a format libcni would not read back.
            CacheDamage::WrongKind => String::from_utf8_lossy(&original)
                .replacen("\"kind\":\"cniCacheV1\"", "\"kind\":\"cniCacheV0\"", 1)
                .into_bytes(),
        };
        Ok(self.host_root.write(relative, damaged)?)
    }
}

/// How [`BuiltNode::damage_cache_entry`] damages a cache file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheDamage {
    Truncated,
    WrongKind,
}

/// A node under construction: its namespaces and files, owned so that a failure half-way through
/// still tears down everything created so far.
#[derive(Debug)]
pub(crate) struct NodeParts {
    pub prefix: NamePrefix,
    pub pods: Vec<BuiltPod>,
    pub held: Vec<HeldNetns>,
    pub pod_namespaces: Vec<NetnsGuard>,
    pub node: NetnsGuard,
    pub peers: Vec<NetnsGuard>,
    pub host_root: HostRoot,
    pub netns_dir: TempDir,
}

impl NodeParts {
    /// Creates the node's namespace, an empty host root and an empty netns directory.
    pub fn new() -> Result<Self, TopologyError> {
        let prefix = NamePrefix::next();
        let node = NetnsGuard::create(prefix.name("node"))?;
        let netns_dir = tempfile::Builder::new()
            .prefix("podwire-netns-")
            .tempdir()
            .map_err(|source| TopologyError::NetnsDir {
                path: std::env::temp_dir(),
                source,
            })?;
        Ok(NodeParts {
            prefix,
            pods: Vec::new(),
            held: Vec::new(),
            pod_namespaces: Vec::new(),
            node,
            peers: Vec::new(),
            host_root: HostRoot::new()?,
            netns_dir,
        })
    }

    /// A namespace beside the node (the VPC, the underlay network).
    pub fn add_peer(&mut self, role: &str) -> Result<String, TopologyError> {
        let guard = NetnsGuard::create(self.prefix.name(role))?;
        let name = guard.name().to_owned();
        self.peers.push(guard);
        Ok(name)
    }

    /// A pod's namespace: named `cni-<uuid>` (and linked into the netns directory), or unnamed.
    pub fn add_pod_netns(&mut self, seed: &str, unnamed: bool) -> Result<PodNetns, TopologyError> {
        if unnamed {
            let held = HeldNetns::spawn()?;
            let pid = held.pid();
            self.held.push(held);
            return Ok(PodNetns::Unnamed { pid });
        }
        let name = self.prefix.name(&format!(
            "cni-{}",
            ids::uuid(&format!("{}{seed}", self.prefix.as_str()))
        ));
        let guard = NetnsGuard::create(name.clone())?;
        let link = self.netns_dir.path().join(&name);
        let target = guard.path();
        self.pod_namespaces.push(guard);
        std::os::unix::fs::symlink(&target, &link)
            .map_err(|source| TopologyError::NetnsDir { path: link, source })?;
        Ok(PodNetns::Named { name })
    }

    pub fn finish(self, kind: NodeKind, probe: IpAddr, ipamd: Option<IpamdServer>) -> BuiltNode {
        BuiltNode {
            kind,
            probe,
            pods: self.pods,
            ipamd,
            held: self.held,
            pod_namespaces: self.pod_namespaces,
            node: self.node,
            peers: self.peers,
            host_root: self.host_root,
            netns_dir: self.netns_dir,
            vpc: None,
        }
    }
}

/// A pod's Kubernetes identity, made up the way workloads are named: `<deployment>-<hash>-<id>`
/// in a handful of namespaces.
pub(crate) fn pod_identity(seed: &str, index: usize) -> (String, String) {
    const NAMESPACES: [&str; 4] = ["default", "kube-system", "payments", "web"];
    const APPS: [&str; 6] = ["api", "checkout", "frontend", "coredns", "worker", "ledger"];
    // Kubernetes' safe alphabet for generated name suffixes.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let digest = sha1_smol::Sha1::from(format!("{seed}/pod/{index}"))
        .digest()
        .bytes();
    let pick = |i: usize| char::from(ALPHABET[usize::from(digest[i]) % ALPHABET.len()]);
    let hash: String = (0..10).map(pick).collect();
    let id: String = (10..15).map(pick).collect();
    let namespace = NAMESPACES[index % NAMESPACES.len()];
    let app = APPS[(index / NAMESPACES.len()) % APPS.len()];
    (namespace.to_owned(), format!("{app}-{hash}-{id}"))
}
