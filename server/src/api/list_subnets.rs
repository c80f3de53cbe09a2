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
use super::views::SubnetView;
use super::{ApiError, AppState, params};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SubnetsQuery {
    /// RFC 3339 time; default now.
    at: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SubnetsResponse {
    at: DateTime<Utc>,
    subnets: Vec<SubnetView>,
}

/// Every subnet a node's ENI was in at `at`, with the addresses the nodes hold and use there.
#[utoipa::path(get, path = "/api/v1/subnets", tag = "subnets", params(SubnetsQuery),
    responses(
        (status = 200, description = "Subnets (JSON or CSV)", content((SubnetsResponse = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list_subnets(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<SubnetsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let csv = params::wants_csv(&headers, query.format.as_deref())?;
    let at = params::at(query.at.as_deref())?;
    let subnets: Vec<SubnetView> = state
        .reader()
        .subnets_at(at)
        .await?
        .into_iter()
        .map(SubnetView::from)
        .collect();
    if csv {
        return csv_response(&subnets);
    }
    Ok(Json(SubnetsResponse { at, subnets }).into_response())
}
