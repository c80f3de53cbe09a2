//! The EC2 emulator moto (`moto_server` from the venv `deploy/local/install-deps test` creates:
//! `$PODWIRE_MOTO_VENV`, default `~/.cache/podwire-moto-venv`) on a loopback port, seeded like an
//! EKS node with security groups for pods by `seed.py` (boto3, from the same venv). moto picks
//! ids and MACs itself; [`MotoNode`] returns them so that the netns topology is built with them.
//!
//! moto keeps its state in memory: [`Moto::kill`] loses it, and [`Moto::restart`] starts an
//! empty moto on the same port, which the test seeds again (new ids and MACs), so a recovered
//! enrichment is told from the old one by what it describes.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::ids::Mac;
use crate::server::free_port;

/// Why moto could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("no moto venv at {} (run `deploy/local/install-deps test`)", .0.display())]
    NoVenv(PathBuf),
    #[error("no free port")]
    Port(#[source] crate::server::ServerError),
    #[error("cannot start {}", .0.display())]
    Spawn(PathBuf, #[source] std::io::Error),
    #[error("moto did not listen on {0} within 30 s")]
    NotListening(SocketAddr),
    #[error("seed.py {command} failed: {stderr}")]
    Script { command: String, stderr: String },
    #[error("cannot run seed.py")]
    Run(#[source] std::io::Error),
    #[error("seed.py printed unexpected JSON")]
    Json(#[source] serde_json::Error),
    #[error("moto gave an unparsable MAC {0:?}")]
    Mac(String),
}

/// An ENI moto created: its id and the MAC it chose.
#[derive(Debug, Clone, Deserialize)]
pub struct MotoEni {
    pub id: String,
    pub mac: String,
}

impl MotoEni {
    pub fn mac(&self) -> Result<Mac, MotoError> {
        parse_mac(&self.mac)
    }
}

/// A branch ENI moto created, with the vlan id its tag carries.
#[derive(Debug, Clone, Deserialize)]
pub struct MotoBranch {
    pub id: String,
    pub mac: String,
    pub vlan: u16,
}

/// What `seed.py seed` made: one node's instance and ENIs in one subnet.
#[derive(Debug, Clone, Deserialize)]
pub struct MotoNode {
    pub vpc_id: String,
    pub subnet_id: String,
    pub instance_id: String,
    pub node_sg: String,
    pub pod_sg: String,
    pub primary: MotoEni,
    pub secondary: MotoEni,
    pub trunk: MotoEni,
    pub branches: Vec<MotoBranch>,
}

fn parse_mac(text: &str) -> Result<Mac, MotoError> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| MotoError::Mac(text.to_owned()))?;
    <[u8; 6]>::try_from(bytes)
        .map(Mac)
        .map_err(|_| MotoError::Mac(text.to_owned()))
}

/// A running `moto_server`, killed on drop.
#[derive(Debug)]
pub struct Moto {
    venv: PathBuf,
    addr: SocketAddr,
    child: Option<Child>,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it listens.
    pub fn start() -> Result<Self, MotoError> {
        let venv = std::env::var_os("PODWIRE_MOTO_VENV")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|home| PathBuf::from(home).join(".cache/podwire-moto-venv"))
            })
            .unwrap_or_else(|| PathBuf::from("/root/.cache/podwire-moto-venv"));
        if !venv.join("bin/moto_server").exists() {
            return Err(MotoError::NoVenv(venv));
        }
        let port = free_port().map_err(MotoError::Port)?;
        let mut moto = Moto {
            venv,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            child: None,
        };
        moto.spawn()?;
        Ok(moto)
    }

    fn spawn(&mut self) -> Result<(), MotoError> {
        let binary = self.venv.join("bin/moto_server");
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(&binary)
            .args(["-H", "127.0.0.1", "-p", &self.addr.port().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| MotoError::Spawn(binary, e))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                return Err(MotoError::NotListening(self.addr));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// `http://127.0.0.1:PORT`: what `AWS_ENDPOINT_URL` is set to.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The environment a podwire-server needs to use this moto.
    pub fn server_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-west-2".to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Stops moto: the endpoint is down and its state gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts an empty moto on the same port.
    pub fn restart(&mut self) -> Result<(), MotoError> {
        self.kill();
        self.spawn()
    }

    fn script(&self, args: &[&str]) -> Result<serde_json::Value, MotoError> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/src/moto/seed.py");
        let output = Command::new(self.venv.join("bin/python"))
            .arg(script)
            .arg(args[0])
            .arg(self.endpoint())
            .args(&args[1..])
            .output()
            .map_err(MotoError::Run)?;
        if !output.status.success() {
            return Err(MotoError::Script {
                command: args.join(" "),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        serde_json::from_slice(&output.stdout).map_err(MotoError::Json)
    }

    /// Seeds one node with `branches` branch ENIs.
    pub fn seed_node(&self, branches: usize) -> Result<MotoNode, MotoError> {
        let value = self.script(&["seed", &branches.to_string()])?;
        serde_json::from_value(value).map_err(MotoError::Json)
    }

    /// `describe-network-interfaces` output, as the AWS CLI prints it.
    pub fn describe_enis_json(&self) -> Result<serde_json::Value, MotoError> {
        self.script(&["describe"])
    }

    /// Assigns `count` more secondary IPs to `eni_id`.
    pub fn assign_ips(&self, eni_id: &str, count: u32) -> Result<(), MotoError> {
        self.script(&["assign", eni_id, &count.to_string()])
            .map(drop)
    }

    /// EC2's AvailableIpAddressCount of `subnet_id` now.
    pub fn available_ips(&self, subnet_id: &str) -> Result<i64, MotoError> {
        let subnet = self.script(&["subnet", subnet_id])?;
        Ok(subnet["AvailableIpAddressCount"].as_i64().unwrap_or(-1))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}
