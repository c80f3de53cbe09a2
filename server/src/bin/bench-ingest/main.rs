//! The ingest benchmark: in one run against a real Postgres, the real gRPC ingest on loopback,
//! simulated agents uploading changed 250-pod snapshots and heartbeats, what each stored
//! snapshot costs in the database, and "who held IP X at T" over a million history rows.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench-ingest [--agents 50] [--changes 60]
//! ```
//!
//! It creates a scratch database on that server (`podwire_bench_ingest_<pid>`) and drops it at
//! the end. The nodes are the tests' VPC CNI builder (`server/tests/common/vpc_node.rs`), each with
//! its own ENIs and addresses; each next snapshot moves two pods to another ENI and replaces two.
//! Every snapshot is prepared as the agent prepares it before the clock starts: what is timed is
//! the server's side (and the simulated agents' sending), on the same box as Postgres.

#[path = "../../../tests/common/vpc_node.rs"]
#[allow(dead_code, reason = "the bench uses part of the tests' builder")]
mod vpc_node;

mod agents;
mod cpu;
mod fleet;
mod history;
mod sizes;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use podwire_server::config::IngestSettings;
use podwire_server::ingest::{Ingest, IngestService, SnapshotLimits, StaticTokens, UploadWorkers};
use podwire_server::store::{HeartbeatCoalescer, Store};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor};
use tokio::sync::{mpsc, watch};

use agents::{Phase, Report};

/// mimalloc, as in `podwire-server` (why: `server/Cargo.toml`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Benchmarks the ingest: changed snapshots/s, heartbeats/s, bytes stored, IP lookup latency.
#[derive(Debug, Parser)]
struct Args {
    /// Simulated agents, each its node's own stream.
    #[arg(long, default_value_t = 50)]
    agents: u32,
    /// Pods per node.
    #[arg(long, default_value_t = 250)]
    pods: u32,
    /// Changed snapshots each agent uploads after its first, full one.
    #[arg(long, default_value_t = 60)]
    changes: usize,
    /// How long the agents heartbeat back to back.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    heartbeat_time: Duration,
    /// Closed intervals seeded into the history before the IP lookups.
    #[arg(long, default_value_t = 1_000_000)]
    history_rows: i64,
    /// "Who held IP X at T" questions asked.
    #[arg(long, default_value_t = 2000)]
    lookups: usize,
    /// Uploads prepared at once (the ingest's semaphore); default one per core, as the server.
    #[arg(long)]
    upload_workers: Option<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = std::env::var("DATABASE_URL").map_err(|_| {
        anyhow::anyhow!("set DATABASE_URL to a Postgres the bench may create a database on")
    })?;
    let admin = PgConnectOptions::from_str(&url)?;
    let name = format!("podwire_bench_ingest_{}", std::process::id());
    let mut conn = admin.connect().await?;
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    let store = Store::connect_lazy(admin.clone().database(&name));
    let result = run(&args, &store).await;
    store.close().await;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .await?;
    result
}

