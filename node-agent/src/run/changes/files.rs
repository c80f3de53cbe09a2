//! File notifications (inotify) on the directories a snapshot's files come from: libcni's result
//! cache, the CNI configurations, host-local's data directories and each network directory in
//! them, VPC CNI's checkpoint directory and flannel's lease directory, all under the host root.
//!
//! inotify watches a directory, not a path: a directory that does not exist yet (a node before
//! its first pod has no `var/lib/cni/results`) is waited for by watching its nearest existing
//! ancestor, and the watches are planned again whenever a watched directory gains or loses a
//! directory. A directory that becomes watched only now may already hold files written before
//! its watch existed, so it is reported as changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use nix::unistd::pipe2;
use tokio::sync::{mpsc, watch};

use super::{NodeChange, SourceState, poll_timeout};
use crate::collect::error_chain;
use crate::collect::files::host_root::canonical_node_path;
use crate::collect::files::{HostRoot, cni_cache, cni_config, flannel, host_local};
use crate::collect::vpc_cni::checkpoint;
use crate::run::latest::LatestSnapshot;
use crate::run::status::StatusBoard;

/// What a watched directory is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Its files are read into snapshots.
    Target,
    /// A directory to watch does not exist yet; this is its nearest existing ancestor.
    Ancestor,
}

/// One mask for both roles, so that a directory shared by two plans never has its mask narrowed:
/// file creation, deletion, renames and completed writes, and the directory's own removal.
fn watch_mask() -> AddWatchFlags {
    AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR
}

/// The node directories (as the node names them) whose files a snapshot reads; host-local network
/// directories inside the data directories are added when the plan is made.
pub fn node_dirs() -> Vec<String> {
    let parent = |file: &str| {
        Path::new(file)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".to_owned())
    };
    vec![
        cni_cache::RESULTS_DIR.to_owned(),
        cni_config::NET_D.to_owned(),
        host_local::DEFAULT_DATA_DIR.to_owned(),
        parent(checkpoint::CHECKPOINT_FILE),
        parent(flannel::SUBNET_ENV),
    ]
}

/// Where the watches go: each directory to watch itself when it exists, else its nearest
/// existing ancestor (never above the host root). `data_dirs` are host-local data directories
/// named by CNI configurations beside the default one.
pub fn plan(root: &HostRoot, root_path: &Path, data_dirs: &[String]) -> BTreeMap<PathBuf, Role> {
    let mut wanted = node_dirs();
    let mut all_data_dirs = vec![host_local::DEFAULT_DATA_DIR.to_owned()];
    all_data_dirs.extend(data_dirs.iter().map(|d| canonical_node_path(d)));
    for data_dir in &all_data_dirs {
        if !wanted.contains(data_dir) {
            wanted.push(data_dir.clone());
        }
        if let Ok(entries) = root.list_dir(data_dir) {
            wanted.extend(
                entries
                    .into_iter()
                    .filter(|entry| root.is_dir(&entry.node_path))
                    .map(|entry| entry.node_path),
            );
        }
    }

    let mut plan = BTreeMap::new();
    for node_dir in wanted {
        let Ok(resolved) = root.resolve(&node_dir) else {
            continue; // a symlink loop: nothing to watch there
        };
        if resolved.is_dir() {
            plan.insert(resolved, Role::Target);
            continue;
        }
        let ancestor = resolved
            .ancestors()
            .skip(1)
            .take_while(|dir| dir.starts_with(root_path))
            .find(|dir| dir.is_dir());
        if let Some(ancestor) = ancestor {
            plan.entry(ancestor.to_owned()).or_insert(Role::Ancestor);
        }
    }
    plan
}

/// The watcher could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot create an inotify instance")]
    Init(#[source] Errno),
    #[error("cannot create the watcher's wake-up pipe")]
    Pipe(#[source] Errno),
}

/// What one batch of file notifications changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileChanges {
    pub dirs: BTreeSet<PathBuf>,
    /// The kernel's event queue overflowed: changes were missed.
    pub overflowed: bool,
}

impl FileChanges {
    fn is_empty(&self) -> bool {
        self.dirs.is_empty() && !self.overflowed
    }
}

