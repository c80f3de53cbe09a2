//! One ENI at a time T: its address pool and the pods on it, its branch ENIs when it is a trunk,
//! and where it has been attached over time.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use podwire_node_state::MacAddr;
use podwire_node_state::resolver::Wiring;

use podwire_node_state::ec2::{EniKind, TRUNK_ENI_ID_TAG};

use super::{Ec2Facts, ReadError, Reader};
use crate::enrich::model::{EC2_SOURCE, EnrichmentStatus, StoredEc2Eni};
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
    /// EC2's description of the ENI and its subnet as of T (enrichment).
    pub ec2: Option<Ec2Facts>,
    /// For a branch ENI: the trunk it rides on (tag `vpcresources.k8s.aws/trunk-eni-id`).
    pub trunk_eni_id: Option<String>,
    /// For a trunk ENI: the branch ENIs EC2 tags with its id, as of T.
    pub ec2_branches: Vec<StoredEc2Eni>,
    /// How EC2 enrichment is doing: whether the EC2 facts may be out of date.
    pub enrichment: EnrichmentStatus,
}

impl Reader {
    /// The ENI `eni_id` as of `at`. Not found when no node ever reported it and EC2
    /// enrichment never described it (branch ENIs are known from EC2 only: ipamd does not list
    /// them).
    pub async fn eni_detail(
        &self,
        eni_id: &str,
        at: DateTime<Utc>,
    ) -> Result<EniDetail, ReadError> {
        let timeline = self.store.eni_timeline(eni_id).await?;
        let ec2 = self.ec2_facts_by_id(eni_id, at).await?;
        if timeline.is_empty()
            && ec2.is_none()
            && !self.store.ec2_eni_ever_described(eni_id).await?
        {
            return Err(ReadError::NotFound {
                what: format!("ENI {eni_id}"),
            });
        }
        let trunk_eni_id = ec2
            .as_ref()
            .and_then(|f| f.eni.eni.tag(TRUNK_ENI_ID_TAG))
            .map(str::to_owned);
        let ec2_branches = match ec2.as_ref().map(|f| f.eni.kind) {
            Some(EniKind::Trunk) => self.store.ec2_branches_of_at(eni_id, at).await?,
            _ => Vec::new(),
        };
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
            ec2,
            trunk_eni_id,
            ec2_branches,
            enrichment: self.store.enrichment_status(EC2_SOURCE).await?,
        };
        let Some(attached) = attached else {
            // Not on a reporting node's ipamd (a branch ENI, or detached): its pods are those
            // whose path ends on its MAC.
            if let Some(mac) = detail.ec2.as_ref().and_then(|f| f.eni.eni.mac()) {
                detail.pods = self
                    .store
                    .pods_page(
                        &PodPageFilter {
                            eni_mac: Some(mac),
                            limit: 1_000,
                            ..PodPageFilter::default()
                        },
                        at,
                    )
                    .await?;
            }
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

    /// EC2's ENI `eni_id` and its subnet, as of `at`.
    pub async fn ec2_facts_by_id(
        &self,
        eni_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Ec2Facts>, ReadError> {
        let Some(eni) = self.store.ec2_eni_by_id_at(eni_id, at).await? else {
            return Ok(None);
        };
        let subnet = match eni.eni.subnet_id.as_deref() {
            Some(id) => self.store.ec2_subnet_at(id, at).await?,
            None => None,
        };
        Ok(Some(Ec2Facts { eni, subnet }))
    }
}
