use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::csv::csv_response;
use super::ec2_views::Ec2EniView;
use super::error::Problem;
use super::views::EniIntervalView;
use super::{ApiError, AppState, params};
use crate::read::Ec2Facts;
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

/// The ENIs the nodes' ipamds reported at `at`, each with EC2's description then (type,
/// description, security groups, subnet with CIDR and free count) once enrichment described it.
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
    let intervals = state.store.enis_at(&filter, at).await?;
    // EC2's descriptions then, joined by id: one query for the ENIs, one lookup per subnet.
    let ids: Vec<String> = intervals.iter().map(|e| e.eni.eni_id.clone()).collect();
    let mut described = state.store.ec2_enis_by_ids_at(&ids, at).await?;
    let mut subnet_ids: Vec<String> = described
        .values()
        .filter_map(|e| e.eni.subnet_id.clone())
        .collect();
    subnet_ids.sort();
    subnet_ids.dedup();
    let subnets = state.store.ec2_subnets_at(&subnet_ids, at).await?;
    let enis: Vec<EniIntervalView> = intervals
        .into_iter()
        .map(|interval| {
            let ec2 = described.remove(&interval.eni.eni_id).map(|eni| {
                let subnet = eni
                    .eni
                    .subnet_id
                    .as_ref()
                    .and_then(|id| subnets.get(id).cloned());
                Ec2EniView::from(Ec2Facts { eni, subnet })
            });
            EniIntervalView {
                ec2,
                ..EniIntervalView::from(interval)
            }
        })
        .collect();
    if csv {
        return csv_response(&enis);
    }
    Ok(Json(EnisResponse { at, enis }).into_response())
}
