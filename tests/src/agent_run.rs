//! `podwire-agent run` as a separate process inside a built node (`ip netns exec NODE
//! podwire-agent run …`), as the DaemonSet runs it on a real node: its log captured to a file, its
//! status endpoint (`127.0.0.1:9102` inside the node) asked from a thread that entered the node.
//! Stopped with SIGTERM (killed if it does not stop) when dropped.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::agent::{AgentError, agent_binary};
use crate::netns::{NETNS_RUN_DIR, NetnsError, run_in};
use crate::topology::BuiltNode;

/// Where the status endpoint listens inside the node.
pub const STATUS_PORT: u16 = 9102;

/// How long SIGTERM may take before the agent is killed.
const STOP_LIMIT: Duration = Duration::from_secs(20);

/// The agent could not be run or asked.
#[derive(Debug, thiserror::Error)]
pub enum AgentRunError {
    #[error(transparent)]
    Binary(#[from] AgentError),
    #[error("cannot create the agent's log file")]
    Log(#[source] std::io::Error),
    #[error("cannot start `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("GET {path} from the agent's status endpoint failed")]
    Status {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the agent's status endpoint answered {status} to GET {path}: {body}")]
    StatusCode {
        path: String,
        status: u16,
        body: String,
    },
    #[error("the agent's GET /status is not JSON: {body}")]
    StatusJson {
        body: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot signal or wait for the agent")]
    Stop(#[source] std::io::Error),
    #[error("podwire-agent exited ({status}); its log:\n{log}")]
    Exited { status: ExitStatus, log: String },
}

/// One `podwire-agent run` to start in a node.
#[derive(Debug, Clone)]
pub struct AgentRun {
    node_netns: String,
    args: Vec<String>,
}

impl AgentRun {
    /// `run --server URL --cluster CLUSTER --node NAME` reading the built node (its host root,
    /// its netns directory, its probe destination). Collections come from notifications only
    /// (`--resync-interval 1h`), and reconnects are quick (`--backoff-min 200ms --backoff-max
    /// 2s`, `--rejected-backoff 1s`), so tests wait seconds rather than minutes.
    pub fn on(node: &BuiltNode, server_url: &str, cluster: &str, node_name: &str) -> Self {
        let run = AgentRun::in_netns(node.node_netns(), server_url, cluster, node_name)
            .arg("--host-root", &node.host_root().path().to_string_lossy())
            .arg("--netns-dir", &node.netns_dir().to_string_lossy())
            .arg("--probe-dst", &node.probe.to_string());
        if node.kind == crate::topology::NodeKind::VpcCni {
            run
        } else {
            run.arg("--ipamd-url", "none")
        }
    }

    /// The same in any named namespace, with the agent's default node paths.
    pub fn in_netns(netns: &str, server_url: &str, cluster: &str, node_name: &str) -> Self {
        AgentRun {
            node_netns: netns.to_owned(),
            args: Vec::new(),
        }
        .arg("--server", server_url)
        .arg("--cluster", cluster)
        .arg("--node", node_name)
        .arg("--status-listen", &format!("127.0.0.1:{STATUS_PORT}"))
        .arg("--resync-interval", "1h")
        .arg("--backoff-min", "200ms")
        .arg("--backoff-max", "2s")
        .arg("--rejected-backoff", "1s")
    }

    /// A flag and its value; given again, the new value replaces the old (the agent accepts
    /// each flag once).
    pub fn arg(mut self, flag: &str, value: &str) -> Self {
        match self.args.iter().position(|a| a == flag) {
            Some(at) if at + 1 < self.args.len() => self.args[at + 1] = value.to_owned(),
            _ => {
                self.args.push(flag.to_owned());
                self.args.push(value.to_owned());
            }
        }
        self
    }

    /// `--token-file FILE`.
    pub fn token_file(self, path: &Path) -> Self {
        self.arg("--token-file", &path.to_string_lossy())
    }

    /// Starts the agent, logging at debug.
    pub fn start(self) -> Result<RunningAgent, AgentRunError> {
        let binary = agent_binary()?;
        let log = tempfile::Builder::new()
            .prefix("podwire-agent-log-")
            .tempfile()
            .map_err(AgentRunError::Log)?;
        let stderr = log.reopen().map_err(AgentRunError::Log)?;
        // setpriv and `ip netns exec` exec in turn: the child's pid is the agent's. The kernel
        // kills the agent should the test process die without running destructors.
        let mut command = Command::new("setpriv");
        command
            .args(["--pdeathsig", "KILL", "--", "ip", "netns", "exec"])
            .arg(&self.node_netns)
            .arg(&binary)
            .arg("run")
            .args(&self.args)
            .env("RUST_LOG", "podwire_agent=debug,info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let command_line = format!(
            "ip netns exec {} {} run {}",
            self.node_netns,
            binary.display(),
            self.args.join(" ")
        );
        let child = command.spawn().map_err(|source| AgentRunError::Spawn {
            command: command_line,
            source,
        })?;
        Ok(RunningAgent {
            child: Mutex::new(child),
            netns_path: Path::new(NETNS_RUN_DIR).join(&self.node_netns),
            log,
        })
    }
}

/// A running agent.
#[derive(Debug)]
pub struct RunningAgent {
    /// Behind a lock so that asking the status can notice an agent that exited.
    child: Mutex<Child>,
    netns_path: PathBuf,
    log: tempfile::NamedTempFile,
}

impl RunningAgent {
    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// `GET path` on its status endpoint: the status code and the body.
    pub fn get(&self, path: &str) -> Result<(u16, String), AgentRunError> {
        let request_path = path.to_owned();
        let answer = run_in(&self.netns_path, move || -> std::io::Result<String> {
            let mut stream =
                TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, STATUS_PORT)))?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            write!(
                stream,
                "GET {request_path} HTTP/1.1\r\nHost: 127.0.0.1:{STATUS_PORT}\r\nConnection: close\r\n\r\n"
            )?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            Ok(response)
        })?;
        let response = answer.map_err(|source| AgentRunError::Status {
            path: path.to_owned(),
            source,
        })?;
        let malformed = || AgentRunError::Status {
            path: path.to_owned(),
            source: std::io::Error::other(format!("not an HTTP response: {response:?}")),
        };
        let (head, body) = response.split_once("\r\n\r\n").ok_or_else(malformed)?;
        let code = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(malformed)?;
        Ok((code, body.to_owned()))
    }

    /// The exit status, once the agent has exited; `None` while it runs.
    pub fn exit_status(&self) -> Result<Option<ExitStatus>, AgentRunError> {
        self.child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_wait()
            .map_err(AgentRunError::Stop)
    }

    /// `GET /status`, parsed; [`AgentRunError::Exited`] once the agent has exited.
    pub fn status(&self) -> Result<Value, AgentRunError> {
        if let Some(status) = self.exit_status()? {
            return Err(AgentRunError::Exited {
                status,
                log: self.log(),
            });
        }
        let (code, body) = self.get("/status")?;
        if code != 200 {
            return Err(AgentRunError::StatusCode {
                path: "/status".to_owned(),
                status: code,
                body,
            });
        }
        serde_json::from_str(&body).map_err(|source| AgentRunError::StatusJson { body, source })
    }

    /// Whether the process is still running.
    pub fn is_running(&self) -> bool {
        matches!(self.exit_status(), Ok(None))
    }

    /// SIGTERM, then waits for it to exit (killing it after 20 s).
    pub fn stop(&mut self) -> Result<ExitStatus, AgentRunError> {
        let child = self.child.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(status) = child.try_wait().map_err(AgentRunError::Stop)? {
            return Ok(status);
        }
        // setpriv and `ip netns exec` exec the agent: the child's pid is the agent's.
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().map_err(AgentRunError::Stop)? {
                return Ok(status);
            }
            if start.elapsed() > STOP_LIMIT {
                let _ = child.kill();
                return child.wait().map_err(AgentRunError::Stop);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
