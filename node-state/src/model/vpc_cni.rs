//! Amazon VPC CNI state: ipamd's view of the node's ENIs and IP pools, from its introspection API
//! (`127.0.0.1:61679/v1/enis`) and its checkpoint file (`var/run/aws-node/ipam.json`).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct VpcCniState {
    /// `None` when ipamd could not be asked (the error is in the snapshot's errors).
    pub ipamd: Option<IpamdEnis>,
    pub checkpoint: Option<IpamCheckpoint>,
}

/// The `/v1/enis` answer, normalised across ipamd versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamdEnis {
    pub shape: IpamdShape,
    /// Network card 0 only before v1.20; one entry per network card since.
    pub network_cards: Vec<IpamdNetworkCard>,
}

/// Which of ipamd's answer formats was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpamdShape {
    /// Before v1.20: one `ENIInfos` object (`TotalIPs`, `AssignedIPs`, `ENIs`).
    Flat,
    /// v1.20–v1.22: `ENIInfos` keyed by network card index.
    PerNetworkCard,
    /// v1.23 on: keyed by network card, container ids and interface names scrubbed.
    PerNetworkCardScrubbed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamdNetworkCard {
    pub index: u32,
    pub total_ips: u32,
    pub assigned_ips: u32,
    pub enis: Vec<IpamdEni>,
}

/// One ENI as ipamd manages it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamdEni {
    pub id: String,
    pub is_primary: bool,
    pub is_trunk: bool,
    pub is_efa: bool,
    /// 0 for the primary ENI; VPC CNI routes a secondary ENI's pods through table
    /// `device_number + 1`.
    pub device_number: u32,
    /// `RouteTableID` (v1.20 on).
    pub route_table_id: Option<u32>,
    pub subnet_id: Option<String>,
    pub excluded_for_pod_ips: bool,
    /// Secondary IPs (/32) or delegated prefixes (/28), with the addresses in use from each.
    pub cidrs: Vec<IpamdCidr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamdCidr {
    pub cidr: IpNet,
    pub is_prefix: bool,
    /// ipamd lists only addresses that are assigned or cooling down; the rest of `cidr` is free.
    pub addresses: Vec<IpamdAddress>,
}

impl IpamdCidr {
    /// Addresses this CIDR holds (1 for a secondary IP, 16 for a /28 prefix).
    pub fn capacity(&self) -> u64 {
        let host_bits = u32::from(self.cidr.max_prefix_len() - self.cidr.prefix_len());
        1u64.checked_shl(host_bits).unwrap_or(u64::MAX)
    }

    pub fn assigned(&self) -> usize {
        self.addresses.iter().filter(|a| a.assigned).count()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamdAddress {
    pub ip: IpAddr,
    /// In use by a pod (its IPAM key is set); otherwise cooling down after release.
    pub assigned: bool,
    /// Empty in v1.23+ answers, which scrub it.
    pub container_id: Option<String>,
    pub pod_namespace: Option<String>,
    pub pod_name: Option<String>,
    /// RFC 3339, as ipamd reports it; `None` for Go's zero time.
    pub assigned_time: Option<String>,
    pub unassigned_time: Option<String>,
}

/// ipamd's checkpoint (`vpc-cni-ipam/1`): the allocations it restores after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamCheckpoint {
    pub file: String,
    pub version: String,
    pub allocations: Vec<IpamCheckpointAllocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamCheckpointAllocation {
    pub network_name: String,
    pub container_id: String,
    pub if_name: String,
    pub ipv4: Option<IpAddr>,
    pub ipv6: Option<IpAddr>,
    pub allocation_timestamp: i64,
    pub pod_namespace: Option<String>,
    pub pod_name: Option<String>,
}
