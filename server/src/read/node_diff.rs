//! What changed on a node between two snapshots: pods, addresses, policy rules and routes added
//! and removed, each written the way `ip` writes it so that a line reads on its own.

use std::collections::BTreeSet;

use podwire_node_state::NodeSnapshot;
use podwire_node_state::resolver::{NodeResolution, PodPath};

use super::ip_text::{route_text, rule_text};

/// Lines present only in the later state, and only in the earlier one.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl Changes {
    fn between(before: BTreeSet<String>, after: BTreeSet<String>) -> Self {
        Changes {
            added: after.difference(&before).cloned().collect(),
            removed: before.difference(&after).cloned().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// The difference between a node's earlier and later state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct NodeChanges {
    /// `namespace/name eth0 172.31.55.218 → eth1 (table 2)`: a pod that moved to another ENI
    /// shows as one line removed and one added.
    pub pods: Changes,
    /// Addresses of the host's links and of the pods' interfaces: `172.31.55.218/32 on eth0 of
    /// shop/web-1`, `192.168.1.10/19 on eth1`.
    pub ips: Changes,
    /// Host policy rules, as `ip rule` prints them.
    pub rules: Changes,
    /// Host routes of every table, as `ip route show table all` prints them.
    pub routes: Changes,
}

impl NodeChanges {
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
            && self.ips.is_empty()
            && self.rules.is_empty()
            && self.routes.is_empty()
    }
}

/// Compares two states of one node.
pub fn node_changes(
    before: (&NodeSnapshot, &NodeResolution),
    after: (&NodeSnapshot, &NodeResolution),
) -> NodeChanges {
    NodeChanges {
        pods: Changes::between(pod_lines(before.1), pod_lines(after.1)),
        ips: Changes::between(ip_lines(before.0, before.1), ip_lines(after.0, after.1)),
        rules: Changes::between(rule_lines(before.0), rule_lines(after.0)),
        routes: Changes::between(route_lines(before.0), route_lines(after.0)),
    }
}

fn pod_label(pod: &PodPath) -> String {
    match (&pod.namespace, &pod.name) {
        (Some(ns), Some(name)) => format!("{ns}/{name}"),
        _ => format!(
            "netns {}",
            pod.netns
                .name
                .clone()
                .unwrap_or_else(|| pod.netns.path.clone())
        ),
    }
}

fn pod_lines(resolution: &NodeResolution) -> BTreeSet<String> {
    resolution
        .pods
        .iter()
        .map(|pod| {
            let mut line = format!("{} {}", pod_label(pod), pod.pod_interface.name);
            if let Some(ip) = pod.ip() {
                line.push_str(&format!(" {ip}"));
            }
            if let Some(device) = pod.egress_device() {
                line.push_str(&format!(" → {}", device.name));
            }
            if let Some(table) = pod.table() {
                line.push_str(&format!(
                    " (table {})",
                    podwire_node_state::table::name(table)
                ));
            }
            line
        })
        .collect()
}

fn ip_lines(snapshot: &NodeSnapshot, resolution: &NodeResolution) -> BTreeSet<String> {
    let host = &snapshot.host;
    let mut lines: BTreeSet<String> = host
        .addresses
        .iter()
        .filter(|a| !a.address.addr().is_loopback())
        .map(|a| {
            format!(
                "{} on {}",
                a.address,
                super::ip_text::link_name(host, a.ifindex)
            )
        })
        .collect();
    for pod in &resolution.pods {
        if let Some(net) = pod.pod_interface.ip {
            lines.insert(format!(
                "{net} on {} of {}",
                pod.pod_interface.name,
                pod_label(pod)
            ));
        }
    }
    lines
}

fn rule_lines(snapshot: &NodeSnapshot) -> BTreeSet<String> {
    snapshot.host.rules.iter().map(rule_text).collect()
}

fn route_lines(snapshot: &NodeSnapshot) -> BTreeSet<String> {
    snapshot
        .host
        .routes
        .iter()
        .map(|r| route_text(r, &snapshot.host))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_list_what_appeared_and_what_went_sorted() {
        let before: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let after: BTreeSet<String> = ["b", "c", "d", "e"].iter().map(|s| s.to_string()).collect();
        let changes = Changes::between(before, after);
        assert_eq!(changes.added, vec!["d", "e"]);
        assert_eq!(changes.removed, vec!["a"]);
        assert!(!changes.is_empty());
        assert!(Changes::between(BTreeSet::new(), BTreeSet::new()).is_empty());
    }

    #[test]
    fn identical_states_have_no_changes() {
        let snapshot = NodeSnapshot::default();
        let resolution = podwire_node_state::resolver::resolve(&snapshot);
        assert!(node_changes((&snapshot, &resolution), (&snapshot, &resolution)).is_empty());
    }
}