/// The inotify instance and the watches it holds. Blocking: it is read on a thread of its own,
/// which [`DataDirs`] wakes when the snapshots name other host-local data directories.
#[derive(Debug)]
pub struct FileWatch {
    inotify: Inotify,
    root: HostRoot,
    root_path: PathBuf,
    data_dirs: Vec<String>,
    by_path: HashMap<PathBuf, (WatchDescriptor, Role)>,
    by_watch: HashMap<WatchDescriptor, PathBuf>,
    /// The read end of the self-pipe [`DataDirs`] writes to.
    wake: OwnedFd,
    wanted_data_dirs: Arc<Mutex<Vec<String>>>,
}

/// The handle through which the async side tells the watcher thread which host-local data
/// directories the configurations name.
#[derive(Debug)]
pub struct DataDirs {
    wanted: Arc<Mutex<Vec<String>>>,
    /// The write end of the watcher's self-pipe.
    wake: OwnedFd,
}

impl DataDirs {
    /// Sets the directories and wakes the watcher if they changed.
    pub fn follow(&self, dirs: Vec<String>) {
        let mut wanted = self.wanted.lock().unwrap_or_else(|e| e.into_inner());
        if *wanted != dirs {
            *wanted = dirs;
            // A full pipe already holds a wake-up.
            let _ = nix::unistd::write(&self.wake, b"w");
        }
    }
}

impl FileWatch {
    /// Creates the instance and places the first watches.
    pub fn open(host_root: &Path) -> Result<(Self, DataDirs), WatchError> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(WatchError::Init)?;
        let (wake_read, wake_write) =
            pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).map_err(WatchError::Pipe)?;
        let wanted = Arc::new(Mutex::new(Vec::new()));
        let mut watch = FileWatch {
            inotify,
            root: HostRoot::new(host_root),
            root_path: host_root.to_owned(),
            data_dirs: Vec::new(),
            by_path: HashMap::new(),
            by_watch: HashMap::new(),
            wake: wake_read,
            wanted_data_dirs: wanted.clone(),
        };
        // Nothing is reported for the first plan: the first collection reads it all anyway.
        watch.replan();
        let handle = DataDirs {
            wanted,
            wake: wake_write,
        };
        Ok((watch, handle))
    }

    /// How many directories are watched.
    pub fn watched_dirs(&self) -> usize {
        self.by_path.len()
    }

    /// The watched directories and their roles.
    pub fn watches(&self) -> BTreeMap<PathBuf, Role> {
        self.by_path
            .iter()
            .map(|(path, (_, role))| (path.clone(), *role))
            .collect()
    }

    /// Moves the watches to the current plan; returns the directories that became watched targets.
    fn replan(&mut self) -> Vec<PathBuf> {
        let plan = plan(&self.root, &self.root_path, &self.data_dirs);
        let stale: Vec<PathBuf> = self
            .by_path
            .iter()
            .filter(|(path, (_, role))| plan.get(*path) != Some(role))
            .map(|(path, _)| path.clone())
            .collect();
        for path in stale {
            if let Some((wd, _)) = self.by_path.remove(&path) {
                // Another path may lead to the same directory (and so the same watch).
                if !self.by_path.values().any(|(other, _)| *other == wd) {
                    self.by_watch.remove(&wd);
                    // Gone already when the directory was deleted.
                    let _ = self.inotify.rm_watch(wd);
                }
            }
        }
        let mut targets = Vec::new();
        for (path, role) in plan {
            if self.by_path.contains_key(&path) {
                continue;
            }
            match self.inotify.add_watch(&path, watch_mask()) {
                Ok(wd) => {
                    self.by_watch.insert(wd, path.clone());
                    self.by_path.insert(path.clone(), (wd, role));
                    if role == Role::Target {
                        targets.push(path);
                    }
                }
                // It vanished since the plan was made; its parent's notification replans.
                Err(err) => {
                    tracing::debug!(dir = %path.display(), error = %err, "cannot watch");
                }
            }
        }
        targets
    }

    /// Waits (at most `timeout`, or for ever) for file notifications and returns what they
    /// changed; `None` when the time ran out.
    pub fn next_changes(&mut self, timeout: Option<Duration>) -> io::Result<Option<FileChanges>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let (notified, woken) = {
                let mut fds = [
                    PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.wake.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, poll_timeout(deadline)) {
                    Ok(0) => return Ok(None),
                    Ok(_) => {}
                    Err(Errno::EINTR) => continue,
                    Err(errno) => return Err(errno.into()),
                }
                let readable = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
                (readable(&fds[0]), readable(&fds[1]))
            };
            let mut changes = FileChanges::default();
            if woken {
                self.drain_wake();
                let wanted = self
                    .wanted_data_dirs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                if wanted != self.data_dirs {
                    self.data_dirs = wanted;
                    changes.dirs.extend(self.replan());
                }
            }
            if notified {
                self.read_notifications(&mut changes)?;
            }
            if !changes.is_empty() {
                return Ok(Some(changes));
            }
        }
    }

    fn drain_wake(&self) {
        let mut buffer = [0u8; 64];
        while matches!(nix::unistd::read(&self.wake, &mut buffer), Ok(n) if n > 0) {}
    }

    /// Reads the queued notifications into `changes`, replanning when directories came or went.
    fn read_notifications(&mut self, changes: &mut FileChanges) -> io::Result<()> {
        let events = match self.inotify.read_events() {
            Ok(events) => events,
            Err(Errno::EAGAIN | Errno::EINTR) => return Ok(()),
            Err(errno) => return Err(errno.into()),
        };
        let mut replan = false;
        for event in events {
            if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                changes.overflowed = true;
                replan = true;
                continue;
            }
            if event.mask.contains(AddWatchFlags::IN_IGNORED) {
                // The kernel dropped the watch (its directory is gone).
                if let Some(path) = self.by_watch.remove(&event.wd) {
                    self.by_path.remove(&path);
                }
                replan = true;
                continue;
            }
            let Some(path) = self.by_watch.get(&event.wd) else {
                continue; // a watch removed a moment ago
            };
            let role = self.by_path.get(path).map(|(_, role)| *role);
            let structural = event.mask.contains(AddWatchFlags::IN_ISDIR)
                || event
                    .mask
                    .intersects(AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_MOVE_SELF);
            replan |= structural || role == Some(Role::Ancestor);
            if role == Some(Role::Target) {
                changes.dirs.insert(path.clone());
            }
        }
        if replan {
            changes.dirs.extend(self.replan());
        }
        Ok(())
    }
}

