use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::views::AttachmentView;
use super::{ApiError, AppState, params};
use crate::store::queries::PodFilter;

/// The most rows one answer holds (cursor pagination comes with the dashboard's API).
const MAX_LIMIT: i64 = 10_000;
const DEFAULT_LIMIT: i64 = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PodsQuery {
    cluster: Option<String>,
    node: Option<String>,
    namespace: Option<String>,
    at: Option<String>,
    limit: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct PodsResponse {
    at: DateTime<Utc>,
    pods: Vec<AttachmentView>,
    /// More pods matched than `limit`.
    truncated: bool,
}

/// `GET /api/v1/pods?cluster=&node=&namespace=&at=&limit=`: the pod interfaces attached at `at`
/// (default now).
pub(crate) async fn list_pods(
    State(state): State<AppState>,
    query: Result<Query<PodsQuery>, QueryRejection>,
) -> Result<Json<PodsResponse>, ApiError> {
    let Query(query) = query?;
    let at = params::at(query.at.as_deref())?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::BadParameter {
                parameter: "limit",
                value: text.to_owned(),
                expected: "a number from 1 to 10000",
            })?,
    };
    let filter = PodFilter {
        cluster: params::filter(query.cluster),
        node: params::filter(query.node),
        namespace: params::filter(query.namespace),
        at,
        limit: limit + 1,
    };
    let mut rows = state.store.pods_as_of(&filter).await?;
    let truncated = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(Json(PodsResponse {
        at,
        pods: rows.into_iter().map(AttachmentView::from).collect(),
        truncated,
    }))
}
