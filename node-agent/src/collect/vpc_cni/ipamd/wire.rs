//! `/v1/enis` as ipamd's Go types marshal it (`pkg/ipamd/datastore/data_store.go`). The Go
//! structs carry no JSON tags except `IPAMKey` and `IPAMMetadata`, so most keys are Go's field
//! names. Every field is optional here: versions add fields, and a nil Go map is `null`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `ENIInfos`: one datastore (one network card) of ipamd.
#[derive(Debug, Deserialize)]
pub struct EniInfos {
    #[serde(rename = "TotalIPs", default)]
    pub total_ips: u32,
    #[serde(rename = "AssignedIPs", default)]
    pub assigned_ips: u32,
    /// Keyed by ENI id; before v1.7 it was `ENIIPPools`.
    #[serde(rename = "ENIs", alias = "ENIIPPools", default)]
    pub enis: Option<BTreeMap<String, Eni>>,
}

/// `ENI` (`ENIIPPool` before v1.7).
#[derive(Debug, Deserialize)]
pub struct Eni {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(rename = "IsPrimary", default)]
    pub is_primary: bool,
    #[serde(rename = "IsTrunk", default)]
    pub is_trunk: bool,
    #[serde(rename = "IsEFA", default)]
    pub is_efa: bool,
    #[serde(rename = "DeviceNumber", default)]
    pub device_number: u32,
    /// v1.9 on (prefix delegation): secondary IPs as /32 and delegated prefixes, keyed by CIDR.
    #[serde(rename = "AvailableIPv4Cidrs", default)]
    pub ipv4_cidrs: Option<BTreeMap<String, CidrInfo>>,
    #[serde(rename = "IPv6Cidrs", default)]
    pub ipv6_cidrs: Option<BTreeMap<String, CidrInfo>>,
    /// Up to v1.8: every secondary IP of the ENI, keyed by address, in use or not.
    #[serde(rename = "IPv4Addresses", default)]
    pub ipv4_addresses: Option<BTreeMap<String, AddressInfo>>,
    /// v1.22 on, like `SubnetID`.
    #[serde(rename = "IsExcludedForPodIPs", default)]
    pub is_excluded_for_pod_ips: bool,
    /// v1.20.3 on.
    #[serde(rename = "RouteTableID", default)]
    pub route_table_id: Option<u32>,
    #[serde(rename = "SubnetID", default)]
    pub subnet_id: Option<String>,
}

/// `CidrInfo`.
#[derive(Debug, Deserialize)]
pub struct CidrInfo {
    #[serde(rename = "Cidr")]
    pub cidr: Option<GoIpNet>,
    /// Only addresses assigned or cooling down: ipamd deletes an address from this map once its
    /// cool-down ends.
    #[serde(rename = "IPAddresses", default)]
    pub ip_addresses: Option<BTreeMap<String, AddressInfo>>,
    #[serde(rename = "IsPrefix", default)]
    pub is_prefix: bool,
}

/// Go's `net.IPNet`: `IP` marshals as text, `Mask` (a byte slice) as base64.
#[derive(Debug, Deserialize)]
pub struct GoIpNet {
    #[serde(rename = "IP")]
    pub ip: Option<String>,
    #[serde(rename = "Mask")]
    pub mask: Option<String>,
}

/// `AddressInfo`.
#[derive(Debug, Deserialize)]
pub struct AddressInfo {
    #[serde(rename = "Address", default)]
    pub address: String,
    /// v1.7 on: the pod's `(networkName, containerID, ifName)`; all empty while unassigned.
    #[serde(rename = "IPAMKey", default)]
    pub ipam_key: IpamKey,
    /// v1.11 on, with `AssignedTime`.
    #[serde(rename = "IPAMMetadata", default)]
    pub ipam_metadata: IpamMetadata,
    /// Before v1.7, when there was no `IPAMKey`.
    #[serde(rename = "Assigned")]
    pub assigned: Option<bool>,
    #[serde(rename = "AssignedTime")]
    pub assigned_time: Option<String>,
    #[serde(rename = "UnassignedTime")]
    pub unassigned_time: Option<String>,
}

/// `IPAMKey` (JSON-tagged in Go). Its `ifName` is not read: the model keeps the pod, not the
/// interface, and v1.23 on scrubs it anyway.
#[derive(Debug, Deserialize, Default)]
pub struct IpamKey {
    #[serde(rename = "networkName", default)]
    pub network_name: String,
    #[serde(rename = "containerID", default)]
    pub container_id: String,
}

/// `IPAMMetadata` (JSON-tagged in Go, fields omitted when empty).
#[derive(Debug, Deserialize, Default)]
pub struct IpamMetadata {
    #[serde(rename = "k8sPodNamespace", default)]
    pub pod_namespace: String,
    #[serde(rename = "k8sPodName", default)]
    pub pod_name: String,
}
