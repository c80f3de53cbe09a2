//! Amazon VPC CNI state: ipamd's ENIs and IP pools, and its checkpoint.

use super::{
    FromWireError, ip_from_wire, ip_to_wire, known_enum, optional, optional_ip_from_wire,
    optional_ip_to_wire, repeated, required, to_wire, unspecified,
};
use crate::model::{
    IpamCheckpoint, IpamCheckpointAllocation, IpamdAddress, IpamdCidr, IpamdEni, IpamdEnis,
    IpamdNetworkCard, IpamdShape, VpcCniState,
};
use crate::wire::proto;

impl From<&VpcCniState> for proto::VpcCniState {
    fn from(state: &VpcCniState) -> Self {
        proto::VpcCniState {
            ipamd: state.ipamd.as_ref().map(Into::into),
            checkpoint: state.checkpoint.as_ref().map(Into::into),
        }
    }
}

impl TryFrom<proto::VpcCniState> for VpcCniState {
    type Error = FromWireError;

    fn try_from(wire: proto::VpcCniState) -> Result<Self, FromWireError> {
        Ok(VpcCniState {
            ipamd: optional(wire.ipamd, "ipamd")?,
            checkpoint: optional(wire.checkpoint, "checkpoint")?,
        })
    }
}

impl From<&IpamdEnis> for proto::IpamdEnis {
    fn from(enis: &IpamdEnis) -> Self {
        let shape = match enis.shape {
            IpamdShape::Flat => proto::IpamdShape::Flat,
            IpamdShape::PerNetworkCard => proto::IpamdShape::PerNetworkCard,
            IpamdShape::PerNetworkCardScrubbed => proto::IpamdShape::PerNetworkCardScrubbed,
        };
        proto::IpamdEnis {
            shape: shape.into(),
            network_cards: to_wire(&enis.network_cards),
        }
    }
}

impl TryFrom<proto::IpamdEnis> for IpamdEnis {
    type Error = FromWireError;

    fn try_from(wire: proto::IpamdEnis) -> Result<Self, FromWireError> {
        Ok(IpamdEnis {
            shape: ipamd_shape_from_wire(wire.shape)?,
            network_cards: repeated(wire.network_cards, "network_cards")?,
        })
    }
}

pub(crate) fn ipamd_shape_from_wire(value: i32) -> Result<IpamdShape, FromWireError> {
    Ok(match known_enum(value, "shape")? {
        proto::IpamdShape::Unspecified => return Err(unspecified("shape")),
        proto::IpamdShape::Flat => IpamdShape::Flat,
        proto::IpamdShape::PerNetworkCard => IpamdShape::PerNetworkCard,
        proto::IpamdShape::PerNetworkCardScrubbed => IpamdShape::PerNetworkCardScrubbed,
    })
}

impl From<&IpamdNetworkCard> for proto::IpamdNetworkCard {
    fn from(card: &IpamdNetworkCard) -> Self {
        proto::IpamdNetworkCard {
            index: card.index,
            total_ips: card.total_ips,
            assigned_ips: card.assigned_ips,
            enis: to_wire(&card.enis),
        }
    }
}

impl TryFrom<proto::IpamdNetworkCard> for IpamdNetworkCard {
    type Error = FromWireError;

    fn try_from(wire: proto::IpamdNetworkCard) -> Result<Self, FromWireError> {
        Ok(IpamdNetworkCard {
            index: wire.index,
            total_ips: wire.total_ips,
            assigned_ips: wire.assigned_ips,
            enis: repeated(wire.enis, "enis")?,
        })
    }
}

impl From<&IpamdEni> for proto::IpamdEni {
    fn from(eni: &IpamdEni) -> Self {
        proto::IpamdEni {
            id: eni.id.clone(),
            is_primary: eni.is_primary,
            is_trunk: eni.is_trunk,
            is_efa: eni.is_efa,
            device_number: eni.device_number,
            route_table_id: eni.route_table_id,
            subnet_id: eni.subnet_id.clone(),
            excluded_for_pod_ips: eni.excluded_for_pod_ips,
            cidrs: to_wire(&eni.cidrs),
        }
    }
}

impl TryFrom<proto::IpamdEni> for IpamdEni {
    type Error = FromWireError;

