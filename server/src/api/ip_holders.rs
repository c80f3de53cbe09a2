use std::net::IpAddr;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::views::AttachmentView;
use super::{ApiError, AppState, params};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IpQuery {
    at: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct IpHoldersResponse {
    ip: IpAddr,
    at: DateTime<Utc>,
    /// The pod interfaces that held the address then, with their intervals: empty when none did,
    /// several when clusters overlap.
    holders: Vec<AttachmentView>,
}

/// `GET /api/v1/ips/{ip}?at=`: who held the address at `at` (default now).
pub(crate) async fn ip_holders(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<IpQuery>, QueryRejection>,
) -> Result<Json<IpHoldersResponse>, ApiError> {
    let Path(text) = path?;
    let Query(query) = query?;
    let ip: IpAddr = text.parse().map_err(|_| ApiError::BadParameter {
        parameter: "ip",
        value: text.clone(),
        expected: "an IPv4 or IPv6 address such as 172.31.55.218",
    })?;
    let at = params::at(query.at.as_deref())?;
    let holders = state.store.ip_holders(ip, at).await?;
    Ok(Json(IpHoldersResponse {
        ip,
        at,
        holders: holders.into_iter().map(AttachmentView::from).collect(),
    }))
}
