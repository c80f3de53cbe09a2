//! What tells the agent that the node may have changed: netlink notifications of the host
//! namespace ([`kernel`]) and file notifications on the CNI and IPAM directories ([`files`]).
//!
//! Each source is read on an OS thread of its own, blocked in `poll` until the kernel has
//! something for it, then draining everything queued in one go (a burst of a thousand route
//! notifications becomes one [`NodeChange`]). Threads rather than descriptors registered with
//! tokio: tokio's `AsyncFd` now takes a raw descriptor only through an `unsafe` constructor (its
//! safe one is deprecated as unsound), which this workspace forbids; and a thread parked in
//! `poll` costs nothing while the node is quiet, and keeps decoding bursts off the runtime thread
//! the connection runs on. Each source sends what it saw into a small queue that the collector
//! debounces; when the queue is full the collector has changes pending anyway, so the surplus is
//! dropped. The threads end with the process (or at their next notification once the collector
//! is gone).

pub mod files;
pub mod kernel;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use nix::poll::PollTimeout;

use tokio::sync::{mpsc, watch};

use super::latest::LatestSnapshot;
use super::status::StatusBoard;
use crate::collect::error_chain;
use files::FileWatch;
use kernel::{KernelChanges, KernelEvents};

/// How many unread changes the collector's queue holds.
pub const QUEUE_DEPTH: usize = 64;

/// Something on the node changed, or may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeChange {
    /// Netlink notifications of these kinds of objects in the host namespace.
    Kernel(KernelChanges),
    /// Files changed in these directories (as the agent sees them, under the host root), or the
    /// kernel dropped file notifications (`overflowed`).
    Files {
        dirs: Vec<PathBuf>,
        overflowed: bool,
    },
}

/// Which change sources are running; the status endpoint shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceState {
    Running,
    /// It failed; only the periodic resync notices changes of its kind now.
    Failed {
        error: String,
    },
}

/// Opens both sources (before the first collection, so that nothing between the two is missed)
/// and starts their threads. A source that cannot be opened is logged at ERROR and reported in
/// the status; the agent goes on with the periodic resync, which still catches every change,
/// later.
pub fn start(
    host_root: PathBuf,
    latest: watch::Receiver<Option<Arc<LatestSnapshot>>>,
    queue: mpsc::Sender<NodeChange>,
    status: Arc<StatusBoard>,
) {
    let kernel = KernelEvents::subscribe()
        .map_err(|err| error_chain(&err))
        .and_then(|events| {
            let (queue, status) = (queue.clone(), status.clone());
            std::thread::Builder::new()
                .name("podwire-netlink".into())
                .spawn(move || kernel::forward(events, queue, status))
                .map_err(|err| format!("cannot start its thread: {err}"))
        });
    match kernel {
        Ok(_) => status.set_kernel_source(SourceState::Running),
        Err(error) => {
            tracing::error!(%error, "cannot subscribe to netlink notifications; only the periodic resync will notice kernel changes");
            status.set_kernel_source(SourceState::Failed { error });
        }
    }

    let files = FileWatch::open(&host_root)
        .map_err(|err| error_chain(&err))
        .and_then(|(watch, data_dirs)| {
            let watched = watch.watched_dirs();
            let (queue, status) = (queue.clone(), status.clone());
            std::thread::Builder::new()
                .name("podwire-inotify".into())
                .spawn(move || files::forward(watch, queue, status))
                .map_err(|err| format!("cannot start its thread: {err}"))?;
            Ok((data_dirs, watched))
        });
    match files {
        Ok((data_dirs, watched)) => {
            status.set_file_source(SourceState::Running, watched);
            tokio::spawn(files::follow_data_dirs(data_dirs, latest));
        }
        Err(error) => {
            tracing::error!(%error, "cannot watch the CNI and IPAM directories; only the periodic resync will notice file changes");
            status.set_file_source(SourceState::Failed { error }, 0);
        }
    }
}

/// `poll`'s timeout for a deadline (none: wait for ever).
fn poll_timeout(deadline: Option<Instant>) -> PollTimeout {
    match deadline {
        None => PollTimeout::NONE,
        Some(deadline) => PollTimeout::try_from(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or(PollTimeout::MAX),
    }
}
