//! ipamd's introspection endpoint, answering from the node's own loopback (127.0.0.1:61679 in
//! the node's namespace) with what the topology assigned: `/v1/enis` in the v1.23+ shape —
//! `ENIInfos` keyed by network card, each `Cidr` a Go `net.IPNet` (`Mask` as base64 bytes),
//! `IPAddresses` listing only the addresses in use, container ids and interface names scrubbed.
//!
//! The server is a small HTTP/1.1 responder on a thread of its own that `setns`es into the node
//! namespace — a namespace switch affects only the calling thread, so the rest of the test
//! process stays where it was.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{Shutdown, shutdown};
use serde_json::{Map, Value, json};

use super::files::assigned_time;
use super::{Eni, EniSlot, VpcPod};

/// ipamd's introspection port.
pub const IPAMD_PORT: u16 = 61679;

/// How the node's ipamd behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpamdMode {
    /// Answers `/v1/enis` with the node's ENIs and pod IPs.
    Serve,
    /// Answers 200 with a body that is not the JSON ipamd writes (cut off mid-document).
    Garbage,
    /// Not running: connections to 127.0.0.1:61679 are refused.
    Down,
}

impl IpamdMode {
    /// The `/v1/enis` body to serve in this mode.
    pub(crate) fn response(self, enis: Value) -> Vec<u8> {
        let body = enis.to_string().into_bytes();
        match self {
            IpamdMode::Garbage => body[..body.len() / 3].to_vec(),
            IpamdMode::Serve | IpamdMode::Down => body,
        }
    }
}

