//! Kubernetes against the kernel: what the API server says about a pod (its node, the branch ENI
//! of its `vpc.amazonaws.com/pod-eni` annotation) compared with the path resolved from the
//! node's own state. Pure: a disagreement is reported, never resolved by guessing which is right.

use podwire_node_state::resolver::{PodPath, Wiring};
use serde::Serialize;

use super::facts::PodFacts;
use super::pod_eni::{POD_ENI_ANNOTATION, PodEni};

/// One comparison and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CrossCheck {
    /// What was compared: `node`, `pod-eni-annotation`, `branch-eni-vlan-id`, `branch-eni-mac`,
    /// `branch-eni-ip`, `branch-eni-wiring`, `branch-eni-id`.
    pub check: &'static str,
    /// What Kubernetes says (`null` when it says nothing).
    pub kubernetes: Option<String>,
    /// What the node's kernel state says (`null` when it says nothing); for `branch-eni-id`, the
    /// id EC2 gives the ENI whose MAC the kernel-resolved path ends on.
    pub kernel: Option<String>,
    /// `false` flags a problem.
    pub agrees: bool,
    pub message: String,
}

impl CrossCheck {
    fn new(
        check: &'static str,
        kubernetes: Option<String>,
        kernel: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        CrossCheck {
            check,
            agrees: kubernetes == kernel,
            kubernetes,
            kernel,
            message: message.into(),
        }
    }
}

/// Compares the pod's Kubernetes facts with one of its interfaces as the agent on `node` saw it
/// (`path` is `None` when the snapshot did not resolve it: only the node is compared then).
pub fn cross_check(facts: &PodFacts, node: &str, path: Option<&PodPath>) -> Vec<CrossCheck> {
    let mut checks = Vec::new();
    if let Some(scheduled) = &facts.node_name {
        checks.push(CrossCheck::new(
            "node",
            Some(scheduled.clone()),
            Some(node.to_owned()),
            format!("Kubernetes schedules the pod on {scheduled}; the agent of {node} found it"),
        ));
    }
    let Some(path) = path else { return checks };
    let egress = path.egress.as_ref();
    let kernel_vlan = egress.and_then(|e| e.vlan_id);
    let kernel_mac = egress.and_then(|e| e.eni_mac);
    let enis = match &facts.pod_eni {
        None => {
            if path.wiring == Wiring::AwsVpcCniBranch {
                checks.push(CrossCheck::new(
                    "branch-eni-wiring",
                    None,
                    kernel_vlan.map(|v| format!("vlan {v}")),
                    format!(
                        "the node wires the pod to a branch ENI, but the pod has no \
                         {POD_ENI_ANNOTATION} annotation"
                    ),
                ));
            }
            return checks;
        }
        Some(Err(why)) => {
            checks.push(CrossCheck {
                check: "pod-eni-annotation",
                kubernetes: None,
                kernel: None,
                agrees: false,
                message: why.clone(),
            });
            return checks;
        }
        Some(Ok(enis)) => enis,
    };
    let pod_ip = path.ip();
    let Some(eni) = annotated_branch(enis, path) else {
        return checks;
    };
    let id = &eni.eni_id;
    if path.wiring != Wiring::AwsVpcCniBranch {
        checks.push(CrossCheck {
            check: "branch-eni-wiring",
            kubernetes: Some(id.clone()),
            kernel: Some(path.wiring.as_str().to_owned()),
            agrees: false,
            message: format!(
                "the annotation gives the pod branch ENI {id}, but the node wires it as {}",
                path.wiring.as_str()
            ),
        });
    }
    checks.push(CrossCheck::new(
        "branch-eni-vlan-id",
        Some(eni.vlan_id.to_string()),
        kernel_vlan.map(|v| v.to_string()),
        format!(
            "the annotation puts {id} on vlan {}; the pod's traffic leaves through {}",
            eni.vlan_id,
            kernel_vlan.map_or_else(|| "no vlan link".to_owned(), |v| format!("vlan {v}"))
        ),
    ));
    checks.push(CrossCheck::new(
        "branch-eni-mac",
        Some(eni.if_address.to_string()),
        kernel_mac.map(|m| m.to_string()),
        format!(
            "the annotation gives {id} the MAC {}; the path ends on {}",
            eni.if_address,
            kernel_mac.map_or_else(|| "no ENI MAC".to_owned(), |m| m.to_string())
        ),
    ));
    checks.push(CrossCheck::new(
        "branch-eni-ip",
        Some(eni.private_ip.to_string()),
        pod_ip.map(|ip| ip.to_string()),
        format!(
            "the annotation gives {id} the address {}; the pod's interface has {}",
            eni.private_ip,
            pod_ip.map_or_else(|| "none".to_owned(), |ip| ip.to_string())
        ),
    ));
    checks
}

/// The branch ENI of the annotation that belongs to this interface: the one holding its IP,
/// else the only one.
fn annotated_branch<'a>(enis: &'a [PodEni], path: &PodPath) -> Option<&'a PodEni> {
    let pod_ip = path.ip();
    enis.iter()
        .find(|e| Some(e.private_ip) == pod_ip)
        .or_else(|| (enis.len() == 1).then(|| &enis[0]))
}

/// Compares the annotation's branch ENI id with the id EC2 gives the ENI whose MAC the path ends
/// on (`ec2_eni_id`, the join by MAC). `None` when either side says nothing: an ENI enrichment has
/// not described yet, or a pod without the annotation, is no disagreement.
pub fn cross_check_ec2(
    facts: &PodFacts,
    path: Option<&PodPath>,
    ec2_eni_id: Option<&str>,
) -> Option<CrossCheck> {
    let ec2_id = ec2_eni_id?;
    let Some(Ok(enis)) = &facts.pod_eni else {
        return None;
    };
    let eni = annotated_branch(enis, path?)?;
    Some(CrossCheck::new(
        "branch-eni-id",
        Some(eni.eni_id.clone()),
        Some(ec2_id.to_owned()),
        format!(
            "the annotation names branch ENI {}; EC2 gives the ENI with the MAC the path ends on \
             the id {ec2_id}",
            eni.eni_id
        ),
    ))
}

#[cfg(test)]
#[path = "cross_check_tests.rs"]
mod tests;
