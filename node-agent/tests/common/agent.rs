//! `podwire-agent run` as a separate process inside a test's network namespace
//! (`ip netns exec NAME podwire-agent run …`), its log captured to a file, its status endpoint
//! asked from a thread that entered the same namespace. Stopped with SIGTERM (killed if it does
//! not stop) when dropped.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use podwire_agent::collect::netns::run_in_namespace;

/// The binary cargo built for this test run.
pub const AGENT_BIN: &str = env!("CARGO_BIN_EXE_podwire-agent");

/// Where the agent's status endpoint listens inside its namespace (the default).
pub const STATUS_ADDRESS: &str = "127.0.0.1:9102";

#[derive(Debug)]
pub struct RunningAgent {
    child: Child,
    netns_path: PathBuf,
    log: tempfile::NamedTempFile,
}

impl RunningAgent {
    /// Starts `podwire-agent run ARGS…` in the named namespace, logging at debug.
    pub fn start(netns: &str, args: &[String]) -> RunningAgent {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", netns, AGENT_BIN, "run"])
            .args(args)
            .env("RUST_LOG", "podwire_agent=debug,info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        RunningAgent {
            child,
            netns_path: Path::new("/var/run/netns").join(netns),
            log,
        }
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap()
    }

    /// `GET PATH` on its status endpoint: the status code and the body. Retried while the
    /// endpoint is not listening yet.
    pub fn get(&self, path: &str) -> (u16, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut stream = loop {
            let connected =
                run_in_namespace(&self.netns_path, || TcpStream::connect(STATUS_ADDRESS)).unwrap();
            match connected {
                Ok(stream) => break stream,
                Err(err) => {
                    assert!(
                        Instant::now() < deadline,
                        "status endpoint not reachable: {err}\n{}",
                        self.log()
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {STATUS_ADDRESS}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let code = head.split(' ').nth(1).unwrap().parse().unwrap();
        (code, body.to_owned())
    }

    /// `GET /status`, parsed.
    pub fn status(&self) -> serde_json::Value {
        let (code, body) = self.get("/status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Asks `GET /status` until `done` holds (at most 30 s); the status then.
    pub fn wait_for_status(
        &self,
        mut done: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.status();
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the status never got there: {status:#}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for it to exit (killing it after 20 s).
    pub fn stop(&mut self) -> ExitStatus {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its process id (for /proc measurements).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}
