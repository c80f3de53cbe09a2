//! EC2's view of ENIs and the join by MAC that both binaries use.
//!
//! [`DescribedEnis`] is the JSON `aws ec2 describe-network-interfaces` prints (and what the EC2
//! Query API returns, field for field): the agent reads it from a file for `inspect --ec2-enis`,
//! the server converts the SDK's answer into it. Both then name a pod's ENI with [`EniIndex`] and
//! classify it with [`classify`], so the agent's table and the server's API cannot disagree. Plain
//! serde structs only: no AWS crate here, the agent stays small.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::MacAddr;

/// Description the EKS VPC resource controller gives trunk ENIs.
pub const TRUNK_DESCRIPTION: &str = "aws-k8s-trunk-eni";
/// Description the EKS VPC resource controller gives branch ENIs.
pub const BRANCH_DESCRIPTION: &str = "aws-k8s-branch-eni";
/// Tag on a branch ENI naming the trunk ENI it rides on.
pub const TRUNK_ENI_ID_TAG: &str = "vpcresources.k8s.aws/trunk-eni-id";
/// Tag on a branch ENI carrying its vlan id.
pub const VLAN_ID_TAG: &str = "vpcresources.k8s.aws/vlan-id";
/// Tag EKS puts on ENIs its controllers own (`eks-vpc-resource-controller` for trunk and branch).
pub const OWNER_TAG: &str = "eks:eni:owner";
/// The owner tag's value for trunk and branch ENIs.
pub const RESOURCE_CONTROLLER: &str = "eks-vpc-resource-controller";

/// `{"NetworkInterfaces": [...]}` as `aws ec2 describe-network-interfaces` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribedEnis {
    #[serde(default)]
    pub network_interfaces: Vec<Ec2Eni>,
}

/// One ENI as EC2 describes it. Unknown fields are ignored; every field but the id may be absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ec2Eni {
    pub network_interface_id: String,
    /// `interface`, `trunk`, `branch`, `efa`, … (EC2's `InterfaceType`).
    #[serde(default)]
    pub interface_type: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// As EC2 prints it (lower-case, colon-separated); see [`Ec2Eni::mac`].
    #[serde(default)]
    pub mac_address: Option<String>,
    #[serde(default)]
    pub subnet_id: Option<String>,
    #[serde(default)]
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub private_ip_address: Option<String>,
    #[serde(default)]
    pub private_ip_addresses: Vec<Ec2PrivateIp>,
    #[serde(default)]
    pub groups: Vec<Ec2SecurityGroup>,
    #[serde(default)]
    pub attachment: Option<Ec2Attachment>,
    #[serde(default)]
    pub tag_set: Vec<Ec2Tag>,
}

/// One private IPv4 address of an ENI.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ec2PrivateIp {
    pub private_ip_address: String,
    #[serde(default)]
    pub primary: bool,
}

/// A security group as an ENI lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ec2SecurityGroup {
    pub group_id: String,
    #[serde(default)]
    pub group_name: Option<String>,
}

/// Where an ENI is attached.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ec2Attachment {
    #[serde(default)]
    pub instance_id: Option<String>,
    #[serde(default)]
    pub device_index: Option<i32>,
    #[serde(default)]
    pub network_card_index: Option<i32>,
    #[serde(default)]
    pub status: Option<String>,
}

/// One tag.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ec2Tag {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// What an ENI is to the node and its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EniKind {
    /// The instance's own ENI (attachment device index 0).
    Primary,
    /// Another ENI attached to the instance, whose secondary IPs or prefixes pods use.
    Secondary,
    /// The ENI that branch ENIs ride on as vlans (security groups for pods).
    Trunk,
    /// One pod's own ENI, reached through a vlan of the trunk.
    Branch,
}

