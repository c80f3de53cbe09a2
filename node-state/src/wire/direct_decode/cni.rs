//! CNI state (`cni.proto`), straight into the model.

use super::{Decoded, Fields, MessageField, ip_prefix, ips, owned};
use crate::model::{
    CniCacheEntry, CniInterface, CniIpamConfig, CniNetworkConfig, CniPluginConfig, CniState,
    FlannelSubnet, HostLocalAllocation, HostLocalNetwork,
};
use crate::wire::convert::{ip_from_wire, mac_from_bytes};

pub(super) fn cni_state(encoding: &[u8]) -> Decoded<CniState> {
    let mut cni = CniState::default();
    let mut flannel = MessageField::default();
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => cni.cache.push(cache_entry(fields.delimited(wire_type)?)?),
            2 => cni
                .configs
                .push(network_config(fields.delimited(wire_type)?)?),
            3 => cni
                .host_local
                .push(host_local_network(fields.delimited(wire_type)?)?),
            4 => flannel.merge(fields.delimited(wire_type)?)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    cni.flannel = flannel.optional(flannel_subnet)?;
    Ok(cni)
}

fn cache_entry(encoding: &[u8]) -> Decoded<CniCacheEntry> {
    let (mut file, mut network_name, mut container_id, mut if_name) = ("", "", "", "");
    let (mut pod_namespace, mut pod_name, mut pod_uid, mut netns_path, mut cni_version) =
        (None, None, None, None, None);
    let (mut ips, mut gateways, mut interfaces, mut plugin_types) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => file = fields.text(wire_type)?,
            2 => network_name = fields.text(wire_type)?,
            3 => container_id = fields.text(wire_type)?,
            4 => if_name = fields.text(wire_type)?,
            5 => pod_namespace = Some(fields.text(wire_type)?),
            6 => pod_name = Some(fields.text(wire_type)?),
            7 => pod_uid = Some(fields.text(wire_type)?),
            8 => netns_path = Some(fields.text(wire_type)?),
            9 => ips.push(ip_prefix(fields.delimited(wire_type)?)?),
            10 => gateways.push(fields.delimited(wire_type)?),
            11 => interfaces.push(interface(fields.delimited(wire_type)?)?),
            12 => plugin_types.push(fields.text(wire_type)?.to_owned()),
            13 => cni_version = Some(fields.text(wire_type)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(CniCacheEntry {
        file: file.to_owned(),
        network_name: network_name.to_owned(),
        container_id: container_id.to_owned(),
        if_name: if_name.to_owned(),
        pod_namespace: owned(pod_namespace),
        pod_name: owned(pod_name),
        pod_uid: owned(pod_uid),
        netns_path: owned(netns_path),
        ips,
        gateways: super::ips(gateways)?,
        interfaces,
        plugin_types,
        cni_version: owned(cni_version),
    })
}

fn interface(encoding: &[u8]) -> Decoded<CniInterface> {
    let (mut name, mut mac, mut sandbox) = ("", None, None);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => name = fields.text(wire_type)?,
            2 => mac = Some(fields.delimited(wire_type)?),
            3 => sandbox = Some(fields.text(wire_type)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(CniInterface {
        name: name.to_owned(),
        mac: mac.map(|m| mac_from_bytes(m, "")).transpose()?,
        sandbox: owned(sandbox),
    })
}

fn network_config(encoding: &[u8]) -> Decoded<CniNetworkConfig> {
    let (mut file, mut name, mut cni_version, mut plugins) = ("", "", None, Vec::new());
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => file = fields.text(wire_type)?,
            2 => name = fields.text(wire_type)?,
            3 => cni_version = Some(fields.text(wire_type)?),
            4 => plugins.push(plugin_config(fields.delimited(wire_type)?)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(CniNetworkConfig {
        file: file.to_owned(),
        name: name.to_owned(),
        cni_version: owned(cni_version),
        plugins,
    })
}

fn plugin_config(encoding: &[u8]) -> Decoded<CniPluginConfig> {
    let (mut plugin_type, mut bridge, mut ipam, mut delegate_type) =
        ("", None, MessageField::default(), None);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => plugin_type = fields.text(wire_type)?,
            2 => bridge = Some(fields.text(wire_type)?),
            3 => ipam.merge(fields.delimited(wire_type)?)?,
            4 => delegate_type = Some(fields.text(wire_type)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(CniPluginConfig {
        plugin_type: plugin_type.to_owned(),
        bridge: owned(bridge),
        ipam: ipam.optional(ipam_config)?,
        delegate_type: owned(delegate_type),
    })
}

fn ipam_config(encoding: &[u8]) -> Decoded<CniIpamConfig> {
    let (mut ipam_type, mut subnets, mut data_dir) = ("", Vec::new(), None);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => ipam_type = fields.text(wire_type)?,
            2 => subnets.push(ip_prefix(fields.delimited(wire_type)?)?),
            3 => data_dir = Some(fields.text(wire_type)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(CniIpamConfig {
        ipam_type: ipam_type.to_owned(),
        subnets,
        data_dir: owned(data_dir),
    })
}

fn host_local_network(encoding: &[u8]) -> Decoded<HostLocalNetwork> {
    let (mut network, mut dir) = ("", "");
    let (mut allocations, mut last_reserved, mut ranges) = (Vec::new(), Vec::new(), Vec::new());
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => network = fields.text(wire_type)?,
            2 => dir = fields.text(wire_type)?,
            3 => allocations.push(host_local_allocation(fields.delimited(wire_type)?)?),
            4 => last_reserved.push(fields.delimited(wire_type)?),
            5 => ranges.push(ip_prefix(fields.delimited(wire_type)?)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(HostLocalNetwork {
        network: network.to_owned(),
        dir: dir.to_owned(),
        allocations,
        last_reserved: ips(last_reserved)?,
        ranges,
    })
}

fn host_local_allocation(encoding: &[u8]) -> Decoded<HostLocalAllocation> {
    let (mut ip, mut container_id, mut if_name): (&[u8], _, _) = (&[], "", None);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => ip = fields.delimited(wire_type)?,
            2 => container_id = fields.text(wire_type)?,
            3 => if_name = Some(fields.text(wire_type)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(HostLocalAllocation {
        ip: ip_from_wire(ip, "")?,
        container_id: container_id.to_owned(),
        if_name: owned(if_name),
    })
}

fn flannel_subnet(encoding: &[u8]) -> Decoded<FlannelSubnet> {
    let (mut network, mut subnet) = (MessageField::default(), MessageField::default());
    let (mut mtu, mut ipmasq) = (None, None);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => network.merge(fields.delimited(wire_type)?)?,
            2 => subnet.merge(fields.delimited(wire_type)?)?,
            3 => mtu = Some(fields.uint32(wire_type)?),
            4 => ipmasq = Some(fields.bool(wire_type)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(FlannelSubnet {
        network: network.optional(ip_prefix)?,
        subnet: subnet.optional(ip_prefix)?,
        mtu,
        ipmasq,
    })
}
