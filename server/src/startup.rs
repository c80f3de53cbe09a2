//! What `podwire-server` does once its configuration is valid: database (private or given),
//! migrations, background tasks, the HTTP listener; and the orderly stop on SIGINT/SIGTERM.

use std::time::Duration;

use anyhow::Context;
use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::config::{Config, Database};
use crate::local_postgres::LocalPostgres;
use crate::store::{HeartbeatCoalescer, Store};

/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// How long start-up keeps trying to reach the database and migrate it.
const MIGRATE_PATIENCE: Duration = Duration::from_secs(120);

/// What the ingest (gRPC) side works with: it records snapshots through `store` and notes
/// heartbeats in `heartbeats`, flushed by the server in one statement per interval.
#[derive(Debug, Clone)]
pub struct Services {
    pub store: Store,
    pub heartbeats: HeartbeatCoalescer,
    pub config: Config,
}

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
    let listener = TcpListener::bind(config.http_listen)
        .await
        .with_context(|| format!("cannot listen on --http-listen {}", config.http_listen))?;
    tracing::info!(
        "podwire API at http://{}/api/v1/pods",
        listener.local_addr().unwrap_or(config.http_listen)
    );

    let services = Services {
        store: store.clone(),
        heartbeats: HeartbeatCoalescer::new(),
        config: config.clone(),
    };
    let stale_after =
        chrono::Duration::from_std(config.stale_after).context("--stale-after is too long")?;
    let retention =
        chrono::Duration::from_std(config.retention).context("--retention is too long")?;
    // Background tasks stop once the HTTP server has stopped, whatever stopped it.
    let (stop_tasks, tasks_stopped) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(services.heartbeats.clone().run_flusher(
        store.clone(),
        config.heartbeat_flush,
        tasks_stopped.clone(),
    ));
    tasks.spawn(retention_loop(
        store.clone(),
        retention,
        tasks_stopped.clone(),
    ));
    // The gRPC ingest binds `config.grpc_listen` here and serves `services`.
    tracing::info!(grpc_listen = %config.grpc_listen, "agent ingest (gRPC) is not part of this build yet");
    if let Some(agent) = config.local_agent.clone() {
        tasks.spawn(agent.supervise(config.grpc_listen, tasks_stopped.clone()));
    }

    let app = api::app(AppState::new(store, stale_after));
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(wait(shutdown))
        .await
        .context("HTTP server failed");
    // Wait for the tasks' last work: the final heartbeat flush, the agent's stop.
    let _ = stop_tasks.send(true);
    while tasks.join_next().await.is_some() {}
    drop(services);
    served
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
