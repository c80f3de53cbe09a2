use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde::Serialize;

use super::views::NodeView;
use super::{ApiError, AppState};

#[derive(Serialize)]
pub(crate) struct NodesResponse {
    nodes: Vec<NodeView>,
    /// Nodes not heard from for this long are `stale`.
    stale_after_seconds: i64,
}

/// `GET /api/v1/nodes`: every node with its last heartbeat and whether it is stale.
pub(crate) async fn list_nodes(
    State(state): State<AppState>,
) -> Result<Json<NodesResponse>, ApiError> {
    let nodes = state.store.nodes(Utc::now(), state.stale_after).await?;
    Ok(Json(NodesResponse {
        nodes: nodes.into_iter().map(NodeView::from).collect(),
        stale_after_seconds: state.stale_after.num_seconds(),
    }))
}
