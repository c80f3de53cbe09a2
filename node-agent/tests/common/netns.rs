//! Real kernel objects for tests: uniquely named network namespaces built with `ip`, removed on
//! drop (also when a test fails), and unnamed namespaces held by a process started under
//! `unshare --net`. Nothing here touches the machine's own namespace: every `ip` command runs
//! with `-n NAME`.

#![allow(
    dead_code,
    reason = "each test crate uses a different part of this module"
)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use podwire_agent::collect::netlink::{NetnsDump, RouteSocket};
use podwire_agent::collect::netns::run_in_namespace;

/// Where `ip netns` keeps its namespace files.
pub const NETNS_DIR: &str = "/var/run/netns";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name prefix no other test (or test run) uses: `pw<pid>x<counter>-`.
pub fn unique_prefix() -> String {
    format!(
        "pw{}x{}-",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs a command, panicking with its stderr when it fails; returns its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A named network namespace (`ip netns add`), deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn add(name: &str) -> Netns {
        run("ip", &["netns", "add", name]);
        let netns = Netns {
            name: name.to_owned(),
        };
        netns.ip("link set lo up");
        netns
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.name)
    }

    pub fn inode(&self) -> u64 {
        std::fs::metadata(self.path()).unwrap().ino()
    }

    /// `ip -n NAME ARGS…` (ARGS split on whitespace); panics when it fails.
    pub fn ip(&self, args: &str) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend(args.split_whitespace());
        run("ip", &all)
    }

    /// `ip -n NAME -j ARGS…`, parsed.
    pub fn ip_json(&self, args: &str) -> serde_json::Value {
        let mut all = vec!["-n", self.name.as_str(), "-j"];
        all.extend(args.split_whitespace());
        serde_json::from_str(&run("ip", &all)).unwrap()
    }

    /// `ip netns exec NAME sysctl -w SETTING`.
    pub fn sysctl(&self, setting: &str) {
        run(
            "ip",
            &["netns", "exec", &self.name, "sysctl", "-qw", setting],
        );
    }

    /// A link's ifindex as `ip` reports it.
    pub fn ifindex(&self, link: &str) -> u32 {
        let json = self.ip_json(&format!("link show dev {link}"));
        json[0]["ifindex"].as_u64().unwrap() as u32
    }

    /// A link's MAC as `ip` reports it.
    pub fn mac(&self, link: &str) -> String {
        let json = self.ip_json(&format!("link show dev {link}"));
        json[0]["address"].as_str().unwrap().to_owned()
    }

    /// Waits until `ip` shows `link` with operstate UP: the kernel settles carrier changes
    /// asynchronously (linkwatch), a moment after both ends of a veth are up.
    pub fn wait_until_up(&self, link: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.ip_json(&format!("link show dev {link}"))[0]["operstate"] != "UP" {
            assert!(std::time::Instant::now() < deadline, "{link} never came up");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Dumps this namespace from a thread that entered it.
    pub fn dump(&self) -> NetnsDump {
        run_in_namespace(&self.path(), || RouteSocket::open()?.dump())
            .expect("enter the namespace")
            .expect("dump the namespace")
    }

    /// A `sleep` running inside this namespace (`ip netns exec`), killed when dropped.
    pub fn spawn_sleeper(&self) -> Sleeper {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, "sleep", "600"])
            .spawn()
            .expect("start ip netns exec");
        Sleeper(child)
    }

    /// Deletes it now (the drop then has nothing left to do).
    pub fn delete(&self) {
        run("ip", &["netns", "delete", &self.name]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Already gone when the test deleted it itself.
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// A network namespace with no name: the namespace of a `sleep` started under
/// `unshare --net`, found only through `/proc/PID/ns/net`. Killed when dropped.
#[derive(Debug)]
pub struct UnnamedNetns {
    child: Child,
}

impl UnnamedNetns {
    pub fn start() -> UnnamedNetns {
        let mut child = Command::new("unshare")
            .args(["--net", "--", "sh", "-c", "echo ready; exec sleep 600"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start unshare");
        // The namespace exists once the shell runs inside it.
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read from the child");
        assert_eq!(line.trim(), "ready");
        UnnamedNetns { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid()))
    }

    pub fn inode(&self) -> u64 {
        std::fs::metadata(self.path()).unwrap().ino()
    }
}

impl Drop for UnnamedNetns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process started by a test, killed when dropped.
#[derive(Debug)]
pub struct Sleeper(Child);

impl Sleeper {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
