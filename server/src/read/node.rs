//! One node at a time T (its snapshot then, re-resolved, with ENIs and pools derived from it),
//! and a node's changes between two times.

use chrono::{DateTime, Utc};

use super::node_diff::{NodeChanges, node_changes};
use super::{ReadError, Reader, ResolvedSnapshot};
use crate::history::{IpamPool, NodeEni, enis_of, ipam_pools_of};
use crate::store::queries::NodeLiveness;

/// A node as it was at `at`.
#[derive(Debug, Clone)]
pub struct NodeDetail {
    pub node: NodeLiveness,
    pub at: DateTime<Utc>,
    /// `None` when the node had reported no snapshot by `at`.
    pub state: Option<ResolvedSnapshot>,
    /// The ENIs and IP pools of that snapshot (empty without one).
    pub enis: Vec<NodeEni>,
    pub pools: Vec<IpamPool>,
}

/// A node's changes between two times.
#[derive(Debug, Clone)]
pub struct NodeDiff {
    pub node: NodeLiveness,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The snapshots valid at each end (`None` when the node had none yet).
    pub before: Option<SnapshotMeta>,
    pub after: Option<SnapshotMeta>,
    pub changes: NodeChanges,
}

/// Which snapshot an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub snapshot_id: i64,
    pub valid_from: DateTime<Utc>,
    pub collected_at: DateTime<Utc>,
}

impl From<&ResolvedSnapshot> for SnapshotMeta {
    fn from(s: &ResolvedSnapshot) -> Self {
        SnapshotMeta {
            snapshot_id: s.snapshot_id,
            valid_from: s.valid_from,
            collected_at: s.collected_at,
        }
    }
}

impl Reader {
    async fn node(&self, cluster: &str, name: &str) -> Result<NodeLiveness, ReadError> {
        self.store
            .node_by_name(cluster, name, Utc::now(), self.stale_after)
            .await?
            .ok_or_else(|| ReadError::NotFound {
                what: format!("node {cluster}/{name}"),
            })
    }

    /// The node `cluster/name` as of `at`.
    pub async fn node_detail(
        &self,
        cluster: &str,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<NodeDetail, ReadError> {
        let node = self.node(cluster, name).await?;
        let state = self.resolved_snapshot_at(node.node_id, at).await?;
        let (enis, pools) = state.as_ref().map_or((Vec::new(), Vec::new()), |s| {
            (enis_of(&s.snapshot), ipam_pools_of(&s.snapshot))
        });
        Ok(NodeDetail {
            node,
            at,
            state,
            enis,
            pools,
        })
    }

    /// What changed on `cluster/name` from `from` to `to`. A side without a snapshot counts as
    /// an empty node, so a node's first snapshot shows everything as added.
    pub async fn node_diff(
        &self,
        cluster: &str,
        name: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<NodeDiff, ReadError> {
        let node = self.node(cluster, name).await?;
        let before = self.resolved_snapshot_at(node.node_id, from).await?;
        let after = self.resolved_snapshot_at(node.node_id, to).await?;
        let empty = podwire_node_state::NodeSnapshot::default();
        let empty_resolution = podwire_node_state::resolver::NodeResolution {
            probe: podwire_node_state::resolver::choose_probe(&empty),
            pods: Vec::new(),
        };
        let changes = node_changes(
            side(&before, &empty, &empty_resolution),
            side(&after, &empty, &empty_resolution),
        );
        Ok(NodeDiff {
            node,
            from,
            to,
            before: before.as_ref().map(SnapshotMeta::from),
            after: after.as_ref().map(SnapshotMeta::from),
            changes,
        })
    }
}

/// One end of a diff: the snapshot, or the empty node when there was none.
fn side<'a>(
    state: &'a Option<ResolvedSnapshot>,
    empty: &'a podwire_node_state::NodeSnapshot,
    empty_resolution: &'a podwire_node_state::resolver::NodeResolution,
) -> (
    &'a podwire_node_state::NodeSnapshot,
    &'a podwire_node_state::resolver::NodeResolution,
) {
    state
        .as_ref()
        .map_or((empty, empty_resolution), |s| (&s.snapshot, &s.resolution))
}
