//! What EC2 enrichment reads, writes and shows, as plain data: the targets taken from what the
//! agents report, one refresh's observation, the stored facts the API joins in, and the status.

use chrono::{DateTime, Utc};
use ipnet::Ipv4Net;
use podwire_node_state::MacAddr;
use podwire_node_state::ec2::{Ec2Eni, EniKind};

use crate::store::NodeId;

/// The enrichment source name in `enrichment_status`.
pub const EC2_SOURCE: &str = "ec2";

/// What the agents report that EC2 can describe: every ENI MAC seen now (ipamd's ENIs and the
/// MACs pod paths end on, branch ENIs included), and each node's primary ENI MAC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnrichmentTargets {
    /// Distinct, sorted.
    pub macs: Vec<MacAddr>,
    /// (node, its primary ENI's MAC): how a node is tied to its instance.
    pub primary_macs: Vec<(NodeId, MacAddr)>,
    /// Subnets ipamd reports, described even when no ENI description names them.
    pub subnet_ids: Vec<String>,
    /// Instances already tied to nodes, with their type (from earlier refreshes).
    pub instance_ids: Vec<String>,
    /// Instances the Kubernetes API names for the agents' nodes (the instance id in the Node's
    /// `providerID`, the type from its `node.kubernetes.io/instance-type` label): their ENIs are
    /// asked for by `attachment.instance-id`, and their types need no DescribeInstances.
    pub kubernetes_instances: Vec<NodeInstance>,
}

/// A subnet as DescribeSubnets describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedSubnet {
    pub subnet_id: String,
    pub vpc_id: Option<String>,
    pub cidr: Option<Ipv4Net>,
    pub availability_zone: Option<String>,
    /// AvailableIpAddressCount.
    pub available: Option<i32>,
}

/// An instance type's network limits (DescribeInstanceTypes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTypeLimits {
    pub instance_type: String,
    pub max_enis: i32,
    pub ipv4_per_eni: i32,
    pub ipv6_per_eni: Option<i32>,
}

impl InstanceTypeLimits {
    /// Pod addresses a node of this type can hold with secondary IPs: every ENI's addresses but
    /// its own primary one.
    pub fn ip_capacity(&self) -> i64 {
        i64::from(self.max_enis) * i64::from(self.ipv4_per_eni.saturating_sub(1))
    }

    /// VPC CNI's max-pods figure (without prefix delegation).
    pub fn max_pods(&self) -> i64 {
        let clamp = |n: i32| u32::try_from(n).unwrap_or(0);
        i64::from(podwire_node_state::ec2::vpc_cni_max_pods(
            clamp(self.max_enis),
            clamp(self.ipv4_per_eni),
        ))
    }
}

/// The instance behind a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInstance {
    pub node_id: NodeId,
    pub instance_id: String,
    pub instance_type: Option<String>,
}

/// Everything one completed refresh learned, written in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Ec2Observation {
    /// Server time of the refresh: the valid_from of what changed.
    pub at: DateTime<Utc>,
    /// The MACs asked about: an open ENI row with one of these MACs that EC2 no longer
    /// describes is closed.
    pub asked_macs: Vec<MacAddr>,
    pub enis: Vec<Ec2Eni>,
    pub subnets: Vec<DescribedSubnet>,
    pub instance_types: Vec<InstanceTypeLimits>,
    pub node_instances: Vec<NodeInstance>,
    /// EC2 API calls the refresh made.
    pub calls: u32,
}

/// A stored ENI description valid at some time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEc2Eni {
    pub eni: Ec2Eni,
    pub kind: EniKind,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
}

/// A stored subnet valid at some time, with its free-address count then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubnet {
    pub subnet_id: String,
    pub vpc_id: Option<String>,
    pub cidr: Option<Ipv4Net>,
    pub availability_zone: Option<String>,
    /// The latest AvailableIpAddressCount sample at or before the time asked about.
    pub available: Option<i32>,
    pub available_sampled_at: Option<DateTime<Utc>>,
}

impl StoredSubnet {
    /// Addresses EC2 can hand out in the subnet: the CIDR's size less the five AWS reserves.
    pub fn usable(&self) -> Option<i64> {
        let cidr = self.cidr?;
        Some(((1i64 << (32 - u32::from(cidr.prefix_len()))) - 5).max(0))
    }

    /// Addresses in use (usable − available) as a share of the usable ones, in percent.
    pub fn utilization_percent(&self) -> Option<f64> {
        let usable = self.usable().filter(|u| *u > 0)?;
        let available = i64::from(self.available?);
        Some(((usable - available).max(0)) as f64 * 100.0 / usable as f64)
    }
}

/// How enrichment is doing: the marker every enriched answer carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnrichmentStatus {
    /// False only when the latest refresh completed.
    pub stale: bool,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_calls: i32,
    /// False when enrichment never ran against this database (no status row).
    pub configured: bool,
}
