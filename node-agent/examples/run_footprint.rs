//! Measures what `podwire-agent run` costs on a quiet node: builds an Amazon VPC CNI node of N
//! pods in network namespaces, starts the test suite's scripted ingest inside it and the agent
//! against it (production defaults: 10 s heartbeats, 60 s resync), lets it settle, then reads the
//! agent's CPU time and memory from /proc over a measuring window. Prints figures; asserts
//! nothing.
//!
//! ```text
//! cargo build --release -p podwire-agent --examples
//! target/release/examples/run_footprint [PODS=50] [SECONDS=60]
//! ```
//!
//! The agent binary is `PODWIRE_AGENT_BIN`, else `podwire-agent` beside this example's directory.

#![expect(clippy::unwrap_used, reason = "a measuring tool: a failure ends it")]

#[path = "../tests/common/ingest.rs"]
#[allow(dead_code, reason = "the tests use more of it")]
mod ingest;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use podwire_e2e::topology::vpc_cni::VpcCniNode;

/// CPU ticks (user + system) and the resident set (current and peak, KiB) of a process.
#[derive(Debug, Clone, Copy)]
struct Usage {
    ticks: u64,
    rss_kib: u64,
    hwm_kib: u64,
}

fn usage(pid: u32) -> Usage {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Usage {
        ticks,
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    }
}

fn clock_ticks_per_second() -> u64 {
    let output = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(100)
}

fn agent_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PODWIRE_AGENT_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("podwire-agent")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let pods: usize = args.next().map_or(50, |n| n.parse().unwrap());
    let seconds: u64 = args.next().map_or(60, |n| n.parse().unwrap());
    let (primary, secondary) = (pods * 2 / 5, pods * 2 / 5);
    let node = VpcCniNode::new()
        .pods(primary, secondary, pods - primary - secondary)
        .build()
        .unwrap();
    let netns = Path::new("/var/run/netns").join(node.node_netns());
    // The production heartbeat interval (the double's plans default to 300 ms for the tests).
    let double = ingest::IngestDouble::start_in(
        &netns,
        vec![ingest::Plan {
            heartbeat_ms: 10_000,
            ..ingest::Plan::default()
        }],
    );
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut agent = Command::new("ip")
        .args(["netns", "exec", node.node_netns()])
        .arg(agent_binary())
        .args([
            "run",
            "--server",
            &double.url(),
            "--cluster",
            "bench",
            "--node",
            "node-a",
        ])
        .args(["--host-root", node.host_root().path().to_str().unwrap()])
        .args(["--netns-dir", node.netns_dir().to_str().unwrap()])
        .args([
            "--probe-dst",
            &node.probe.to_string(),
            "--status-listen",
            "none",
        ])
        .stdin(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let pid = agent.id();

    // Settle: the first collection and upload, and the fresh veths' IPv6 churn.
    std::thread::sleep(Duration::from_secs(10));
    let before = usage(pid);
    let seen_before = double.log();
    std::thread::sleep(Duration::from_secs(seconds));
    let after = usage(pid);
    let seen = double.log();
    let _ = agent.kill();
    let _ = agent.wait();

    let tick = clock_ticks_per_second();
    let cpu_seconds = (after.ticks - before.ticks) as f64 / tick as f64;
    let uploads = |l: &ingest::IngestLog| l.uploads().len();
    let heartbeats =
        |l: &ingest::IngestLog| l.connections.iter().map(|c| c.heartbeats()).sum::<usize>();
    println!("pods: {pods}, window: {seconds} s (after 10 s settling)");
    println!(
        "cpu: {cpu_seconds:.2} s = {:.3} % of one core",
        cpu_seconds / seconds as f64 * 100.0
    );
    println!(
        "rss: {} KiB now, {} KiB peak (VmHWM)",
        after.rss_kib, after.hwm_kib
    );
    println!(
        "in the window: {} uploads, {} heartbeats; in total: {} uploads, {} streams",
        uploads(&seen) - uploads(&seen_before),
        heartbeats(&seen) - heartbeats(&seen_before),
        uploads(&seen),
        seen.connections.len()
    );
    // What changed between consecutive uploads (a quiet node should upload once).
    let snapshots: Vec<&podwire_node_state::NodeSnapshot> = seen
        .uploads()
        .into_iter()
        .filter_map(|u| match u {
            ingest::Received::Upload { snapshot, .. } => Some(&**snapshot),
            _ => None,
        })
        .collect();
    for pair in snapshots.windows(2) {
        println!(
            "upload changed: {}",
            differences(pair[0], pair[1]).join(", ")
        );
    }
    let logged = std::fs::read_to_string(log.path()).unwrap();
    let warnings = logged
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .count();
    println!(
        "agent log: {} lines, {warnings} warnings or errors",
        logged.lines().count()
    );
}

/// Which parts of two snapshots differ.
fn differences(
    a: &podwire_node_state::NodeSnapshot,
    b: &podwire_node_state::NodeSnapshot,
) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = |name: &str, differ: bool| {
        if differ {
            parts.push(name.to_owned());
        }
    };
    part("host links", a.host.links != b.host.links);
    part("host addresses", a.host.addresses != b.host.addresses);
    part("host routes", a.host.routes != b.host.routes);
    part("host rules", a.host.rules != b.host.rules);
    part("host neighbours", a.host.neighbors != b.host.neighbors);
    part("pod namespaces", a.namespaces != b.namespaces);
    part("cni", a.cni != b.cni);
    part("vpc cni", a.vpc_cni != b.vpc_cni);
    part("kernel routes", a.kernel_routes != b.kernel_routes);
    part("errors", a.errors != b.errors);
    if a.host.neighbors != b.host.neighbors {
        for n in &b.host.neighbors {
            if !a.host.neighbors.contains(n) {
                parts.push(format!("+{n:?}"));
            }
        }
        for n in &a.host.neighbors {
            if !b.host.neighbors.contains(n) {
                parts.push(format!("-{n:?}"));
            }
        }
    }
    if a.host.addresses != b.host.addresses {
        for n in &b.host.addresses {
            if !a.host.addresses.contains(n) {
                parts.push(format!("+{n:?}"));
            }
        }
    }
    parts
}
