//! `podwire-agent run`: flags, their validation, and the runtime the agent runs on.

use std::io::IsTerminal as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tokio::sync::watch;

use crate::collect::{CollectConfig, error_chain};
use crate::run::config::{
    self, BackoffPolicy, ChangeTiming, ConfigError, ConnectionSettings, RunConfig,
};
use crate::run::token::BearerToken;

/// Exit status for a configuration the agent refuses (as for a command-line syntax error).
const EXIT_CONFIG: u8 = 2;

/// A session this long counts as healthy: reconnect delays start over after it.
const HEALTHY_SESSION: Duration = Duration::from_secs(60);

fn duration(text: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(text)
}

/// The collection flags keep the names, defaults and environment variables `inspect` uses.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The podwire server's gRPC address, `http://HOST:PORT`.
    #[arg(long, env = "PODWIRE_SERVER", value_name = "URL")]
    server: String,
    /// The name of the cluster this node belongs to.
    #[arg(long, env = "PODWIRE_CLUSTER", value_name = "NAME")]
    cluster: String,
    /// Node name; default: the kernel's hostname.
    #[arg(long, env = "NODE_NAME", value_name = "NAME")]
    node: Option<String>,
    /// File holding the bearer token to present to the server; read again before every
    /// connection, so a rotated token is picked up. Without it no credentials are sent.
    #[arg(long, env = "PODWIRE_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Root under which node files (CNI cache and config, host-local IPAM, ipamd checkpoint) are
    /// read and watched; `/host` when the agent runs in a container with the host mounted there.
    #[arg(
        long,
        default_value = "/",
        env = "PODWIRE_HOST_ROOT",
        value_name = "DIR"
    )]
    host_root: PathBuf,
    /// Directory of named network namespaces.
    #[arg(
        long,
        default_value = "/var/run/netns",
        env = "PODWIRE_NETNS_DIR",
        value_name = "DIR"
    )]
    netns_dir: PathBuf,
    /// procfs mount, scanned for unnamed namespaces (`/proc/*/ns/net`).
    #[arg(
        long,
        default_value = "/proc",
        env = "PODWIRE_PROC_DIR",
        value_name = "DIR"
    )]
    proc_dir: PathBuf,
    /// Amazon VPC CNI ipamd introspection endpoint; `none` to skip.
    #[arg(
        long,
        default_value = "http://127.0.0.1:61679",
        env = "PODWIRE_IPAMD_URL",
        value_name = "URL"
    )]
    ipamd_url: String,
    /// How long to wait for ipamd, in milliseconds.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    ipamd_timeout_ms: u64,
    /// Destination to resolve each pod's egress path for (the kernel is asked the same
    /// question). Default: a documentation address only the node's default routes cover.
    #[arg(long, value_name = "IP")]
    probe_dst: Option<IpAddr>,
    /// Threads that enter pod namespaces during a collection.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    /// A collection starts once the node has been quiet this long after a change…
    #[arg(long, default_value = "250ms", value_parser = duration, value_name = "DURATION")]
    debounce: Duration,
    /// …or this long after the first change of a burst, whichever is first.
    #[arg(long, default_value = "2s", value_parser = duration, value_name = "DURATION")]
    debounce_max: Duration,
    /// A full collection at least this often, changes or not (catches what no notification
    /// reports: changes inside pod namespaces, ipamd's pools).
    #[arg(long, default_value = "60s", value_parser = duration, value_name = "DURATION")]
    resync_interval: Duration,
    /// How often to tell the server the node is alive and unchanged; the server's Welcome may
    /// set its own.
    #[arg(long, default_value = "10s", value_parser = duration, value_name = "DURATION")]
    heartbeat_interval: Duration,
    /// A session whose oldest unacknowledged message is older than this is dropped and retried.
    #[arg(long, default_value = "60s", value_parser = duration, value_name = "DURATION")]
    ack_timeout: Duration,
    /// Limit for establishing the TCP connection (the server's Welcome gets at least 30 s).
    #[arg(long, default_value = "10s", value_parser = duration, value_name = "DURATION")]
    connect_timeout: Duration,
    /// First reconnect delay after a failure; it doubles with each further failure (plus
    /// random jitter of up to the delay itself)…
    #[arg(long, default_value = "1s", value_parser = duration, value_name = "DURATION")]
    backoff_min: Duration,
    /// …up to this.
    #[arg(long, default_value = "60s", value_parser = duration, value_name = "DURATION")]
    backoff_max: Duration,
    /// First reconnect delay after the server refused the agent itself (UNAUTHENTICATED,
    /// PERMISSION_DENIED, INVALID_ARGUMENT…), doubling up to five times this.
    #[arg(long, default_value = "60s", value_parser = duration, value_name = "DURATION")]
    rejected_backoff: Duration,
    /// Address of the local status endpoint (`GET /status`, `GET /metrics`); `none` disables it.
    #[arg(
        long,
        default_value = "127.0.0.1:9102",
        env = "PODWIRE_STATUS_LISTEN",
        value_name = "ADDR"
    )]
    status_listen: String,
    /// Stop when the process that started the agent exits, even if it could not say so (killed
    /// with SIGKILL): for a supervisor such as `podwire-server --local-agent`, so that a
    /// restarted supervisor never finds a second agent streaming for the same node.
    #[arg(long)]
    exit_with_parent: bool,
}

