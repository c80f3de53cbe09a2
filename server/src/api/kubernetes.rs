//! The Kubernetes side in the API: `GET /api/v1/kubernetes` (each watch's state), and the
//! `kubernetes` object and `cross_checks` a pod's path gains.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::cluster::pod_eni::PodEni;
use crate::cluster::{ClusterDirectory, CrossCheck, KubernetesStatus, NodeFacts, PodFacts};

/// What the server reads from the Kubernetes API, and how that goes: each resource synced,
/// absent (a CRD not installed), or failing with its last error.
#[utoipa::path(get, path = "/api/v1/kubernetes", tag = "kubernetes",
    responses((status = 200, description = "The Kubernetes watches", body = KubernetesStatus)))]
pub(crate) async fn kubernetes_status(State(state): State<AppState>) -> Json<KubernetesStatus> {
    Json(match &state.cluster {
        Some(cluster) => cluster.status(),
        None => KubernetesStatus {
            enabled: false,
            cluster: None,
            connection_error: None,
            resources: Vec::new(),
        },
    })
}

/// A pod as the Kubernetes API has it now (Kubernetes facts are not kept over time).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KubernetesPodView {
    uid: String,
    labels: BTreeMap<String, String>,
    workload: Option<WorkloadView>,
    node_name: Option<String>,
    #[schema(value_type = Vec<String>)]
    pod_ips: Vec<std::net::IpAddr>,
    host_network: bool,
    phase: Option<String>,
    /// The `vpc.amazonaws.com/pod-eni` annotation, parsed (`null` without it).
    pod_eni: Option<Vec<PodEniView>>,
    /// Why the annotation could not be read.
    pod_eni_error: Option<String>,
    /// The pod's node as the API has it.
    node: Option<KubernetesNodeView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkloadView {
    /// `Deployment` (followed from its ReplicaSet by name), `StatefulSet`, `DaemonSet`, `Job` …
    kind: String,
    name: String,
}

/// One branch ENI of the annotation, with the annotation's own key names.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodEniView {
    eni_id: String,
    if_address: String,
    private_ip: String,
    vlan_id: u16,
    subnet_cidr: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KubernetesNodeView {
    name: String,
    provider_id: Option<String>,
    instance_id: Option<String>,
    availability_zone: Option<String>,
    instance_type: Option<String>,
    pod_cidrs: Vec<String>,
    trunk_attached: Option<bool>,
    /// The node's ENIConfig (custom networking), with its subnet and security groups when the
    /// ENIConfig is reflected.
    eni_config: Option<String>,
    eni_config_subnet: Option<String>,
    eni_config_security_groups: Vec<String>,
}

impl KubernetesPodView {
    pub(crate) fn new(facts: PodFacts, cluster: &dyn ClusterDirectory) -> Self {
        let node = facts
            .node_name
            .as_deref()
            .and_then(|n| cluster.node(n))
            .map(|n| KubernetesNodeView::new(n, cluster));
        let (pod_eni, pod_eni_error) = match facts.pod_eni {
            None => (None, None),
            Some(Ok(enis)) => (Some(enis.into_iter().map(PodEniView::from).collect()), None),
            Some(Err(why)) => (None, Some(why)),
        };
        KubernetesPodView {
            uid: facts.uid,
            labels: facts.labels,
            workload: facts.workload.map(|w| WorkloadView {
                kind: w.kind,
                name: w.name,
            }),
            node_name: facts.node_name,
            pod_ips: facts.pod_ips,
            host_network: facts.host_network,
            phase: facts.phase,
            pod_eni,
            pod_eni_error,
            node,
        }
    }
}

impl From<PodEni> for PodEniView {
    fn from(eni: PodEni) -> Self {
        PodEniView {
            eni_id: eni.eni_id,
            if_address: eni.if_address.to_string(),
            private_ip: eni.private_ip.to_string(),
            vlan_id: eni.vlan_id,
            subnet_cidr: eni.subnet_cidr.map(|c| c.to_string()),
        }
    }
}

impl KubernetesNodeView {
    fn new(node: NodeFacts, cluster: &dyn ClusterDirectory) -> Self {
        let eni_config = node
            .eni_config
            .as_deref()
            .and_then(|n| cluster.eni_config(n));
        KubernetesNodeView {
            name: node.name,
            provider_id: node.provider_id,
            instance_id: node.instance_id,
            availability_zone: node.availability_zone,
            instance_type: node.instance_type,
            pod_cidrs: node.pod_cidrs.iter().map(ToString::to_string).collect(),
            trunk_attached: node.trunk_attached,
            eni_config: node.eni_config,
            eni_config_subnet: eni_config.as_ref().and_then(|c| c.subnet.clone()),
            eni_config_security_groups: eni_config.map(|c| c.security_groups).unwrap_or_default(),
        }
    }
}

/// The pod's Kubernetes facts when the server watches the cluster the pod's interfaces were
/// found in (the first interface's cluster decides).
pub(crate) fn pod_facts<'a>(
    state: &'a AppState,
    cluster: Option<&str>,
    namespace: &str,
    name: &str,
) -> Option<(PodFacts, &'a dyn ClusterDirectory)> {
    let directory = state.cluster.as_deref()?;
    if cluster.is_some_and(|c| !directory.describes(c)) {
        return None;
    }
    Some((directory.pod(namespace, name)?, directory))
}

/// The cross-checks of one interface, when the pod's facts are known: against the kernel-resolved
/// path, and the annotation's branch ENI id against EC2's ENI joined by MAC (`ec2_eni_id`).
pub(crate) fn interface_checks(
    facts: Option<&PodFacts>,
    node: &str,
    path: Option<&podwire_node_state::resolver::PodPath>,
    ec2_eni_id: Option<&str>,
) -> Vec<CrossCheck> {
    let Some(facts) = facts else {
        return Vec::new();
    };
    let mut checks = crate::cluster::cross_check(facts, node, path);
    checks.extend(crate::cluster::cross_check_ec2(facts, path, ec2_eni_id));
    checks
}
