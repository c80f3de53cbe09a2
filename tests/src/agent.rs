//! Running `podwire-agent inspect` inside a built node (`nsenter --net=NODE podwire-agent …`) and
//! reading its `--json` report.
//!
//! The binary comes from `PODWIRE_AGENT_BIN`, else `$PODWIRE_BIN_DIR/podwire-agent`, else from the
//! cargo target directory the running executable was built into (`<target>/<profile>/podwire-agent`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::cmd::{Cmd, CommandError};
use crate::topology::BuiltNode;

/// The environment variable naming the agent binary.
pub const AGENT_BIN_ENV: &str = "PODWIRE_AGENT_BIN";

/// The agent could not be run, or did not report as the contract says.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(
        "podwire-agent is not at {}: build it (`cargo build -p podwire-agent`) or set {AGENT_BIN_ENV}",
        .path.display()
    )]
    NotFound { path: PathBuf },
    #[error("cannot tell where this executable lives")]
    CurrentExe(#[source] std::io::Error),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("`{command}` did not print the inspect report; it printed:\n{stdout}")]
    Report {
        command: String,
        stdout: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the agent did not create {} within {waited:?}", .path.display())]
    NotReady { path: PathBuf, waited: Duration },
    #[error("could not prepare or release the hold file {}", .path.display())]
    HoldFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not wait for `{command}`")]
    Wait {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where the agent binary is.
pub fn agent_binary() -> Result<PathBuf, AgentError> {
    if let Some(path) = std::env::var_os(AGENT_BIN_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(AgentError::NotFound { path })
        };
    }
    if let Some(dir) = std::env::var_os(crate::server::BIN_DIR_ENV) {
        let path = PathBuf::from(dir).join("podwire-agent");
        return if path.is_file() {
            Ok(path)
        } else {
            Err(AgentError::NotFound { path })
        };
    }
    let exe = std::env::current_exe().map_err(AgentError::CurrentExe)?;
    // Test executables live in <target>/<profile>/deps, binaries in <target>/<profile>.
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("podwire-agent"))
        .collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| AgentError::NotFound {
            path: candidates.first().cloned().unwrap_or_default(),
        })
}

/// One `podwire-agent inspect` invocation against a built node.
#[derive(Debug, Clone)]
pub struct Inspect {
    node_netns: String,
    host_root: PathBuf,
    netns_dir: PathBuf,
    probe: Option<IpAddr>,
    pod: Option<String>,
    hold: Option<PathBuf>,
    ec2_enis: Option<PathBuf>,
}

impl Inspect {
    /// `inspect --host-root ROOT --netns-dir DIR --probe-dst PROBE` in the node's namespace.
    pub fn on(node: &BuiltNode) -> Self {
        Inspect {
            node_netns: node.node_netns().to_owned(),
            host_root: node.host_root().path().to_owned(),
            netns_dir: node.netns_dir().to_owned(),
            probe: Some(node.probe),
            pod: None,
            hold: None,
            ec2_enis: None,
        }
    }

    /// Lets the agent choose its probe destination.
    pub fn without_probe(mut self) -> Self {
        self.probe = None;
        self
    }

    /// `--pod NAMESPACE/NAME`.
    pub fn pod(mut self, qualified_name: &str) -> Self {
        self.pod = Some(qualified_name.to_owned());
        self
    }

    /// `--ec2-enis FILE` (describe-network-interfaces JSON).
    pub fn ec2_enis(mut self, file: &std::path::Path) -> Self {
        self.ec2_enis = Some(file.to_owned());
        self
    }

    /// The test hook `--hold-after-discovery FILE`.
    pub fn hold_after_discovery(mut self, hold: &HoldFile) -> Self {
        self.hold = Some(hold.path().to_owned());
        self
    }

    /// The full command line, run in the node's namespace through `nsenter --net`: only the
    /// network namespace changes, as for an agent on the node's host network (`ip netns exec`
    /// would also make a mount namespace and remount /sys, a few ms the agent never pays).
    pub fn command(&self, json: bool) -> Result<Cmd, AgentError> {
        let netns = std::path::Path::new(crate::netns::NETNS_RUN_DIR).join(&self.node_netns);
        let mut cmd = Cmd::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .arg("--")
            .arg(agent_binary()?.to_string_lossy())
            .arg("inspect")
            .arg("--host-root")
            .arg(self.host_root.to_string_lossy())
            .arg("--netns-dir")
            .arg(self.netns_dir.to_string_lossy());
        if let Some(probe) = self.probe {
            cmd = cmd.args(["--probe-dst".to_owned(), probe.to_string()]);
        }
        if let Some(pod) = &self.pod {
            cmd = cmd.args(["--pod", pod.as_str()]);
        }
        if let Some(hold) = &self.hold {
            cmd = cmd
                .arg("--hold-after-discovery")
                .arg(hold.to_string_lossy());
        }
        if let Some(file) = &self.ec2_enis {
            cmd = cmd.arg("--ec2-enis").arg(file.to_string_lossy());
        }
        if json {
            cmd = cmd.arg("--json");
        }
        Ok(cmd)
    }

    /// Runs with `--json` and parses the report.
    pub fn json(&self) -> Result<InspectReport, AgentError> {
        let cmd = self.command(true)?;
        let stdout = cmd.run()?;
        parse_report(&cmd.command_line(), &stdout)
    }

