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
use super::views::EniIntervalView;
use super::{ApiError, AppState, params};
use crate::store::EniFilter;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EnisQuery {
    cluster: Option<String>,
    node: Option<String>,
    /// Only ENIs in this subnet (`subnet-…`).
    subnet: Option<String>,
    /// RFC 3339 time; default now.
    at: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct EnisResponse {
    at: DateTime<Utc>,
    enis: Vec<EniIntervalView>,
}

/// The ENIs the nodes' ipamds reported at `at`.
#[utoipa::path(get, path = "/api/v1/enis", tag = "enis", params(EnisQuery),
    responses(
        (status = 200, description = "ENIs (JSON or CSV)", content((EnisResponse = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list_enis(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<EnisQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let csv = params::wants_csv(&headers, query.format.as_deref())?;
    let at = params::at(query.at.as_deref())?;
    let filter = EniFilter {
        cluster: params::filter(query.cluster),
        node: params::filter(query.node),
        subnet_id: params::filter(query.subnet),
        ..EniFilter::default()
    };
    let enis: Vec<EniIntervalView> = state
        .store
        .enis_at(&filter, at)
        .await?
        .into_iter()
        .map(EniIntervalView::from)
        .collect();
    if csv {
        return csv_response(&enis);
    }
    Ok(Json(EnisResponse { at, enis }).into_response())
}
