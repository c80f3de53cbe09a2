use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::Problem;
use super::views::SnapshotRef;
use super::{ApiError, AppState, params};
use crate::read::node_diff::NodeChanges;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DiffQuery {
    /// RFC 3339: the earlier time.
    from: Option<String>,
    /// RFC 3339: the later time; default now.
    to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct DiffResponse {
    cluster: String,
    node: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    before: Option<SnapshotRef>,
    after: Option<SnapshotRef>,
    changes: NodeChanges,
}

/// What changed on a node between two times: pods, IPs, rules and routes added and removed.
#[utoipa::path(get, path = "/api/v1/nodes/{cluster}/{name}/diff", tag = "history",
    params(("cluster" = String, Path), ("name" = String, Path), DiffQuery),
    responses(
        (status = 200, description = "The changes", body = DiffResponse),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such node", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn node_diff(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Json<DiffResponse>, ApiError> {
    let Path((cluster, name)) = path?;
    let Query(query) = query?;
    let to = params::at(query.to.as_deref())?;
    let from = match query.from.as_deref() {
        Some(text) => params::at(Some(text)).map_err(|_| ApiError::BadParameter {
            parameter: "from",
            value: text.to_owned(),
            expected: "an RFC 3339 time such as 2026-11-20T13:05:00Z",
        })?,
        None => to - chrono::Duration::hours(1),
    };
    if from > to {
        return Err(ApiError::BadParameter {
            parameter: "from",
            value: from.to_rfc3339(),
            expected: "a time before `to`",
        });
    }
    let diff = state.reader().node_diff(&cluster, &name, from, to).await?;
    Ok(Json(DiffResponse {
        cluster,
        node: name,
        from,
        to,
        before: diff.before.map(SnapshotRef::from),
        after: diff.after.map(SnapshotRef::from),
        changes: diff.changes,
    }))
}
