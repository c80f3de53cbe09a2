//! `GET /metrics`: the status board in the Prometheus text exposition format (version 0.0.4).
//!
//! Written by hand rather than with the `metrics` and `metrics-exporter-prometheus` crates: the
//! agent has a dozen series, all already counted on the status board, and those crates would add
//! a registry, a recorder and their dependencies to a binary that runs on every node. Names
//! follow `podwire_agent_<name>_<unit>_total` for counters; labels are low-cardinality.

use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use super::{AgentStatus, ConnectionPhase};
use crate::run::latest::CollectionTrigger;

/// The content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes one metric family: its help, its type, and its samples (`labels` is `""` or
/// `{name="value"}`).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, f64)]) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// Renders every series.
pub fn render(status: &AgentStatus) -> String {
    let mut out = String::with_capacity(4096);
    let count = |n: u64| n as f64;
    let connected = status.connection.state == ConnectionPhase::Connected;
    family(
        &mut out,
        "podwire_agent_connected",
        "gauge",
        "1 while a session with the server is established, else 0.",
        &[("", f64::from(u8::from(connected)))],
    );
    family(
        &mut out,
        "podwire_agent_connection_attempts_total",
        "counter",
        "Connections to the server started.",
        &[("", count(status.connection_attempts))],
    );
    family(
        &mut out,
        "podwire_agent_connection_failures_total",
        "counter",
        "Connection attempts and sessions that failed, by whether an operator must act (rejected) or not (transient).",
        &[
            ("{kind=\"transient\"}", count(status.transient_failures)),
            ("{kind=\"rejected\"}", count(status.rejected_failures)),
        ],
    );
    let collections: Vec<(String, f64)> = CollectionTrigger::ALL
        .iter()
        .zip(status.collections)
        .map(|(trigger, n)| (format!("{{trigger=\"{}\"}}", trigger.as_str()), count(n)))
        .collect();
    let collections: Vec<(&str, f64)> = collections.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    family(
        &mut out,
        "podwire_agent_collections_total",
        "counter",
        "Collections of the node's state, by what started them.",
        &collections,
    );
    family(
        &mut out,
        "podwire_agent_node_changes_total",
        "counter",
        "Batches of change notifications received, by source (lost: the kernel dropped notifications).",
        &[
            ("{source=\"kernel\"}", count(status.kernel_changes)),
            ("{source=\"files\"}", count(status.file_changes)),
            ("{source=\"lost\"}", count(status.lost_changes)),
        ],
    );
    if let Some((summary, _)) = &status.last_collection {
        let finished = summary
            .finished_at
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        family(
            &mut out,
            "podwire_agent_last_collection_timestamp_seconds",
            "gauge",
            "When the latest collection finished, in seconds since the Unix epoch.",
            &[("", finished)],
        );
        family(
            &mut out,
            "podwire_agent_last_collection_duration_seconds",
            "gauge",
            "How long the latest collection took.",
            &[("", summary.duration.as_secs_f64())],
        );
        family(
            &mut out,
            "podwire_agent_pods",
            "gauge",
            "Pod interfaces in the latest collection.",
            &[("", summary.pods as f64)],
        );
        family(
            &mut out,
            "podwire_agent_pods_with_problems",
            "gauge",
            "Pod interfaces whose path has a problem in the latest collection.",
            &[("", summary.pods_with_problems as f64)],
        );
        family(
            &mut out,
            "podwire_agent_snapshot_bytes",
            "gauge",
            "Encoded size of the latest snapshot, before compression.",
            &[("", summary.wire_bytes as f64)],
        );
    }
    family(
        &mut out,
        "podwire_agent_uploads_total",
        "counter",
        "Full snapshots, by whether sent or acknowledged by the server.",
        &[
            ("{outcome=\"sent\"}", count(status.uploads_sent)),
            ("{outcome=\"acked\"}", count(status.uploads_acked)),
        ],
    );
    family(
        &mut out,
        "podwire_agent_heartbeats_total",
        "counter",
        "Heartbeats, by whether sent or acknowledged by the server.",
        &[
            ("{outcome=\"sent\"}", count(status.heartbeats_sent)),
            ("{outcome=\"acked\"}", count(status.heartbeats_acked)),
        ],
    );
    family(
        &mut out,
        "podwire_agent_resends_total",
        "counter",
        "Requests from the server to send a snapshot again in full.",
        &[("", count(status.resends_received))],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::status::StatusBoard;

    #[test]
    fn every_sample_belongs_to_a_declared_family() {
        let board = StatusBoard::new("http://s:1".into(), "c".into(), "n".into());
        board.count_kernel_change(true);
        let text = render(&board.snapshot());
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(matches!(kind, "gauge" | "counter"), "{line}");
                if kind == "counter" {
                    assert!(name.ends_with("_total"), "{name}");
                }
                declared.push(name.to_owned());
            } else if !line.starts_with("# HELP ") {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(declared.last().map(String::as_str), Some(name), "{line}");
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
        assert!(text.contains("podwire_agent_connected 0\n"));
        assert!(text.contains("podwire_agent_node_changes_total{source=\"lost\"} 1\n"));
        // no collection yet: no figures about one
        assert!(!text.contains("podwire_agent_pods "));
    }
}
