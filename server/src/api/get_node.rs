use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use podwire_node_state::resolver::PodPath;
use podwire_node_state::{Link, NodeIdentity, SourceError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::Problem;
use super::views::{EniView, NodeView, PoolView, SnapshotRef};
use super::{ApiError, AppState, params};
use crate::read::ip_text::{route_text, rule_text};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct NodeQuery {
    /// RFC 3339 time; default now.
    at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct NodeResponse {
    node: NodeView,
    at: DateTime<Utc>,
    /// The snapshot valid at `at`; `null` (and everything below empty) when there was none yet.
    snapshot: Option<SnapshotRef>,
    #[schema(value_type = Option<Object>)]
    identity: Option<NodeIdentity>,
    enis: Vec<EniView>,
    pools: Vec<PoolView>,
    /// The host's links as the agent read them.
    #[schema(value_type = Vec<Object>)]
    links: Vec<Link>,
    /// Host policy rules, as `ip rule` prints them.
    rules: Vec<String>,
    /// Host routes of every table, as `ip route show table all` prints them.
    routes: Vec<String>,
    /// Every pod's path, re-resolved.
    #[schema(value_type = Vec<Object>)]
    pods: Vec<PodPath>,
    /// What the agent could not read.
    #[schema(value_type = Vec<Object>)]
    errors: Vec<SourceError>,
}

/// One node as of `at`: its snapshot then, re-resolved, with ENIs, pools, rules and routes.
#[utoipa::path(get, path = "/api/v1/nodes/{cluster}/{name}", tag = "nodes",
    params(("cluster" = String, Path), ("name" = String, Path), NodeQuery),
    responses(
        (status = 200, description = "The node", body = NodeResponse),
        (status = 404, description = "No such node", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn get_node(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<NodeQuery>, QueryRejection>,
) -> Result<Json<NodeResponse>, ApiError> {
    let Path((cluster, name)) = path?;
    let Query(query) = query?;
    let at = params::at(query.at.as_deref())?;
    let detail = state.reader().node_detail(&cluster, &name, at).await?;
    let mut response = NodeResponse {
        node: NodeView::from(detail.node),
        at,
        snapshot: None,
        identity: None,
        enis: detail.enis.into_iter().map(EniView::from).collect(),
        pools: detail.pools.into_iter().map(PoolView::from).collect(),
        links: Vec::new(),
        rules: Vec::new(),
        routes: Vec::new(),
        pods: Vec::new(),
        errors: Vec::new(),
    };
    if let Some(s) = detail.state {
        response.snapshot = Some(SnapshotRef::from(crate::read::SnapshotMeta::from(&s)));
        let host = &s.snapshot.host;
        response.rules = host.rules.iter().map(rule_text).collect();
        response.routes = host.routes.iter().map(|r| route_text(r, host)).collect();
        response.links = s.snapshot.host.links.clone();
        response.identity = Some(s.snapshot.node.clone());
        response.errors = s.snapshot.errors;
        response.pods = s.resolution.pods;
    }
    Ok(Json(response))
}
