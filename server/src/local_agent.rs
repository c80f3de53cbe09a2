//! `--local-agent`: runs `podwire-agent run` for this machine next to the server, and keeps it
//! running.
//!
//! The agent binary is taken from the server binary's own directory (a release unpacks both
//! there; `cargo build` puts both in `target/<profile>/`). Whether it has the `run` subcommand is
//! checked before the server binds anything, by asking for its help text.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// The agent's binary name.
pub const AGENT_BINARY: &str = "podwire-agent";

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
    /// The agent's arguments: stream to this server's gRPC address as cluster `local`.
    pub fn args(&self, grpc_listen: SocketAddr) -> Vec<String> {
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
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// Runs the agent until `shutdown` turns true, restarting it with exponential backoff when it
    /// exits. An exit with status 2 (a usage error) is not retried: it will not fix itself.
    pub async fn supervise(self, grpc_listen: SocketAddr, mut shutdown: watch::Receiver<bool>) {
        let args = self.args(grpc_listen);
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
            program.args("0.0.0.0:50051".parse().unwrap()),
            [
                "run",
                "--server",
                "http://127.0.0.1:50051",
                "--cluster",
                "local"
            ]
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
        let supervisor =
            tokio::spawn(program.supervise("127.0.0.1:50051".parse().unwrap(), stopped));
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
