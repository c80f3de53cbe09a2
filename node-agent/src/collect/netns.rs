//! Network namespace discovery (the netns directory and `/proc/*/ns/net`, deduplicated by inode)
//! and reading namespaces on dedicated OS threads.
//!
//! `setns` changes only the calling thread, so every namespace is entered on a scoped thread that
//! this module starts and that exits when its reads are done: no thread ever goes back to a pool
//! (or to the caller) while in a foreign namespace.

use std::collections::HashSet;
use std::error::Error;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use nix::sched::{CloneFlags, setns};
use podwire_node_state::{ErrorSource, NetnsState, SourceError};

use super::netlink::{NetlinkError, RouteSocket};

/// The calling thread's own network namespace, as the kernel names it to this thread.
const THREAD_SELF_NETNS: &str = "/proc/thread-self/ns/net";

/// A network namespace found on the node, not yet read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsCandidate {
    /// The namespace's inode: its identity, whatever path it was found by.
    pub inode: u64,
    /// Its name in the netns directory, when it has one.
    pub name: Option<String>,
    /// Where to open it: `NETNS_DIR/NAME`, or `/proc/PID/ns/net` for an unnamed one.
    pub path: PathBuf,
}

/// Why one namespace could not be entered or read.
#[derive(Debug, thiserror::Error)]
pub enum NetnsReadError {
    #[error("cannot open the namespace file")]
    Open(#[source] io::Error),
    #[error("namespace replaced: the file now holds inode {found}, not the {expected} discovered")]
    Replaced { expected: u64, found: u64 },
    #[error("cannot enter the namespace")]
    Enter(#[source] nix::errno::Errno),
    #[error("cannot read the namespace over netlink")]
    Netlink(#[from] NetlinkError),
    #[error("cannot start a thread to enter the namespace")]
    Spawn(#[source] io::Error),
    #[error("no reader thread read this namespace (one failed to start or panicked)")]
    NotRead,
}

/// The inode of the calling thread's network namespace: the agent's own namespace when called
/// from the agent's main thread, and the one to leave out of [`discover`].
pub fn own_netns_inode() -> io::Result<u64> {
    fs::metadata(THREAD_SELF_NETNS).map(|m| m.ino())
}

/// Finds every network namespace on the node except `own_inode`: each file in `netns_dir`
/// (named) and each process's `proc_dir/PID/ns/net`, one candidate per inode, preferring the
/// named path. Named candidates come first, by name, then unnamed ones by pid. An unnamed
/// namespace is opened at the lowest pid holding it, so that its path (part of the snapshot)
/// stays the same from one collection to the next while its processes do.
///
/// A missing `netns_dir` is normal (no named namespaces); processes that exit during the scan are
/// skipped. Anything else that cannot be read is recorded in `errors` and the scan goes on.
pub fn discover(
    netns_dir: &Path,
    proc_dir: &Path,
    own_inode: u64,
    errors: &mut Vec<SourceError>,
) -> Vec<NetnsCandidate> {
    let mut seen = HashSet::from([own_inode]);
    let mut candidates = named_namespaces(netns_dir, proc_dir, errors);
    candidates.retain(|c| seen.insert(c.inode));
    for (pid, inode) in process_namespaces(proc_dir, errors) {
        if seen.insert(inode) {
            candidates.push(NetnsCandidate {
                inode,
                name: None,
                path: proc_dir.join(pid.to_string()).join("ns/net"),
            });
        }
    }
    candidates
}

/// The namespaces bind-mounted in the netns directory (`ip netns add`, CNI runtimes).
fn named_namespaces(
    netns_dir: &Path,
    proc_dir: &Path,
    errors: &mut Vec<SourceError>,
) -> Vec<NetnsCandidate> {
    let entries = match fs::read_dir(netns_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            errors.push(discovery_error(
                netns_dir,
                "cannot list the netns directory",
                &e,
            ));
            return Vec::new();
        }
    };
    // Every namespace file lives on the one nsfs device. A file elsewhere has no namespace
    // mounted on it: one being created (`ip netns add` creates the file, then mounts) or a
    // leftover. It is skipped quietly; entering it would only fail with EINVAL.
    let nsfs_device = fs::metadata(proc_dir.join("thread-self/ns/net"))
        .ok()
        .map(|m| m.dev());
    let mut named = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                errors.push(discovery_error(
                    netns_dir,
                    "cannot list the netns directory",
                    &e,
                ));
                break;
            }
        };
        let path = entry.path();
        let metadata = match fs::metadata(&path) {
            Ok(metadata) => metadata,
            // Deleted since it was listed.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                errors.push(discovery_error(&path, "cannot stat the namespace file", &e));
                continue;
            }
        };
        if metadata.is_dir() || nsfs_device.is_some_and(|dev| dev != metadata.dev()) {
            continue;
        }
        named.push(NetnsCandidate {
            inode: metadata.ino(),
            name: Some(entry.file_name().to_string_lossy().into_owned()),
            path,
        });
    }
    named.sort_by(|a, b| a.name.cmp(&b.name));
    named
}

