//! Reflected Kubernetes objects into [`facts`](super::facts): the one place that knows the
//! shapes of Pod, Node, ENIConfig and SecurityGroupPolicy.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt as _;
use kube::api::DynamicObject;

use super::facts::{
    EniConfigFacts, NodeFacts, PodFacts, SecurityGroupPolicyFacts, Workload,
    deployment_of_replica_set, parse_provider_id,
};
use super::pod_eni::{POD_ENI_ANNOTATION, parse_pod_eni};

pub const INSTANCE_TYPE_LABEL: &str = "node.kubernetes.io/instance-type";
pub const TRUNK_ATTACHED_LABEL: &str = "vpc.amazonaws.com/has-trunk-attached";
pub const ENI_CONFIG_LABEL: &str = "k8s.amazonaws.com/eniConfig";

pub fn pod_facts(pod: &Pod) -> PodFacts {
    let labels = pod.labels().clone();
    let workload = pod
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|owner| match owner.kind.as_str() {
            "ReplicaSet" => match deployment_of_replica_set(&owner.name, &labels) {
                Some(deployment) => Workload {
                    kind: "Deployment".into(),
                    name: deployment,
                },
                None => Workload {
                    kind: "ReplicaSet".into(),
                    name: owner.name.clone(),
                },
            },
            kind => Workload {
                kind: kind.to_owned(),
                name: owner.name.clone(),
            },
        });
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let pod_ips = status
        .and_then(|s| s.pod_ips.as_ref())
        .map(|ips| ips.iter().filter_map(|ip| ip.ip.parse().ok()).collect())
        .unwrap_or_default();
    PodFacts {
        uid: pod.uid().unwrap_or_default(),
        namespace: pod.namespace().unwrap_or_default(),
        name: pod.name_any(),
        labels,
        workload,
        node_name: spec.and_then(|s| s.node_name.clone()),
        pod_ips,
        host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
        phase: status.and_then(|s| s.phase.clone()),
        pod_eni: pod
            .annotations()
            .get(POD_ENI_ANNOTATION)
            .map(|value| parse_pod_eni(value).map_err(|e| format!("{e}: {}", e_source(&e)))),
    }
}

fn e_source(err: &dyn std::error::Error) -> String {
    err.source().map(ToString::to_string).unwrap_or_default()
}

pub fn node_facts(node: &Node) -> NodeFacts {
    let labels = node.labels();
    let spec = node.spec.as_ref();
    let provider_id = spec.and_then(|s| s.provider_id.clone());
    let (availability_zone, instance_id) = provider_id
        .as_deref()
        .and_then(parse_provider_id)
        .map_or((None, None), |(zone, id)| (zone, Some(id)));
    let pod_cidrs = spec
        .and_then(|s| {
            s.pod_cidrs
                .clone()
                .or_else(|| s.pod_cidr.clone().map(|c| vec![c]))
        })
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    NodeFacts {
        name: node.name_any(),
        provider_id,
        instance_id,
        availability_zone: availability_zone
            .or_else(|| labels.get("topology.kubernetes.io/zone").cloned()),
        instance_type: labels.get(INSTANCE_TYPE_LABEL).cloned(),
        pod_cidrs,
        trunk_attached: labels.get(TRUNK_ATTACHED_LABEL).map(|v| v == "true"),
        eni_config: labels.get(ENI_CONFIG_LABEL).cloned(),
    }
}

pub fn eni_config_facts(object: &DynamicObject) -> EniConfigFacts {
    let spec = &object.data["spec"];
    EniConfigFacts {
        name: object.name_any(),
        subnet: spec["subnet"].as_str().map(str::to_owned),
        security_groups: strings(&spec["securityGroups"]),
    }
}

pub fn security_group_policy_facts(object: &DynamicObject) -> SecurityGroupPolicyFacts {
    let spec = &object.data["spec"];
    let pod_selector = spec["podSelector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    SecurityGroupPolicyFacts {
        namespace: object.namespace().unwrap_or_default(),
        name: object.name_any(),
        group_ids: strings(&spec["securityGroups"]["groupIds"]),
        pod_selector,
    }
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
