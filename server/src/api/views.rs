//! JSON shapes of the API, converted from the store's read models in one place.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use podwire_node_state::MacAddr;
use podwire_node_state::resolver::{ProblemCode, Wiring};
use serde::Serialize;
use utoipa::ToSchema;

use super::ec2_views::{Ec2EniView, Ec2SubnetView};
use crate::enrich::model::InstanceTypeLimits;
use crate::history::{IpamPool, NodeEni};
use crate::read::{SnapshotMeta, SubnetSummary};
use crate::store::queries::{AttachmentInterval, NodeLiveness};
use crate::store::{EniInterval, NodeSummary, PoolInterval};

/// A node and its liveness.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NodeView {
    pub cluster: String,
    pub name: String,
    pub boot_id: String,
    pub kernel: String,
    pub agent_version: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_heartbeat_at: DateTime<Utc>,
    pub last_snapshot_at: Option<DateTime<Utc>>,
    pub stale: bool,
}

impl From<NodeLiveness> for NodeView {
    fn from(n: NodeLiveness) -> Self {
        NodeView {
            cluster: n.cluster,
            name: n.name,
            boot_id: n.boot_id,
            kernel: n.kernel,
            agent_version: n.agent_version,
            first_seen_at: n.first_seen_at,
            last_heartbeat_at: n.last_heartbeat_at,
            last_snapshot_at: n.last_snapshot_at,
            stale: n.stale,
        }
    }
}

/// One pod interface over one interval: where it was, how it was wired, and when.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttachmentView {
    pub cluster: String,
    pub node: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub interface: String,
    pub netns_inode: u64,
    #[schema(value_type = Option<String>, example = "172.31.55.218")]
    pub ip: Option<IpAddr>,
    #[schema(value_type = Option<String>, example = "66:3a:fb:f2:00:b2")]
    pub mac: Option<MacAddr>,
    pub host_veth: Option<String>,
    pub bridge: Option<String>,
    pub route_table: Option<u32>,
    pub egress_device: Option<String>,
    /// MAC of the ENI (or NIC) carrying the pod's traffic off the node.
    #[schema(value_type = Option<String>)]
    pub eni_mac: Option<MacAddr>,
    pub vlan_id: Option<u16>,
    /// `aws-vpc-cni`, `aws-vpc-cni-branch`, `flannel`, `bridge`, `kube-router` or `unknown`.
    #[schema(value_type = String, example = "aws-vpc-cni")]
    pub wiring: Wiring,
    /// Problem codes (`no_cni_cache_entry`, `kernel_disagrees`, …).
    #[schema(value_type = Vec<String>)]
    pub problems: Vec<ProblemCode>,
    pub valid_from: DateTime<Utc>,
    /// `null` while current.
    pub valid_to: Option<DateTime<Utc>>,
}

impl From<AttachmentInterval> for AttachmentView {
    fn from(i: AttachmentInterval) -> Self {
        let a = i.attachment;
        AttachmentView {
            cluster: i.cluster,
            node: i.node,
            namespace: a.pod_namespace,
            name: a.pod_name,
            interface: a.interface,
            netns_inode: a.netns_inode,
            ip: a.ip,
            mac: a.mac,
            host_veth: a.host_veth,
            bridge: a.bridge,
            route_table: a.route_table,
            egress_device: a.egress_device,
            eni_mac: a.eni_mac,
            vlan_id: a.vlan_id,
            wiring: a.wiring,
            problems: a.problems,
            valid_from: i.valid_from,
            valid_to: i.valid_to,
        }
    }
}

/// A node with what it held at a time: pods, ENIs, IP pools.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NodeSummaryView {
    #[serde(flatten)]
    pub node: NodeView,
    /// Pod interfaces attached at the time.
    pub pods: i64,
    pub pods_with_problems: i64,
    /// The wiring most of its pods have.
    #[schema(value_type = Option<String>)]
    pub wiring: Option<Wiring>,
    /// ENIs its ipamd reported.
    pub enis: i64,
    /// The node's EC2 instance (`i-…`), tied by its primary ENI's MAC (EC2 enrichment).
    pub instance_id: Option<String>,
    pub instance_type: Option<String>,
    /// The instance type's MaximumNetworkInterfaces (`null` until EC2 described the type).
    pub max_enis: Option<i64>,
    /// Addresses the node can hold for pods with secondary IPs: max ENIs × (IPv4 per ENI − 1).
    pub ip_capacity: Option<i64>,
    /// VPC CNI's max-pods figure without prefix delegation.
    pub max_pods: Option<i64>,
    pub pools: Vec<PoolView>,
}