/// `(pid, netns inode)` of every process, read from the `net:[INODE]` link target without
/// opening anything. Unreadable processes are summed up in one recorded error.
fn process_namespaces(proc_dir: &Path, errors: &mut Vec<SourceError>) -> Vec<(u32, u64)> {
    let entries = match fs::read_dir(proc_dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(discovery_error(proc_dir, "cannot list processes", &e));
            return Vec::new();
        }
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let mut found = Vec::with_capacity(pids.len());
    let mut unreadable = 0usize;
    let mut first_failure = None;
    for pid in pids {
        let link = proc_dir.join(pid.to_string()).join("ns/net");
        let failure = match fs::read_link(&link) {
            Ok(target) => match netns_inode_of_link(&target) {
                Some(inode) => {
                    found.push((pid, inode));
                    continue;
                }
                None => format!("unexpected link target {}", target.display()),
            },
            // The process exited (or is a zombie whose namespaces are gone).
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(nix::errno::Errno::ESRCH as i32) =>
            {
                continue;
            }
            Err(e) => e.to_string(),
        };
        unreadable += 1;
        first_failure.get_or_insert((link, failure));
    }
    if let Some((link, failure)) = first_failure {
        errors.push(SourceError {
            source: ErrorSource::NetnsDiscovery,
            subject: link.display().to_string(),
            message: format!("{unreadable} processes' namespaces unreadable; this one: {failure}"),
        });
    }
    found
}

/// The inode in a `/proc/PID/ns/net` link target, `net:[4026532281]`.
fn netns_inode_of_link(target: &Path) -> Option<u64> {
    target
        .to_str()?
        .strip_prefix("net:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The id the reading namespace has for a namespace to read (what a veth's `link-netnsid` there
/// says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostNsid {
    /// Asked already; `None` when it has none.
    Known(Option<i32>),
    /// To be asked by the reader, with the namespace file it opens to enter the namespace
    /// anyway: one open per namespace instead of two.
    AskWhenRead,
}

/// A reader count for [`read_namespaces`]: reading is mostly kernel work (the dumps), so more
/// readers than cores gain nothing, and four already read 250 namespaces in tens of
/// milliseconds.
pub fn default_readers() -> usize {
    thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
}

/// Reads every candidate, each paired with the id the reading namespace (the caller's) has for
/// it or to ask for it, on `workers` dedicated threads that share the list. Results come back in the candidates' order;
/// a namespace that cannot be entered or read (deleted, replaced, refused) is an error naming its
/// path, and the others are still read.
pub fn read_namespaces(
    candidates: &[(NetnsCandidate, HostNsid)],
    workers: usize,
) -> Vec<Result<NetnsState, SourceError>> {
    let workers = workers.clamp(1, candidates.len().max(1));
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Result<NetnsState, SourceError>>> =
        candidates.iter().map(|_| None).collect();
    let mut spawn_failure = None;
    thread::scope(|scope| {
        let mut readers = Vec::with_capacity(workers);
        for worker in 0..workers {
            let spawned = thread::Builder::new()
                .name(format!("podwire-netns-{worker}"))
                .spawn_scoped(scope, || read_share(candidates, &next));
            match spawned {
                Ok(reader) => readers.push(reader),
                Err(e) => spawn_failure = Some(e),
            }
        }
        for reader in readers {
            // A reader that panicked loses its share; those namespaces are reported unread.
            if let Ok(read) = reader.join() {
                for (index, result) in read {
                    results[index] = Some(result);
                }
            }
        }
    });
    results
        .into_iter()
        .zip(candidates)
        .map(|(result, (candidate, _))| {
            result.unwrap_or_else(|| {
                let error = match spawn_failure.as_ref() {
                    Some(e) => NetnsReadError::Spawn(io::Error::new(e.kind(), e.to_string())),
                    None => NetnsReadError::NotRead,
                };
                Err(read_error(candidate, &error))
            })
        })
        .collect()
}

/// One reader thread: takes the next unread candidate until none is left. Each read enters its
/// namespace afresh, so a failed `setns` never leaves a read in the previous namespace.
fn read_share(
    candidates: &[(NetnsCandidate, HostNsid)],
    next: &AtomicUsize,
) -> Vec<(usize, Result<NetnsState, SourceError>)> {
    // Opened before the first `setns`, so it stays in the namespace the reader started in: the
    // one whose ids are asked. Without it an id to ask for is left unknown, as when asking fails.
    let mut home = candidates
        .iter()
        .any(|(_, nsid)| *nsid == HostNsid::AskWhenRead)
        .then(RouteSocket::open)
        .and_then(Result::ok);
    let mut read = Vec::new();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some((candidate, nsid)) = candidates.get(index) else {
            return read;
        };
        let result =
            read_one(candidate, *nsid, home.as_mut()).map_err(|e| read_error(candidate, &e));
        read.push((index, result));
    }
}

