//! One pod at a time T: each of its interfaces with the full path re-resolved from its node's
//! snapshot then, the ENI carrying it, and the pod's whole timeline.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use podwire_node_state::resolver::PodPath;

use super::node::SnapshotMeta;
use super::{ReadError, Reader, ResolvedSnapshot};
use crate::enrich::model::{EC2_SOURCE, EnrichmentStatus, StoredEc2Eni, StoredSubnet};
use crate::history::{NodeEni, enis_of};
use crate::store::NodeId;
use crate::store::queries::AttachmentInterval;

/// One interface of the pod at T.
#[derive(Debug, Clone)]
pub struct PodInterfaceAt {
    pub attachment: AttachmentInterval,
    /// The snapshot the path was resolved from.
    pub snapshot: Option<SnapshotMeta>,
    /// `None` if the snapshot is gone or no longer resolves to this interface.
    pub path: Option<PodPath>,
    /// The ENI that carries the traffic: the one whose MAC the path ends on, else the one whose
    /// address pool holds the pod's IP.
    pub eni: Option<NodeEni>,
    /// EC2's description of the ENI whose MAC the pod's path ends on, as of T (enrichment).
    pub ec2: Option<Ec2Facts>,
    /// EC2's description of the ENI the second, SNAT path ends on (internet-bound traffic of a
    /// pod on a secondary ENI leaves through the primary one), when the path has one.
    pub snat_ec2: Option<Ec2Facts>,
}

/// What EC2 enrichment stored about one ENI and its subnet, valid at T.
#[derive(Debug, Clone)]
pub struct Ec2Facts {
    pub eni: StoredEc2Eni,
    pub subnet: Option<StoredSubnet>,
}

/// A pod at T and its history.
#[derive(Debug, Clone)]
pub struct PodDetail {
    pub namespace: String,
    pub name: String,
    pub at: DateTime<Utc>,
    /// Several when the pod has several interfaces, or the name exists in several clusters.
    pub interfaces: Vec<PodInterfaceAt>,
    /// Every interval of the pod, oldest first: its IPs, nodes and ENIs over time.
    pub timeline: Vec<AttachmentInterval>,
    /// How EC2 enrichment is doing: whether [`PodInterfaceAt::ec2`] may be out of date.
    pub enrichment: EnrichmentStatus,
}

impl Reader {
    /// The pod `namespace/name` at `at`, optionally in one cluster. Not found when the pod had
    /// no interface at `at` and never had one.
    pub async fn pod_detail(
        &self,
        cluster: Option<&str>,
        namespace: &str,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<PodDetail, ReadError> {
        let rows = self.store.pod_at(cluster, namespace, name, at).await?;
        let timeline = self.store.pod_timeline(cluster, namespace, name).await?;
        if rows.is_empty() && timeline.is_empty() {
            return Err(ReadError::NotFound {
                what: format!("pod {namespace}/{name}"),
            });
        }
        // One snapshot and one resolution per node, however many interfaces the pod has there.
        let mut resolved: HashMap<NodeId, Option<ResolvedSnapshot>> = HashMap::new();
        for row in &rows {
            if let std::collections::hash_map::Entry::Vacant(slot) = resolved.entry(row.node_id) {
                slot.insert(self.resolved_snapshot_at(row.node_id, at).await?);
            }
        }
        let mut interfaces: Vec<PodInterfaceAt> = rows
            .into_iter()
            .map(|row| {
                let state = resolved.get(&row.node_id).and_then(Option::as_ref);
                interface_at(row, state)
            })
            .collect();
        for interface in &mut interfaces {
            let mac = interface.attachment.attachment.eni_mac;
            interface.ec2 = self.ec2_facts(mac, at).await?;
            let snat_mac = interface
                .path
                .as_ref()
                .and_then(|p| p.snat_egress.as_ref())
                .and_then(|e| e.eni_mac);
            interface.snat_ec2 = if snat_mac.is_some() && snat_mac == mac {
                interface.ec2.clone()
            } else {
                self.ec2_facts(snat_mac, at).await?
            };
        }
        Ok(PodDetail {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            at,
            interfaces,
            timeline,
            enrichment: self.store.enrichment_status(EC2_SOURCE).await?,
        })
    }
}

impl Reader {
    /// EC2's ENI with MAC `mac` and its subnet, as of `at`: the join by MAC.
    pub async fn ec2_facts(
        &self,
        mac: Option<podwire_node_state::MacAddr>,
        at: DateTime<Utc>,
    ) -> Result<Option<Ec2Facts>, ReadError> {
        let Some(mac) = mac else { return Ok(None) };
        let Some(eni) = self.store.ec2_eni_by_mac_at(mac, at).await? else {
            return Ok(None);
        };
        let subnet = match eni.eni.subnet_id.as_deref() {
            Some(id) => self.store.ec2_subnet_at(id, at).await?,
            None => None,
        };
        Ok(Some(Ec2Facts { eni, subnet }))
    }
}

fn interface_at(row: AttachmentInterval, state: Option<&ResolvedSnapshot>) -> PodInterfaceAt {
    let Some(state) = state else {
        return PodInterfaceAt {
            attachment: row,
            snapshot: None,
            path: None,
            eni: None,
            ec2: None,
            snat_ec2: None,
        };
    };
    let path = state
        .resolution
        .pods
        .iter()
        .find(|p| {
            p.netns.inode == row.attachment.netns_inode
                && p.pod_interface.name == row.attachment.interface
        })
        .cloned();
    if path.is_none() {
        tracing::warn!(
            node_id = row.node_id.0,
            interface = %row.attachment.interface,
            "no path for an attached pod interface at this time"
        );
    }
    let enis = enis_of(&state.snapshot);
    let eni = row
        .attachment
        .eni_mac
        .and_then(|mac| enis.iter().find(|e| e.mac == Some(mac)))
        .or_else(|| {
            let ip = row.attachment.ip?;
            let owner = owning_eni_id(&state.snapshot, ip)?;
            enis.iter().find(|e| e.eni_id == owner)
        })
        .cloned();
    PodInterfaceAt {
        attachment: row,
        snapshot: Some(SnapshotMeta::from(state)),
        path,
        eni,
        ec2: None,
        snat_ec2: None,
    }
}

/// The ENI whose ipamd address pool holds `ip`.
pub(crate) fn owning_eni_id(
    snapshot: &podwire_node_state::NodeSnapshot,
    ip: std::net::IpAddr,
) -> Option<String> {
    let ipamd = snapshot.vpc_cni.as_ref()?.ipamd.as_ref()?;
    ipamd
        .network_cards
        .iter()
        .flat_map(|card| card.enis.iter())
        .find(|eni| eni.cidrs.iter().any(|c| c.cidr.contains(&ip)))
        .map(|eni| eni.id.clone())
}
