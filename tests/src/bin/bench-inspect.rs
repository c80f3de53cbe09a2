//! Benchmark: `podwire-agent inspect --json` against the iproute2 procedure, on real VPC CNI nodes
//! of 10, 50 and 250 pods (primary, secondary and branch-ENI pods mixed 2:2:1).
//!
//! Per size, in one run, K agent runs alternate with K iproute2 runs; it prints the medians, their
//! ratio and the agent's peak RSS. The agent is measured by a copy of this binary acting as its
//! parent (`--measure-child`), so that `getrusage(RUSAGE_CHILDREN)` there sees exactly one child:
//! the agent. Nothing here asserts a time; it fails only if either side answers wrongly.
//!
//! ```text
//! PODWIRE_AGENT_BIN=target/release/podwire-agent target/release/bench-inspect [--runs K] [--sizes 10,50,250]
//! target/release/bench-inspect --iproute2-only     # the baseline alone, no agent needed
//! ```
//!
//! Every agent run's report is checked against the node as built, and the first iproute2 join
//! too, so neither side is timed while answering wrongly.

use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use nix::sys::resource::{UsageWho, getrusage};
use podwire_e2e::agent::{Inspect, InspectReport};
use podwire_e2e::expect::node_differences;
use podwire_e2e::iproute2;
use podwire_e2e::topology::BuiltNode;
use podwire_e2e::topology::vpc_cni::VpcCniNode;