/// Enters `candidate` on the calling thread and dumps it. Must run on a thread of this module.
fn read_one(
    candidate: &NetnsCandidate,
    nsid: HostNsid,
    home: Option<&mut RouteSocket>,
) -> Result<NetnsState, NetnsReadError> {
    let file = File::open(&candidate.path).map_err(NetnsReadError::Open)?;
    let found = file.metadata().map_err(NetnsReadError::Open)?.ino();
    if found != candidate.inode {
        return Err(NetnsReadError::Replaced {
            expected: candidate.inode,
            found,
        });
    }
    let nsid = match nsid {
        HostNsid::Known(nsid) => nsid,
        HostNsid::AskWhenRead => home.and_then(|socket| socket.nsid_of(&file).ok().flatten()),
    };
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(NetnsReadError::Enter)?;
    // The socket binds to the namespace the thread is in now.
    let dump = RouteSocket::open_for_small_dumps()?.dump()?;
    Ok(dump.into_state(
        candidate.inode,
        candidate.name.clone(),
        candidate.path.display().to_string(),
        nsid,
    ))
}

/// Runs `work` on a new thread inside the namespace at `path` (a netns file or
/// `/proc/PID/ns/net`) and returns its result; the thread exits afterwards. A panic in `work` is
/// passed on to the caller.
pub fn run_in_namespace<T: Send>(
    path: &Path,
    work: impl FnOnce() -> T + Send,
) -> Result<T, NetnsReadError> {
    let file = File::open(path).map_err(NetnsReadError::Open)?;
    thread::scope(|scope| {
        let thread = thread::Builder::new()
            .name("podwire-netns".to_owned())
            .spawn_scoped(scope, move || {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(NetnsReadError::Enter)?;
                Ok(work())
            })
            .map_err(NetnsReadError::Spawn)?;
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn read_error(candidate: &NetnsCandidate, error: &NetnsReadError) -> SourceError {
    SourceError {
        source: ErrorSource::Netlink,
        subject: candidate.path.display().to_string(),
        message: error_chain(error),
    }
}

fn discovery_error(subject: &Path, what: &str, error: &io::Error) -> SourceError {
    SourceError {
        source: ErrorSource::NetnsDiscovery,
        subject: subject.display().to_string(),
        message: format!("{what}: {error}"),
    }
}

/// An error and its causes, `outer: inner: root`, for the operator-facing message.
fn error_chain(error: &dyn Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_is_read_from_the_link_target() {
        assert_eq!(
            netns_inode_of_link(Path::new("net:[4026532281]")),
            Some(4026532281)
        );
        assert_eq!(netns_inode_of_link(Path::new("mnt:[4026532281]")), None);
        assert_eq!(netns_inode_of_link(Path::new("net:[]")), None);
    }

    #[test]
    fn error_messages_carry_their_causes() {
        let error = NetnsReadError::Open(io::Error::from_raw_os_error(2));
        assert_eq!(
            error_chain(&error),
            "cannot open the namespace file: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn an_unnamed_namespace_is_found_at_its_lowest_pid_whatever_the_listing_order() {
        // `/proc/PID/ns/net` links as procfs shows them; 1000 sorts before 20 as text.
        let proc_dir = tempfile::tempdir().unwrap();
        for (pid, inode) in [(300, 77), (20, 77), (1000, 77), (1001, 88), (5, 99)] {
            let ns = proc_dir.path().join(format!("{pid}/ns"));
            fs::create_dir_all(&ns).unwrap();
            std::os::unix::fs::symlink(format!("net:[{inode}]"), ns.join("net")).unwrap();
        }
        let mut errors = Vec::new();
        let found = discover(Path::new("/nonexistent"), proc_dir.path(), 99, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let found: Vec<(u64, PathBuf)> = found.into_iter().map(|c| (c.inode, c.path)).collect();
        // The agent's own namespace (99) is left out; the others come in pid order.
        assert_eq!(
            found,
            [
                (77, proc_dir.path().join("20/ns/net")),
                (88, proc_dir.path().join("1001/ns/net")),
            ]
        );
    }

    #[test]
    fn missing_netns_dir_is_not_an_error_but_missing_proc_is() {
        let mut errors = Vec::new();
        let none = discover(
            Path::new("/nonexistent/podwire/netns"),
            Path::new("/nonexistent/podwire/proc"),
            0,
            &mut errors,
        );
        assert!(none.is_empty());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].source, ErrorSource::NetnsDiscovery);
        assert_eq!(errors[0].subject, "/nonexistent/podwire/proc");
    }
}