/// ipamd could not be started.
#[derive(Debug, thiserror::Error)]
pub enum IpamdError {
    #[error("could not open the node namespace {path}")]
    OpenNetns {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not enter the node namespace {path}")]
    Setns {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("could not listen on 127.0.0.1:{IPAMD_PORT} in the node namespace")]
    Listen(#[source] std::io::Error),
    #[error("could not start the ipamd thread")]
    Thread(#[source] std::io::Error),
    #[error("the ipamd thread ended before it listened")]
    ThreadEnded,
    #[error("GET {path} from 127.0.0.1:{IPAMD_PORT} failed")]
    Request {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A running ipamd; stops (and leaves the node namespace) on drop.
#[derive(Debug)]
pub struct IpamdServer {
    /// A second handle on the listening socket, to wake the thread's `accept` on shutdown.
    listener: TcpListener,
    /// What `/v1/enis` answers; replaced when the node's pods change.
    enis_body: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl IpamdServer {
    /// Starts serving `enis_body` at `/v1/enis` inside the namespace at `netns_path`; returns
    /// once the socket listens.
    pub fn start(netns_path: &Path, enis_body: Vec<u8>) -> Result<Self, IpamdError> {
        let path = netns_path.to_owned();
        let enis_body = Arc::new(Mutex::new(enis_body));
        let served = enis_body.clone();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ipamd".to_owned())
            .spawn(move || {
                let listener = match listen_in(&path) {
                    Ok(listener) => listener,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                let handle = listener.try_clone().map_err(IpamdError::Listen);
                let _ = ready_tx.send(handle);
                serve(&listener, &served);
            })
            .map_err(IpamdError::Thread)?;
        let listener = ready_rx.recv().map_err(|_| IpamdError::ThreadEnded)??;
        Ok(IpamdServer {
            listener,
            enis_body,
            thread: Some(thread),
        })
    }

    /// From now on `/v1/enis` answers `body`, as ipamd does once it has assigned or released
    /// an address.
    pub fn set_enis_body(&self, body: Vec<u8>) {
        *self
            .enis_body
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = body;
    }
}

impl Drop for IpamdServer {
    fn drop(&mut self) {
        // shutdown(2) on a listening socket makes the blocked accept(2) fail, ending the loop.
        let _ = shutdown(self.listener.as_raw_fd(), Shutdown::Both);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Enters the namespace (this thread only) and binds ipamd's address there.
fn listen_in(netns_path: &Path) -> Result<TcpListener, IpamdError> {
    let file = File::open(netns_path).map_err(|source| IpamdError::OpenNetns {
        path: netns_path.to_owned(),
        source,
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| IpamdError::Setns {
        path: netns_path.to_owned(),
        source,
    })?;
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, IPAMD_PORT)))
        .map_err(IpamdError::Listen)
}

/// Asks ipamd's address inside the namespace, as a client on the node would: `GET path` from a
/// thread that enters the namespace. Returns the status code and the body.
pub fn get_in(netns_path: &Path, path: &str) -> Result<(u16, Vec<u8>), IpamdError> {
    let netns = netns_path.to_owned();
    let request_path = path.to_owned();
    let thread = std::thread::Builder::new()
        .name("ipamd-client".to_owned())
        .spawn(move || -> Result<(u16, Vec<u8>), IpamdError> {
            let file = File::open(&netns).map_err(|source| IpamdError::OpenNetns {
                path: netns.clone(),
                source,
            })?;
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| IpamdError::Setns {
                path: netns.clone(),
                source,
            })?;
            let failed = |source| IpamdError::Request {
                path: request_path.clone(),
                source,
            };
            let mut stream =
                TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, IPAMD_PORT)))
                    .map_err(failed)?;
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .map_err(failed)?;
            write!(
                stream,
                "GET {request_path} HTTP/1.1\r\nHost: 127.0.0.1:{IPAMD_PORT}\r\n\r\n"
            )
            .map_err(failed)?;
            let mut response = Vec::new();
            stream.read_to_end(&mut response).map_err(failed)?;
            let split = response
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .ok_or_else(|| failed(std::io::Error::other("no end of headers")))?;
            let status = String::from_utf8_lossy(&response[..split])
                .split_whitespace()
                .nth(1)
                .and_then(|code| code.parse().ok())
                .ok_or_else(|| failed(std::io::Error::other("no status code")))?;
            Ok((status, response[split + 4..].to_vec()))
        })
        .map_err(IpamdError::Thread)?;
    thread.join().map_err(|_| IpamdError::ThreadEnded)?
}

fn serve(listener: &TcpListener, enis_body: &Mutex<Vec<u8>>) {
    while let Ok((stream, _)) = listener.accept() {
        let body = enis_body
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // A client that misbehaves costs only its own connection.
        let _ = answer(stream, &body);
    }
}

fn answer(mut stream: TcpStream, enis_body: &[u8]) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let request = String::from_utf8_lossy(&request);
    let path = request
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or("");
    let (status, body): (&str, Vec<u8>) = match path {
        "/v1/enis" => ("200 OK", enis_body.to_vec()),
        "/" => (
            "200 OK",
            br#"{"AvailableCommands":["/v1/enis","/v1/eni-configs","/v1/networkutils-env-settings","/v1/ipamd-env-settings"]}"#
                .to_vec(),
        ),
        _ => ("404 Not Found", b"404 page not found\n".to_vec()),
    };
    // Go's net/http sniffs JSON written without a Content-Type as text/plain.
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)?;
    stream.flush()
}

/// `/v1/enis` as ipamd v1.23+ marshals `map[int]*datastore.ENIInfos` after scrubbing.
pub(crate) fn enis_response(enis: &[Eni], pods: &[VpcPod]) -> Value {
    let mut by_id = Map::new();
    let mut total = 0usize;
    let mut assigned = 0usize;
    for eni in enis {
        let mut cidrs = Map::new();
        // The trunk lends no secondary IPs: branch pods' IPs belong to their branch ENIs.
        let slot = match (eni.device_number, eni.is_trunk) {
            (_, true) => None,
            (0, false) => Some(EniSlot::Primary),
            (_, false) => Some(EniSlot::Secondary),
        };
        for pod in pods.iter().filter(|p| Some(p.slot) == slot) {
            let ip = pod.pod.ip;
            let seconds_after =
                pod.assigned_at_unix_ns / 1_000_000_000 - super::files::ASSIGNED_BASE_UNIX_S;
            let address = json!({
                "Address": ip.to_string(),
                "IPAMKey": {"networkName": "aws-cni", "containerID": "", "ifName": ""},
                "IPAMMetadata": {
                    "k8sPodNamespace": pod.pod.namespace,
                    "k8sPodName": pod.pod.name,
                    "interfacesCount": 1
                },
                "AssignedTime": assigned_time(seconds_after),
                "UnassignedTime": "0001-01-01T00:00:00Z"
            });
            cidrs.insert(format!("{ip}/32"), cidr_info(ip, Some(address)));
            assigned += 1;
        }
        for &ip in &eni.warm_ips {
            cidrs.insert(format!("{ip}/32"), cidr_info(ip, None));
        }
        total += cidrs.len();
        by_id.insert(
            eni.id.clone(),
            json!({
                "ID": eni.id,
                "IsPrimary": eni.device_number == 0,
                "IsTrunk": eni.is_trunk,
                "IsEFA": false,
                "DeviceNumber": eni.device_number,
                "AvailableIPv4Cidrs": cidrs,
                "IPv6Cidrs": {},
                "IsExcludedForPodIPs": false,
                "RouteTableID": eni.route_table(),
                "SubnetID": eni.subnet_id
            }),
        );
    }
    json!({"0": {"TotalIPs": total, "AssignedIPs": assigned, "ENIs": by_id}})
}

/// One secondary IP (/32) as a `CidrInfo`; `address` is its entry while a pod holds it.
fn cidr_info(ip: Ipv4Addr, address: Option<Value>) -> Value {
    let mut addresses = Map::new();
    if let Some(address) = address {
        addresses.insert(ip.to_string(), address);
    }
    json!({
        "Cidr": {
            "IP": ip.to_string(),
            // net.IPNet's Mask is a byte slice: Go marshals it as base64 ("/////w==" for /32).
            "Mask": base64::engine::general_purpose::STANDARD.encode([0xffu8; 4])
        },
        "IPAddresses": addresses,
        "IsPrefix": false,
        "AddressFamily": "4"
    })
}
