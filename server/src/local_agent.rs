//! `--local-agent`: runs `podwire-agent run` for this machine next to the server, and keeps it
//! running.
//!
//! The agent binary is taken from the server binary's own directory (a release unpacks both
//! there; `cargo build` puts both in `target/<profile>/`). Whether it has the `run` subcommand is
//! checked before the server binds anything, by asking for its help text.
//!
//! The agent authenticates like any other: the server draws a fresh random token at every start,
//! writes it to `<data-dir>/local-agent.token` (mode 0600) and accepts it next to the tokens of
//! `--agent-token-file`, and the agent is given `--token-file` pointing there. No manual token
//! setup, and nothing else on the machine can stream as this agent without reading that file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// The agent's binary name.
pub const AGENT_BINARY: &str = "podwire-agent";

/// The local agent's token file, in the data directory.
pub const TOKEN_FILE: &str = "local-agent.token";

/// How long the agent gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A run of this long counts as healthy: the restart delay starts over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// An agent program that has the `run` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAgentProgram {
    pub binary: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalAgentError {
    #[error("cannot tell where the server binary is")]
    CurrentExe(#[source] std::io::Error),
    #[error("{} not found: build or install podwire-agent next to podwire-server", .0.display())]
    NotFound(PathBuf),
    #[error("cannot run {}", .binary.display())]
    Spawn {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has no usable `run` subcommand (`run --help` {status}, and must mention --server)", .binary.display())]
    NoRunSubcommand { binary: PathBuf, status: ExitStatus },
    #[error("cannot draw a random token for the local agent")]
    Random(#[source] getrandom::Error),
    #[error("cannot write the local agent's token to {}", .path.display())]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The token made for the agent `--local-agent` runs: 32 random bytes in hex, written to a file
/// only the server's user can read. Debug output never shows it.
#[derive(Clone)]
pub struct LocalAgentToken {
    path: PathBuf,
    token: String,
}

impl LocalAgentToken {
    /// Draws a new token and writes it to `<data_dir>/local-agent.token`, replacing the previous
    /// run's (atomically: a running agent never reads half a token).
    pub fn issue(data_dir: &Path) -> Result<Self, LocalAgentError> {
        let path = data_dir.join(TOKEN_FILE);
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(LocalAgentError::Random)?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(data_dir)?;
            // A temporary file is created with mode 0600, so the token is never readable by others.
            let mut file = tempfile::NamedTempFile::new_in(data_dir)?;
            std::io::Write::write_all(&mut file, format!("{token}\n").as_bytes())?;
            file.persist(&path).map_err(|err| err.error)?;
            Ok(())
        };
        write().map_err(|source| LocalAgentError::TokenFile {
            path: path.clone(),
            source,
        })?;
        Ok(LocalAgentToken { path, token })
    }

    /// The file the agent reads it from (`--token-file`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The token, for the server's list of accepted ones.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl std::fmt::Debug for LocalAgentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAgentToken")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Finds `podwire-agent` beside the running server binary.
pub fn locate_beside_current_exe() -> Result<LocalAgentProgram, LocalAgentError> {
    let exe = std::env::current_exe().map_err(LocalAgentError::CurrentExe)?;
    locate_in(exe.parent().unwrap_or(Path::new(".")))
}

/// Finds `podwire-agent` in `dir` and checks that it has a `run` subcommand taking `--server`.
pub fn locate_in(dir: &Path) -> Result<LocalAgentProgram, LocalAgentError> {
    let binary = dir.join(AGENT_BINARY);
    if !binary.is_file() {
        return Err(LocalAgentError::NotFound(binary));
    }
    let output = std::process::Command::new(&binary)
        .args(["run", "--help"])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LocalAgentError::Spawn {
            binary: binary.clone(),
            source,
        })?;
    let help = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !help.contains("--server") {
        return Err(LocalAgentError::NoRunSubcommand {
            binary,
            status: output.status,
        });
    }
    Ok(LocalAgentProgram { binary })
}

impl LocalAgentProgram {
    /// The agent's arguments: stream to this server's gRPC address as cluster `local`, with the
    /// token in `token_file`.
    pub fn args(&self, grpc_listen: SocketAddr, token_file: &Path) -> Vec<String> {
        let mut target = grpc_listen;
        if target.ip().is_unspecified() {
            target.set_ip(if target.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        [
            "run",
            "--server",
            &format!("http://{target}"),
            "--cluster",
            "local",
            "--token-file",
            &token_file.display().to_string(),
            // A server killed outright cannot stop its agent; the agent notices by itself.
            "--exit-with-parent",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// Runs the agent until `shutdown` turns true, restarting it with exponential backoff when it
    /// exits. An exit with status 2 (a usage error) is not retried: it will not fix itself.
    pub async fn supervise(
        self,
        grpc_listen: SocketAddr,
        token: LocalAgentToken,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let args = self.args(grpc_listen, token.path());
        let new_backoff = || {
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_secs(1))
                .with_max_delay(Duration::from_secs(60))
                .with_jitter()
                .without_max_times()
                .build()
        };
        let mut backoff = new_backoff();
        loop {
            let started = Instant::now();
            let child = Command::new(&self.binary)
                .args(&args)
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .spawn();
            let mut child = match child {
                Ok(child) => child,
                Err(err) => {
                    tracing::error!(binary = %self.binary.display(), error = %err, "cannot start the local agent");
                    return;
                }
            };
            tracing::info!(pid = child.id(), binary = %self.binary.display(), ?args, "local agent started");
            let exited = tokio::select! {
                status = child.wait() => Some(status),
                _ = shutdown.wait_for(|stop| *stop) => None,
            };
            let Some(status) = exited else {
                stop_child(&mut child).await;
                return;
            };
            match status {
                Ok(status) if status.code() == Some(2) => {
                    tracing::error!(%status, "local agent refused its arguments; not restarting it");
                    return;
                }
                Ok(status) => tracing::warn!(%status, "local agent exited"),
                Err(err) => tracing::warn!(error = %err, "lost track of the local agent"),
            }
            if started.elapsed() >= HEALTHY_RUN {
                backoff = new_backoff();
            }
            let delay = backoff.next().unwrap_or(Duration::from_secs(60));
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}

/// SIGTERM, then SIGKILL if the agent has not exited within [`STOP_GRACE`].
async fn stop_child(child: &mut Child) {
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(_) => tracing::info!("local agent stopped"),
        Err(_) => {
            tracing::warn!("local agent ignored SIGTERM; killing it");
            let _ = child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn script(dir: &Path, body: &str) {
        let path = dir.join(AGENT_BINARY);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn missing_binary_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = locate_in(dir.path()).unwrap_err();
        assert!(matches!(err, LocalAgentError::NotFound(_)));
        assert!(
            err.to_string()
                .contains(&dir.path().join("podwire-agent").display().to_string())
        );
    }

    #[test]
    fn agent_without_run_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // what clap prints for an unknown subcommand, and its exit status
        script(
            dir.path(),
            "echo \"error: unrecognized subcommand 'run'\" >&2; exit 2",
        );
        assert!(matches!(
            locate_in(dir.path()),
            Err(LocalAgentError::NoRunSubcommand { .. })
        ));
        // a binary that accepts anything but documents no --server
        script(dir.path(), "exit 0");
        assert!(matches!(
            locate_in(dir.path()),
            Err(LocalAgentError::NoRunSubcommand { .. })
        ));
    }

    #[test]
    fn agent_with_run_is_accepted_and_pointed_at_loopback() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "echo 'Usage: podwire-agent run --server <URL> --cluster <NAME>'",
        );
        let program = locate_in(dir.path()).unwrap();
        assert_eq!(
            program.args(
                "0.0.0.0:50051".parse().unwrap(),
                Path::new("/var/lib/podwire/local-agent.token")
            ),
            [
                "run",
                "--server",
                "http://127.0.0.1:50051",
                "--cluster",
                "local",
                "--token-file",
                "/var/lib/podwire/local-agent.token",
                "--exit-with-parent"
            ]
        );
    }

    #[test]
    fn local_agent_token_is_fresh_private_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = LocalAgentToken::issue(&data).unwrap();
        assert_eq!(first.path(), data.join(TOKEN_FILE));
        assert_eq!(first.token().len(), 64);
        assert!(first.token().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            std::fs::read_to_string(first.path()).unwrap().trim(),
            first.token()
        );
        let mode = std::fs::metadata(first.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only the server's user reads it");
        assert!(!format!("{first:?}").contains(first.token()));
        let second = LocalAgentToken::issue(&data).unwrap();
        assert_ne!(second.token(), first.token());
        assert_eq!(
            std::fs::read_to_string(second.path()).unwrap().trim(),
            second.token()
        );
        assert_eq!(
            std::fs::read_dir(&data).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[tokio::test]
    async fn supervised_agent_is_stopped_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        script(
            dir.path(),
            &format!(
                "[ \"$2\" = --help ] && {{ echo --server; exit 0; }}; echo $$ > {}; exec sleep 600",
                pid_file.display()
            ),
        );
        let program = locate_in(dir.path()).unwrap();
        let (stop, stopped) = watch::channel(false);
        let token = LocalAgentToken::issue(dir.path()).unwrap();
        let supervisor =
            tokio::spawn(program.supervise("127.0.0.1:50051".parse().unwrap(), token, stopped));
        let pid = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                break pid;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(Path::new(&format!("/proc/{pid}")).exists(), "agent runs");
        stop.send(true).unwrap();
        supervisor.await.unwrap();
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "agent {pid} gone after shutdown"
        );
    }
}
