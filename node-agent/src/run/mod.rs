//! `podwire-agent run`: the agent as a DaemonSet runs it. It keeps the node's latest snapshot
//! current and streams it to the server.
//!
//! Three parts, joined by channels and sharing one [`status::StatusBoard`]:
//!
//! - the change sources ([`changes`]): netlink notifications of the host namespace and file
//!   notifications on the CNI and IPAM directories, sent to the collector;
//! - the collector ([`collector`]): debounces those changes, adds a periodic resync, collects on a
//!   blocking thread and publishes the latest snapshot (with its content hash) into a `watch`;
//! - the connection ([`connection`]): keeps one stream to the server and sends from that `watch`
//!   whatever is latest: in full when the hash changed, a heartbeat otherwise.
//!
//! The collector never waits for the connection, and the connection never holds more than the
//! latest snapshot. Everything runs on one current-thread runtime; collections, which block and
//! enter namespaces, run on the runtime's blocking threads (namespaces on threads of their own).

pub mod changes;
mod collector;
pub mod config;
pub mod connection;
mod debounce;
pub mod latest;
pub mod status;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use config::RunConfig;
use status::StatusBoard;

/// How long the runtime waits for a collection in progress when the agent stops.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Resolves once `shutdown` turns true (or its sender is gone). The watch's read guard is
/// dropped inside, so the future stays `Send`.
pub(crate) async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Runs the agent until `shutdown` turns true. `status_listener` is the bound
/// `--status-listen` socket, if enabled.
pub async fn run(
    config: RunConfig,
    status_listener: Option<TcpListener>,
    shutdown: watch::Receiver<bool>,
) {
    let collect = Arc::new(config.collect);
    let status = Arc::new(StatusBoard::new(
        config.connection.server.to_string(),
        collect.cluster.clone(),
        collect.node_name.clone().unwrap_or_default(),
    ));
    let (latest_tx, latest_rx) = watch::channel(None);
    let (change_tx, change_rx) = mpsc::channel(changes::QUEUE_DEPTH);

    // Subscribed before the first collection starts: a change during it is not missed.
    changes::start(
        collect.host_root.clone(),
        latest_rx.clone(),
        change_tx,
        status.clone(),
    );
    tokio::spawn(collector::run(
        collect.clone(),
        config.changes,
        change_rx,
        latest_tx,
        status.clone(),
        shutdown.clone(),
    ));
    if let Some(listener) = status_listener {
        tokio::spawn(status::http::serve(
            listener,
            status.clone(),
            shutdown.clone(),
        ));
    }
    tracing::info!(
        server = %config.connection.server,
        cluster = %collect.cluster,
        node = collect.node_name.as_deref().unwrap_or(""),
        host_root = %collect.host_root.display(),
        status_listen = %config.status_listen.map_or("none".to_owned(), |a| a.to_string()),
        "podwire agent started"
    );
    connection::maintain(config.connection, latest_rx, status, shutdown).await;
    tracing::info!("podwire agent stopped");
}
