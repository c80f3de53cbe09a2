//! What the server knows about a pod and a node from the Kubernetes API, as plain data: the part
//! of each object podwire shows beside the kernel's answer. Read from the reflected objects on
//! demand (`convert`), never stored in Postgres: Kubernetes facts are "now".

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::pod_eni::PodEni;

/// The workload that owns a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `ReplicaSet` (a bare one), `Node` (a
    /// static pod's mirror), or any other controller kind named by the owner reference.
    pub kind: String,
    pub name: String,
}

/// One pod as the API server has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodFacts {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `None` for a pod without a controller (created directly).
    pub workload: Option<Workload>,
    pub node_name: Option<String>,
    pub pod_ips: Vec<IpAddr>,
    pub host_network: bool,
    pub phase: Option<String>,
    /// `vpc.amazonaws.com/pod-eni`: `None` without the annotation, `Some(Err(why))` when it
    /// cannot be read (shown, not hidden).
    pub pod_eni: Option<Result<Vec<PodEni>, String>>,
}

/// One node as the API server has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    pub name: String,
    /// `providerID`, `aws:///us-west-2a/i-0abc…`.
    pub provider_id: Option<String>,
    /// The EC2 instance id taken from `providerID` (`None` off AWS).
    pub instance_id: Option<String>,
    pub availability_zone: Option<String>,
    /// `node.kubernetes.io/instance-type`.
    pub instance_type: Option<String>,
    pub pod_cidrs: Vec<IpNet>,
    /// `vpc.amazonaws.com/has-trunk-attached`: `Some(true)` once the VPC resource controller
    /// attached the trunk ENI (security groups for pods).
    pub trunk_attached: Option<bool>,
    /// `k8s.amazonaws.com/eniConfig`: the ENIConfig (custom networking) of this node.
    pub eni_config: Option<String>,
}

/// An ENIConfig (`crd.k8s.amazonaws.com/v1alpha1`): the subnet and security groups of custom
/// networking for the nodes that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EniConfigFacts {
    pub name: String,
    pub subnet: Option<String>,
    pub security_groups: Vec<String>,
}

/// A SecurityGroupPolicy (`vpcresources.k8s.aws/v1beta1`): security groups for the pods or
/// service accounts it selects in its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupPolicyFacts {
    pub namespace: String,
    pub name: String,
    pub group_ids: Vec<String>,
    /// `spec.podSelector.matchLabels`.
    pub pod_selector: BTreeMap<String, String>,
}

/// Splits an AWS `providerID` (`aws:///us-west-2a/i-0123456789abcdef0`, or the older
/// `aws:////i-…` without a zone) into zone and instance id.
pub fn parse_provider_id(provider_id: &str) -> Option<(Option<String>, String)> {
    let rest = provider_id.strip_prefix("aws://")?;
    let mut parts = rest.trim_start_matches('/').rsplitn(2, '/');
    let instance = parts.next().filter(|i| i.starts_with("i-"))?;
    let zone = parts.next().filter(|z| !z.is_empty()).map(str::to_owned);
    Some((zone, instance.to_owned()))
}

/// The Deployment behind a ReplicaSet, by the name convention the Deployment controller keeps:
/// a ReplicaSet it creates is named `<deployment>-<pod-template-hash>` and its pods carry that
/// hash in the `pod-template-hash` label. Following it needs no access to ReplicaSets.
pub fn deployment_of_replica_set(
    replica_set: &str,
    labels: &BTreeMap<String, String>,
) -> Option<String> {
    let hash = labels.get("pod-template-hash")?;
    let name = replica_set.strip_suffix(hash.as_str())?.strip_suffix('-')?;
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_ids_name_zone_and_instance() {
        let cases = [
            (
                "aws:///us-west-2a/i-0a1b2c3d4e5f60718",
                Some((Some("us-west-2a"), "i-0a1b2c3d4e5f60718")),
            ),
            (
                "aws:////i-01ac2403f4932c7ee",
                Some((None, "i-01ac2403f4932c7ee")),
            ),
            ("kind://docker/kind/kind-control-plane", None),
            ("aws:///us-west-2a/", None),
            ("", None),
        ];
        for (id, want) in cases {
            let got = parse_provider_id(id);
            let want = want.map(|(z, i)| (z.map(str::to_owned), i.to_owned()));
            assert_eq!(got, want, "{id}");
        }
    }

    #[test]
    fn replica_sets_lead_to_their_deployment_by_name() {
        let labels = |hash: &str| BTreeMap::from([("pod-template-hash".into(), hash.into())]);
        let cases = [
            ("api-7d4b9c8f6d", labels("7d4b9c8f6d"), Some("api")),
            (
                "my-web-app-5c6b8d9f7",
                labels("5c6b8d9f7"),
                Some("my-web-app"),
            ),
            // A ReplicaSet of its own, not a Deployment's: no hash label, or another hash.
            ("api-7d4b9c8f6d", BTreeMap::new(), None),
            ("api-7d4b9c8f6d", labels("0000000000"), None),
            ("7d4b9c8f6d", labels("7d4b9c8f6d"), None),
        ];
        for (rs, labels, want) in cases {
            assert_eq!(
                deployment_of_replica_set(rs, &labels).as_deref(),
                want,
                "{rs}"
            );
        }
    }
}
