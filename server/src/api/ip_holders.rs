use std::net::IpAddr;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::Problem;
use super::views::AttachmentView;
use super::{ApiError, AppState, params};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct IpQuery {
    /// RFC 3339 time; default now.
    at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct IpHoldersResponse {
    #[schema(value_type = String)]
    ip: IpAddr,
    at: DateTime<Utc>,
    /// The pod interfaces that held the address then, with their intervals: empty when none did,
    /// several when clusters overlap.
    holders: Vec<AttachmentView>,
}

/// Who held the address at `at` (default now), with the interval they held it for.
#[utoipa::path(get, path = "/api/v1/ips/{ip}", tag = "history",
    params(("ip" = String, Path, description = "IPv4 or IPv6 address"), IpQuery),
    responses(
        (status = 200, description = "Holders of the address", body = IpHoldersResponse),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ))]
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
