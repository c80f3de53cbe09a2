use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::Problem;
use super::views::{AttachmentView, EniIntervalView};
use super::{ApiError, AppState, params};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EniQuery {
    /// RFC 3339 time; default now.
    at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct EniAddressView {
    #[schema(value_type = String)]
    ip: std::net::IpAddr,
    /// The secondary IP or prefix it belongs to.
    cidr: String,
    assigned: bool,
    pod_namespace: Option<String>,
    pod_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct BranchView {
    vlan_id: u16,
    #[schema(value_type = Option<String>)]
    mac: Option<podwire_node_state::MacAddr>,
    device: Option<String>,
    pod: AttachmentView,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct EniResponse {
    eni_id: String,
    at: DateTime<Utc>,
    /// Where it was attached at `at`; `null` when detached then.
    attached: Option<EniIntervalView>,
    /// Secondary IPs and prefixes it held.
    cidrs: Vec<String>,
    /// Addresses ipamd listed (assigned or cooling down).
    addresses: Vec<EniAddressView>,
    /// Pods whose traffic it carried.
    pods: Vec<AttachmentView>,
    /// For a trunk ENI: its branch ENIs (one per pod).
    branches: Vec<BranchView>,
    /// Every interval of this ENI, oldest first.
    timeline: Vec<EniIntervalView>,
}

/// One ENI as of `at`: its addresses and pods, branches for a trunk, and its attachment history.
#[utoipa::path(get, path = "/api/v1/enis/{eni_id}", tag = "enis",
    params(("eni_id" = String, Path, description = "eni-…"), EniQuery),
    responses(
        (status = 200, description = "The ENI", body = EniResponse),
        (status = 404, description = "Never reported", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn get_eni(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<EniQuery>, QueryRejection>,
) -> Result<Json<EniResponse>, ApiError> {
    let Path(eni_id) = path?;
    let Query(query) = query?;
    let at = params::at(query.at.as_deref())?;
    let d = state.reader().eni_detail(&eni_id, at).await?;
    Ok(Json(EniResponse {
        eni_id: d.eni_id,
        at,
        attached: d.attached.map(EniIntervalView::from),
        cidrs: d.cidrs,
        addresses: d
            .addresses
            .into_iter()
            .map(|a| EniAddressView {
                ip: a.ip,
                cidr: a.cidr,
                assigned: a.assigned,
                pod_namespace: a.pod_namespace,
                pod_name: a.pod_name,
            })
            .collect(),
        pods: d.pods.into_iter().map(AttachmentView::from).collect(),
        branches: d
            .branches
            .into_iter()
            .map(|b| BranchView {
                vlan_id: b.vlan_id,
                mac: b.mac,
                device: b.device,
                pod: AttachmentView::from(b.pod),
            })
            .collect(),
        timeline: d.timeline.into_iter().map(EniIntervalView::from).collect(),
    }))
}
