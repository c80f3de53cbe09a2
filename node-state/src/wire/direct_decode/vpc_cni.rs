//! Amazon VPC CNI state (`vpc_cni.proto`), straight into the model.

use super::{Decoded, Fields, MessageField, ip_prefix, optional_ip, owned};
use crate::model::{
    IpamCheckpoint, IpamCheckpointAllocation, IpamdAddress, IpamdCidr, IpamdEni, IpamdEnis,
    IpamdNetworkCard, VpcCniState,
};
use crate::wire::convert::{ip_from_wire, ipamd_shape_from_wire};

pub(super) fn vpc_cni_state(encoding: &[u8]) -> Decoded<VpcCniState> {
    let (mut ipamd, mut checkpoint) = (MessageField::default(), MessageField::default());
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => ipamd.merge(fields.delimited(wire_type)?)?,
            2 => checkpoint.merge(fields.delimited(wire_type)?)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(VpcCniState {
        ipamd: ipamd.optional(ipamd_enis)?,
        checkpoint: checkpoint.optional(ipam_checkpoint)?,
    })
}

fn ipamd_enis(encoding: &[u8]) -> Decoded<IpamdEnis> {
    let (mut shape, mut network_cards) = (0, Vec::new());
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => shape = fields.int32(wire_type)?,
            2 => network_cards.push(network_card(fields.delimited(wire_type)?)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(IpamdEnis {
        shape: ipamd_shape_from_wire(shape)?,
        network_cards,
    })
}

fn network_card(encoding: &[u8]) -> Decoded<IpamdNetworkCard> {
    let mut card = IpamdNetworkCard {
        index: 0,
        total_ips: 0,
        assigned_ips: 0,
        enis: Vec::new(),
    };
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => card.index = fields.uint32(wire_type)?,
            2 => card.total_ips = fields.uint32(wire_type)?,
            3 => card.assigned_ips = fields.uint32(wire_type)?,
            4 => card.enis.push(eni(fields.delimited(wire_type)?)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(card)
}

fn eni(encoding: &[u8]) -> Decoded<IpamdEni> {
    let (mut id, mut subnet_id) = ("", None);
    let mut eni = IpamdEni {
        id: String::new(),
        is_primary: false,
        is_trunk: false,
        is_efa: false,
        device_number: 0,
        route_table_id: None,
        subnet_id: None,
        excluded_for_pod_ips: false,
        cidrs: Vec::new(),
    };
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => id = fields.text(wire_type)?,
            2 => eni.is_primary = fields.bool(wire_type)?,
            3 => eni.is_trunk = fields.bool(wire_type)?,
            4 => eni.is_efa = fields.bool(wire_type)?,
            5 => eni.device_number = fields.uint32(wire_type)?,
            6 => eni.route_table_id = Some(fields.uint32(wire_type)?),
            7 => subnet_id = Some(fields.text(wire_type)?),
            8 => eni.excluded_for_pod_ips = fields.bool(wire_type)?,
            9 => eni.cidrs.push(cidr(fields.delimited(wire_type)?)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    eni.id = id.to_owned();
    eni.subnet_id = owned(subnet_id);
    Ok(eni)
}

fn cidr(encoding: &[u8]) -> Decoded<IpamdCidr> {
    let (mut prefix, mut is_prefix, mut addresses) = (MessageField::default(), false, Vec::new());
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => prefix.merge(fields.delimited(wire_type)?)?,
            2 => is_prefix = fields.bool(wire_type)?,
            3 => addresses.push(address(fields.delimited(wire_type)?)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(IpamdCidr {
        cidr: prefix.required(ip_prefix)?,
        is_prefix,
        addresses,
    })
}

fn address(encoding: &[u8]) -> Decoded<IpamdAddress> {
    let (mut ip, mut assigned): (&[u8], _) = (&[], false);
    let (mut container_id, mut pod_namespace, mut pod_name) = (None, None, None);
    let (mut assigned_time, mut unassigned_time) = (None, None);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => ip = fields.delimited(wire_type)?,
            2 => assigned = fields.bool(wire_type)?,
            3 => container_id = Some(fields.text(wire_type)?),
            4 => pod_namespace = Some(fields.text(wire_type)?),
            5 => pod_name = Some(fields.text(wire_type)?),
            6 => assigned_time = Some(fields.text(wire_type)?),
            7 => unassigned_time = Some(fields.text(wire_type)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(IpamdAddress {
        ip: ip_from_wire(ip, "")?,
        assigned,
        container_id: owned(container_id),
        pod_namespace: owned(pod_namespace),
        pod_name: owned(pod_name),
        assigned_time: owned(assigned_time),
        unassigned_time: owned(unassigned_time),
    })
}

fn ipam_checkpoint(encoding: &[u8]) -> Decoded<IpamCheckpoint> {
    let (mut file, mut version, mut allocations) = ("", "", Vec::new());
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => file = fields.text(wire_type)?,
            2 => version = fields.text(wire_type)?,
            3 => allocations.push(checkpoint_allocation(fields.delimited(wire_type)?)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(IpamCheckpoint {
        file: file.to_owned(),
        version: version.to_owned(),
        allocations,
    })
}

fn checkpoint_allocation(encoding: &[u8]) -> Decoded<IpamCheckpointAllocation> {
    let (mut network_name, mut container_id, mut if_name) = ("", "", "");
    let (mut ipv4, mut ipv6, mut allocation_timestamp) = (None, None, 0);
    let (mut pod_namespace, mut pod_name) = (None, None);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => network_name = fields.text(wire_type)?,
            2 => container_id = fields.text(wire_type)?,
            3 => if_name = fields.text(wire_type)?,
            4 => ipv4 = Some(fields.delimited(wire_type)?),
            5 => ipv6 = Some(fields.delimited(wire_type)?),
            6 => allocation_timestamp = fields.int64(wire_type)?,
            7 => pod_namespace = Some(fields.text(wire_type)?),
            8 => pod_name = Some(fields.text(wire_type)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(IpamCheckpointAllocation {
        network_name: network_name.to_owned(),
        container_id: container_id.to_owned(),
        if_name: if_name.to_owned(),
        ipv4: optional_ip(ipv4)?,
        ipv6: optional_ip(ipv6)?,
        allocation_timestamp,
        pod_namespace: owned(pod_namespace),
        pod_name: owned(pod_name),
    })
}