    fn try_from(wire: proto::IpamdEni) -> Result<Self, FromWireError> {
        Ok(IpamdEni {
            id: wire.id,
            is_primary: wire.is_primary,
            is_trunk: wire.is_trunk,
            is_efa: wire.is_efa,
            device_number: wire.device_number,
            route_table_id: wire.route_table_id,
            subnet_id: wire.subnet_id,
            excluded_for_pod_ips: wire.excluded_for_pod_ips,
            cidrs: repeated(wire.cidrs, "cidrs")?,
        })
    }
}

impl From<&IpamdCidr> for proto::IpamdCidr {
    fn from(cidr: &IpamdCidr) -> Self {
        proto::IpamdCidr {
            cidr: Some((&cidr.cidr).into()),
            is_prefix: cidr.is_prefix,
            addresses: to_wire(&cidr.addresses),
        }
    }
}

impl TryFrom<proto::IpamdCidr> for IpamdCidr {
    type Error = FromWireError;

    fn try_from(wire: proto::IpamdCidr) -> Result<Self, FromWireError> {
        Ok(IpamdCidr {
            cidr: required(wire.cidr, "cidr")?,
            is_prefix: wire.is_prefix,
            addresses: repeated(wire.addresses, "addresses")?,
        })
    }
}

impl From<&IpamdAddress> for proto::IpamdAddress {
    fn from(address: &IpamdAddress) -> Self {
        proto::IpamdAddress {
            ip: ip_to_wire(&address.ip),
            assigned: address.assigned,
            container_id: address.container_id.clone(),
            pod_namespace: address.pod_namespace.clone(),
            pod_name: address.pod_name.clone(),
            assigned_time: address.assigned_time.clone(),
            unassigned_time: address.unassigned_time.clone(),
        }
    }
}

impl TryFrom<proto::IpamdAddress> for IpamdAddress {
    type Error = FromWireError;

    fn try_from(wire: proto::IpamdAddress) -> Result<Self, FromWireError> {
        Ok(IpamdAddress {
            ip: ip_from_wire(&wire.ip, "ip")?,
            assigned: wire.assigned,
            container_id: wire.container_id,
            pod_namespace: wire.pod_namespace,
            pod_name: wire.pod_name,
            assigned_time: wire.assigned_time,
            unassigned_time: wire.unassigned_time,
        })
    }
}

impl From<&IpamCheckpoint> for proto::IpamCheckpoint {
    fn from(checkpoint: &IpamCheckpoint) -> Self {
        proto::IpamCheckpoint {
            file: checkpoint.file.clone(),
            version: checkpoint.version.clone(),
            allocations: to_wire(&checkpoint.allocations),
        }
    }
}

impl TryFrom<proto::IpamCheckpoint> for IpamCheckpoint {
    type Error = FromWireError;

    fn try_from(wire: proto::IpamCheckpoint) -> Result<Self, FromWireError> {
        Ok(IpamCheckpoint {
            file: wire.file,
            version: wire.version,
            allocations: repeated(wire.allocations, "allocations")?,
        })
    }
}

impl From<&IpamCheckpointAllocation> for proto::IpamCheckpointAllocation {
    fn from(allocation: &IpamCheckpointAllocation) -> Self {
        proto::IpamCheckpointAllocation {
            network_name: allocation.network_name.clone(),
            container_id: allocation.container_id.clone(),
            if_name: allocation.if_name.clone(),
            ipv4: optional_ip_to_wire(&allocation.ipv4),
            ipv6: optional_ip_to_wire(&allocation.ipv6),
            allocation_timestamp: allocation.allocation_timestamp,
            pod_namespace: allocation.pod_namespace.clone(),
            pod_name: allocation.pod_name.clone(),
        }
    }
}

impl TryFrom<proto::IpamCheckpointAllocation> for IpamCheckpointAllocation {
    type Error = FromWireError;

    fn try_from(wire: proto::IpamCheckpointAllocation) -> Result<Self, FromWireError> {
        Ok(IpamCheckpointAllocation {
            network_name: wire.network_name,
            container_id: wire.container_id,
            if_name: wire.if_name,
            ipv4: optional_ip_from_wire(wire.ipv4, "ipv4")?,
            ipv6: optional_ip_from_wire(wire.ipv6, "ipv6")?,
            allocation_timestamp: wire.allocation_timestamp,
            pod_namespace: wire.pod_namespace,
            pod_name: wire.pod_name,
        })
    }
}
