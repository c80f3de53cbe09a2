//! What `inspect` prints: a summary row per pod (the columns a person checks first) with the full
//! path beside it in JSON, or an aligned table.

use std::io::{self, Write};
use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use podwire_node_state::ec2::{EniIndex, EniKind};
use podwire_node_state::resolver::{KernelCheck, NodeResolution, PodPath, Probe, Problem, Wiring};
use podwire_node_state::{MacAddr, NodeSnapshot, SourceError, table};
use serde::Serialize;

/// `--pod NAMESPACE/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodFilter {
    namespace: String,
    name: String,
}

impl FromStr for PodFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() => Ok(PodFilter {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            }),
            _ => Err(format!("expected NAMESPACE/NAME, got {s:?}")),
        }
    }
}

impl PodFilter {
    fn matches(&self, pod: &PodPath) -> bool {
        pod.namespace.as_deref() == Some(&self.namespace) && pod.name.as_deref() == Some(&self.name)
    }
}

#[derive(Debug, Serialize)]
pub struct Report<'a> {
    node: NodeSection<'a>,
    pods: Vec<PodRow<'a>>,
    /// `--ec2-enis` was given: the table shows each pod's ENI id and type.
    #[serde(skip)]
    with_ec2: bool,
}

#[derive(Debug, Serialize)]
struct NodeSection<'a> {
    cluster: &'a str,
    node_name: &'a str,
    kernel: &'a str,
    boot_id: &'a str,
    agent_version: &'a str,
    collected_at: String,
    collection_duration_ms: f64,
    probe: &'a Probe,
    namespaces_read: usize,
    errors: &'a [SourceError],
}

#[derive(Debug, Serialize)]
struct PodRow<'a> {
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    ip: Option<IpAddr>,
    host_veth: Option<&'a str>,
    bridge: Option<&'a str>,
    table: Option<u32>,
    egress_device: Option<&'a str>,
    eni_mac: Option<MacAddr>,
    /// The ENI with that MAC in `--ec2-enis` (absent without the flag).
    #[serde(skip_serializing_if = "Option::is_none")]
    eni_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eni_type: Option<EniKind>,
    vlan_id: Option<u16>,
    trunk_device: Option<&'a str>,
    wiring: Wiring,
    kernel: &'static str,
    problems: &'a [Problem],
    path: &'a PodPath,
}

impl<'a> PodRow<'a> {
    fn new(pod: &'a PodPath, ec2: Option<&EniIndex<'a>>) -> Self {
        let egress = pod.egress.as_ref();
        let eni_mac = egress.and_then(|e| e.eni_mac);
        // The same join by MAC the server's pod path makes.
        let described = ec2.and_then(|index| index.pod_eni(eni_mac));
        PodRow {
            eni_id: described.map(|(eni, _)| eni.network_interface_id.as_str()),
            eni_type: described.map(|(_, kind)| kind),
            namespace: pod.namespace.as_deref(),
            name: pod.name.as_deref(),
            ip: pod.pod_interface.ip.map(|net| net.addr()),
            host_veth: pod.host_veth.as_ref().map(|l| l.name.as_str()),
            bridge: pod.bridge.as_ref().map(|l| l.name.as_str()),
            table: egress.and_then(|e| e.table),
            egress_device: egress
                .and_then(|e| e.egress_device.as_ref())
                .map(|l| l.name.as_str()),
            eni_mac,
            vlan_id: egress.and_then(|e| e.vlan_id),
            trunk_device: egress.and_then(|e| e.trunk_device.as_deref()),
            wiring: pod.wiring,
            kernel: match egress.map(|e| &e.kernel) {
                Some(KernelCheck::Agrees) => "agrees",
                Some(KernelCheck::Disagrees { .. }) => "disagrees",
                Some(KernelCheck::Unresolved { .. }) => "unresolved",
                Some(KernelCheck::NotAsked) | None => "not_asked",
            },
            problems: &pod.problems,
            path: pod,
        }
    }
}

