//! One pod at a time T: each of its interfaces with the full path re-resolved from its node's
//! snapshot then, the ENI carrying it, and the pod's whole timeline.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use podwire_node_state::resolver::PodPath;

use super::node::SnapshotMeta;
use super::{ReadError, Reader, ResolvedSnapshot};
use crate::history::{NodeEni, enis_of};
use crate::store::NodeId;
use crate::store::queries::AttachmentInterval;

/// One interface of the pod at T.
#[derive(Debug, Clone)]
pub struct PodInterfaceAt {
    pub attachment: AttachmentInterval,
    /// The snapshot the path was resolved from.
    pub snapshot: Option<SnapshotMeta>,
    /// `None` if the snapshot is gone or no longer resolves to this interface.
    pub path: Option<PodPath>,
    /// The ENI that carries the traffic: the one whose MAC the path ends on, else the one whose
    /// address pool holds the pod's IP.
    pub eni: Option<NodeEni>,
}

/// A pod at T and its history.
#[derive(Debug, Clone)]
pub struct PodDetail {
    pub namespace: String,
    pub name: String,
    pub at: DateTime<Utc>,
    /// Several when the pod has several interfaces, or the name exists in several clusters.
    pub interfaces: Vec<PodInterfaceAt>,
    /// Every interval of the pod, oldest first: its IPs, nodes and ENIs over time.
    pub timeline: Vec<AttachmentInterval>,
}

impl Reader {
    /// The pod `namespace/name` at `at`, optionally in one cluster. Not found when the pod had
    /// no interface at `at` and never had one.
    pub async fn pod_detail(
        &self,
        cluster: Option<&str>,
        namespace: &str,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<PodDetail, ReadError> {
        let rows = self.store.pod_at(cluster, namespace, name, at).await?;
        let timeline = self.store.pod_timeline(cluster, namespace, name).await?;
        if rows.is_empty() && timeline.is_empty() {
            return Err(ReadError::NotFound {
                what: format!("pod {namespace}/{name}"),
            });
        }
        // One snapshot and one resolution per node, however many interfaces the pod has there.
        let mut resolved: HashMap<NodeId, Option<ResolvedSnapshot>> = HashMap::new();
        for row in &rows {
            if let std::collections::hash_map::Entry::Vacant(slot) = resolved.entry(row.node_id) {
                slot.insert(self.resolved_snapshot_at(row.node_id, at).await?);
            }
        }
        let interfaces = rows
            .into_iter()
            .map(|row| {
                let state = resolved.get(&row.node_id).and_then(Option::as_ref);
                interface_at(row, state)
            })
            .collect();
        Ok(PodDetail {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            at,
            interfaces,
            timeline,
        })
    }
}

fn interface_at(row: AttachmentInterval, state: Option<&ResolvedSnapshot>) -> PodInterfaceAt {
    let Some(state) = state else {
        return PodInterfaceAt {
            attachment: row,
            snapshot: None,
            path: None,
            eni: None,
        };
    };
    let path = state
        .resolution
        .pods
        .iter()
        .find(|p| {
            p.netns.inode == row.attachment.netns_inode
                && p.pod_interface.name == row.attachment.interface
        })
        .cloned();
    if path.is_none() {
        tracing::warn!(
            node_id = row.node_id.0,
            interface = %row.attachment.interface,
            "no path for an attached pod interface at this time"
        );
    }
    let enis = enis_of(&state.snapshot);
    let eni = row
        .attachment
        .eni_mac
        .and_then(|mac| enis.iter().find(|e| e.mac == Some(mac)))
        .or_else(|| {
            let ip = row.attachment.ip?;
            let owner = owning_eni_id(&state.snapshot, ip)?;
            enis.iter().find(|e| e.eni_id == owner)
        })
        .cloned();
    PodInterfaceAt {
        attachment: row,
        snapshot: Some(SnapshotMeta::from(state)),
        path,
        eni,
    }
}

/// The ENI whose ipamd address pool holds `ip`.
pub(crate) fn owning_eni_id(
    snapshot: &podwire_node_state::NodeSnapshot,
    ip: std::net::IpAddr,
) -> Option<String> {
    let ipamd = snapshot.vpc_cni.as_ref()?.ipamd.as_ref()?;
    ipamd
        .network_cards
        .iter()
        .flat_map(|card| card.enis.iter())
        .find(|eni| eni.cidrs.iter().any(|c| c.cidr.contains(&ip)))
        .map(|eni| eni.id.clone())
}
