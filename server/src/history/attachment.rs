//! One pod interface's wiring as the history keeps it: the few columns people search by and
//! compare over time. The full [`PodPath`] is not stored per row; it is re-resolved from the
//! snapshot that was valid at the time asked for.

use std::net::IpAddr;

use podwire_node_state::MacAddr;
use podwire_node_state::resolver::{NodeResolution, PodFacts, PodPath, ProblemCode, Wiring};

use super::diff::Keyed;

/// Identifies one pod interface on one node while it exists: a namespace (by inode) and the
/// interface's name inside it. Two current attachments of a node never share a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttachmentKey {
    pub netns_inode: u64,
    pub interface: String,
}

/// The attributes of one pod interface that the history tracks. When any of them changes, the
/// open interval is closed and a new one opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub netns_inode: u64,
    /// The pod-side interface (`eth0`).
    pub interface: String,
    pub pod_namespace: Option<String>,
    pub pod_name: Option<String>,
    /// The pod interface's address, without its prefix length: the value "who held IP X" matches.
    pub ip: Option<IpAddr>,
    pub mac: Option<MacAddr>,
    pub host_veth: Option<String>,
    pub bridge: Option<String>,
    /// The route table the pod's egress path looked up.
    pub route_table: Option<u32>,
    pub egress_device: Option<String>,
    pub eni_mac: Option<MacAddr>,
    pub vlan_id: Option<u16>,
    pub wiring: Wiring,
    /// Sorted and without duplicates, so that equal problems compare equal.
    pub problems: Vec<ProblemCode>,
}

impl Attachment {
    /// The columns kept for one resolved pod interface: its in-VPC egress path (the SNAT path is
    /// only in the re-resolved [`PodPath`]).
    pub fn from_path(path: &PodPath) -> Self {
        Attachment::from_facts(PodFacts::of(path))
    }

    /// [`Attachment::from_path`] from the facts [`resolve_facts`] gives (ingest resolves no
    /// more than these).
    ///
    /// [`resolve_facts`]: podwire_node_state::resolver::resolve_facts
    pub fn from_facts(facts: PodFacts) -> Self {
        let mut problems = facts.problems;
        problems.sort_by_key(|code| problem_code_str(*code));
        problems.dedup();
        Attachment {
            netns_inode: facts.netns_inode,
            interface: facts.interface,
            pod_namespace: facts.namespace,
            pod_name: facts.name,
            ip: facts.ip,
            mac: facts.mac,
            host_veth: facts.host_veth,
            bridge: facts.bridge,
            route_table: facts.table,
            egress_device: facts.egress_device,
            eni_mac: facts.eni_mac,
            vlan_id: facts.vlan_id,
            wiring: facts.wiring,
            problems,
        }
    }
}

impl Attachment {
    /// The index key of this pod's timeline; `None` for a pod without a name.
    pub fn pod_key(&self) -> Option<i32> {
        Some(pod_key(
            self.pod_namespace.as_deref()?,
            self.pod_name.as_deref()?,
        ))
    }
}

/// A 4-byte key for a pod's `namespace/name`: the first bytes of its SHA-256. It keeps the
/// timeline index lean; lookups compare the names too, so a collision costs a row read, not a
/// wrong answer.
pub fn pod_key(namespace: &str, name: &str) -> i32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(namespace)
        .chain_update("/")
        .chain_update(name)
        .finalize();
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

impl Keyed for Attachment {
    type Key = AttachmentKey;

    fn key(&self) -> AttachmentKey {
        AttachmentKey {
            netns_inode: self.netns_inode,
            interface: self.interface.clone(),
        }
    }
}

/// The attachments of a resolved node, one per pod interface. Should the resolver ever report
/// one interface twice, the first report wins: the store keeps one open interval per interface.
pub fn attachments_of(resolution: &NodeResolution) -> Vec<Attachment> {
    attachments_of_facts(resolution.pods.iter().map(PodFacts::of))
}

/// [`attachments_of`] from the pods' facts, in the resolution's order.
pub fn attachments_of_facts(pods: impl IntoIterator<Item = PodFacts>) -> Vec<Attachment> {
    let mut seen = std::collections::HashSet::new();
    pods.into_iter()
        .map(Attachment::from_facts)
        .filter(|a| seen.insert(a.key()))
        .collect()
}

/// The name a problem code has in the API and in the `problem_codes` column.
pub fn problem_code_str(code: ProblemCode) -> &'static str {
    match code {
        ProblemCode::NoCniCacheEntry => "no_cni_cache_entry",
        ProblemCode::NoPodAddress => "no_pod_address",
        ProblemCode::NoHostVeth => "no_host_veth",
        ProblemCode::NoRoute => "no_route",
        ProblemCode::RouteRejects => "route_rejects",
        ProblemCode::Multipath => "multipath",
        ProblemCode::MissingLink => "missing_link",
        ProblemCode::UnresolvedLayer => "unresolved_layer",
        ProblemCode::UnsupportedRule => "unsupported_rule",
        ProblemCode::KernelDisagrees => "kernel_disagrees",
        ProblemCode::IpamMismatch => "ipam_mismatch",
        ProblemCode::IncompleteNamespace => "incomplete_namespace",
    }
}

/// Reads a problem code back from its column form.
pub fn parse_problem_code(s: &str) -> Option<ProblemCode> {
    const ALL: [ProblemCode; 12] = [
        ProblemCode::NoCniCacheEntry,
        ProblemCode::NoPodAddress,
        ProblemCode::NoHostVeth,
        ProblemCode::NoRoute,
        ProblemCode::RouteRejects,
        ProblemCode::Multipath,
        ProblemCode::MissingLink,
        ProblemCode::UnresolvedLayer,
        ProblemCode::UnsupportedRule,
        ProblemCode::KernelDisagrees,
        ProblemCode::IpamMismatch,
        ProblemCode::IncompleteNamespace,
    ];
    ALL.into_iter().find(|c| problem_code_str(*c) == s)
}

/// Reads a wiring back from its column form ([`Wiring::as_str`]).
pub fn parse_wiring(s: &str) -> Option<Wiring> {
    const ALL: [Wiring; 6] = [
        Wiring::AwsVpcCni,
        Wiring::AwsVpcCniBranch,
        Wiring::Flannel,
        Wiring::Bridge,
        Wiring::KubeRouter,
        Wiring::Unknown,
    ];
    ALL.into_iter().find(|w| w.as_str() == s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_codes_round_trip_and_match_serde_names() {
        for code in [
            ProblemCode::NoCniCacheEntry,
            ProblemCode::KernelDisagrees,
            ProblemCode::IpamMismatch,
        ] {
            let s = problem_code_str(code);
            assert_eq!(parse_problem_code(s), Some(code));
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(parse_problem_code("bogus"), None);
    }

    #[test]
    fn pod_key_is_stable_and_tells_pods_apart() {
        assert_eq!(pod_key("shop", "web-1"), pod_key("shop", "web-1"));
        assert_ne!(pod_key("shop", "web-1"), pod_key("shop", "web-2"));
        assert_ne!(pod_key("shop", "web-1"), pod_key("shop2", "web-1"));
    }

    #[test]
    fn wirings_round_trip() {
        for w in [
            Wiring::AwsVpcCni,
            Wiring::AwsVpcCniBranch,
            Wiring::Flannel,
            Wiring::Unknown,
        ] {
            assert_eq!(parse_wiring(w.as_str()), Some(w));
        }
    }
}
