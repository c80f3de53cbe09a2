//! Finding the pods: every veth in a pod namespace whose peer is a host veth pointing back at it,
//! and the namespaces the CNI cache names that have no such veth at all.

use foldhash::{HashMap, HashMapExt, HashSet};

use super::identity::CniCacheIndex;
use super::index::{HostIndex, global_address};
use super::path::{NeighborRef, PodInterface};
use crate::model::{CniCacheEntry, IpFamily, Link, NetnsState, NodeSnapshot, table};

/// One pod interface and the host side of its veth.
#[derive(Debug, Clone, Copy)]
pub(super) struct PodAttachment<'a> {
    pub ns: &'a NetnsState,
    /// The interface inside the pod (`eth0`); `None` when the namespace has no interface to name.
    pub link: Option<&'a Link>,
    /// The host end of the veth; `None` for a namespace the CNI cache names but no host veth
    /// leads into.
    pub host_veth: Option<&'a Link>,
    /// For such a namespace, the cache entry that names it.
    pub orphan_entry: Option<&'a CniCacheEntry>,
}

struct Claim<'a> {
    ns: &'a NetnsState,
    link: &'a Link,
    host_veth: &'a Link,
    /// The host veth's `link-netnsid` is this namespace's nsid.
    verified: bool,
}

/// Pairs pod interfaces with host veths.
///
/// A pair is certain when the host's nsid for the namespace is known and the host veth's
/// `link-netnsid` equals it. Without an nsid, ifindexes alone could pair the host veth with the
/// wrong namespace (every pod's `eth0` tends to be ifindex 3), so such a pair is accepted only
/// when no other namespace could claim the same host veth.
pub(super) fn discover<'a>(
    snapshot: &'a NodeSnapshot,
    host: &HostIndex<'a>,
    cache: &CniCacheIndex<'a>,
) -> Vec<PodAttachment<'a>> {
    let mut claims = Vec::new();
    for ns in &snapshot.namespaces {
        for link in ns.links.iter().filter(|l| l.is_veth()) {
            let Some(host_veth) = link.link.and_then(|peer| host.link(peer)) else {
                continue;
            };
            let points_back = host_veth.is_veth() && host_veth.link == Some(link.ifindex);
            let Some(peer_nsid) = host_veth.link_netnsid.filter(|_| points_back) else {
                continue;
            };
            match ns.nsid {
                Some(nsid) if nsid != peer_nsid => continue,
                nsid => claims.push(Claim {
                    ns,
                    link,
                    host_veth,
                    verified: nsid.is_some(),
                }),
            }
        }
    }

    let mut claimants: HashMap<u32, usize> = HashMap::new();
    for claim in &claims {
        *claimants.entry(claim.host_veth.ifindex).or_default() += 1;
    }
    let known_nsids: HashSet<i32> = snapshot
        .namespaces
        .iter()
        .filter_map(|ns| ns.nsid)
        .collect();
    let accepted = claims.into_iter().filter(|c| {
        c.verified
            || (claimants.get(&c.host_veth.ifindex) == Some(&1)
                && c.host_veth
                    .link_netnsid
                    .is_none_or(|nsid| !known_nsids.contains(&nsid)))
    });

    let mut attachments: Vec<PodAttachment<'a>> = accepted
        .map(|c| PodAttachment {
            ns: c.ns,
            link: Some(c.link),
            host_veth: Some(c.host_veth),
            orphan_entry: None,
        })
        .collect();

    // Namespaces are deduplicated by inode when collected.
    let paired: HashSet<u64> = attachments.iter().map(|a| a.ns.inode).collect();
    for ns in &snapshot.namespaces {
        if paired.contains(&ns.inode) {
            continue;
        }
        let Some(entry) = cache.for_netns(ns).next() else {
            continue;
        };
        let link = ns.link_by_name(&entry.if_name).or_else(|| {
            ns.links
                .iter()
                .find(|l| !matches!(l.kind, crate::model::LinkKind::Loopback) && l.name != "lo")
        });
        attachments.push(PodAttachment {
            ns,
            link,
            host_veth: None,
            orphan_entry: Some(entry),
        });
    }
    attachments
}

/// The pod's interface: its address, and the gateway and neighbour entry of its default route.
pub(super) fn pod_interface(ns: &NetnsState, link: &Link) -> PodInterface {
    let ip = global_address(ns, link.ifindex, IpFamily::V4)
        .or_else(|| global_address(ns, link.ifindex, IpFamily::V6));
    let gateway = ip.and_then(|ip| {
        let family = IpFamily::of(&ip.addr());
        ns.routes
            .iter()
            .filter(|r| r.table == table::MAIN && r.destination.prefix_len() == 0)
            .filter(|r| super::index::family_of_net(&r.destination) == family)
            .find(|r| r.oif == Some(link.ifindex))
            .and_then(|r| r.gateway)
    });
    let gateway_neighbor = gateway.and_then(|gw| {
        ns.neighbors
            .iter()
            .find(|n| n.ifindex == link.ifindex && n.address == gw)
            .map(|n| NeighborRef {
                lladdr: n.lladdr,
                state: n.state.clone(),
            })
    });
    PodInterface {
        name: link.name.clone(),
        ifindex: link.ifindex,
        ip,
        mac: link.mac,
        gateway,
        gateway_neighbor,
    }
}