impl RunArgs {
    /// Checks every flag and the token file; touches no socket.
    pub fn validate(self) -> Result<RunConfig, ConfigError> {
        let server = config::server_uri(&self.server)?;
        config::name("--cluster", &self.cluster)?;
        let node = match self.node {
            Some(node) => node,
            None => hostname(&self.proc_dir)?,
        };
        config::name("--node", &node)?;
        if let Some(path) = &self.token_file {
            BearerToken::read(path)?;
        }
        for (flag, dir) in [
            ("--host-root", &self.host_root),
            ("--proc-dir", &self.proc_dir),
        ] {
            if !dir.is_dir() {
                return Err(ConfigError::NotADirectory {
                    flag,
                    path: dir.clone(),
                });
            }
        }
        let ipamd_url = config::ipamd_url(&self.ipamd_url)?;
        let debounce = config::nonzero("--debounce", self.debounce)?;
        let debounce_max = config::nonzero("--debounce-max", self.debounce_max)?;
        config::ordered(("--debounce", debounce), ("--debounce-max", debounce_max))?;
        let resync_interval = config::nonzero("--resync-interval", self.resync_interval)?;
        config::ordered(
            ("--debounce-max", debounce_max),
            ("--resync-interval", resync_interval),
        )?;
        let heartbeat_interval = config::nonzero("--heartbeat-interval", self.heartbeat_interval)?;
        let ack_timeout = config::nonzero("--ack-timeout", self.ack_timeout)?;
        let connect_timeout = config::nonzero("--connect-timeout", self.connect_timeout)?;
        let backoff_min = config::nonzero("--backoff-min", self.backoff_min)?;
        let backoff_max = config::nonzero("--backoff-max", self.backoff_max)?;
        config::ordered(
            ("--backoff-min", backoff_min),
            ("--backoff-max", backoff_max),
        )?;
        let rejected_backoff = config::nonzero("--rejected-backoff", self.rejected_backoff)?;
        let status_listen = config::status_listen(&self.status_listen)?;
        Ok(RunConfig {
            collect: CollectConfig {
                cluster: self.cluster,
                node_name: Some(node),
                host_root: self.host_root,
                netns_dir: self.netns_dir,
                proc_dir: self.proc_dir,
                ipamd_url,
                ipamd_timeout: Duration::from_millis(self.ipamd_timeout_ms),
                probe_destination: self.probe_dst,
                workers: usize::from(self.workers),
                hold_after_discovery: None,
            },
            changes: ChangeTiming {
                quiet: debounce,
                max_delay: debounce_max,
                resync_interval,
            },
            connection: ConnectionSettings {
                server,
                token_file: self.token_file,
                heartbeat_interval,
                ack_timeout,
                connect_timeout,
                backoff: BackoffPolicy {
                    min: backoff_min,
                    max: backoff_max,
                    rejected: rejected_backoff,
                    healthy_after: HEALTHY_SESSION,
                },
            },
            status_listen,
            exit_with_parent: self.exit_with_parent,
        })
    }
}

/// The kernel's hostname, as `collect` would read it, so that `Hello` never names an empty node.
fn hostname(proc_dir: &Path) -> Result<String, ConfigError> {
    let path = proc_dir.join("sys/kernel/hostname");
    let name = std::fs::read_to_string(&path).map_err(|source| ConfigError::Hostname {
        path: path.clone(),
        source,
    })?;
    let name = name.trim();
    if name.is_empty() {
        return Err(ConfigError::EmptyHostname { path });
    }
    Ok(name.to_owned())
}

/// Validates, then runs the agent until SIGTERM or SIGINT.
pub fn main(args: RunArgs) -> ExitCode {
    let config = match args.validate() {
        Ok(config) => config,
        Err(err) => {
            eprintln!(
                "podwire-agent run: invalid configuration: {}",
                error_chain(&err)
            );
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_logging();
    // One thread for the agent's own work; collections use the runtime's blocking threads.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("podwire-agent")
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let listener = match config.status_listen {
            Some(address) => match tokio::net::TcpListener::bind(address).await {
                Ok(listener) => Some(listener),
                Err(err) => {
                    tracing::error!(%address, error = %err, "cannot listen for the status endpoint; choose another --status-listen or `none`");
                    return ExitCode::FAILURE;
                }
            },
            None => None,
        };
        let (stop, shutdown) = watch::channel(false);
        let parent = config.exit_with_parent.then(std::os::unix::process::parent_id);
        tokio::spawn(async move {
            match parent {
                Some(parent) => tokio::select! {
                    () = wait_for_signal() => {}
                    () = parent_gone(parent) => {
                        tracing::warn!(parent, "the process that started the agent is gone");
                    }
                },
                None => wait_for_signal().await,
            }
            tracing::info!("stopping");
            let _ = stop.send(true);
        });
        crate::run::run(config, listener, shutdown).await;
        ExitCode::SUCCESS
    });
    // A collection in progress may still hold a blocking thread; it is not waited for long.
    runtime.shutdown_timeout(crate::run::STOP_GRACE);
    code
}

/// Resolves once the agent's parent is no longer `parent`: when a parent dies its children are
/// handed to init (or a subreaper), so a changed parent id means the starter is gone. Polled,
/// because the kernel's parent-death signal follows the starting thread, not the process.
async fn parent_gone(parent: u32) {
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    loop {
        poll.tick().await;
        if std::os::unix::process::parent_id() != parent {
            return;
        }
    }
}

/// SIGTERM (Kubernetes stopping the pod) or SIGINT.
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGTERM; only SIGINT stops the agent");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Logs to standard error, `info` and above unless `RUST_LOG` says otherwise.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in the container log.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
