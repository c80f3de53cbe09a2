use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use podwire_node_state::resolver::PodPath;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ec2_views::{Ec2EniView, EnrichmentMarker};
use super::error::Problem;
use super::kubernetes::{self, KubernetesPodView};
use super::views::{AttachmentView, EniView, SnapshotRef};
use super::{ApiError, AppState, params};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PodPathQuery {
    /// RFC 3339 time; default now.
    at: Option<String>,
    /// Only this cluster (when the name exists in several).
    cluster: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PodPathResponse {
    namespace: String,
    name: String,
    at: DateTime<Utc>,
    /// One entry per pod interface attached at `at` (several when the pod name exists in
    /// several clusters and no `cluster` was given).
    interfaces: Vec<InterfacePath>,
    /// The pod as the Kubernetes API has it now (`null` when the server does not watch the
    /// pod's cluster, or the API has no such pod).
    kubernetes: Option<KubernetesPodView>,
    /// Whether the EC2 facts (`ec2_eni`) are current.
    enrichment: EnrichmentMarker,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct InterfacePath {
    #[serde(flatten)]
    attachment: AttachmentView,
    /// The snapshot the path was resolved from.
    snapshot: Option<SnapshotRef>,
    /// The full path, re-resolved from that snapshot (pod eth0 → host veth → bridge → rules →
    /// table → route → device → layers → NIC → ENI MAC); `null` if the snapshot is gone or no
    /// longer resolves to this interface.
    #[schema(value_type = Option<Object>)]
    path: Option<PodPath>,
    /// The ENI carrying the traffic, from the node's ipamd (`null` for branch ENIs and other CNIs).
    eni: Option<EniView>,
    /// The Kubernetes API against this path: the pod's node, and the branch ENI of its
    /// `vpc.amazonaws.com/pod-eni` annotation against the vlan link and MAC the path ends on.
    /// An entry with `agrees: false` is a problem. Empty without Kubernetes facts.
    cross_checks: Vec<crate::cluster::CrossCheck>,
    /// EC2's description of the ENI whose MAC the path ends on (`eni_mac`), as of `at`: id,
    /// type, security groups, subnet; branch ENIs included. `null` until enrichment described it.
    ec2_eni: Option<Ec2EniView>,
    /// EC2's description of the ENI the second, SNAT path (`path.snat_egress`) ends on: the
    /// primary ENI internet-bound traffic of a pod on a secondary ENI leaves through. `null`
    /// without a SNAT path or until enrichment described it.
    snat_ec2_eni: Option<Ec2EniView>,
}

/// The pod's full path at `at` (default now): the snapshot valid then is decompressed and
/// resolved again, and the pod picked from it.
#[utoipa::path(get, path = "/api/v1/pods/{namespace}/{name}", tag = "pods",
    params(("namespace" = String, Path), ("name" = String, Path), PodPathQuery),
    responses(
        (status = 200, description = "The pod's path", body = PodPathResponse),
        (status = 404, description = "No such pod at that time", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn pod_path(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<PodPathQuery>, QueryRejection>,
) -> Result<Json<PodPathResponse>, ApiError> {
    let Path((namespace, name)) = path?;
    let Query(query) = query?;
    let at = params::at(query.at.as_deref())?;
    let cluster = params::filter(query.cluster);
    let not_found = || ApiError::NotFound {
        what: format!("pod {namespace}/{name} at {}", at.to_rfc3339()),
    };
    let detail = match state
        .reader()
        .pod_detail(cluster.as_deref(), &namespace, &name, at)
        .await
    {
        Ok(detail) if !detail.interfaces.is_empty() => detail,
        Ok(_) | Err(crate::read::ReadError::NotFound { .. }) => return Err(not_found()),
        Err(err) => return Err(err.into()),
    };
    let cluster_of_pod = detail
        .interfaces
        .first()
        .map(|i| i.attachment.cluster.clone());
    let facts = kubernetes::pod_facts(&state, cluster_of_pod.as_deref(), &namespace, &name);
    let interfaces = detail
        .interfaces
        .into_iter()
        .map(|i| {
            let same_cluster = Some(&i.attachment.cluster) == cluster_of_pod.as_ref();
            let cross_checks = kubernetes::interface_checks(
                facts.as_ref().filter(|_| same_cluster).map(|(f, _)| f),
                &i.attachment.node,
                i.path.as_ref(),
                i.ec2
                    .as_ref()
                    .map(|e| e.eni.eni.network_interface_id.as_str()),
            );
            InterfacePath {
                attachment: AttachmentView::from(i.attachment),
                snapshot: i.snapshot.map(SnapshotRef::from),
                path: i.path,
                eni: i.eni.map(EniView::from),
                ec2_eni: i.ec2.map(Ec2EniView::from),
                snat_ec2_eni: i.snat_ec2.map(Ec2EniView::from),
                cross_checks,
            }
        })
        .collect();
    Ok(Json(PodPathResponse {
        namespace,
        name,
        at,
        interfaces,
        kubernetes: facts.map(|(facts, directory)| KubernetesPodView::new(facts, directory)),
        enrichment: EnrichmentMarker::from(detail.enrichment),
    }))
}
