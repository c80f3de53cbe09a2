//! A TCP relay from a node's loopback to a server in the test process's own namespace: how an
//! agent inside a built node reaches a `podwire-server` that runs beside the test.
//!
//! A node built in a namespace has no route to the machine's namespace, and the tests never
//! change the machine's namespace to give it one. Instead the relay listens on `127.0.0.1` inside
//! the node (a socket created by a thread that entered it) and, for every connection accepted
//! there, opens one to the server from the test's namespace and copies bytes both ways, the way a
//! load balancer stands between agents and a server. When either side closes or breaks, both are
//! shut down, so a server killed mid-stream is seen by the agent as a broken connection, and a
//! server not listening as a connection that closes at once.

use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::netns::{NetnsError, run_in};

/// The relay could not be started.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("could not listen on 127.0.0.1 inside the node")]
    Listen(#[source] io::Error),
    #[error("could not start the relay's accept thread")]
    Thread(#[source] io::Error),
}

/// A running relay; stops, and cuts every relayed connection, when dropped.
#[derive(Debug)]
pub struct NetnsRelay {
    /// The port on the node's loopback.
    port: u16,
    target: SocketAddr,
    /// A second handle on the listening socket, to end the accept loop.
    listener: TcpListener,
    /// Both ends of every relayed connection, to cut them on drop.
    connections: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl NetnsRelay {
    /// Listens on a free port of `127.0.0.1` inside the namespace at `netns_path`, relaying to
    /// `target`.
    pub fn start(netns_path: &Path, target: SocketAddr) -> Result<Self, RelayError> {
        let listener = run_in(netns_path, || {
            TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        })?
        .map_err(RelayError::Listen)?;
        let port = listener.local_addr().map_err(RelayError::Listen)?.port();
        let handle = listener.try_clone().map_err(RelayError::Listen)?;
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accept = std::thread::Builder::new()
            .name("relay-accept".to_owned())
            .spawn({
                let connections = connections.clone();
                move || accept_loop(&listener, target, &connections)
            })
            .map_err(RelayError::Thread)?;
        Ok(NetnsRelay {
            port,
            target,
            listener: handle,
            connections,
            accept: Some(accept),
        })
    }

    /// What to pass the agent as `--server`: `http://127.0.0.1:PORT`, valid inside the node.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the relayed connections go.
    pub fn target(&self) -> SocketAddr {
        self.target
    }
}

impl Drop for NetnsRelay {
    fn drop(&mut self) {
        // shutdown(2) on a listening socket makes the blocked accept(2) fail, ending the loop.
        let _ =
            nix::sys::socket::shutdown(self.listener.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for stream in self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, connections: &Mutex<Vec<TcpStream>>) {
    while let Ok((downstream, _)) = listener.accept() {
        // Nothing listens (the server is down): the agent sees its connection closed at once.
        let Ok(upstream) = TcpStream::connect(target) else {
            let _ = downstream.shutdown(Shutdown::Both);
            continue;
        };
        let _ = relay(downstream, upstream, connections);
    }
}

/// Starts the two copying threads of one connection.
fn relay(
    downstream: TcpStream,
    upstream: TcpStream,
    connections: &Mutex<Vec<TcpStream>>,
) -> io::Result<()> {
    let _ = downstream.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    {
        let mut open = connections.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget connections that are over, so a long test does not hoard sockets.
        open.retain(|s| s.peer_addr().is_ok());
        open.push(downstream.try_clone()?);
        open.push(upstream.try_clone()?);
    }
    let (down_reader, up_writer) = (downstream.try_clone()?, upstream.try_clone()?);
    std::thread::Builder::new()
        .name("relay-up".to_owned())
        .spawn(move || pump(down_reader, up_writer))?;
    std::thread::Builder::new()
        .name("relay-down".to_owned())
        .spawn(move || pump(upstream, downstream))?;
    Ok(())
}

/// Copies until either side ends, then ends both: gRPC has no use for half-closed connections,
/// and a peer that vanished must be seen as gone on the other side at once.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
