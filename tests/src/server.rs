//! `podwire-server` as a separate process, the way an operator runs it: flags and
//! `DATABASE_URL`, its log captured to a file, ready once `GET /readyz` answers 200. It can be
//! killed (SIGKILL) and started again on the same ports and database, or stopped with SIGTERM.
//! Dropping it kills it if it still runs.
//!
//! The binary comes from `PODWIRE_SERVER_BIN`, else `$PODWIRE_BIN_DIR/podwire-server`, else the
//! cargo target directory the running executable was built into.

use std::fs::OpenOptions;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::api::ApiClient;

/// The environment variable naming the server binary.
pub const SERVER_BIN_ENV: &str = "PODWIRE_SERVER_BIN";
/// The environment variable naming the directory of every podwire binary (`target/debug`).
pub const BIN_DIR_ENV: &str = "PODWIRE_BIN_DIR";

/// How long start-up may take (a private Postgres is created on the first start in local mode).
const READY_LIMIT: Duration = Duration::from_secs(120);
/// How long SIGTERM may take before the server is killed.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// The server could not be run, or did not behave as a server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "podwire-server is not at {}: build it (`cargo build --workspace --bins`) or set {SERVER_BIN_ENV} or {BIN_DIR_ENV}",
        .path.display()
    )]
    NotFound { path: PathBuf },
    #[error("cannot tell where this executable lives")]
    CurrentExe(#[source] std::io::Error),
    #[error("cannot pick a free loopback port")]
    Port(#[source] std::io::Error),
    #[error("cannot open the server's log file")]
    Log(#[source] std::io::Error),
    #[error("cannot start {} (through setpriv, from util-linux)", .binary.display())]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("podwire-server exited ({status}) before it was ready; its log:\n{log}")]
    Exited { status: ExitStatus, log: String },
    #[error("podwire-server was not ready within {waited:?}; its log:\n{log}")]
    NotReady { waited: Duration, log: String },
    #[error("podwire-server is not running")]
    NotRunning,
    #[error("cannot signal podwire-server")]
    Signal(#[source] nix::Error),
    #[error("cannot wait for podwire-server")]
    Wait(#[source] std::io::Error),
}

/// Where the podwire binary `name` is: `$PODWIRE_BIN_DIR/name`, else beside the test executable
/// (`<target>/<profile>/name`; test executables live in `<target>/<profile>/deps`).
pub fn podwire_binary(name: &str) -> Result<PathBuf, ServerError> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        let path = PathBuf::from(dir).join(name);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(ServerError::NotFound { path })
        };
    }
    let exe = std::env::current_exe().map_err(ServerError::CurrentExe)?;
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(name))
        .collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| ServerError::NotFound {
            path: candidates.first().cloned().unwrap_or_default(),
        })
}

