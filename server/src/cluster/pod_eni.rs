//! The `vpc.amazonaws.com/pod-eni` annotation: the branch ENIs the VPC resource controller gave a
//! pod (security groups for pods), as a JSON array:
//! `[{"eniId":"eni-…","ifAddress":"02:b0:…","privateIp":"192.168.26.162","vlanId":1,"subnetCidr":"192.168.0.0/19"}]`.
//!
//! Controller versions spell the vlan key `vlanId` or `vlanID`; both are accepted.

use std::net::IpAddr;

use ipnet::IpNet;
use podwire_node_state::model::MacAddr;
use serde::{Deserialize, Serialize};

/// The annotation's key on the Pod.
pub const POD_ENI_ANNOTATION: &str = "vpc.amazonaws.com/pod-eni";

/// One branch ENI of the annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodEni {
    pub eni_id: String,
    /// The branch ENI's MAC: the MAC of the `vlan.eth.N` link on the node.
    pub if_address: MacAddr,
    pub private_ip: IpAddr,
    #[serde(alias = "vlanID")]
    pub vlan_id: u16,
    pub subnet_cidr: Option<IpNet>,
}

/// Why an annotation could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the {POD_ENI_ANNOTATION} annotation is not a JSON array of branch ENIs")]
pub struct PodEniError(#[source] serde_json::Error);

/// Parses the annotation's value.
pub fn parse_pod_eni(value: &str) -> Result<Vec<PodEni>, PodEniError> {
    serde_json::from_str(value).map_err(PodEniError)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The annotation exactly as `kubectl get pod aws-cli -o yaml` showed it in seed 002 (an EKS
    /// cluster with security groups for pods, 2022).
    const SEED_002: &str = r#"[{"eniId":"eni-09a7a909e06fc4be6","ifAddress":"02:b0:01:6c:b5:79","privateIp":"192.168.26.162","vlanId":1,"subnetCidr":"192.168.0.0/19"}]"#;

    #[test]
    fn the_seed_annotation_names_its_branch_eni() {
        let enis = parse_pod_eni(SEED_002).unwrap();
        assert_eq!(enis.len(), 1);
        let eni = &enis[0];
        assert_eq!(eni.eni_id, "eni-09a7a909e06fc4be6");
        assert_eq!(eni.if_address.to_string(), "02:b0:01:6c:b5:79");
        assert_eq!(eni.private_ip.to_string(), "192.168.26.162");
        assert_eq!(eni.vlan_id, 1);
        assert_eq!(eni.subnet_cidr.unwrap().to_string(), "192.168.0.0/19");
    }

    #[test]
    fn both_spellings_of_the_vlan_key_are_read() {
        let upper = SEED_002.replace("vlanId", "vlanID");
        assert_eq!(parse_pod_eni(&upper).unwrap()[0].vlan_id, 1);
    }

    #[test]
    fn malformed_annotations_are_errors() {
        for bad in [
            "",
            "{}",
            r#"[{"eniId":"eni-1"}]"#,
            &SEED_002.replace("02:b0:01:6c:b5:79", "not-a-mac"),
            &SEED_002.replace("\"vlanId\":1", "\"vlanId\":70000"),
        ] {
            assert!(parse_pod_eni(bad).is_err(), "{bad}");
        }
    }
}
