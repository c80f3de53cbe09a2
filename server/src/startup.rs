//! What `podwire-server` does once its configuration is valid: database (private or given),
//! migrations, background tasks, the HTTP and gRPC listeners; and the orderly stop on
//! SIGINT/SIGTERM.

use std::time::Duration;

use anyhow::Context;
use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::config::{Config, Database};
use crate::ingest::{self, Ingest, IngestService, SnapshotLimits, UploadWorkers};
use crate::local_agent::LocalAgentToken;
use crate::local_postgres::LocalPostgres;
use crate::store::{HeartbeatCoalescer, Store};

/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// How long start-up keeps trying to reach the database and migrate it.
const MIGRATE_PATIENCE: Duration = Duration::from_secs(120);

/// Runs the server until SIGINT or SIGTERM. A private Postgres started here is stopped on every
/// way out, error or not.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signals()?;
    let (local, store) = match &config.database {
        Database::External(options) => (None, Store::connect_lazy((**options).clone())),
        Database::Local { data_dir } => {
            let local = tokio::select! {
                started = LocalPostgres::start(data_dir) => started.context("starting the private Postgres")?,
                _ = wait(shutdown.clone()) => return Ok(()),
            };
            let store = Store::connect_lazy(local.connect_options());
            (Some(local), store)
        }
    };
    let served = serve(config, store.clone(), shutdown).await;
    store.close().await;
    if let Some(local) = local
        && let Err(err) = local.stop().await
    {
        tracing::error!(error = %err, "could not stop the private Postgres");
    }
    served
}

async fn serve(
    config: Config,
    store: Store,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    tokio::select! {
        migrated = migrate_with_retries(&store) => migrated?,
        _ = wait(shutdown.clone()) => return Ok(()),
    }
    let listeners = Listeners::bind(&config).await?;
    serve_with(config, store, listeners, shutdown).await
}

/// The server's two sockets, bound before anything is served: a port in use ends start-up with
/// a message naming the flag.
#[derive(Debug)]
pub struct Listeners {
    pub http: TcpListener,
    pub grpc: TcpListener,
}

impl Listeners {
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let http = TcpListener::bind(config.http_listen)
            .await
            .with_context(|| format!("cannot listen on --http-listen {}", config.http_listen))?;
        let grpc = TcpListener::bind(config.grpc_listen)
            .await
            .with_context(|| format!("cannot listen on --grpc-listen {}", config.grpc_listen))?;
        Ok(Listeners { http, grpc })
    }
}

/// Serves the REST API and the agents' gRPC ingest on `listeners`, with the background tasks
/// (heartbeat flushes, retention, the local agent), until `shutdown` turns true or either server
/// fails; then stops the other one and the tasks, and waits for the last heartbeat flush. The
/// database is expected to be migrated (it may be unreachable: requests then answer
/// UNAVAILABLE / 503 and the server stays up).
pub async fn serve_with(
    config: Config,
    store: Store,
    listeners: Listeners,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let http_addr = listeners.http.local_addr().unwrap_or(config.http_listen);
    let grpc_addr = listeners.grpc.local_addr().unwrap_or(config.grpc_listen);
    tracing::info!("podwire API at http://{http_addr}/api/v1/pods");
    tracing::info!(%grpc_addr, "agent ingest (gRPC) listening");

    let stale_after =
        chrono::Duration::from_std(config.stale_after).context("--stale-after is too long")?;
    let retention =
        chrono::Duration::from_std(config.retention).context("--retention is too long")?;
    let local_agent_token = match &config.local_agent {
        Some(_) => {
            Some(LocalAgentToken::issue(&config.data_dir).context("preparing the local agent")?)
        }
        None => None,
    };

    // Background tasks stop once both servers have stopped, whatever stopped them.
    let (stop_tasks, tasks_stopped) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let kubernetes = crate::cluster::start(&config.kubernetes, &mut tasks, tasks_stopped.clone())
        .await
        .context("starting the Kubernetes side")?;

    // The servers stop together: on the shutdown signal, or when either of them fails.
    let (stop_servers, servers_stopping) = watch::channel(false);
    let heartbeats = HeartbeatCoalescer::new();
    let ingest = IngestService::new(Ingest::new(
        store.clone(),
        heartbeats.clone(),
        ingest::authenticator_for(&config, local_agent_token.as_ref(), kubernetes.token_review),
        UploadWorkers::per_core(SnapshotLimits::default()),
        config.ingest.clone(),
        servers_stopping.clone(),
    ));

    tasks.spawn(heartbeats.run_flusher(
        store.clone(),
        config.heartbeat_flush,
        tasks_stopped.clone(),
    ));
    tasks.spawn(retention_loop(
        store.clone(),
        retention,
        tasks_stopped.clone(),
    ));
    spawn_enrichment(
        &mut tasks,
        &config,
        &store,
        kubernetes.directory.clone(),
        &tasks_stopped,
    )
    .await;
    if let (Some(agent), Some(token)) = (config.local_agent.clone(), local_agent_token) {
        tasks.spawn(agent.supervise(grpc_addr, token, tasks_stopped.clone()));
    }

    let stop_on_signal = {
        let stop_servers = stop_servers.clone();
        let mut stopping = servers_stopping.clone();
        async move {
            tokio::select! {
                _ = wait(shutdown) => {}
                _ = stopping.wait_for(|stop| *stop) => {}
            }
            let _ = stop_servers.send(true);
        }
    };
    let http = async {
        let app = api::app(AppState::new(store, stale_after).with_cluster(kubernetes.directory));
        let served = axum::serve(listeners.http, app)
            .with_graceful_shutdown(wait(servers_stopping.clone()))
            .await
            .context("HTTP server failed");
        let _ = stop_servers.send(true);
        served
    };
    let grpc = async {
        let served = ingest::serve(listeners.grpc, ingest, servers_stopping.clone())
            .await
            .context("gRPC ingest server failed");
        let _ = stop_servers.send(true);
        served
    };
    let ((), http_served, grpc_served) = tokio::join!(stop_on_signal, http, grpc);

    // Wait for the tasks' last work: the final heartbeat flush, the agent's stop.
    let _ = stop_tasks.send(true);
    while tasks.join_next().await.is_some() {}
    http_served.and(grpc_served)
}

