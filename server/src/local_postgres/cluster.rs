//! One private Postgres cluster: created on first use, started, stopped.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::unistd::{Gid, Group, Uid, User};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};
use tempfile::TempDir;
use tokio::process::Command;

use super::{LocalPostgresError, PostgresBinaries, io_error};

/// The port number only names the socket file (`.s.PGSQL.<port>`): nothing listens on TCP.
const SOCKET_PORT: u16 = 54329;
const ROLE: &str = "podwire";
const DATABASE: &str = "podwire";

/// A running private Postgres. Stop it with [`LocalPostgres::stop`]; dropping it stops it too
/// (blocking), so a failed start-up never leaves it running.
#[derive(Debug)]
pub struct LocalPostgres {
    binaries: PostgresBinaries,
    data_dir: PathBuf,
    /// Removed when the value is dropped, after the server has stopped.
    socket_dir: Option<TempDir>,
    run_as: Option<(Uid, Gid)>,
    running: bool,
}

impl LocalPostgres {
    /// Creates (first run) and starts the cluster in `<data_root>/postgres`, and makes sure the
    /// `podwire` database exists.
    pub async fn start(data_root: &Path) -> Result<LocalPostgres, LocalPostgresError> {
        let binaries = PostgresBinaries::find()?;
        let run_as = unprivileged_user()?;
        std::fs::create_dir_all(data_root).map_err(io_error("cannot create", data_root))?;
        let data_root =
            std::fs::canonicalize(data_root).map_err(io_error("cannot resolve", data_root))?;
        let data_dir = data_root.join("postgres");
        if let Some((uid, gid)) = run_as {
            check_reachable(&data_dir, uid, gid)?;
        }
        let socket_dir = tempfile::Builder::new()
            .prefix("podwire-pg-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in("/tmp")
            .map_err(io_error(
                "cannot create a socket directory in",
                Path::new("/tmp"),
            ))?;
        if let Some((uid, gid)) = run_as {
            chown(socket_dir.path(), uid, gid)?;
        }
        let mut postgres = LocalPostgres {
            binaries,
            data_dir,
            socket_dir: Some(socket_dir),
            run_as,
            running: false,
        };

        if !postgres.data_dir.join("PG_VERSION").is_file() {
            postgres.initdb(&data_root).await?;
        } else if let Some((uid, gid)) = run_as {
            chown_tree_if_needed(&postgres.data_dir, uid, gid)?;
        }
        postgres.clear_stale_postmaster().await?;
        postgres.pg_ctl_start().await?;
        postgres.running = true;
        postgres.ensure_database().await?;
        tracing::info!(data_dir = %postgres.data_dir.display(), socket_dir = %postgres.socket_dir().display(), "private Postgres started");
        Ok(postgres)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn socket_dir(&self) -> &Path {
        self.socket_dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }

    /// How to reach the `podwire` database over the socket.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(self.socket_dir())
            .port(SOCKET_PORT)
            .username(ROLE)
            .database(DATABASE)
    }

    /// The postmaster's pid, from `postmaster.pid`, while one is recorded there.
    pub fn postmaster_pid(&self) -> Option<i32> {
        read_postmaster_pid(&self.data_dir)
    }

    /// Stops the server (fast shutdown: open sessions are ended, data is flushed) and removes
    /// its socket directory.
    pub async fn stop(mut self) -> Result<(), LocalPostgresError> {
        self.stop_server().await
    }

    /// Stops the postmaster but keeps this handle (and the socket directory) for
    /// [`LocalPostgres::start_server`]: what a database outage looks like to the server.
    pub async fn stop_server(&mut self) -> Result<(), LocalPostgresError> {
        self.running = false;
        match self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]).await {
            Ok(_) => {
                tracing::info!("private Postgres stopped");
                Ok(())
            }
            Err(err) if self.postmaster_pid().is_none() => {
                tracing::debug!(error = %err, "private Postgres already stopped");
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    /// Starts the postmaster again on the same socket after [`LocalPostgres::stop_server`].
    pub async fn start_server(&mut self) -> Result<(), LocalPostgresError> {
        self.clear_stale_postmaster().await?;
        self.pg_ctl_start().await?;
        self.running = true;
        Ok(())
    }

    /// initdb into a scratch directory, renamed into place only when complete: an interrupted
    /// first run leaves nothing that looks like a cluster.
    async fn initdb(&self, data_root: &Path) -> Result<(), LocalPostgresError> {
        if self.data_dir.exists()
            && std::fs::read_dir(&self.data_dir)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true)
        {
            return Err(LocalPostgresError::NotADataDirectory(self.data_dir.clone()));
        }
        let scratch = data_root.join("postgres.initdb");
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch).map_err(io_error("cannot remove", &scratch))?;
        }
        std::fs::create_dir(&scratch).map_err(io_error("cannot create", &scratch))?;
        std::fs::set_permissions(&scratch, std::fs::Permissions::from_mode(0o700))
            .map_err(io_error("cannot set permissions on", &scratch))?;
        if let Some((uid, gid)) = self.run_as {
            chown(&scratch, uid, gid)?;
        }
        let scratch_arg = scratch.display().to_string();
        let args = [
            "-D",
            &scratch_arg,
            "-U",
            ROLE,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ];
        self.run(&self.binaries.initdb(), &args).await?;
        if self.data_dir.exists() {
            std::fs::remove_dir(&self.data_dir)
                .map_err(io_error("cannot replace", &self.data_dir))?;
        }
        std::fs::rename(&scratch, &self.data_dir)
            .map_err(io_error("cannot move the new cluster to", &self.data_dir))?;
        tracing::info!(data_dir = %self.data_dir.display(), "private Postgres cluster created");
        Ok(())
    }

    /// A `postmaster.pid` left behind by a server that was killed: when its postmaster still runs
    /// for this data directory, stop it; when the pid is dead or now another process's, remove
    /// the file (Postgres itself would refuse to start if the pid is alive).
    async fn clear_stale_postmaster(&self) -> Result<(), LocalPostgresError> {
        let pid_file = self.data_dir.join("postmaster.pid");
        let Some(pid) = read_postmaster_pid(&self.data_dir) else {
            return Ok(());
        };
        let old_socket_dir = read_socket_dir(&self.data_dir).filter(|dir| dir != self.socket_dir());
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
        let ours = cwd.as_deref().and_then(|c| std::fs::canonicalize(c).ok())
            == std::fs::canonicalize(&self.data_dir).ok();
        if ours {
            tracing::warn!(
                pid,
                "a private Postgres from an earlier run is still running; stopping it"
            );
            self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"])
                .await?;
        } else {
            tracing::warn!(pid, "removing a stale postmaster.pid");
            std::fs::remove_file(&pid_file).map_err(io_error("cannot remove", &pid_file))?;
        }
        // The earlier run's socket directory, left behind when that server was killed.
        if let Some(dir) = old_socket_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }

    async fn pg_ctl_start(&self) -> Result<(), LocalPostgresError> {
        let log = self.data_dir.join("log").join("postgres.log");
        let socket_dir = self.socket_dir().display().to_string();
        let options = format!(
            "-k {socket_dir} -p {SOCKET_PORT} -c listen_addresses= -c unix_socket_permissions=0700"
        );
        let log_arg = log.display().to_string();
        let log_dir = self.data_dir.join("log");
        if !log_dir.exists() {
            std::fs::create_dir(&log_dir).map_err(io_error("cannot create", &log_dir))?;
            if let Some((uid, gid)) = self.run_as {
                chown(&log_dir, uid, gid)?;
            }
        }
        self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log_arg, "-o", &options])
            .await
            .map_err(|err| match err {
                LocalPostgresError::Command {
                    program,
                    status,
                    output,
                } => {
                    let tail = std::fs::read_to_string(&log).unwrap_or_default();
                    let tail: Vec<&str> = tail.lines().rev().take(5).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    LocalPostgresError::Command {
                        program,
                        status,
                        output: format!("{output}\n{}", tail.join("\n")),
                    }
                }
                other => other,
            })?;
        Ok(())
    }

    async fn ensure_database(&self) -> Result<(), LocalPostgresError> {
        let mut conn = self
            .connect_options()
            .database("postgres")
            .connect()
            .await
            .map_err(LocalPostgresError::Connect)?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(DATABASE)
                .fetch_optional(&mut conn)
                .await
                .map_err(LocalPostgresError::Connect)?;
        if exists.is_none() {
            conn.execute("CREATE DATABASE podwire")
                .await
                .map_err(LocalPostgresError::Connect)?;
        }
        conn.close().await.map_err(LocalPostgresError::Connect)
    }

    async fn pg_ctl(&self, args: &[&str]) -> Result<String, LocalPostgresError> {
        let data_dir = self.data_dir.display().to_string();
        let mut full = vec!["-D", data_dir.as_str()];
        full.extend_from_slice(args);
        self.run(&self.binaries.pg_ctl(), &full).await
    }

    /// Runs a Postgres program as the unprivileged user, in a process group of its own so that a
    /// Ctrl-C at the terminal reaches only the server, which then stops Postgres in order.
    async fn run(&self, program: &Path, args: &[&str]) -> Result<String, LocalPostgresError> {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .env("HOME", self.socket_dir())
            .env("LC_ALL", "C.UTF-8");
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
        let name = program.file_name().map_or_else(
            || program.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let output = command
            .output()
            .await
            .map_err(io_error("cannot run", program))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if output.status.success() {
            Ok(text)
        } else {
            Err(LocalPostgresError::Command {
                program: name,
                status: output.status,
                output: text.trim().to_owned(),
            })
        }
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let mut command = std::process::Command::new(self.binaries.pg_ctl());
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args(["stop", "-m", "fast", "-w", "-t", "60"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env("HOME", self.socket_dir());
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::process::CommandExt::uid(&mut command, uid.as_raw());
            std::os::unix::process::CommandExt::gid(&mut command, gid.as_raw());
        }
        match command.status() {
            Ok(status) if status.success() => tracing::info!("private Postgres stopped"),
            Ok(status) => {
                tracing::error!(%status, data_dir = %self.data_dir.display(), "could not stop the private Postgres")
            }
            Err(err) => {
                tracing::error!(error = %err, "could not run pg_ctl to stop the private Postgres")
            }
        }
    }
}

/// The socket directory an earlier run of ours recorded in `postmaster.pid` (its fifth line),
/// only when it has the shape of ours.
fn read_socket_dir(data_dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let dir = PathBuf::from(text.lines().nth(4)?.trim());
    let name = dir.file_name()?.to_str()?;
    (dir.parent() == Some(Path::new("/tmp")) && name.starts_with("podwire-pg-")).then_some(dir)
}

fn read_postmaster_pid(data_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// `nobody`/`nogroup` when running as root (initdb and postgres refuse root); `None` otherwise.
fn unprivileged_user() -> Result<Option<(Uid, Gid)>, LocalPostgresError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let user = User::from_name("nobody")
        .map_err(|e| LocalPostgresError::UserLookup("nobody", e))?
        .ok_or(LocalPostgresError::NoUnprivilegedUser("nobody"))?;
    let gid = match Group::from_name("nogroup") {
        Ok(Some(group)) => group.gid,
        _ => user.gid,
    };
    Ok(Some((user.uid, gid)))
}

/// Every ancestor of `dir` must let `uid` pass through (Postgres opens its data directory by
/// path).
fn check_reachable(dir: &Path, uid: Uid, gid: Gid) -> Result<(), LocalPostgresError> {
    for ancestor in dir.ancestors().skip(1) {
        let meta = std::fs::metadata(ancestor).map_err(io_error("cannot inspect", ancestor))?;
        let mode = meta.mode();
        let passes = mode & 0o001 != 0
            || (meta.uid() == uid.as_raw() && mode & 0o100 != 0)
            || (meta.gid() == gid.as_raw() && mode & 0o010 != 0);
        if !passes {
            return Err(LocalPostgresError::NotTraversable(ancestor.to_owned()));
        }
    }
    Ok(())
}

fn chown(path: &Path, uid: Uid, gid: Gid) -> Result<(), LocalPostgresError> {
    std::os::unix::fs::chown(path, Some(uid.as_raw()), Some(gid.as_raw()))
        .map_err(io_error("cannot change the owner of", path))
}

/// A data directory created by another user (a run without root, say) is handed to `uid`.
fn chown_tree_if_needed(dir: &Path, uid: Uid, gid: Gid) -> Result<(), LocalPostgresError> {
    let meta = std::fs::metadata(dir).map_err(io_error("cannot inspect", dir))?;
    if meta.uid() == uid.as_raw() {
        return Ok(());
    }
    tracing::warn!(data_dir = %dir.display(), "handing the Postgres data directory to nobody");
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        chown(&path, uid, gid)?;
        if std::fs::symlink_metadata(&path)
            .map_err(io_error("cannot inspect", &path))?
            .is_dir()
        {
            for entry in std::fs::read_dir(&path).map_err(io_error("cannot list", &path))? {
                stack.push(entry.map_err(io_error("cannot list", &path))?.path());
            }
        }
    }
    Ok(())
}
