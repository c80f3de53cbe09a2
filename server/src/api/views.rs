//! JSON shapes of the API, converted from the store's read models in one place.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use podwire_node_state::MacAddr;
use podwire_node_state::resolver::{ProblemCode, Wiring};
use serde::Serialize;

use crate::store::queries::{AttachmentInterval, NodeLiveness};

/// A node and its liveness.
#[derive(Debug, Serialize)]
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
#[derive(Debug, Serialize)]
pub(crate) struct AttachmentView {
    pub cluster: String,
    pub node: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub interface: String,
    pub netns_inode: u64,
    pub ip: Option<IpAddr>,
    pub mac: Option<MacAddr>,
    pub host_veth: Option<String>,
    pub bridge: Option<String>,
    pub route_table: Option<u32>,
    pub egress_device: Option<String>,
    pub eni_mac: Option<MacAddr>,
    pub vlan_id: Option<u16>,
    pub wiring: Wiring,
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
