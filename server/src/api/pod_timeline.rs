use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::Problem;
use super::views::AttachmentView;
use super::{ApiError, AppState, params};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TimelineQuery {
    /// Only this cluster.
    cluster: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TimelineResponse {
    namespace: String,
    name: String,
    /// Every interval of the pod's interfaces, oldest first: its IPs, nodes and ENIs over time.
    intervals: Vec<AttachmentView>,
}

/// The pod's timeline: every interval of its interfaces, oldest first.
#[utoipa::path(get, path = "/api/v1/pods/{namespace}/{name}/timeline", tag = "history",
    params(("namespace" = String, Path), ("name" = String, Path), TimelineQuery),
    responses(
        (status = 200, description = "The pod's intervals", body = TimelineResponse),
        (status = 404, description = "Never seen", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn pod_timeline(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<TimelineQuery>, QueryRejection>,
) -> Result<Json<TimelineResponse>, ApiError> {
    let Path((namespace, name)) = path?;
    let Query(query) = query?;
    let cluster = params::filter(query.cluster);
    let rows = state
        .store
        .pod_timeline(cluster.as_deref(), &namespace, &name)
        .await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound {
            what: format!("pod {namespace}/{name}"),
        });
    }
    Ok(Json(TimelineResponse {
        namespace,
        name,
        intervals: rows.into_iter().map(AttachmentView::from).collect(),
    }))
}
