//! The few facts of a resolved pod interface that a history keeps, and a resolution that produces
//! only them: the same walk as [`super::resolve`], without the display texts (the rules naming the
//! pod, path labels, rule and route descriptions) that only a reader of the full path needs.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::path::{PodPath, ProblemCode, Wiring};
use crate::model::MacAddr;

/// One pod interface as a history records it: who, where, and through which table, device and
/// ENI its traffic leaves. [`PodFacts::of`] reads them from a full [`PodPath`];
/// [`super::resolve_facts`] gives the same values without building the path's texts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodFacts {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub netns_inode: u64,
    /// The pod-side interface (`eth0`).
    pub interface: String,
    /// The pod interface's address, without its prefix length.
    pub ip: Option<IpAddr>,
    pub mac: Option<MacAddr>,
    pub host_veth: Option<String>,
    pub bridge: Option<String>,
    /// The table, device, ENI MAC and vlan of the pod's egress path (not the SNAT path's).
    pub table: Option<u32>,
    pub egress_device: Option<String>,
    pub eni_mac: Option<MacAddr>,
    pub vlan_id: Option<u16>,
    pub wiring: Wiring,
    /// The codes of every problem of the path (the SNAT path's included), in the order found.
    pub problems: Vec<ProblemCode>,
}

impl PodFacts {
    /// The facts of a fully resolved path.
    pub fn of(path: &PodPath) -> Self {
        PodFacts::from_path(path.clone())
    }

    /// [`PodFacts::of`], taking the path's strings instead of copying them.
    pub(super) fn from_path(path: PodPath) -> Self {
        let ip = path.ip();
        let egress = path.egress;
        let (table, egress_device, eni_mac, vlan_id) = match egress {
            Some(e) => (
                e.table,
                e.egress_device.map(|l| l.name),
                e.eni_mac,
                e.vlan_id,
            ),
            None => (None, None, None, None),
        };
        PodFacts {
            namespace: path.namespace,
            name: path.name,
            netns_inode: path.netns.inode,
            interface: path.pod_interface.name,
            ip,
            mac: path.pod_interface.mac,
            host_veth: path.host_veth.map(|l| l.name),
            bridge: path.bridge.map(|l| l.name),
            table,
            egress_device,
            eni_mac,
            vlan_id,
            wiring: path.wiring,
            problems: path.problems.into_iter().map(|p| p.code).collect(),
        }
    }
}

/// How much of each path a resolution builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Detail {
    /// Everything, texts included: [`super::resolve`].
    Full,
    /// What [`PodFacts`] reads: the rules naming the pod, path labels, the deciding rule's and
    /// route's descriptions are left empty. Problems keep their codes; their messages may lack
    /// the path's label.
    Facts,
}

impl Detail {
    pub(super) fn texts(self) -> bool {
        self == Detail::Full
    }
}