impl From<NodeSummary> for NodeSummaryView {
    fn from(s: NodeSummary) -> Self {
        let limits = s.instance.as_ref().and_then(|i| i.limits.as_ref());
        NodeSummaryView {
            node: NodeView::from(s.node),
            pods: s.pods,
            pods_with_problems: s.pods_with_problems,
            wiring: s.wiring,
            enis: s.enis,
            instance_id: s.instance.as_ref().map(|i| i.instance_id.clone()),
            instance_type: s.instance.as_ref().and_then(|i| i.instance_type.clone()),
            max_enis: limits.map(|l| i64::from(l.max_enis)),
            ip_capacity: limits.map(InstanceTypeLimits::ip_capacity),
            max_pods: limits.map(InstanceTypeLimits::max_pods),
            pools: s.pools.into_iter().map(PoolView::from).collect(),
        }
    }
}

/// One IP pool's figures.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PoolView {
    /// `ipamd` (Amazon VPC CNI) or `host-local`.
    pub source: &'static str,
    /// `network-card-N` for ipamd, the CNI network name for host-local.
    pub pool: String,
    pub assigned: i64,
    /// ipamd: addresses held but not assigned (the warm pool); host-local: addresses left.
    pub free: i64,
    pub total: i64,
}

impl From<IpamPool> for PoolView {
    fn from(p: IpamPool) -> Self {
        PoolView {
            source: p.source.as_str(),
            pool: p.pool,
            assigned: p.assigned,
            free: p.free,
            total: p.total,
        }
    }
}

/// One node's IP pool over one interval.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PoolIntervalView {
    pub cluster: String,
    pub node: String,
    #[serde(flatten)]
    pub pool: PoolView,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
}

impl From<PoolInterval> for PoolIntervalView {
    fn from(p: PoolInterval) -> Self {
        PoolIntervalView {
            cluster: p.cluster,
            node: p.node,
            pool: PoolView::from(p.pool),
            valid_from: p.valid_from,
            valid_to: p.valid_to,
        }
    }
}

/// An ENI as a node's ipamd reports it, joined to its host link.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EniView {
    pub eni_id: String,
    pub network_card: u32,
    pub device_number: u32,
    pub route_table: u32,
    pub subnet_id: Option<String>,
    /// `primary`, `trunk` or `secondary`.
    pub role: &'static str,
    /// Host link carrying the ENI (`eth1`) and its MAC.
    pub device: Option<String>,
    #[schema(value_type = Option<String>)]
    pub mac: Option<MacAddr>,
    /// Addresses ipamd holds on it for pods (16 per /28 prefix).
    pub ip_capacity: i64,
    pub assigned: i64,
}

impl From<NodeEni> for EniView {
    fn from(e: NodeEni) -> Self {
        EniView {
            role: e.role(),
            eni_id: e.eni_id,
            network_card: e.network_card,
            device_number: e.device_number,
            route_table: e.route_table,
            subnet_id: e.subnet_id,
            device: e.device,
            mac: e.mac,
            ip_capacity: e.ip_capacity,
            assigned: e.assigned,
        }
    }
}

/// An ENI of one node over one interval.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EniIntervalView {
    pub cluster: String,
    pub node: String,
    #[serde(flatten)]
    pub eni: EniView,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
    /// EC2's description at the time asked about (type, description, security groups, subnet):
    /// given by `GET /api/v1/enis`, `null` in histories and until enrichment described it.
    pub ec2: Option<Ec2EniView>,
}

impl From<EniInterval> for EniIntervalView {
    fn from(e: EniInterval) -> Self {
        EniIntervalView {
            cluster: e.cluster,
            node: e.node,
            eni: EniView::from(e.eni),
            valid_from: e.valid_from,
            valid_to: e.valid_to,
            ec2: None,
        }
    }
}

/// A subnet as the nodes' ENIs show it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubnetView {
    pub subnet_id: String,
    pub enis: i64,
    pub nodes: i64,
    /// Addresses the subnet's ENIs hold for pods.
    pub held: i64,
    pub assigned: i64,
    /// CIDR, VPC, zone and EC2's available address count at the time asked about (`null` until
    /// enrichment described the subnet).
    pub ec2: Option<Ec2SubnetView>,
    /// Share of the subnet's usable addresses in use, in percent, from EC2: (usable −
    /// available) / usable, where usable is the CIDR's size less the 5 addresses AWS reserves.
    pub utilization_percent: Option<f64>,
}

impl From<SubnetSummary> for SubnetView {
    fn from(s: SubnetSummary) -> Self {
        SubnetView {
            subnet_id: s.subnet_id,
            enis: s.enis,
            nodes: s.nodes,
            held: s.held,
            assigned: s.assigned,
            utilization_percent: s.ec2.as_ref().and_then(|e| e.utilization_percent()),
            ec2: s.ec2.map(Ec2SubnetView::from),
        }
    }
}

/// The stored snapshot an answer was resolved from.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SnapshotRef {
    pub id: i64,
    pub valid_from: DateTime<Utc>,
    pub collected_at: DateTime<Utc>,
}

impl From<SnapshotMeta> for SnapshotRef {
    fn from(s: SnapshotMeta) -> Self {
        SnapshotRef {
            id: s.snapshot_id,
            valid_from: s.valid_from,
            collected_at: s.collected_at,
        }
    }
}
