//! The pod page's Kubernetes part: the workload, labels and node as the API has them now, and
//! every disagreement between the API and the kernel-resolved path among the interface's
//! problems.

use crate::api::AppState;
use crate::cluster::{ClusterDirectory, PodFacts};
use crate::read::PodDetail;

/// What the page shows of the pod's Kubernetes object.
pub(crate) struct KubernetesSection {
    pub workload: String,
    pub labels: Vec<(String, String)>,
    pub node: String,
    pub branch_enis: Vec<String>,
}

/// The pod's facts, when the server watches the cluster its first interface is in.
pub(crate) fn facts<'a>(
    state: &'a AppState,
    detail: &PodDetail,
) -> Option<(PodFacts, &'a dyn ClusterDirectory)> {
    let directory = state.cluster.as_deref()?;
    let cluster = detail
        .interfaces
        .first()
        .map(|i| i.attachment.cluster.as_str());
    if cluster.is_some_and(|c| !directory.describes(c)) {
        return None;
    }
    Some((directory.pod(&detail.namespace, &detail.name)?, directory))
}

/// The disagreements of each interface, as (code, message) problems.
pub(crate) fn disagreements(facts: &PodFacts, detail: &PodDetail) -> Vec<Vec<(String, String)>> {
    detail
        .interfaces
        .iter()
        .map(|i| {
            let ec2_id = i
                .ec2
                .as_ref()
                .map(|e| e.eni.eni.network_interface_id.as_str());
            crate::cluster::cross_check(facts, &i.attachment.node, i.path.as_ref())
                .into_iter()
                .chain(crate::cluster::cross_check_ec2(
                    facts,
                    i.path.as_ref(),
                    ec2_id,
                ))
                .filter(|c| !c.agrees)
                .map(|c| (format!("kubernetes: {}", c.check), c.message))
                .collect()
        })
        .collect()
}

pub(crate) fn section(facts: &PodFacts, directory: &dyn ClusterDirectory) -> KubernetesSection {
    let workload = facts.workload.as_ref().map_or_else(
        || "none (a bare pod)".to_owned(),
        |w| format!("{} {}", w.kind, w.name),
    );
    let node = match facts.node_name.as_deref() {
        None => "not scheduled".to_owned(),
        Some(name) => match directory.node(name) {
            None => name.to_owned(),
            Some(n) => {
                let mut text = name.to_owned();
                for part in [n.instance_id, n.instance_type, n.availability_zone]
                    .into_iter()
                    .flatten()
                {
                    text.push_str(" · ");
                    text.push_str(&part);
                }
                text
            }
        },
    };
    let branch_enis = match &facts.pod_eni {
        None => Vec::new(),
        Some(Err(why)) => vec![why.clone()],
        Some(Ok(enis)) => enis
            .iter()
            .map(|e| {
                format!(
                    "{} vlan {} MAC {} IP {}",
                    e.eni_id, e.vlan_id, e.if_address, e.private_ip
                )
            })
            .collect(),
    };
    KubernetesSection {
        workload,
        labels: facts
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        node,
        branch_enis,
    }
}
