//! Comparing an inspect report with what the builder intended, field by field, so that a failing
//! test lists every difference on every pod at once.

use crate::agent::{InspectReport, PodReport, SourceErrorReport};
use crate::topology::{BuiltNode, BuiltPod, NodeKind};

/// The problem code of a pod no CNI cache entry names.
pub const NO_CNI_CACHE_ENTRY: &str = "no_cni_cache_entry";

/// Every difference between one reported pod and the pod as built. A pod built with a cache
/// entry must be resolved completely and without problems; a pod built without one must show
/// the same raw facts and exactly the `no_cni_cache_entry` problem.
pub fn pod_differences(reported: &PodReport, built: &BuiltPod) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |field: &str, got: Option<String>, want: Option<String>| {
        if got != want {
            out.push(format!("{field}: reported {got:?}, built {want:?}"));
        }
    };
    let expected = &built.expected;
    check("ip", reported.ip.clone(), Some(built.ip.to_string()));
    check(
        "host_veth",
        reported.host_veth.clone(),
        Some(built.host_veth.clone()),
    );
    check("bridge", reported.bridge.clone(), built.bridge.clone());
    check(
        "table",
        reported.table.map(|t| t.to_string()),
        Some(expected.table.to_string()),
    );
    check(
        "egress_device",
        reported.egress_device.clone(),
        Some(expected.egress_device.clone()),
    );
    check(
        "eni_mac",
        reported.eni_mac.as_ref().map(|m| m.to_ascii_lowercase()),
        Some(expected.eni_mac.clone()),
    );
    check(
        "vlan_id",
        reported.vlan_id.map(|v| v.to_string()),
        expected.vlan_id.map(|v| v.to_string()),
    );
    check(
        "trunk_device",
        reported.trunk_device.clone(),
        expected.trunk_device.clone(),
    );
    check(
        "kernel",
        Some(reported.kernel.clone()),
        Some("agrees".to_owned()),
    );
    if built.cache_entry.is_some() {
        check(
            "namespace",
            reported.namespace.clone(),
            Some(built.namespace.clone()),
        );
        check("name", reported.name.clone(), Some(built.name.clone()));
        check(
            "wiring",
            Some(reported.wiring.clone()),
            Some(expected.wiring.to_owned()),
        );
        if !reported.problems.is_empty() {
            out.push(format!("problems: {:?}", reported.problems));
        }
    } else {
        let codes: Vec<&str> = reported.problems.iter().map(|p| p.code.as_str()).collect();
        if codes != [NO_CNI_CACHE_ENTRY] {
            out.push(format!(
                "problems: reported {:?}, built without a cache entry (expect exactly [{NO_CNI_CACHE_ENTRY}])",
                reported.problems
            ));
        }
    }
    out
}

/// Checks that the report lists every pod of the node exactly once (matched by IP), each as built,
/// and no pod the node does not have. Returns one line per difference.
pub fn node_differences(report: &InspectReport, node: &BuiltNode) -> Vec<String> {
    let mut out = Vec::new();
    for built in &node.pods {
        let ip = built.ip.to_string();
        let matches: Vec<&PodReport> = report
            .pods
            .iter()
            .filter(|p| p.ip.as_deref() == Some(ip.as_str()))
            .collect();
        match matches.as_slice() {
            [] => out.push(format!("{} ({ip}): not reported", built.qualified_name())),
            [reported] => out.extend(
                pod_differences(reported, built)
                    .into_iter()
                    .map(|d| format!("{} ({ip}): {d}", built.qualified_name())),
            ),
            several => out.push(format!(
                "{} ({ip}): reported {} times",
                built.qualified_name(),
                several.len()
            )),
        }
    }
    for reported in &report.pods {
        let known = node
            .pods
            .iter()
            .any(|b| reported.ip.as_deref() == Some(b.ip.to_string().as_str()));
        if !known {
            out.push(format!(
                "{}: reported, but the node has no such pod",
                reported.label()
            ));
        }
    }
    out
}

/// The report's errors that concern this node. Ignored: entries about `/proc/PID` of processes
/// that are not this node's (other tests' processes come and go while the agent scans `/proc`);
/// on nodes that do not run VPC CNI, the absence of ipamd and its checkpoint; and node identity
/// (boot id, hostname), which a test host root does not stage.
pub fn errors_about_node<'a>(
    report: &'a InspectReport,
    node: &BuiltNode,
) -> Vec<&'a SourceErrorReport> {
    let holders = node.namespace_holders();
    report
        .node
        .errors
        .iter()
        .filter(|e| {
            let foreign_proc = proc_pid(&e.subject).is_some_and(|pid| !holders.contains(&pid));
            let no_vpc_cni = node.kind != NodeKind::VpcCni
                && matches!(e.source.as_str(), "ipamd" | "ipam_checkpoint");
            !foreign_proc && !no_vpc_cni && e.source != "node_identity"
        })
        .collect()
}

/// Panics with every difference between the report and the node, and every error about the
/// node, if there is any.
pub fn assert_node_resolved(report: &InspectReport, node: &BuiltNode) {
    let mut problems = node_differences(report, node);
    problems.extend(
        errors_about_node(report, node)
            .into_iter()
            .map(|e| format!("error recorded: {} {}: {}", e.source, e.subject, e.message)),
    );
    assert!(
        problems.is_empty(),
        "the report differs from the node as built:\n  {}",
        problems.join("\n  ")
    );
}

/// The pid of a `/proc/PID/…` path inside `text`.
fn proc_pid(text: &str) -> Option<u32> {
    let rest = &text[text.find("/proc/")? + "/proc/".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_pid_of_a_proc_path() {
        assert_eq!(proc_pid("/proc/4242/ns/net"), Some(4242));
        assert_eq!(proc_pid("reading /proc/17/ns/net: gone"), Some(17));
        assert_eq!(proc_pid("/proc/self/ns/net"), None);
        assert_eq!(proc_pid("/var/run/netns/cni-1"), None);
    }
}
