//! The kernel's own answer to "where does this pod's packet go?", asked with iproute2 exactly as a
//! person would: `ip -n NODE -j route get PROBE from POD_IP iif HOST_VETH_OR_BRIDGE [mark M]`.

use std::net::IpAddr;

use serde::Deserialize;

use crate::cmd::{CommandError, ip};
use crate::topology::{BuiltNode, BuiltPod};

/// What `ip route get` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    pub dev: String,
    /// 254 when iproute2 names no table (main).
    pub table: u32,
    pub gateway: Option<String>,
}

#[derive(Deserialize)]
struct RouteGetJson {
    dev: String,
    table: Option<String>,
    gateway: Option<String>,
}

/// A routing table id as iproute2 prints it: a number, or `main` / `local` / `default`.
pub fn table_id(name: Option<&str>) -> Option<u32> {
    match name {
        None | Some("main") => Some(254),
        Some("local") => Some(255),
        Some("default") => Some(253),
        Some(number) => number.parse().ok(),
    }
}

/// Asks the node's kernel how it routes a packet from `source` entering on `iif` to
/// `destination`.
pub fn route_get(
    node_netns: &str,
    destination: IpAddr,
    source: IpAddr,
    iif: &str,
    fwmark: Option<u32>,
) -> Result<KernelRoute, CommandError> {
    let mut cmd = ip(node_netns).args([
        "-j".to_owned(),
        "route".to_owned(),
        "get".to_owned(),
        destination.to_string(),
        "from".to_owned(),
        source.to_string(),
        "iif".to_owned(),
        iif.to_owned(),
    ]);
    if let Some(mark) = fwmark {
        cmd = cmd.args(["mark".to_owned(), format!("{mark:#x}")]);
    }
    let line = cmd.command_line();
    let answers: Vec<RouteGetJson> = cmd.run_json()?;
    let answer = answers
        .into_iter()
        .next()
        .ok_or_else(|| CommandError::Json {
            command: line,
            source: serde::de::Error::custom("an empty answer"),
        })?;
    Ok(KernelRoute {
        table: table_id(answer.table.as_deref()).unwrap_or(0),
        dev: answer.dev,
        gateway: answer.gateway,
    })
}

/// Checks every pod of a node against the kernel: returns one line per pod whose kernel route to
/// the node's probe differs from what the builder intended (empty when all agree).
pub fn mismatches(node: &BuiltNode) -> Result<Vec<String>, CommandError> {
    let mut out = Vec::new();
    for pod in &node.pods {
        let route = pod_route(node, pod)?;
        let expected = &pod.expected;
        if route.dev != expected.egress_device || route.table != expected.table {
            out.push(format!(
                "{} ({}) entering on {}: kernel chose dev {} table {}, built for dev {} table {}",
                pod.qualified_name(),
                pod.ip,
                pod.ingress(),
                route.dev,
                route.table,
                expected.egress_device,
                expected.table
            ));
        }
    }
    Ok(out)
}

/// The kernel's route for one pod's traffic to the node's probe.
pub fn pod_route(node: &BuiltNode, pod: &BuiltPod) -> Result<KernelRoute, CommandError> {
    route_get(
        node.node_netns(),
        node.probe,
        IpAddr::V4(pod.ip),
        pod.ingress(),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_map_to_their_ids() {
        assert_eq!(table_id(None), Some(254));
        assert_eq!(table_id(Some("main")), Some(254));
        assert_eq!(table_id(Some("local")), Some(255));
        assert_eq!(table_id(Some("101")), Some(101));
        assert_eq!(table_id(Some("bogus")), None);
    }
}
