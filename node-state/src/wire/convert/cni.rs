//! CNI state: the result cache, network configurations, host-local allocations, flannel's lease.

use super::{
    FromWireError, ip_from_wire, ip_to_wire, ips_from_wire, mac_from_wire, mac_to_wire, optional,
    optional_prefix_to_wire, prefixes_to_wire, repeated, to_wire,
};
use crate::model::{
    CniCacheEntry, CniInterface, CniIpamConfig, CniNetworkConfig, CniPluginConfig, CniState,
    FlannelSubnet, HostLocalAllocation, HostLocalNetwork,
};
use crate::wire::proto;

impl From<&CniState> for proto::CniState {
    fn from(cni: &CniState) -> Self {
        proto::CniState {
            cache: to_wire(&cni.cache),
            configs: to_wire(&cni.configs),
            host_local: to_wire(&cni.host_local),
            flannel: cni.flannel.as_ref().map(Into::into),
        }
    }
}

impl TryFrom<proto::CniState> for CniState {
    type Error = FromWireError;

    fn try_from(wire: proto::CniState) -> Result<Self, FromWireError> {
        Ok(CniState {
            cache: repeated(wire.cache, "cache")?,
            configs: repeated(wire.configs, "configs")?,
            host_local: repeated(wire.host_local, "host_local")?,
            flannel: optional(wire.flannel, "flannel")?,
        })
    }
}

impl From<&CniCacheEntry> for proto::CniCacheEntry {
    fn from(entry: &CniCacheEntry) -> Self {
        proto::CniCacheEntry {
            file: entry.file.clone(),
            network_name: entry.network_name.clone(),
            container_id: entry.container_id.clone(),
            if_name: entry.if_name.clone(),
            pod_namespace: entry.pod_namespace.clone(),
            pod_name: entry.pod_name.clone(),
            pod_uid: entry.pod_uid.clone(),
            netns_path: entry.netns_path.clone(),
            ips: prefixes_to_wire(&entry.ips),
            gateways: entry.gateways.iter().map(ip_to_wire).collect(),
            interfaces: to_wire(&entry.interfaces),
            plugin_types: entry.plugin_types.clone(),
            cni_version: entry.cni_version.clone(),
        }
    }
}

impl TryFrom<proto::CniCacheEntry> for CniCacheEntry {
    type Error = FromWireError;

    fn try_from(wire: proto::CniCacheEntry) -> Result<Self, FromWireError> {
        Ok(CniCacheEntry {
            file: wire.file,
            network_name: wire.network_name,
            container_id: wire.container_id,
            if_name: wire.if_name,
            pod_namespace: wire.pod_namespace,
            pod_name: wire.pod_name,
            pod_uid: wire.pod_uid,
            netns_path: wire.netns_path,
            ips: repeated(wire.ips, "ips")?,
            gateways: ips_from_wire(wire.gateways, "gateways")?,
            interfaces: repeated(wire.interfaces, "interfaces")?,
            plugin_types: wire.plugin_types,
            cni_version: wire.cni_version,
        })
    }
}

impl From<&CniInterface> for proto::CniInterface {
    fn from(interface: &CniInterface) -> Self {
        proto::CniInterface {
            name: interface.name.clone(),
            mac: mac_to_wire(&interface.mac),
            sandbox: interface.sandbox.clone(),
        }
    }
}

impl TryFrom<proto::CniInterface> for CniInterface {
    type Error = FromWireError;

    fn try_from(wire: proto::CniInterface) -> Result<Self, FromWireError> {
        Ok(CniInterface {
            name: wire.name,
            mac: mac_from_wire(wire.mac, "mac")?,
            sandbox: wire.sandbox,
        })
    }
}

impl From<&CniNetworkConfig> for proto::CniNetworkConfig {
    fn from(config: &CniNetworkConfig) -> Self {
        proto::CniNetworkConfig {
            file: config.file.clone(),
            name: config.name.clone(),
            cni_version: config.cni_version.clone(),
            plugins: to_wire(&config.plugins),
        }
    }
}

impl TryFrom<proto::CniNetworkConfig> for CniNetworkConfig {
    type Error = FromWireError;

    fn try_from(wire: proto::CniNetworkConfig) -> Result<Self, FromWireError> {
        Ok(CniNetworkConfig {
            file: wire.file,
            name: wire.name,
            cni_version: wire.cni_version,
            plugins: repeated(wire.plugins, "plugins")?,
        })
    }
}

