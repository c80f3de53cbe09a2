use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ec2_views::{Ec2EniView, EnrichmentMarker};
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
    /// The branch ENI's id: EC2's branch ENI of this trunk with the vlan link's MAC (`null`
    /// until enrichment described it).
    eni_id: Option<String>,
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
    /// EC2's description as of `at`: type (`primary`, `secondary`, `trunk`, `branch`),
    /// description, security groups, subnet with CIDR and free count. `null` until enrichment
    /// described it.
    ec2: Option<Ec2EniView>,
    /// For a branch ENI: the trunk ENI it rides on (tag `vpcresources.k8s.aws/trunk-eni-id`).
    trunk_eni_id: Option<String>,
    /// For a trunk ENI: the branch ENIs EC2 tags with its id, as of `at`.
    branch_enis: Vec<BranchEniView>,
    /// Whether the EC2 facts are current.
    enrichment: EnrichmentMarker,
}

/// A branch ENI of a trunk, as EC2 describes it.
#[derive(Serialize, ToSchema)]
pub(crate) struct BranchEniView {
    eni_id: String,
    #[schema(value_type = Option<String>)]
    mac: Option<podwire_node_state::MacAddr>,
    /// Tag `vpcresources.k8s.aws/vlan-id`.
    vlan_id: Option<u16>,
    private_ips: Vec<String>,
}

/// One ENI as of `at`: its addresses and pods, branches for a trunk, its attachment history, and
/// EC2's description (type, trunk or branches, security groups, subnet). Branch ENIs, which no
/// ipamd lists, are found by their EC2 description.
#[utoipa::path(get, path = "/api/v1/enis/{eni_id}", tag = "enis",
    params(("eni_id" = String, Path, description = "eni-…"), EniQuery),
    responses(
        (status = 200, description = "The ENI", body = EniResponse),
        (status = 404, description = "Never reported nor described", body = Problem, content_type = "application/problem+json"),
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
    let branch_id = |mac: Option<podwire_node_state::MacAddr>| {
        d.ec2_branches
            .iter()
            .find(|b| mac.is_some() && b.eni.mac() == mac)
            .map(|b| b.eni.network_interface_id.clone())
    };
    let branches = d
        .branches
        .iter()
        .map(|b| BranchView {
            eni_id: branch_id(b.mac),
            vlan_id: b.vlan_id,
            mac: b.mac,
            device: b.device.clone(),
            pod: AttachmentView::from(b.pod.clone()),
        })
        .collect();
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
        branches,
        timeline: d.timeline.into_iter().map(EniIntervalView::from).collect(),
        ec2: d.ec2.map(Ec2EniView::from),
        trunk_eni_id: d.trunk_eni_id,
        branch_enis: d
            .ec2_branches
            .into_iter()
            .map(|b| BranchEniView {
                mac: b.eni.mac(),
                vlan_id: b.eni.vlan_id(),
                private_ips: b
                    .eni
                    .private_ip_addresses
                    .into_iter()
                    .map(|ip| ip.private_ip_address)
                    .collect(),
                eni_id: b.eni.network_interface_id,
            })
            .collect(),
        enrichment: EnrichmentMarker::from(d.enrichment),
    }))
}