/// Starts EC2 enrichment when it is on; it never blocks ingest or start-up.
#[cfg(feature = "aws")]
async fn spawn_enrichment(
    tasks: &mut tokio::task::JoinSet<()>,
    config: &Config,
    store: &Store,
    cluster: Option<std::sync::Arc<dyn crate::cluster::ClusterDirectory>>,
    stop: &watch::Receiver<bool>,
) {
    if let Some(settings) = config.ec2.clone() {
        tracing::info!(refresh_interval = ?settings.refresh_interval, "EC2 enrichment on");
        let api = crate::enrich::sdk::SdkEc2::from_env().await;
        tasks.spawn(crate::enrich::run(
            api,
            store.clone(),
            settings,
            cluster,
            stop.clone(),
        ));
    }
}

#[cfg(not(feature = "aws"))]
async fn spawn_enrichment(
    _tasks: &mut tokio::task::JoinSet<()>,
    config: &Config,
    _store: &Store,
    _cluster: Option<std::sync::Arc<dyn crate::cluster::ClusterDirectory>>,
    _stop: &watch::Receiver<bool>,
) {
    if config.ec2.is_some() {
        tracing::warn!(
            "EC2 enrichment asked for, but this server was built without the `aws` feature"
        );
    }
}

/// Keeps trying while the database is unreachable (it may be starting too), up to
/// [`MIGRATE_PATIENCE`]; any other migration error ends start-up at once.
async fn migrate_with_retries(store: &Store) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .without_max_times()
        .build();
    loop {
        match store.migrate().await {
            Ok(()) => return Ok(()),
            Err(err) if is_unreachable(&err) && started.elapsed() < MIGRATE_PATIENCE => {
                let delay = backoff.next().unwrap_or(Duration::from_secs(10));
                tracing::warn!(error = %err, retry_in = ?delay, "database not reachable yet");
                tokio::time::sleep(delay).await;
            }
            Err(err) => return Err(err).context("migrating the database"),
        }
    }
}

fn is_unreachable(err: &crate::store::StoreError) -> bool {
    matches!(err, crate::store::StoreError::Unavailable(_))
}

async fn retention_loop(
    store: Store,
    retention: chrono::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(RETENTION_EVERY);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        match store.apply_retention(Utc::now() - retention).await {
            Ok(report) => tracing::info!(?report, "retention applied"),
            Err(err) => tracing::warn!(error = %err, "retention failed; trying again in an hour"),
        }
    }
}

/// A flag that turns true on the first SIGINT or SIGTERM. Installed first thing, so a signal
/// during start-up still stops the private Postgres.
fn shutdown_on_signals() -> anyhow::Result<watch::Receiver<bool>> {
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "shutting down");
        let _ = tx.send(true);
    });
    Ok(rx)
}

async fn wait(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