impl From<&CniPluginConfig> for proto::CniPluginConfig {
    fn from(plugin: &CniPluginConfig) -> Self {
        proto::CniPluginConfig {
            plugin_type: plugin.plugin_type.clone(),
            bridge: plugin.bridge.clone(),
            ipam: plugin.ipam.as_ref().map(Into::into),
            delegate_type: plugin.delegate_type.clone(),
        }
    }
}

impl TryFrom<proto::CniPluginConfig> for CniPluginConfig {
    type Error = FromWireError;

    fn try_from(wire: proto::CniPluginConfig) -> Result<Self, FromWireError> {
        Ok(CniPluginConfig {
            plugin_type: wire.plugin_type,
            bridge: wire.bridge,
            ipam: optional(wire.ipam, "ipam")?,
            delegate_type: wire.delegate_type,
        })
    }
}

impl From<&CniIpamConfig> for proto::CniIpamConfig {
    fn from(ipam: &CniIpamConfig) -> Self {
        proto::CniIpamConfig {
            ipam_type: ipam.ipam_type.clone(),
            subnets: prefixes_to_wire(&ipam.subnets),
            data_dir: ipam.data_dir.clone(),
        }
    }
}

impl TryFrom<proto::CniIpamConfig> for CniIpamConfig {
    type Error = FromWireError;

    fn try_from(wire: proto::CniIpamConfig) -> Result<Self, FromWireError> {
        Ok(CniIpamConfig {
            ipam_type: wire.ipam_type,
            subnets: repeated(wire.subnets, "subnets")?,
            data_dir: wire.data_dir,
        })
    }
}

impl From<&HostLocalNetwork> for proto::HostLocalNetwork {
    fn from(network: &HostLocalNetwork) -> Self {
        proto::HostLocalNetwork {
            network: network.network.clone(),
            dir: network.dir.clone(),
            allocations: to_wire(&network.allocations),
            last_reserved: network.last_reserved.iter().map(ip_to_wire).collect(),
            ranges: prefixes_to_wire(&network.ranges),
        }
    }
}

impl TryFrom<proto::HostLocalNetwork> for HostLocalNetwork {
    type Error = FromWireError;

    fn try_from(wire: proto::HostLocalNetwork) -> Result<Self, FromWireError> {
        Ok(HostLocalNetwork {
            network: wire.network,
            dir: wire.dir,
            allocations: repeated(wire.allocations, "allocations")?,
            last_reserved: ips_from_wire(wire.last_reserved, "last_reserved")?,
            ranges: repeated(wire.ranges, "ranges")?,
        })
    }
}

impl From<&HostLocalAllocation> for proto::HostLocalAllocation {
    fn from(allocation: &HostLocalAllocation) -> Self {
        proto::HostLocalAllocation {
            ip: ip_to_wire(&allocation.ip),
            container_id: allocation.container_id.clone(),
            if_name: allocation.if_name.clone(),
        }
    }
}

impl TryFrom<proto::HostLocalAllocation> for HostLocalAllocation {
    type Error = FromWireError;

    fn try_from(wire: proto::HostLocalAllocation) -> Result<Self, FromWireError> {
        Ok(HostLocalAllocation {
            ip: ip_from_wire(&wire.ip, "ip")?,
            container_id: wire.container_id,
            if_name: wire.if_name,
        })
    }
}

impl From<&FlannelSubnet> for proto::FlannelSubnet {
    fn from(flannel: &FlannelSubnet) -> Self {
        proto::FlannelSubnet {
            network: optional_prefix_to_wire(&flannel.network),
            subnet: optional_prefix_to_wire(&flannel.subnet),
            mtu: flannel.mtu,
            ipmasq: flannel.ipmasq,
        }
    }
}

impl TryFrom<proto::FlannelSubnet> for FlannelSubnet {
    type Error = FromWireError;

    fn try_from(wire: proto::FlannelSubnet) -> Result<Self, FromWireError> {
        Ok(FlannelSubnet {
            network: optional(wire.network, "network")?,
            subnet: optional(wire.subnet, "subnet")?,
            mtu: wire.mtu,
            ipmasq: wire.ipmasq,
        })
    }
}
