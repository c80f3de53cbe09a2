use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use podwire_node_state::resolver::{NodeResolution, PodPath, resolve};
use serde::{Deserialize, Serialize};

use super::views::AttachmentView;
use super::{ApiError, AppState, params};
use crate::store::NodeId;
use crate::store::queries::StoredSnapshot;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PodPathQuery {
    at: Option<String>,
    cluster: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct PodPathResponse {
    namespace: String,
    name: String,
    at: DateTime<Utc>,
    /// One entry per pod interface attached at `at` (several when the pod name exists in
    /// several clusters and no `cluster` was given).
    interfaces: Vec<InterfacePath>,
}

#[derive(Serialize)]
pub(crate) struct InterfacePath {
    #[serde(flatten)]
    attachment: AttachmentView,
    /// The snapshot the path was resolved from.
    snapshot: Option<SnapshotRef>,
    /// The full path, re-resolved from that snapshot; `null` if the snapshot is gone or no longer
    /// resolves to this interface.
    path: Option<PodPath>,
}

#[derive(Serialize)]
pub(crate) struct SnapshotRef {
    id: i64,
    valid_from: DateTime<Utc>,
    collected_at: DateTime<Utc>,
}

/// `GET /api/v1/pods/{namespace}/{name}?at=&cluster=`: the pod's full path at `at` (default now):
/// the snapshot valid then is decompressed and resolved again, and the pod picked from it.
pub(crate) async fn pod_path(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<PodPathQuery>, QueryRejection>,
) -> Result<Json<PodPathResponse>, ApiError> {
    let Path((namespace, name)) = path?;
    let Query(query) = query?;
    let at = params::at(query.at.as_deref())?;
    let cluster = params::filter(query.cluster);
    let rows = state
        .store
        .pod_at(cluster.as_deref(), &namespace, &name, at)
        .await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound {
            what: format!("pod {namespace}/{name} at {}", at.to_rfc3339()),
        });
    }

    // One snapshot and one resolution per node, however many interfaces the pod has there.
    let mut resolved: HashMap<NodeId, Option<(StoredSnapshot, NodeResolution)>> = HashMap::new();
    for row in &rows {
        if resolved.contains_key(&row.node_id) {
            continue;
        }
        let entry = match state.store.snapshot_at(row.node_id, at).await? {
            Some(stored) => {
                let (stored, resolution) = tokio::task::spawn_blocking(move || {
                    let resolution = resolve(&stored.snapshot);
                    (stored, resolution)
                })
                .await
                .map_err(|join| ApiError::Internal(Box::new(join)))?;
                Some((stored, resolution))
            }
            None => None,
        };
        resolved.insert(row.node_id, entry);
    }

    let interfaces = rows
        .into_iter()
        .map(|row| {
            let found = resolved.get(&row.node_id).and_then(Option::as_ref);
            let snapshot = found.map(|(stored, _)| SnapshotRef {
                id: stored.snapshot_id,
                valid_from: stored.valid_from,
                collected_at: stored.collected_at,
            });
            let path = found.and_then(|(_, resolution)| {
                resolution
                    .pods
                    .iter()
                    .find(|p| p.netns.inode == row.attachment.netns_inode && p.pod_interface.name == row.attachment.interface)
                    .cloned()
            });
            if path.is_none() {
                tracing::warn!(node_id = row.node_id.0, %namespace, %name, "no path for an attached pod interface at this time");
            }
            InterfacePath { attachment: AttachmentView::from(row), snapshot, path }
        })
        .collect();
    Ok(Json(PodPathResponse {
        namespace,
        name,
        at,
        interfaces,
    }))
}