/// Reads file notifications (blocking: run it on a thread of its own) until the collector goes
/// away, passing on what changed.
pub fn forward(mut files: FileWatch, queue: mpsc::Sender<NodeChange>, status: Arc<StatusBoard>) {
    loop {
        let changes = match files.next_changes(None) {
            Ok(Some(changes)) => changes,
            Ok(None) => continue,
            Err(err) => {
                let error = error_chain(&err);
                tracing::error!(%error, "file notifications failed; only the periodic resync will notice file changes");
                status.set_file_source(SourceState::Failed { error }, 0);
                return;
            }
        };
        status.set_file_source(SourceState::Running, files.watched_dirs());
        tracing::debug!(dirs = ?changes.dirs, overflowed = changes.overflowed, "file notification");
        status.count_file_change(changes.overflowed);
        let change = NodeChange::Files {
            dirs: changes.dirs.into_iter().collect(),
            overflowed: changes.overflowed,
        };
        if let Err(mpsc::error::TrySendError::Closed(_)) = queue.try_send(change) {
            return;
        }
    }
}

/// Tells the watcher about the host-local data directories each new snapshot's configurations
/// name, until the collector stops.
pub async fn follow_data_dirs(
    data_dirs: DataDirs,
    mut latest: watch::Receiver<Option<Arc<LatestSnapshot>>>,
) {
    while latest.changed().await.is_ok() {
        let dirs = latest
            .borrow_and_update()
            .as_ref()
            .map(|l| l.host_local_data_dirs.clone())
            .unwrap_or_default();
        data_dirs.follow(dirs);
    }
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