impl<'a> Report<'a> {
    pub fn new(
        snapshot: &'a NodeSnapshot,
        resolution: &'a NodeResolution,
        filter: Option<&PodFilter>,
        ec2: Option<&EniIndex<'a>>,
    ) -> Self {
        let node = &snapshot.node;
        let collected_at = u64::try_from(node.collected_at_unix_ms)
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
            .map(|t| humantime::format_rfc3339_millis(t).to_string())
            .unwrap_or_default();
        Report {
            node: NodeSection {
                cluster: &node.cluster,
                node_name: &node.node_name,
                kernel: &node.kernel,
                boot_id: &node.boot_id,
                agent_version: &node.agent_version,
                collected_at,
                collection_duration_ms: node.collection_duration_us as f64 / 1000.0,
                probe: &resolution.probe,
                namespaces_read: snapshot.namespaces.len(),
                errors: &snapshot.errors,
            },
            pods: resolution
                .pods
                .iter()
                .filter(|pod| filter.is_none_or(|f| f.matches(pod)))
                .map(|pod| PodRow::new(pod, ec2))
                .collect(),
            with_ec2: ec2.is_some(),
        }
    }

    /// The human form: node header, probe, errors, then one aligned row per pod.
    pub fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        let node = &self.node;
        writeln!(
            out,
            "node {} (cluster {}, kernel {}), {} pod namespaces read in {:.1} ms",
            node.node_name,
            node.cluster,
            node.kernel,
            node.namespaces_read,
            node.collection_duration_ms
        )?;
        writeln!(
            out,
            "probe {}: {}",
            node.probe.destination, node.probe.reason
        )?;
        for err in node.errors {
            let source = serde_json::to_value(err.source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            writeln!(out, "error [{source}] {}: {}", err.subject, err.message)?;
        }
        writeln!(out)?;

        let mut header: Vec<&str> = vec![
            "NAMESPACE/NAME",
            "IP",
            "HOST VETH",
            "BRIDGE",
            "TABLE",
            "EGRESS",
            "ENI MAC",
            "WIRING",
            "PROBLEMS",
        ];
        if self.with_ec2 {
            // Beside the ENI MAC they were joined on.
            header.splice(7..7, ["ENI", "ENI TYPE"]);
        }
        let rows: Vec<Vec<String>> = self
            .pods
            .iter()
            .map(|pod| table_row(pod, self.with_ec2))
            .collect();
        let header: Vec<String> = header.into_iter().map(str::to_owned).collect();
        let mut widths: Vec<usize> = header.iter().map(String::len).collect();
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        write_row(out, &header, &widths)?;
        for row in &rows {
            write_row(out, row, &widths)?;
        }
        if rows.is_empty() {
            writeln!(out, "(no pods)")?;
        }
        Ok(())
    }
}

fn table_row(pod: &PodRow<'_>, with_ec2: bool) -> Vec<String> {
    let dash = || "-".to_owned();
    let name = match (pod.namespace, pod.name) {
        (Some(ns), Some(name)) => format!("{ns}/{name}"),
        _ => format!(
            "? ({})",
            pod.path
                .netns
                .name
                .as_deref()
                .unwrap_or(&pod.path.netns.path)
        ),
    };
    let egress = match (pod.egress_device, pod.vlan_id) {
        (Some(dev), Some(vlan)) => format!("{dev} (vlan {vlan})"),
        (Some(dev), None) => dev.to_owned(),
        (None, _) => dash(),
    };
    let problems = if pod.problems.is_empty() {
        dash()
    } else {
        pod.problems
            .iter()
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut row = vec![
        name,
        pod.ip.map_or_else(dash, |ip| ip.to_string()),
        pod.host_veth.map_or_else(dash, str::to_owned),
        pod.bridge.map_or_else(dash, str::to_owned),
        pod.table.map_or_else(dash, table::name),
        egress,
        pod.eni_mac.map_or_else(dash, |m| m.to_string()),
    ];
    if with_ec2 {
        row.push(pod.eni_id.map_or_else(dash, str::to_owned));
        row.push(pod.eni_type.map_or_else(dash, |k| k.as_str().to_owned()));
    }
    row.push(pod.wiring.as_str().to_owned());
    row.push(problems);
    row
}

fn write_row(out: &mut impl Write, row: &[String], widths: &[usize]) -> io::Result<()> {
    let last = row.len() - 1;
    for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
        if i == last {
            writeln!(out, "{cell}")?;
        } else {
            write!(out, "{cell:<width$}  ")?;
        }
    }
    Ok(())
}