impl EniKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EniKind::Primary => "primary",
            EniKind::Secondary => "secondary",
            EniKind::Trunk => "trunk",
            EniKind::Branch => "branch",
        }
    }

    /// The inverse of [`EniKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            EniKind::Primary,
            EniKind::Secondary,
            EniKind::Trunk,
            EniKind::Branch,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl Ec2Eni {
    /// The MAC, when EC2 gave one that parses.
    pub fn mac(&self) -> Option<MacAddr> {
        self.mac_address.as_deref()?.parse().ok()
    }

    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tag_set
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_deref().unwrap_or(""))
    }

    /// The branch ENI's vlan id, from the tag the resource controller sets.
    pub fn vlan_id(&self) -> Option<u16> {
        self.tag(VLAN_ID_TAG)?.trim().parse().ok()
    }

    /// The attachment's device index, when attached.
    pub fn device_index(&self) -> Option<i32> {
        self.attachment.as_ref()?.device_index
    }
}

/// Classifies an ENI. EC2's `InterfaceType` wins when it says trunk or branch; otherwise (EC2
/// emulators store trunk and branch as plain `interface`, and older ENIs predate the field) the
/// description and tags the EKS VPC resource controller sets decide; anything else is primary
/// when attached at device index 0, secondary otherwise.
pub fn classify(eni: &Ec2Eni) -> EniKind {
    match eni.interface_type.as_deref() {
        Some("trunk") => return EniKind::Trunk,
        Some("branch") => return EniKind::Branch,
        _ => {}
    }
    let description = eni.description.as_deref().unwrap_or("").trim();
    if description.starts_with(BRANCH_DESCRIPTION)
        || eni.tag(VLAN_ID_TAG).is_some()
        || eni.tag(TRUNK_ENI_ID_TAG).is_some()
    {
        return EniKind::Branch;
    }
    if description.starts_with(TRUNK_DESCRIPTION) {
        return EniKind::Trunk;
    }
    let device_index = eni.device_index();
    if eni.tag(OWNER_TAG) == Some(RESOURCE_CONTROLLER) {
        // Owned by the resource controller but neither described nor vlan-tagged: a trunk is
        // attached to the instance, a branch never is.
        return if device_index.is_some() {
            EniKind::Trunk
        } else {
            EniKind::Branch
        };
    }
    if device_index == Some(0) {
        EniKind::Primary
    } else {
        EniKind::Secondary
    }
}

/// Described ENIs by MAC: the join the agent's `inspect` and the server's pod path share.
#[derive(Debug, Clone, Default)]
pub struct EniIndex<'a> {
    by_mac: HashMap<MacAddr, &'a Ec2Eni>,
}

impl<'a> EniIndex<'a> {
    /// Indexes `enis` by MAC; ENIs without a usable MAC are left out. MACs are unique within a
    /// region, so a repeated one (the same ENI described twice) keeps the first.
    pub fn new(enis: &'a [Ec2Eni]) -> Self {
        let mut by_mac = HashMap::with_capacity(enis.len());
        for eni in enis {
            if let Some(mac) = eni.mac() {
                by_mac.entry(mac).or_insert(eni);
            }
        }
        EniIndex { by_mac }
    }

    /// The ENI whose MAC is `mac`.
    pub fn by_mac(&self, mac: MacAddr) -> Option<&'a Ec2Eni> {
        self.by_mac.get(&mac).copied()
    }

    /// The ENI carrying a pod's traffic, from the MAC the resolver ended the pod's path on, with
    /// its kind.
    pub fn pod_eni(&self, eni_mac: Option<MacAddr>) -> Option<(&'a Ec2Eni, EniKind)> {
        let eni = self.by_mac(eni_mac?)?;
        Some((eni, classify(eni)))
    }
}

/// VPC CNI's max-pods figure for an instance type without prefix delegation:
/// ENIs × (IPv4 addresses per ENI − 1) + 2 (the two host-network pods every node runs).
pub fn vpc_cni_max_pods(max_enis: u32, ipv4_per_eni: u32) -> u32 {
    max_enis
        .saturating_mul(ipv4_per_eni.saturating_sub(1))
        .saturating_add(2)
}

#[cfg(test)]
#[path = "ec2_tests.rs"]
mod tests;
