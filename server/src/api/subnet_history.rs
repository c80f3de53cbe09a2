use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ec2_views::Ec2SubnetView;
use super::error::Problem;
use super::{ApiError, AppState, params};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SubnetHistoryQuery {
    /// RFC 3339; default 7 days before `to`.
    from: Option<String>,
    /// RFC 3339; default now.
    to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SubnetPointView {
    at: DateTime<Utc>,
    /// Addresses the subnet's ENIs held for pods from `at` on.
    held: i64,
    assigned: i64,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SubnetHistoryResponse {
    subnet_id: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// A step function: each point holds until the next.
    points: Vec<SubnetPointView>,
    /// EC2's AvailableIpAddressCount over the period, a step function like `points`: the
    /// sample in force at `from` (if any) and every change after. Empty before enrichment.
    ec2_available: Vec<FreeSampleView>,
    /// EC2's description of the subnet at `to` (CIDR, VPC, zone, free count).
    ec2: Option<Ec2SubnetView>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct FreeSampleView {
    at: DateTime<Utc>,
    available: i32,
}

/// A subnet's held and assigned addresses over a period, from the nodes' ENIs, and EC2's
/// free-address count over the same period (EC2 enrichment).
#[utoipa::path(get, path = "/api/v1/subnets/{subnet_id}/history", tag = "subnets",
    params(("subnet_id" = String, Path, description = "subnet-…"), SubnetHistoryQuery),
    responses(
        (status = 200, description = "The series", body = SubnetHistoryResponse),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Never seen", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn subnet_history(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<SubnetHistoryQuery>, QueryRejection>,
) -> Result<Json<SubnetHistoryResponse>, ApiError> {
    let Path(subnet_id) = path?;
    let Query(query) = query?;
    let to = params::at(query.to.as_deref())?;
    let from = match query.from.as_deref() {
        Some(text) => params::at(Some(text))?,
        None => to - chrono::Duration::days(7),
    };
    if from >= to {
        return Err(ApiError::BadParameter {
            parameter: "from",
            value: from.to_rfc3339(),
            expected: "a time before `to`",
        });
    }
    let reader = state.reader();
    let series = reader.subnet_series(&subnet_id, from, to).await?;
    let samples = reader.subnet_free_samples(&subnet_id, from, to).await?;
    let ec2 = state.store.ec2_subnet_at(&subnet_id, to).await?;
    Ok(Json(SubnetHistoryResponse {
        subnet_id: series.subnet_id,
        from,
        to,
        points: series
            .points
            .into_iter()
            .map(|p| SubnetPointView {
                at: p.at,
                held: p.held,
                assigned: p.assigned,
            })
            .collect(),
        ec2_available: samples
            .into_iter()
            .map(|s| FreeSampleView {
                at: s.at,
                available: s.available,
            })
            .collect(),
        ec2: ec2.map(Ec2SubnetView::from),
    }))
}
