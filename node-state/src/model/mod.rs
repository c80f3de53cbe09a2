//! The node-state model: what one agent collection saw on one node, as plain data.
//!
//! Kernel objects keep the kernel's own identifiers (ifindex, table ids, nsids) so that the resolver
//! can follow them exactly the way `ip` output is followed by hand. Every source that failed is
//! recorded in [`NodeSnapshot::errors`]; a failure never removes what other sources read.

mod cni;
mod kernel;
mod mac;
mod netns;
mod vpc_cni;

pub use cni::*;
pub use kernel::*;
pub use mac::MacAddr;
pub use netns::*;
pub use vpc_cni::*;

use serde::{Deserialize, Serialize};

/// Everything one collection read on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NodeSnapshot {
    pub node: NodeIdentity,
    /// The destination the agent was told to probe with (`--probe-dst`); `None` lets the resolver
    /// choose one (see [`crate::resolver::choose_probe`]).
    pub probe_destination: Option<std::net::IpAddr>,
    /// The agent's own network namespace: the node's host namespace when the agent runs with
    /// hostNetwork.
    pub host: NetnsState,
    /// Every other network namespace the agent found and read (pod namespaces only: a namespace
    /// whose veth peer lives in the host namespace, or one named in the CNI result cache).
    pub namespaces: Vec<NetnsState>,
    pub cni: CniState,
    /// Amazon VPC CNI state, when the node runs it (ipamd answered or its checkpoint exists).
    pub vpc_cni: Option<VpcCniState>,
    /// The kernel's own routing decisions for traffic from each pod, asked in the host namespace.
    pub kernel_routes: Vec<KernelRouteDecision>,
    /// What could not be read, per source. Collection goes on after every one of these.
    pub errors: Vec<SourceError>,
}

/// Who collected this snapshot, where and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodeIdentity {
    pub cluster: String,
    pub node_name: String,
    /// `/proc/sys/kernel/random/boot_id`: tells a reboot from a long gap in reporting.
    pub boot_id: String,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    pub agent_version: String,
    /// Wall-clock start of the collection, milliseconds since the Unix epoch.
    pub collected_at_unix_ms: i64,
    /// How long the collection took, in microseconds.
    pub collection_duration_us: u64,
}

/// One failed read. `source` says which collector, `subject` what it was reading (a namespace, a
/// file, a URL), `message` the error as the operator should read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceError {
    pub source: ErrorSource,
    pub subject: String,
    pub message: String,
}

/// The collector that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorSource {
    /// Listing `/proc/*/ns/net` or the netns directory.
    NetnsDiscovery,
    /// Entering or dumping one network namespace over netlink.
    Netlink,
    /// libcni's result cache (`var/lib/cni/results`).
    CniCache,
    /// CNI configuration files (`etc/cni/net.d`).
    CniConfig,
    /// host-local IPAM state (`var/lib/cni/networks`).
    HostLocal,
    /// The VPC CNI ipamd introspection API.
    Ipamd,
    /// The VPC CNI ipamd checkpoint file.
    IpamCheckpoint,
    /// An RTM_GETROUTE question to the kernel.
    KernelRoute,
    /// Node identity files (`boot_id`, kernel release).
    NodeIdentity,
}

impl NodeSnapshot {
    /// All namespaces, host first.
    pub fn all_namespaces(&self) -> impl Iterator<Item = &NetnsState> {
        std::iter::once(&self.host).chain(self.namespaces.iter())
    }
}
