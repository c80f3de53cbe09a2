//! One ENI at a time T: its address pool and the pods on it, its branch ENIs when it is a trunk,
//! and where it has been attached over time.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use podwire_node_state::MacAddr;
use podwire_node_state::resolver::Wiring;

use super::{ReadError, Reader};
use crate::store::queries::AttachmentInterval;
use crate::store::{EniFilter, EniInterval, PodPageFilter};

/// One address of an ENI's pool: a secondary IP or an address of a delegated prefix that ipamd
/// lists (assigned or cooling down).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EniAddress {
    pub ip: IpAddr,
    /// The secondary IP or prefix it belongs to.
    pub cidr: String,
    pub assigned: bool,
    /// ipamd's record of the pod (empty in v1.23+ answers, which scrub it).
    pub pod_namespace: Option<String>,
    pub pod_name: Option<String>,
}

/// A branch ENI riding on a trunk: a vlan of the trunk's device, dedicated to one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    pub vlan_id: u16,
    /// The vlan link's MAC: the branch ENI's.
    pub mac: Option<MacAddr>,
    pub device: Option<String>,
    pub pod: AttachmentInterval,
}

/// An ENI as of T.
#[derive(Debug, Clone)]
pub struct EniDetail {
    pub eni_id: String,
    pub at: DateTime<Utc>,
    /// Where the ENI was attached at T; `None` when it was not attached to any reporting node.
    pub attached: Option<EniInterval>,
    pub addresses: Vec<EniAddress>,
    /// Secondary IPs or prefixes the ENI holds.
    pub cidrs: Vec<String>,
    /// Pods whose traffic the ENI carried at T.
    pub pods: Vec<AttachmentInterval>,
    /// For a trunk: its branch ENIs at T.
    pub branches: Vec<Branch>,
    /// Every interval of this ENI, oldest first.
    pub timeline: Vec<EniInterval>,
}

impl Reader {
    /// The ENI `eni_id` as of `at`. Not found when no node ever reported it.
    pub async fn eni_detail(
        &self,
        eni_id: &str,
        at: DateTime<Utc>,
    ) -> Result<EniDetail, ReadError> {
        let timeline = self.store.eni_timeline(eni_id).await?;
        if timeline.is_empty() {
            return Err(ReadError::NotFound {
                what: format!("ENI {eni_id}"),
            });
        }
        let attached = self
            .store
            .enis_at(
                &EniFilter {
                    eni_id: Some(eni_id.to_owned()),
                    ..EniFilter::default()
                },
                at,
            )
            .await?
            .into_iter()
            .next();
        let mut detail = EniDetail {
            eni_id: eni_id.to_owned(),
            at,
            attached: attached.clone(),
            addresses: Vec::new(),
            cidrs: Vec::new(),
            pods: Vec::new(),
            branches: Vec::new(),
            timeline,
        };
        let Some(attached) = attached else {
            return Ok(detail);
        };
        if let Some(state) = self.resolved_snapshot_at(attached.node_id, at).await? {
            let enis = state
                .snapshot
                .vpc_cni
                .as_ref()
                .and_then(|v| v.ipamd.as_ref())
                .map(|i| i.network_cards.iter().flat_map(|c| c.enis.iter()));
            if let Some(eni) = enis.and_then(|mut e| e.find(|e| e.id == eni_id)) {
                for cidr in &eni.cidrs {
                    detail.cidrs.push(cidr.cidr.to_string());
                    for address in &cidr.addresses {
                        detail.addresses.push(EniAddress {
                            ip: address.ip,
                            cidr: cidr.cidr.to_string(),
                            assigned: address.assigned,
                            pod_namespace: address.pod_namespace.clone(),
                            pod_name: address.pod_name.clone(),
                        });
                    }
                }
            }
        }
        let node_pods = self
            .store
            .pods_page(
                &PodPageFilter {
                    node_id: Some(attached.node_id),
                    limit: 100_000,
                    ..PodPageFilter::default()
                },
                at,
            )
            .await?;
        for pod in node_pods {
            let on_eni = attached.eni.mac.is_some() && pod.attachment.eni_mac == attached.eni.mac;
            // VPC CNI attaches one trunk ENI per node: every branch pod of the node rides on it.
            if attached.eni.is_trunk
                && pod.attachment.wiring == Wiring::AwsVpcCniBranch
                && pod.attachment.vlan_id.is_some()
            {
                detail.branches.push(Branch {
                    vlan_id: pod.attachment.vlan_id.unwrap_or_default(),
                    mac: pod.attachment.eni_mac,
                    device: pod.attachment.egress_device.clone(),
                    pod,
                });
            } else if on_eni {
                detail.pods.push(pod);
            }
        }
        detail.branches.sort_by_key(|b| b.vlan_id);
        Ok(detail)
    }
}
