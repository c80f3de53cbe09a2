//! Local mode: a private Postgres from the system's binaries, in the server's data directory.
//!
//! It listens on a unix socket only (no TCP port at all), in a short-lived directory of its own
//! under /tmp (socket paths must stay under ~100 bytes). Only its owner can connect: the socket
//! directory and the socket are mode 0700, and authentication is `trust` for that reason. initdb
//! and the postmaster refuse to run as root, so when the server is root they run as `nobody`.
//!
//! The data survives restarts (a second run reuses `<data-dir>/postgres`); a `postmaster.pid` left
//! by a server that was killed is dealt with before starting.

mod binaries;
mod cluster;

use std::path::{Path, PathBuf};

pub use binaries::PostgresBinaries;
pub use cluster::LocalPostgres;

/// Why the private Postgres could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum LocalPostgresError {
    #[error(
        "no PostgreSQL server binaries found in /usr/lib/postgresql/*/bin or on PATH; install them \
         (apt-get install postgresql) or set DATABASE_URL"
    )]
    NoBinaries,
    #[error(
        "user {0:?} does not exist; it is needed to run Postgres when podwire-server runs as root"
    )]
    NoUnprivilegedUser(&'static str),
    #[error("cannot look up user {0:?}")]
    UserLookup(&'static str, #[source] nix::Error),
    #[error(
        "{} is not reachable by user nobody (it needs o+x); choose a --data-dir outside it, e.g. under \
         /var/lib",
        .0.display()
    )]
    NotTraversable(PathBuf),
    #[error("{} exists but is not a Postgres data directory; move it away or choose another --data-dir", .0.display())]
    NotADataDirectory(PathBuf),
    #[error("{action} {}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{program} failed ({status}): {output}")]
    Command {
        program: String,
        status: std::process::ExitStatus,
        output: String,
    },
    #[error("cannot connect to the private Postgres")]
    Connect(#[source] sqlx::Error),
}

fn io_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> LocalPostgresError + use<> {
    let path = path.to_owned();
    move |source| LocalPostgresError::Io {
        action,
        path,
        source,
    }
}
