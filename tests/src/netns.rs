//! Network namespaces the tests create and always remove: named ones (`ip netns add`, deleted on
//! drop, also when a test panics) and unnamed ones held only by a process (`unshare --net`, the
//! process killed on drop). Every name starts with a prefix unique to this process and topology,
//! `pw<pid>x<n>-`, so parallel tests and other users of the machine never collide.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cmd::{Cmd, CommandError};

/// Where `ip netns` keeps named namespaces.
pub const NETNS_RUN_DIR: &str = "/var/run/netns";

static NEXT_PREFIX: AtomicU32 = AtomicU32::new(0);

/// The name prefix of one topology: `pw<pid>x<n>-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePrefix(String);

impl NamePrefix {
    /// A prefix no other topology of this process (or of any other live process) uses.
    pub fn next() -> Self {
        let n = NEXT_PREFIX.fetch_add(1, Ordering::Relaxed);
        NamePrefix(format!("pw{}x{n}-", std::process::id()))
    }

    /// `<prefix><role>`: the name of one namespace of the topology.
    pub fn name(&self, role: &str) -> String {
        format!("{}{role}", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A problem creating or holding a namespace.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("the namespace of process {pid} did not become a new one within {waited:?}")]
    NotUnshared { pid: u32, waited: Duration },
    #[error("could not read {path}")]
    Stat {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not open the namespace {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not enter the namespace {path}")]
    Enter {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("could not start a thread to enter {path}")]
    Thread {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the thread that entered {path} panicked")]
    ThreadPanicked { path: PathBuf },
}

/// A named network namespace (`/var/run/netns/NAME`). Deleted on drop.
#[derive(Debug)]
pub struct NetnsGuard {
    name: String,
    deleted: bool,
}

impl NetnsGuard {
    /// `ip netns add NAME`. The namespace's `lo` is still down: builders bring it up in the
    /// same `-batch` script that wires the namespace, one process instead of two.
    pub fn create(name: impl Into<String>) -> Result<Self, NetnsError> {
        let name = name.into();
        Cmd::new("ip").args(["netns", "add", &name]).run()?;
        Ok(NetnsGuard {
            name,
            deleted: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/var/run/netns/NAME`.
    pub fn path(&self) -> PathBuf {
        Path::new(NETNS_RUN_DIR).join(&self.name)
    }

    /// The namespace's inode: its identity, as `stat -L` shows it.
    pub fn inode(&self) -> Result<u64, NetnsError> {
        inode_of(&self.path())
    }

    /// Deletes the namespace now (`ip netns del`), e.g. while an agent is collecting.
    pub fn delete(&mut self) -> Result<(), NetnsError> {
        if !self.deleted {
            Cmd::new("ip").args(["netns", "del", &self.name]).run()?;
            self.deleted = true;
        }
        Ok(())
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        if !self.deleted {
            // Nothing useful can be done with a failure here; it is reported so a leak is seen.
            if let Err(err) = Cmd::new("ip").args(["netns", "del", &self.name]).run() {
                eprintln!(
                    "podwire-e2e: could not delete namespace {}: {err}",
                    self.name
                );
            }
        }
    }
}

/// A network namespace with no name: only a process (`unshare --net sleep`) holds it, so it can
/// be found through `/proc/PID/ns/net` alone. The process is killed on drop.
#[derive(Debug)]
pub struct HeldNetns {
    child: Child,
    pid: u32,
}

impl HeldNetns {
    /// Starts the holder and waits until it is in its own namespace.
    ///
    /// `setpriv --pdeathsig KILL` makes the kernel kill the holder if this process dies without
    /// running destructors (SIGKILL), so even then no namespace outlives the test run. The
    /// signal follows the *thread* that spawned the holder: spawn from the thread that owns the
    /// guard (a test's own thread), not from a short-lived helper thread.
    pub fn spawn() -> Result<Self, NetnsError> {
        let child = Cmd::new("setpriv")
            .args([
                "--pdeathsig",
                "KILL",
                "--",
                "unshare",
                "--net",
                "sleep",
                "86400",
            ])
            .spawn()?;
        let pid = child.id();
        let held = HeldNetns { child, pid };
        let own = inode_of(Path::new("/proc/self/ns/net"))?;
        let limit = Duration::from_secs(10);
        let start = Instant::now();
        loop {
            // The holder execs setpriv → unshare → sleep under one pid; its namespace changes
            // when unshare has run.
            if inode_of(&held.path()).is_ok_and(|inode| inode != own) {
                break;
            }
            if start.elapsed() > limit {
                return Err(NetnsError::NotUnshared { pid, waited: limit });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(held)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `/proc/PID/ns/net`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(self.path_string())
    }

    pub fn path_string(&self) -> String {
        format!("/proc/{}/ns/net", self.pid)
    }

    pub fn inode(&self) -> Result<u64, NetnsError> {
        inode_of(&self.path())
    }
}

impl Drop for HeldNetns {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Runs `work` on a new thread that has entered the namespace at `netns_path`, and returns its
/// result. `setns` changes only the calling thread, and this thread ends with `work`: nothing else
/// of the test process ever runs in the namespace. Sockets `work` creates stay in the namespace
/// wherever they are used afterwards (a listener made here accepts connections made there).
pub fn run_in<T, F>(netns_path: &Path, work: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let path = netns_path.to_owned();
    let thread = std::thread::Builder::new()
        .name("in-netns".to_owned())
        .spawn({
            let path = path.clone();
            move || -> Result<T, NetnsError> {
                let file = std::fs::File::open(&path).map_err(|source| NetnsError::Open {
                    path: path.clone(),
                    source,
                })?;
                nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|source| NetnsError::Enter { path, source })?;
                Ok(work())
            }
        })
        .map_err(|source| NetnsError::Thread {
            path: path.clone(),
            source,
        })?;
    thread
        .join()
        .map_err(|_| NetnsError::ThreadPanicked { path })?
}

/// `nsenter --net=PATH ip …`: iproute2 inside a namespace known only by path.
pub fn ip_in(netns_path: &str) -> Cmd {
    Cmd::new("nsenter")
        .arg(format!("--net={netns_path}"))
        .arg("ip")
}

/// The inode of a namespace file (`stat -L`).
pub fn inode_of(path: &Path) -> Result<u64, NetnsError> {
    std::fs::metadata(path)
        .map(|m| m.ino())
        .map_err(|source| NetnsError::Stat {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_unique_and_carry_the_pid() {
        let a = NamePrefix::next();
        let b = NamePrefix::next();
        assert_ne!(a, b);
        assert!(
            a.as_str()
                .starts_with(&format!("pw{}x", std::process::id()))
        );
        assert!(a.name("node").ends_with("-node"));
    }

    #[test]
    fn a_named_namespace_is_removed_on_drop_even_after_a_panic() {
        let name = NamePrefix::next().name("panics");
        let path = Path::new(NETNS_RUN_DIR).join(&name);
        let result = std::panic::catch_unwind(|| {
            let ns = NetnsGuard::create(name.clone()).expect("create a namespace");
            assert!(ns.path().exists());
            panic!("a test failing while it holds the namespace");
        });
        assert!(result.is_err());
        assert!(!path.exists(), "{} leaked", path.display());
    }

    #[test]
    fn an_unnamed_namespace_lives_exactly_as_long_as_its_holder() {
        let held = HeldNetns::spawn().expect("hold a namespace");
        let own = inode_of(Path::new("/proc/self/ns/net")).expect("own namespace");
        assert_ne!(held.inode().expect("held namespace"), own);
        let proc_dir = PathBuf::from(format!("/proc/{}", held.pid()));
        drop(held);
        assert!(
            !proc_dir.exists(),
            "holder {} still runs",
            proc_dir.display()
        );
    }
}