/// The marker of the measurement line `--measure-child` prints on standard error.
const MEASURE_MARK: &str = "podwire-bench-measure";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("--measure-child") {
        measure_child(&args[1..])
    } else {
        bench(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench-inspect: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Benchmark options.
#[derive(Debug)]
struct Options {
    runs: usize,
    sizes: Vec<usize>,
    /// Time only the iproute2 procedure (no agent needed).
    iproute2_only: bool,
}

fn parse_options(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        runs: 15,
        sizes: vec![10, 50, 250],
        iproute2_only: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--runs" => options.runs = value()?.parse().context("--runs takes a number")?,
            "--sizes" => {
                options.sizes = value()?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<Result<_, _>>()
                    .context("--sizes takes numbers separated by commas")?;
            }
            "--iproute2-only" => options.iproute2_only = true,
            "-h" | "--help" => {
                println!(
                    "usage: bench-inspect [--runs K] [--sizes 10,50,250] [--iproute2-only]\n\
                     The agent binary comes from PODWIRE_AGENT_BIN (build it with --release)."
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    ensure!(options.runs > 0, "--runs must be at least 1");
    Ok(options)
}

fn bench(args: &[String]) -> anyhow::Result<()> {
    let options = parse_options(args)?;
    let agent = if options.iproute2_only {
        std::path::PathBuf::from("(not run: --iproute2-only)")
    } else {
        podwire_e2e::agent::agent_binary()?
    };
    let version = Command::new("ip").arg("-V").output().context("ip -V")?;
    println!(
        "podwire inspect benchmark: {} runs of each, alternating, per node\n  agent:    {}\n  iproute2: {}",
        options.runs,
        agent.display(),
        String::from_utf8_lossy(&version.stdout).trim()
    );
    println!(
        "\n{:>5} {:>6} {:>9} {:>13} {:>16} {:>8} {:>15}",
        "pods", "netns", "build", "agent median", "iproute2 median", "ratio", "agent peak RSS"
    );
    for &size in &options.sizes {
        let row = bench_size(size, &options)?;
        let (agent, ratio, rss) = match (row.agent_median, row.agent_peak_rss_kib) {
            (Some(agent), Some(rss)) => (
                format!("{:.1} ms", ms(agent)),
                format!(
                    "{:.1}x",
                    row.iproute2_median.as_secs_f64() / agent.as_secs_f64().max(1e-9)
                ),
                format!("{:.1} MiB", rss as f64 / 1024.0),
            ),
            _ => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        };
        println!(
            "{:>5} {:>6} {:>8.1}s {:>13} {:>13.1} ms {:>8} {:>15}",
            size,
            size + 1,
            row.build.as_secs_f64(),
            agent,
            ms(row.iproute2_median),
            ratio,
            rss
        );
        let _ = std::io::stdout().flush();
    }
    println!(
        "\nagent: `nsenter --net=/var/run/netns/NODE podwire-agent inspect --json` from spawn to exit; peak RSS is \
         ru_maxrss of that process.\niproute2: one `ip -n NS -j -d -batch -` per namespace \
         (links, addresses, routes of all tables, IPv4 rules, neighbours) plus the join, \
         sequentially; iproute2 cannot list IPv6 rules from a batch line, so it skips them."
    );
    Ok(())
}

/// One size's figures.
#[derive(Debug)]
struct Row {
    build: Duration,
    /// `None` with `--iproute2-only`.
    agent_median: Option<Duration>,
    iproute2_median: Duration,
    agent_peak_rss_kib: Option<i64>,
}

fn bench_size(size: usize, options: &Options) -> anyhow::Result<Row> {
    let runs = options.runs;
    let primary = size * 2 / 5;
    let secondary = size * 2 / 5;
    let branch = size - primary - secondary;
    let started = Instant::now();
    let node = VpcCniNode::new()
        .pods(primary, secondary, branch)
        .build()
        .with_context(|| format!("build a {size}-pod node"))?;
    let build = started.elapsed();
    let IpAddr::V4(probe) = node.probe else {
        bail!("the VPC CNI probe is IPv4");
    };
    let pod_netns: Vec<String> = node
        .pods
        .iter()
        .map(|p| {
            p.netns
                .name()
                .map(str::to_owned)
                .context("bench pods have named namespaces")
        })
        .collect::<anyhow::Result<_>>()?;
    let agent_argv = if options.iproute2_only {
        Vec::new()
    } else {
        Inspect::on(&node).command(true)?.argv()
    };

    let mut agent_times = Vec::with_capacity(runs);
    let mut iproute2_times = Vec::with_capacity(runs);
    let mut peak_rss = 0;
    for run in 0..runs {
        if !options.iproute2_only {
            let (elapsed, rss, stdout) = run_measured(&agent_argv)?;
            check_agent(&stdout, &node)
                .with_context(|| format!("agent run {run} on {size} pods"))?;
            agent_times.push(elapsed);
            peak_rss = peak_rss.max(rss);
        }

        let started = Instant::now();
        let host = iproute2::dump(node.node_netns())?;
        let pods = pod_netns
            .iter()
            .map(|ns| iproute2::dump(ns))
            .collect::<Result<Vec<_>, _>>()?;
        let joined = iproute2::join(&host, &pods, probe);
        iproute2_times.push(started.elapsed());
        if run == 0 {
            check_iproute2(&joined, &node)?;
        }
    }
    let agent_ran = !agent_times.is_empty();
    Ok(Row {
        build,
        agent_median: agent_ran.then(|| median(agent_times)),
        iproute2_median: median(iproute2_times),
        agent_peak_rss_kib: agent_ran.then_some(peak_rss),
    })
}

/// Runs `argv` under `bench-inspect --measure-child`; returns its wall time, its ru_maxrss (KiB)
/// and its standard output.
fn run_measured(argv: &[String]) -> anyhow::Result<(Duration, i64, String)> {
    let me = std::env::current_exe().context("locate bench-inspect")?;
    let output = Command::new(me)
        .arg("--measure-child")
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .context("run the measured agent")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with(MEASURE_MARK))
        .with_context(|| format!("no measurement from --measure-child; it printed:\n{stderr}"))?;
    let field = |name: &str| -> anyhow::Result<i64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .context(format!("no {name} in {line:?}"))?
            .parse()
            .context(format!("{name} in {line:?}"))
    };
    ensure!(field("status")? == 0, "the agent failed: {line}\n{stderr}");
    let elapsed = Duration::from_micros(u64::try_from(field("elapsed_us")?).unwrap_or(0));
    Ok((
        elapsed,
        field("max_rss_kib")?,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    ))
}

/// `--measure-child PROGRAM ARGS…`: runs the program as this process's only child and reports
/// its wall time and peak RSS on standard error, its output on standard output.
fn measure_child(argv: &[String]) -> anyhow::Result<()> {
    let (program, args) = argv
        .split_first()
        .context("--measure-child needs a command")?;
    let started = Instant::now();
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {program}"))?;
    let elapsed = started.elapsed();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context("getrusage")?;
    std::io::stdout().write_all(&output.stdout)?;
    std::io::stderr().write_all(&output.stderr)?;
    eprintln!(
        "{MEASURE_MARK} elapsed_us={} max_rss_kib={} status={}",
        elapsed.as_micros(),
        usage.max_rss(),
        output.status.code().unwrap_or(-1)
    );
    Ok(())
}

fn check_agent(stdout: &str, node: &BuiltNode) -> anyhow::Result<()> {
    let report: InspectReport =
        serde_json::from_str(stdout).context("the agent's output is not the inspect report")?;
    let differences = node_differences(&report, node);
    ensure!(
        differences.is_empty(),
        "the agent resolved the node wrongly:\n  {}",
        differences.join("\n  ")
    );
    Ok(())
}

fn check_iproute2(joined: &[iproute2::JoinedPod], node: &BuiltNode) -> anyhow::Result<()> {
    for (pod, got) in node.pods.iter().zip(joined) {
        let want = &pod.expected;
        ensure!(
            got.table == Some(want.table)
                && got.egress_device.as_deref() == Some(want.egress_device.as_str())
                && got.eni_mac.as_deref() == Some(want.eni_mac.as_str()),
            "the iproute2 procedure resolved {} wrongly: {got:?}",
            pod.qualified_name()
        );
    }
    Ok(())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
