//! CNI state read from files under the host root: libcni's result cache, the network
//! configurations, host-local IPAM allocations and flannel's subnet lease.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::MacAddr;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CniState {
    /// One entry per cached ADD result (`var/lib/cni/results/<network>-<container>-<ifname>`).
    pub cache: Vec<CniCacheEntry>,
    /// Network configurations (`etc/cni/net.d/*.conflist`, `*.conf`, `*.json`), in libcni's
    /// load order: the first is the one the runtime uses.
    pub configs: Vec<CniNetworkConfig>,
    /// host-local allocations (`var/lib/cni/networks/<network>/`).
    pub host_local: Vec<HostLocalNetwork>,
    /// flannel's lease (`run/flannel/subnet.env`), when present.
    pub flannel: Option<FlannelSubnet>,
}

/// One libcni `cniCacheV1` result: which pod an ADD was for and what the plugins returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniCacheEntry {
    /// The cache file, relative to the host root.
    pub file: String,
    pub network_name: String,
    pub container_id: String,
    pub if_name: String,
    /// From `cniArgs`: `K8S_POD_NAMESPACE`, `K8S_POD_NAME`, `K8S_POD_UID`.
    pub pod_namespace: Option<String>,
    pub pod_name: Option<String>,
    pub pod_uid: Option<String>,
    /// The netns path the runtime passed (`/var/run/netns/cni-…`, `/proc/PID/ns/net`), from the
    /// result's sandbox interface.
    pub netns_path: Option<String>,
    /// `result.ips`, with their prefix lengths.
    pub ips: Vec<IpNet>,
    pub gateways: Vec<IpAddr>,
    pub interfaces: Vec<CniInterface>,
    /// The plugin types of the cached network configuration, in chain order (`aws-cni`,
    /// `flannel`, `bridge`, `egress-cni`, `portmap`…).
    pub plugin_types: Vec<String>,
    pub cni_version: Option<String>,
}

/// One interface in a CNI result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniInterface {
    pub name: String,
    pub mac: Option<MacAddr>,
    /// Set for interfaces inside the container: its netns path.
    pub sandbox: Option<String>,
}

/// A CNI network configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniNetworkConfig {
    /// Relative to the host root.
    pub file: String,
    pub name: String,
    pub cni_version: Option<String>,
    pub plugins: Vec<CniPluginConfig>,
}

/// One plugin of a network configuration, with the fields podwire reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniPluginConfig {
    pub plugin_type: String,
    /// `bridge` plugin: the bridge name (`cni0`, `kube-bridge`).
    pub bridge: Option<String>,
    pub ipam: Option<CniIpamConfig>,
    /// flannel: the delegate's plugin type (`bridge` when unset in the file).
    pub delegate_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniIpamConfig {
    pub ipam_type: String,
    /// host-local `ranges` (flattened) or the legacy `subnet`.
    pub subnets: Vec<IpNet>,
    /// host-local `dataDir` when it overrides `/var/lib/cni/networks`.
    pub data_dir: Option<String>,
}

/// A host-local network's allocation directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLocalNetwork {
    pub network: String,
    /// Relative to the host root.
    pub dir: String,
    pub allocations: Vec<HostLocalAllocation>,
    /// `last_reserved_ip.N`, per range index.
    pub last_reserved: Vec<IpAddr>,
    /// Ranges from the configuration that names this network, when one does.
    pub ranges: Vec<IpNet>,
}

/// One allocated address: a file named for the IP, holding the container id (and, since CNI
/// plugins v0.8, the interface name on a second line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLocalAllocation {
    pub ip: IpAddr,
    pub container_id: String,
    pub if_name: Option<String>,
}

/// flannel's `subnet.env`: the cluster network and this node's lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlannelSubnet {
    pub network: Option<IpNet>,
    pub subnet: Option<IpNet>,
    pub mtu: Option<u32>,
    pub ipmasq: Option<bool>,
}
