//! Manual measurement, not a test: builds a node namespace with PODS pod namespaces (each a veth
//! into the node, a /32 address, a 169.254.1.1 gateway route and PERMANENT neighbour), then times
//! `discover` and `read_namespaces` over the pod namespaces and prints the agent's peak RSS.
//!
//! ```text
//! cargo run --release -p podwire-agent --example netns_read_timing -- [PODS] [ROUNDS]
//! ```
//!
//! Everything is created under a unique `pwtime<pid>-` prefix and deleted on exit.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use podwire_agent::collect::netns::{HostNsid, discover, own_netns_inode, read_namespaces};

/// The namespaces this run created, deleted when dropped (also on error).
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        let batch: String = self
            .0
            .iter()
            .map(|n| format!("netns delete {n}\n"))
            .collect();
        let _ = ip_batch(None, &batch);
    }
}

fn ip_batch(netns: Option<&str>, commands: &str) -> anyhow::Result<()> {
    let mut args = Vec::new();
    if let Some(netns) = netns {
        args.extend(["-n", netns]);
    }
    args.extend(["-batch", "-"]);
    let mut child = Command::new("ip")
        .args(&args)
        .stdin(Stdio::piped())
        .spawn()
        .context("run ip -batch")?;
    child
        .stdin
        .take()
        .context("ip's stdin")?
        .write_all(commands.as_bytes())?;
    if !child.wait()?.success() {
        bail!("ip -batch failed");
    }
    Ok(())
}

fn build(prefix: &str, pods: usize) -> anyhow::Result<Namespaces> {
    let node = format!("{prefix}node");
    let pod_names: Vec<String> = (0..pods).map(|i| format!("{prefix}pod{i}")).collect();
    let mut created = Namespaces(Vec::new());
    let mut adds = format!("netns add {node}\n");
    created.0.push(node.clone());
    for pod in &pod_names {
        adds.push_str(&format!("netns add {pod}\n"));
        created.0.push(pod.clone());
    }
    ip_batch(None, &adds)?;
    let ip_of = |i: usize| format!("10.{}.{}.{}", 1 + i / 62500, (i / 250) % 250, 1 + i % 250);
    let mut node_batch = String::new();
    for (i, pod) in pod_names.iter().enumerate() {
        node_batch.push_str(&format!(
            "link add hveth{i} type veth peer name eth0 netns {pod}\n\
             link set hveth{i} up\n\
             route add {}/32 dev hveth{i} scope link\n",
            ip_of(i)
        ));
    }
    ip_batch(Some(&node), &node_batch)?;
    for (i, pod) in pod_names.iter().enumerate() {
        ip_batch(
            Some(pod),
            &format!(
                "link set lo up\nlink set eth0 up\naddr add {}/32 dev eth0\n\
                 route add 169.254.1.1 dev eth0 scope link\n\
                 route add default via 169.254.1.1 dev eth0\n\
                 neigh add 169.254.1.1 lladdr 02:00:00:00:00:01 dev eth0 nud permanent\n",
                ip_of(i)
            ),
        )?;
    }
    Ok(created)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let pods: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(50);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(15);
    let prefix = format!("pwtime{}-", std::process::id());

    let started = Instant::now();
    let created = build(&prefix, pods)?;
    println!("built {pods} pod namespaces in {:?}", started.elapsed());

    let own = own_netns_inode()?;
    let mut errors = Vec::new();
    let discovered = Instant::now();
    let candidates = discover(
        Path::new("/var/run/netns"),
        Path::new("/proc"),
        own,
        &mut errors,
    );
    println!(
        "discover: {} namespaces on the machine in {:?}",
        candidates.len(),
        discovered.elapsed()
    );
    let pods_only: Vec<_> = candidates
        .into_iter()
        .filter(|c| {
            c.name
                .as_deref()
                .is_some_and(|n| n.starts_with(&prefix) && n.contains("pod"))
        })
        .map(|c| (c, HostNsid::Known(None)))
        .collect();
    if pods_only.len() != pods {
        bail!("found {} of the {pods} pod namespaces", pods_only.len());
    }

    for workers in [1, 2, 4, 8] {
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            let results = read_namespaces(&pods_only, workers);
            samples.push(start.elapsed());
            let failed = results.iter().filter(|r| r.is_err()).count();
            if failed > 0 {
                bail!("{failed} namespaces failed to read");
            }
        }
        println!(
            "read_namespaces: {pods} namespaces, {workers} workers: median {:?} over {rounds} rounds",
            median(samples)
        );
    }
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS (VmHWM): {:.1} MiB", kib as f64 / 1024.0);
    }
    drop(created);
    Ok(())
}
