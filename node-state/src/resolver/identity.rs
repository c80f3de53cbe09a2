//! Which Kubernetes pod a namespace belongs to: the libcni result cache first, and when no entry
//! names the pod, the raw facts plus whatever ipamd, its checkpoint or host-local IPAM say.

use std::net::IpAddr;

use foldhash::{HashMap, HashMapExt};

use super::path::{PodInterface, Problem, ProblemCode};
use crate::model::{CniCacheEntry, NetnsState, NodeSnapshot};

/// A pod's Kubernetes identity, and the cache entry it came from.
#[derive(Debug, Default)]
pub(super) struct Identity<'a> {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub container_id: Option<String>,
    pub entry: Option<&'a CniCacheEntry>,
    pub problem: Option<Problem>,
}

/// The CNI result cache, indexed once per resolution by the netns each entry names and by the
/// IPs it returned, each list in cache order.
#[derive(Debug, Default)]
pub(super) struct CniCacheIndex<'a> {
    by_path: HashMap<&'a str, Vec<&'a CniCacheEntry>>,
    /// By the last path element: `/var/run/netns/cni-…` and `/run/netns/cni-…` are one namespace,
    /// named `cni-…` in the netns directory.
    by_name: HashMap<&'a str, Vec<&'a CniCacheEntry>>,
    by_ip: HashMap<IpAddr, &'a CniCacheEntry>,
}

impl<'a> CniCacheIndex<'a> {
    pub(super) fn new(cache: &'a [CniCacheEntry]) -> Self {
        let mut index = CniCacheIndex {
            by_path: HashMap::with_capacity(cache.len()),
            by_name: HashMap::with_capacity(cache.len()),
            by_ip: HashMap::with_capacity(cache.len()),
        };
        for entry in cache {
            if let Some(path) = entry.netns_path.as_deref() {
                index.by_path.entry(path).or_default().push(entry);
                if let Some(name) = path.rsplit('/').next() {
                    index.by_name.entry(name).or_default().push(entry);
                }
            }
            for ip in &entry.ips {
                index.by_ip.entry(ip.addr()).or_insert(entry);
            }
        }
        index
    }

    /// The entries naming a namespace: by its path, then by its name.
    pub(super) fn for_netns(
        &self,
        ns: &NetnsState,
    ) -> impl Iterator<Item = &'a CniCacheEntry> + '_ {
        let by_path = self.by_path.get(ns.path.as_str()).into_iter().flatten();
        let by_name = ns
            .name
            .as_deref()
            .and_then(|name| self.by_name.get(name))
            .into_iter()
            .flatten();
        by_path.chain(by_name).copied()
    }

    /// The cache entry for one pod interface: the one naming its namespace and interface, else
    /// one whose result holds its IP, else one naming its namespace for another interface (a
    /// second network attached without a cache entry of its own: the namespace is still the pod's).
    fn entry_for(&self, ns: &NetnsState, iface: &PodInterface) -> Option<&'a CniCacheEntry> {
        self.for_netns(ns)
            .find(|e| e.if_name == iface.name)
            .or_else(|| iface.ip.and_then(|ip| self.by_ip.get(&ip.addr()).copied()))
            .or_else(|| self.for_netns(ns).next())
    }
}

impl<'a> Identity<'a> {
    pub(super) fn from_entry(entry: &'a CniCacheEntry) -> Self {
        Identity {
            namespace: entry.pod_namespace.clone(),
            name: entry.pod_name.clone(),
            container_id: Some(entry.container_id.clone()).filter(|id| !id.is_empty()),
            entry: Some(entry),
            problem: None,
        }
    }
}

pub(super) fn identify<'a>(
    snapshot: &NodeSnapshot,
    cache: &CniCacheIndex<'a>,
    ns: &NetnsState,
    iface: &PodInterface,
) -> Identity<'a> {
    if let Some(entry) = cache.entry_for(ns, iface) {
        return Identity::from_entry(entry);
    }
    let mut identity = Identity::default();
    let mut message = format!(
        "no CNI result cache entry names netns {} (path {}, inode {}) with interface {} (ifindex {}, MAC {}, IP {})",
        ns.name.as_deref().unwrap_or("(unnamed)"),
        ns.path,
        ns.inode,
        iface.name,
        iface.ifindex,
        iface
            .mac
            .map_or_else(|| "none".to_owned(), |m| m.to_string()),
        iface
            .ip
            .map_or_else(|| "none".to_owned(), |ip| ip.to_string()),
    );
    if let Some(ip) = iface.ip.map(|net| net.addr()) {
        for fact in ipam_facts(snapshot, ip, &mut identity) {
            message.push_str("; ");
            message.push_str(&fact);
        }
    }
    identity.problem = Some(Problem::new(ProblemCode::NoCniCacheEntry, message));
    identity
}

/// What the IPAM sources say about an IP no cache entry names; fills the identity from the first
/// that names a pod.
fn ipam_facts(snapshot: &NodeSnapshot, ip: IpAddr, identity: &mut Identity<'_>) -> Vec<String> {
    let mut facts = Vec::new();
    let mut adopt = |source: &str,
                     namespace: &Option<String>,
                     name: &Option<String>,
                     container: &Option<String>| {
        let (Some(namespace), Some(name)) = (namespace, name) else {
            return;
        };
        if identity.name.is_some() {
            facts.push(format!("{source} also assigns {ip} to {namespace}/{name}"));
            return;
        }
        facts.push(format!(
            "namespace and name from {source}, which assigns {ip} to {namespace}/{name}"
        ));
        identity.namespace = Some(namespace.clone());
        identity.name = Some(name.clone());
        if identity.container_id.is_none() {
            identity.container_id = container.clone().filter(|c| !c.is_empty());
        }
    };
    if let Some(vpc) = &snapshot.vpc_cni {
        let ipamd_address = vpc
            .ipamd
            .iter()
            .flat_map(|ipamd| &ipamd.network_cards)
            .flat_map(|card| &card.enis)
            .flat_map(|eni| &eni.cidrs)
            .flat_map(|cidr| &cidr.addresses)
            .find(|a| a.ip == ip && a.assigned);
        if let Some(a) = ipamd_address {
            adopt("ipamd", &a.pod_namespace, &a.pod_name, &a.container_id);
        }
        if let Some(checkpoint) = &vpc.checkpoint {
            let allocation = checkpoint
                .allocations
                .iter()
                .find(|a| a.ipv4 == Some(ip) || a.ipv6 == Some(ip));
            if let Some(a) = allocation {
                let source = format!("the ipamd checkpoint {}", checkpoint.file);
                adopt(
                    &source,
                    &a.pod_namespace,
                    &a.pod_name,
                    &Some(a.container_id.clone()),
                );
            }
        }
    }
    for network in &snapshot.cni.host_local {
        if let Some(a) = network.allocations.iter().find(|a| a.ip == ip) {
            facts.push(format!(
                "host-local network {} allocated {ip} to container {}",
                network.network, a.container_id
            ));
            if identity.container_id.is_none() && !a.container_id.is_empty() {
                identity.container_id = Some(a.container_id.clone());
            }
        }
    }
    facts
}