async fn run(args: &Args, store: &Store) -> anyhow::Result<()> {
    store.migrate().await?;
    println!(
        "bench-ingest: {} agents × {} changed {}-pod snapshots; {} cores; load average {}",
        args.agents,
        args.changes,
        args.pods,
        std::thread::available_parallelism().map_or(0, usize::from),
        load_average()
    );
    let made = Instant::now();
    let (agents, pods, changes) = (args.agents, args.pods, args.changes);
    let fleet = tokio::task::spawn_blocking(move || fleet::fleet(agents, pods, changes)).await??;
    let frame_bytes: usize = fleet
        .iter()
        .flat_map(|s| &s.uploads)
        .map(|u| u.canonical.zstd_frame.len())
        .sum();
    let uploads: usize = fleet.iter().map(|s| s.uploads.len()).sum();
    println!(
        "  snapshots prepared as agents prepare them: {uploads} in {:.1} s, {:.0} B compressed each",
        made.elapsed().as_secs_f64(),
        frame_bytes as f64 / uploads as f64
    );

    // The ingest as `podwire-server` starts it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let heartbeats = HeartbeatCoalescer::new();
    let (stop, stopping) = watch::channel(false);
    let service = IngestService::new(Ingest::new(
        store.clone(),
        heartbeats.clone(),
        Arc::new(StaticTokens::new([agents::TOKEN])),
        match args.upload_workers {
            Some(n) => UploadWorkers::new(n, SnapshotLimits::default()),
            None => UploadWorkers::per_core(SnapshotLimits::default()),
        },
        IngestSettings {
            allow_unauthenticated: false,
            max_message_bytes: 16 << 20,
            heartbeat_interval: Duration::from_secs(15),
        },
        stopping.clone(),
    ));
    let server = tokio::spawn(podwire_server::ingest::serve(listener, service, stopping));
    let flusher = tokio::spawn(heartbeats.run_flusher(
        store.clone(),
        Duration::from_secs(1),
        stop.subscribe(),
    ));

    let (phase, phases) = watch::channel(Phase::Warmup);
    let (report, mut reports) = mpsc::channel(args.agents as usize * 3);
    let mut running = tokio::task::JoinSet::new();
    for series in fleet {
        running.spawn(agents::agent(
            address,
            series,
            phases.clone(),
            report.clone(),
        ));
    }
    drop(report);
    let n = args.agents as usize;
    let mut next_report = async || -> anyhow::Result<Report> {
        match reports.recv().await {
            Some(report) => Ok(report),
            None => match running.join_next().await {
                Some(Ok(Err(err))) => Err(err.context("a simulated agent failed")),
                _ => Err(anyhow::anyhow!("the simulated agents stopped early")),
            },
        }
    };
    for _ in 0..n {
        next_report().await?;
    }

    let before = sizes::Sizes::measure(store).await?;
    let cpu_before = cpu::CpuTimes::now();
    let started = Instant::now();
    phase.send_replace(Phase::Changes);
    let (mut stored, mut unchanged) = (0u64, 0u64);
    for _ in 0..n {
        if let Report::ChangesDone {
            stored: s,
            unchanged: u,
        } = next_report().await?
        {
            stored += s;
            unchanged += u;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (bench_ms, postgres_ms) = cpu::CpuTimes::now().per_item_since(&cpu_before, stored);
    let after = sizes::Sizes::measure(store).await?;

    let cpu_before = cpu::CpuTimes::now();
    let heartbeat_started = Instant::now();
    phase.send_replace(Phase::Heartbeats(heartbeat_started + args.heartbeat_time));
    let mut acked = 0u64;
    for _ in 0..n {
        if let Report::HeartbeatsDone { acked: a } = next_report().await? {
            acked += a;
        }
    }
    let heartbeat_elapsed = heartbeat_started.elapsed().as_secs_f64();
    let (beat_bench_ms, beat_postgres_ms) = cpu::CpuTimes::now().per_item_since(&cpu_before, acked);
    let _ = stop.send(true);
    running.shutdown().await;
    let _ = server.await;
    let _ = flusher.await;

    println!("results (target in brackets):");
    println!(
        "  changed {}-pod snapshots stored: {:.0}/s  [≥ 500/s]  ({stored} acked STORED, {unchanged} not, in {elapsed:.1} s over {n} streams)",
        args.pods,
        stored as f64 / elapsed
    );
    println!(
        "    CPU per stored snapshot: {bench_ms:.2} ms in this process (ingest and agents), {postgres_ms:.2} ms in postgres: {:.0}/s if they had both cores to themselves",
        2000.0 / (bench_ms + postgres_ms)
    );
    println!(
        "  heartbeats: {:.0}/s  [≥ 10,000/s]  ({acked} acked in {heartbeat_elapsed:.1} s over {n} streams)",
        acked as f64 / heartbeat_elapsed
    );
    println!(
        "    CPU per heartbeat: {:.1} µs in this process, {:.1} µs in postgres",
        beat_bench_ms * 1e3,
        beat_postgres_ms * 1e3
    );
    sizes::report(&before, &after, stored);

    let seeding = Instant::now();
    let ips = history::seed(store, args.history_rows).await?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM pod_attachment_history")
        .fetch_one(store.pool())
        .await?;
    println!(
        "  history seeded: {rows} closed intervals ({ips} addresses × 20) in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let (latencies, correct) = history::lookups(store, ips, args.lookups).await?;
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1e3
    };
    println!(
        "  who held IP X at T (Store::ip_holders, {} asked, {correct} answers as seeded): p50 {:.2} ms, p99 {:.2} ms  [p99 ≤ 10 ms at ≥ 1M rows]",
        latencies.len(),
        at(0.5),
        at(0.99)
    );
    println!("load average at the end: {}", load_average());
    Ok(())
}

/// The 1, 5 and 15 minute load averages: how busy the box was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
