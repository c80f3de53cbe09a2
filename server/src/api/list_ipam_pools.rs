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
use super::views::PoolIntervalView;
use super::{ApiError, AppState, params};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PoolsQuery {
    cluster: Option<String>,
    node: Option<String>,
    /// RFC 3339 time; default now.
    at: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PoolsResponse {
    at: DateTime<Utc>,
    pools: Vec<PoolIntervalView>,
}

/// Every node's IP pools at `at`: ipamd per network card, host-local per network.
#[utoipa::path(get, path = "/api/v1/ipam/pools", tag = "ipam", params(PoolsQuery),
    responses(
        (status = 200, description = "Pools (JSON or CSV)", content((PoolsResponse = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list_ipam_pools(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PoolsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let csv = params::wants_csv(&headers, query.format.as_deref())?;
    let at = params::at(query.at.as_deref())?;
    let cluster = params::filter(query.cluster);
    let node = params::filter(query.node);
    let pools: Vec<PoolIntervalView> = state
        .store
        .pools_at(cluster.as_deref(), node.as_deref(), at)
        .await?
        .into_iter()
        .map(PoolIntervalView::from)
        .collect();
    if csv {
        return csv_response(&pools);
    }
    Ok(Json(PoolsResponse { at, pools }).into_response())
}