    /// Runs without `--json`: the human table.
    pub fn table(&self) -> Result<String, AgentError> {
        Ok(self.command(false)?.run()?)
    }

    /// Starts a `--json` run and returns without waiting (for the hold hook).
    pub fn spawn_json(&self) -> Result<RunningInspect, AgentError> {
        let cmd = self.command(true)?;
        Ok(RunningInspect {
            child: Some(cmd.spawn()?),
            command: cmd.command_line(),
        })
    }
}

fn parse_report(command: &str, stdout: &str) -> Result<InspectReport, AgentError> {
    serde_json::from_str(stdout).map_err(|source| AgentError::Report {
        command: command.to_owned(),
        stdout: stdout.chars().take(4000).collect(),
        source,
    })
}

/// An agent run in progress; killed if dropped unfinished.
#[derive(Debug)]
pub struct RunningInspect {
    child: Option<Child>,
    command: String,
}

impl RunningInspect {
    /// Waits for the agent to exit and parses its report.
    pub fn finish(mut self) -> Result<InspectReport, AgentError> {
        let Some(child) = self.child.take() else {
            return Err(AgentError::Wait {
                command: self.command.clone(),
                source: std::io::Error::other("already finished"),
            });
        };
        let output = child
            .wait_with_output()
            .map_err(|source| AgentError::Wait {
                command: self.command.clone(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(CommandError::Failed {
                command: self.command.clone(),
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                script: String::new(),
            }
            .into());
        }
        parse_report(&self.command, &stdout)
    }
}

impl Drop for RunningInspect {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The file of `--hold-after-discovery FILE`: the agent creates `FILE.ready` once it has found the
/// namespaces and waits while FILE exists.
#[derive(Debug)]
pub struct HoldFile {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl HoldFile {
    pub fn create() -> Result<Self, AgentError> {
        let dir = tempfile::Builder::new()
            .prefix("podwire-hold-")
            .tempdir()
            .map_err(|source| AgentError::HoldFile {
                path: std::env::temp_dir(),
                source,
            })?;
        let path = dir.path().join("hold");
        std::fs::write(&path, b"").map_err(|source| AgentError::HoldFile {
            path: path.clone(),
            source,
        })?;
        Ok(HoldFile { dir, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `FILE.ready`.
    pub fn ready_path(&self) -> PathBuf {
        self.dir.path().join("hold.ready")
    }

    /// Waits (a safety limit, not a measurement) until the agent signals it has discovered.
    pub fn wait_until_ready(&self, limit: Duration) -> Result<(), AgentError> {
        let start = Instant::now();
        while !self.ready_path().exists() {
            if start.elapsed() > limit {
                return Err(AgentError::NotReady {
                    path: self.ready_path(),
                    waited: limit,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Removes FILE: the agent goes on collecting.
    pub fn release(&self) -> Result<(), AgentError> {
        std::fs::remove_file(&self.path).map_err(|source| AgentError::HoldFile {
            path: self.path.clone(),
            source,
        })
    }
}

/// `inspect --json`: `{"node": …, "pods": […]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct InspectReport {
    pub node: NodeReport,
    pub pods: Vec<PodReport>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NodeReport {
    pub cluster: Option<String>,
    pub node_name: Option<String>,
    pub kernel: Option<String>,
    pub agent_version: Option<String>,
    pub collected_at: Value,
    pub collection_duration_ms: Value,
    pub probe: ProbeReport,
    pub namespaces_read: Value,
    pub errors: Vec<SourceErrorReport>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProbeReport {
    pub destination: Option<String>,
    pub destination_v6: Option<String>,
    pub reason: Option<String>,
}

/// One failed source: `source` is the snake_case `ErrorSource` (`cni_cache`, `ipamd`, `netlink`…).
#[derive(Debug, Clone, Deserialize)]
pub struct SourceErrorReport {
    pub source: String,
    pub subject: String,
    pub message: String,
}

impl SourceErrorReport {
    /// Whether the error names `text` in its subject or message.
    pub fn names(&self, text: &str) -> bool {
        self.subject.contains(text) || self.message.contains(text)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PodReport {
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// Without prefix length.
    pub ip: Option<String>,
    pub host_veth: Option<String>,
    pub bridge: Option<String>,
    pub table: Option<u32>,
    pub egress_device: Option<String>,
    pub eni_mac: Option<String>,
    /// With `--ec2-enis`: the ENI with that MAC, and its type.
    #[serde(default)]
    pub eni_id: Option<String>,
    #[serde(default)]
    pub eni_type: Option<String>,
    pub vlan_id: Option<u16>,
    pub trunk_device: Option<String>,
    pub wiring: String,
    /// `agrees`, `disagrees` or `not_asked`.
    pub kernel: String,
    pub problems: Vec<ProblemReport>,
    /// The full `PodPath`.
    pub path: Value,
}

impl PodReport {
    pub fn has_problem(&self, code: &str) -> bool {
        self.problems.iter().any(|p| p.code == code)
    }

    /// `namespace/name`, or `?/?` for a pod the agent could not name.
    pub fn label(&self) -> String {
        format!(
            "{}/{} ({})",
            self.namespace.as_deref().unwrap_or("?"),
            self.name.as_deref().unwrap_or("?"),
            self.ip.as_deref().unwrap_or("no ip")
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProblemReport {
    pub code: String,
    pub message: String,
}
