use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::csv::csv_response;
use super::error::Problem;
use super::views::NodeSummaryView;
use super::{ApiError, AppState, params};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct NodesQuery {
    /// Only this cluster.
    cluster: Option<String>,
    /// RFC 3339 time for pods, ENIs and pools; default now. Liveness is always judged now.
    at: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct NodesResponse {
    at: DateTime<Utc>,
    nodes: Vec<NodeSummaryView>,
    /// Nodes not heard from for this long are `stale`.
    stale_after_seconds: i64,
}

/// Every node known at `at`, with liveness, pods, ENIs and IP pools.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "nodes", params(NodesQuery),
    responses(
        (status = 200, description = "Nodes (JSON or CSV)", content((NodesResponse = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list_nodes(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<NodesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let csv = params::wants_csv(&headers, query.format.as_deref())?;
    let at = params::at(query.at.as_deref())?;
    let cluster = params::filter(query.cluster);
    let nodes: Vec<NodeSummaryView> = state
        .store
        .node_summaries(cluster.as_deref(), at, Utc::now(), state.stale_after)
        .await?
        .into_iter()
        .map(NodeSummaryView::from)
        .collect();
    if csv {
        return csv_response(&nodes);
    }
    Ok(Json(NodesResponse {
        at,
        nodes,
        stale_after_seconds: state.stale_after.num_seconds(),
    })
    .into_response())
}
