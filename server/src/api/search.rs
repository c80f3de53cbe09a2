use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::Problem;
use super::views::{AttachmentView, EniIntervalView, NodeView, SubnetView};
use super::{ApiError, AppState, params};
use crate::read::SearchQuery;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchParams {
    /// An IP, a MAC, an ENI id, a subnet id, `namespace/name`, or the start of a pod or node name.
    q: Option<String>,
    /// RFC 3339 time; default now.
    at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SearchResponse {
    /// What `q` was taken for.
    understood_as: String,
    at: DateTime<Utc>,
    pods: Vec<AttachmentView>,
    enis: Vec<EniIntervalView>,
    nodes: Vec<NodeView>,
    subnets: Vec<SubnetView>,
}

/// Searches pods, ENIs, nodes and subnets as of `at`.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchParams),
    responses(
        (status = 200, description = "Matches", body = SearchResponse),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn search(
    State(state): State<AppState>,
    query: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<SearchResponse>, ApiError> {
    let Query(query) = query?;
    let at = params::at(query.at.as_deref())?;
    let text = query.q.unwrap_or_default();
    let parsed = SearchQuery::parse(&text).ok_or(ApiError::BadParameter {
        parameter: "q",
        value: text.clone(),
        expected: "an IP, MAC, ENI id, subnet id, namespace/name or a name prefix",
    })?;
    let found = state.reader().search(parsed, at).await?;
    Ok(Json(SearchResponse {
        understood_as: found.query.describe(),
        at,
        pods: found.pods.into_iter().map(AttachmentView::from).collect(),
        enis: found.enis.into_iter().map(EniIntervalView::from).collect(),
        nodes: found.nodes.into_iter().map(NodeView::from).collect(),
        subnets: found.subnets.into_iter().map(SubnetView::from).collect(),
    }))
}
