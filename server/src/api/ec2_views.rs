//! JSON shapes of what EC2 enrichment adds: an ENI as EC2 describes it, its subnet, and the
//! marker that says whether enrichment is current.

use chrono::{DateTime, Utc};
use podwire_node_state::MacAddr;
use serde::Serialize;
use utoipa::ToSchema;

use crate::enrich::model::{EnrichmentStatus, StoredSubnet};
use crate::read::Ec2Facts;

/// A security group: id and name.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SecurityGroupView {
    pub id: String,
    pub name: Option<String>,
}

/// A subnet as EC2 describes it, with its free addresses at the time asked about.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ec2SubnetView {
    pub id: String,
    #[schema(value_type = Option<String>, example = "192.168.0.0/19")]
    pub cidr: Option<String>,
    pub vpc_id: Option<String>,
    pub availability_zone: Option<String>,
    /// EC2's AvailableIpAddressCount: the latest sample at or before the time asked about.
    pub available_ip_address_count: Option<i32>,
    pub available_sampled_at: Option<DateTime<Utc>>,
}

impl From<StoredSubnet> for Ec2SubnetView {
    fn from(s: StoredSubnet) -> Self {
        Ec2SubnetView {
            id: s.subnet_id,
            cidr: s.cidr.map(|c| c.to_string()),
            vpc_id: s.vpc_id,
            availability_zone: s.availability_zone,
            available_ip_address_count: s.available,
            available_sampled_at: s.available_sampled_at,
        }
    }
}

/// An ENI as EC2 describes it, joined by MAC.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ec2EniView {
    pub id: String,
    /// `primary`, `secondary`, `trunk` or `branch`: EC2's InterfaceType, else the descriptions
    /// and tags EKS sets, else the attachment's device index.
    #[serde(rename = "type")]
    #[schema(example = "branch")]
    pub kind: &'static str,
    /// EC2's own InterfaceType (`interface`, `trunk`, `branch`, …).
    pub interface_type: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<String>)]
    pub mac: Option<MacAddr>,
    pub security_groups: Vec<SecurityGroupView>,
    /// The subnet, with CIDR and free count when EC2 described it; else only its id.
    pub subnet: Option<Ec2SubnetView>,
    pub vpc_id: Option<String>,
    pub private_ips: Vec<String>,
    pub instance_id: Option<String>,
    pub device_index: Option<i32>,
    /// A branch ENI's vlan id (tag `vpcresources.k8s.aws/vlan-id`).
    pub vlan_id: Option<u16>,
    /// Every tag, key → value.
    pub tags: std::collections::BTreeMap<String, String>,
    /// Since when EC2 described it this way.
    pub described_since: DateTime<Utc>,
}

impl From<Ec2Facts> for Ec2EniView {
    fn from(facts: Ec2Facts) -> Self {
        let e = facts.eni.eni;
        let subnet = match (facts.subnet, e.subnet_id.clone()) {
            (Some(s), _) => Some(Ec2SubnetView::from(s)),
            (None, Some(id)) => Some(Ec2SubnetView {
                id,
                cidr: None,
                vpc_id: None,
                availability_zone: None,
                available_ip_address_count: None,
                available_sampled_at: None,
            }),
            (None, None) => None,
        };
        Ec2EniView {
            kind: facts.eni.kind.as_str(),
            mac: e.mac(),
            vlan_id: e.vlan_id(),
            device_index: e.device_index(),
            instance_id: e.attachment.as_ref().and_then(|a| a.instance_id.clone()),
            id: e.network_interface_id,
            interface_type: e.interface_type,
            description: e.description,
            security_groups: e
                .groups
                .into_iter()
                .map(|g| SecurityGroupView {
                    id: g.group_id,
                    name: g.group_name,
                })
                .collect(),
            subnet,
            vpc_id: e.vpc_id,
            private_ips: e
                .private_ip_addresses
                .into_iter()
                .map(|ip| ip.private_ip_address)
                .collect(),
            tags: e
                .tag_set
                .into_iter()
                .map(|t| (t.key, t.value.unwrap_or_default()))
                .collect(),
            described_since: facts.eni.valid_from,
        }
    }
}

/// Whether EC2 facts are current: `stale` when the latest refresh failed or none completed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnrichmentMarker {
    pub stale: bool,
    pub last_success: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    /// Why the latest refresh failed, when it did.
    pub last_error: Option<String>,
}

impl From<EnrichmentStatus> for EnrichmentMarker {
    fn from(s: EnrichmentStatus) -> Self {
        EnrichmentMarker {
            stale: s.stale,
            last_success: s.last_success_at,
            last_attempt: s.last_attempt_at,
            last_error: if s.stale { s.last_error } else { None },
        }
    }
}