/// Where `podwire-server` is.
pub fn server_binary() -> Result<PathBuf, ServerError> {
    match std::env::var_os(SERVER_BIN_ENV) {
        Some(path) => {
            let path = PathBuf::from(path);
            if path.is_file() {
                Ok(path)
            } else {
                Err(ServerError::NotFound { path })
            }
        }
        None => podwire_binary("podwire-server"),
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it moments later).
pub fn free_port() -> Result<u16, ServerError> {
    Ok(free_ports::<1>()?[0])
}

/// `N` distinct free TCP ports on 127.0.0.1: all are held until all are chosen.
pub fn free_ports<const N: usize>() -> Result<[u16; N], ServerError> {
    let mut held = Vec::with_capacity(N);
    let mut ports = [0u16; N];
    for port in &mut ports {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .map_err(ServerError::Port)?;
        *port = listener.local_addr().map_err(ServerError::Port)?.port();
        held.push(listener);
    }
    Ok(ports)
}

/// How to run the server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `DATABASE_URL`; `None` runs local mode (a private Postgres in `data_dir`).
    pub database_url: Option<String>,
    /// `--agent-token-file`.
    pub token_file: Option<PathBuf>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--local-agent`.
    pub local_agent: bool,
    /// More flags.
    pub args: Vec<String>,
    /// More environment (inherited by the agent `--local-agent` starts).
    pub env: Vec<(String, String)>,
}

/// A `podwire-server` process on loopback ports of its own.
#[derive(Debug)]
pub struct ServerProcess {
    binary: PathBuf,
    options: ServerOptions,
    http: SocketAddr,
    grpc: SocketAddr,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl ServerProcess {
    /// Starts the server on two free loopback ports and waits until it is ready.
    pub fn start(options: ServerOptions) -> Result<Self, ServerError> {
        let [http, grpc] = free_ports()?;
        let mut server = ServerProcess {
            binary: server_binary()?,
            options,
            http: SocketAddr::from((Ipv4Addr::LOCALHOST, http)),
            grpc: SocketAddr::from((Ipv4Addr::LOCALHOST, grpc)),
            child: None,
            log: tempfile::Builder::new()
                .prefix("podwire-server-log-")
                .tempfile()
                .map_err(ServerError::Log)?,
        };
        server.spawn()?;
        server.wait_until_ready()?;
        Ok(server)
    }

    /// Starts it again after [`ServerProcess::kill`] or [`ServerProcess::terminate`]: the same
    /// flags, ports, database and log file. Waits until it is ready.
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.spawn()?;
        self.wait_until_ready()
    }

    fn spawn(&mut self) -> Result<(), ServerError> {
        let log = || {
            OpenOptions::new()
                .append(true)
                .open(self.log.path())
                .map_err(ServerError::Log)
        };
        // `setpriv --pdeathsig KILL` (which execs the server: its pid is the server's) has the
        // kernel kill the server should the test process die without running destructors.
        let mut command = Command::new("setpriv");
        command
            .args(["--pdeathsig", "KILL", "--"])
            .arg(&self.binary)
            .arg("--http-listen")
            .arg(self.http.to_string())
            .arg("--grpc-listen")
            .arg(self.grpc.to_string())
            .args(&self.options.args)
            .env("RUST_LOG", "info,sqlx=warn")
            .env("NO_COLOR", "1")
            .env_remove("PODWIRE_AGENT_TOKEN_FILE")
            .env_remove("PODWIRE_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(log()?)
            .stderr(log()?);
        match &self.options.database_url {
            Some(url) => command.env("DATABASE_URL", url),
            None => command.env_remove("DATABASE_URL"),
        };
        if let Some(file) = &self.options.token_file {
            command.arg("--agent-token-file").arg(file);
        }
        if let Some(dir) = &self.options.data_dir {
            command.arg("--data-dir").arg(dir);
        }
        if self.options.local_agent {
            command.arg("--local-agent");
        }
        command.envs(self.options.env.iter().map(|(k, v)| (k, v)));
        let child = command.spawn().map_err(|source| ServerError::Spawn {
            binary: self.binary.clone(),
            source,
        })?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until `GET /readyz` answers 200 (the database is reachable and migrated).
    pub fn wait_until_ready(&mut self) -> Result<(), ServerError> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exit_status()? {
                return Err(ServerError::Exited {
                    status,
                    log: self.log(),
                });
            }
            if self.api().get("/readyz").is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            if start.elapsed() > READY_LIMIT {
                return Err(ServerError::NotReady {
                    waited: READY_LIMIT,
                    log: self.log(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The exit status, once the process has exited; `None` while it runs.
    pub fn exit_status(&mut self) -> Result<Option<ExitStatus>, ServerError> {
        match self.child.as_mut() {
            Some(child) => child.try_wait().map_err(ServerError::Wait),
            None => Err(ServerError::NotRunning),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.exit_status(), Ok(None))
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, as when the node or the container dies: no orderly shutdown at all.
    pub fn kill(&mut self) -> Result<ExitStatus, ServerError> {
        let mut child = self.child.take().ok_or(ServerError::NotRunning)?;
        if child.try_wait().map_err(ServerError::Wait)?.is_none() {
            signal(&child, Signal::SIGKILL)?;
        }
        child.wait().map_err(ServerError::Wait)
    }

    /// SIGTERM, and waits for the orderly stop (SIGKILL after 30 s).
    pub fn terminate(&mut self) -> Result<ExitStatus, ServerError> {
        let mut child = self.child.take().ok_or(ServerError::NotRunning)?;
        if let Some(status) = child.try_wait().map_err(ServerError::Wait)? {
            return Ok(status);
        }
        signal(&child, Signal::SIGTERM)?;
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().map_err(ServerError::Wait)? {
                return Ok(status);
            }
            if start.elapsed() > STOP_LIMIT {
                let _ = child.kill();
                return child.wait().map_err(ServerError::Wait);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `--http-listen`.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// `--grpc-listen`: where agents stream to.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
    }

    pub fn api(&self) -> ApiClient {
        ApiClient::new(self.http)
    }

    /// Everything the server logged so far, over all its runs.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

fn signal(child: &Child, signal: Signal) -> Result<(), ServerError> {
    let pid = i32::try_from(child.id()).map_err(|_| ServerError::Signal(nix::Error::ESRCH))?;
    kill(Pid::from_raw(pid), signal).map_err(ServerError::Signal)
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.child.is_some() {
            // An orderly stop, so that a private Postgres the server started stops with it.
            let _ = self.terminate();
        }
    }
}
