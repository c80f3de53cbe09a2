//! A stand-in for the server's ingest, for testing `podwire-agent run`: a real tonic server
//! implementing the generated `AgentIngest` service, listening on loopback inside a test's
//! network namespace (where the agent runs). It records everything it receives, checks each
//! upload's content hash against the snapshot it carries, and answers as each connection's
//! [`Plan`] scripts: refuse the stream, forget what it stored, drop the stream after some
//! uploads, answer heartbeats with `Resend`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use podwire_agent::collect::netns::run_in_namespace;
use podwire_node_state::NodeSnapshot;
use podwire_node_state::wire::proto::agent_ingest_server::{AgentIngest, AgentIngestServer};
use podwire_node_state::wire::proto::{self, agent_message, server_message};
use podwire_node_state::wire::{COMPRESSION, ContentHash, content_hash, open_frame};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status, Streaming};

/// What one connection does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Refuse the stream with this code instead of accepting it.
    pub refuse: Option<Code>,
    /// The server lost everything it stored before this connection (a new database): `Welcome`
    /// names no hash and heartbeats for old hashes get `Resend`.
    pub forget: bool,
    /// `Welcome.heartbeat_interval_ms`.
    pub heartbeat_ms: u32,
    /// After acknowledging this many uploads on the stream, end it with UNAVAILABLE.
    pub end_after_uploads: Option<usize>,
    /// Answer this many first heartbeats with `Resend`, whatever is stored.
    pub resend_heartbeats: usize,
    /// Answer nothing after `Welcome` (a server stuck on its database): record and stay silent.
    pub silent: bool,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            refuse: None,
            forget: false,
            heartbeat_ms: 300,
            end_after_uploads: None,
            resend_heartbeats: 0,
            silent: false,
        }
    }
}

/// One message the double received.
#[derive(Debug, Clone)]
pub enum Received {
    Hello(proto::Hello),
    Upload {
        sequence: u64,
        hash: ContentHash,
        /// Whether the hash is the content hash of the snapshot carried.
        hash_matches: bool,
        snapshot: Box<NodeSnapshot>,
    },
    Heartbeat {
        sequence: u64,
        hash: ContentHash,
    },
}

impl Received {
    pub fn is_upload(&self) -> bool {
        matches!(self, Received::Upload { .. })
    }

    pub fn is_heartbeat(&self) -> bool {
        matches!(self, Received::Heartbeat { .. })
    }

    /// `H`, `U<hash prefix>`, `B<hash prefix>`: a compact form for assertions and failures.
    pub fn short(&self) -> String {
        let prefix = |hash: &ContentHash| hash.to_string()[..6].to_owned();
        match self {
            Received::Hello(_) => "H".into(),
            Received::Upload { hash, .. } => format!("U{}", prefix(hash)),
            Received::Heartbeat { hash, .. } => format!("B{}", prefix(hash)),
        }
    }
}

/// One stream the agent opened.
#[derive(Debug, Clone, Default)]
pub struct ConnectionLog {
    /// The `authorization` header it carried.
    pub authorization: Option<String>,
    pub refused: Option<Code>,
    pub received: Vec<Received>,
}

impl ConnectionLog {
    pub fn uploads(&self) -> impl Iterator<Item = &Received> {
        self.received.iter().filter(|r| r.is_upload())
    }

    pub fn heartbeats(&self) -> usize {
        self.received.iter().filter(|r| r.is_heartbeat()).count()
    }

    /// The messages in compact form (see [`Received::short`]).
    pub fn shorts(&self) -> Vec<String> {
        self.received.iter().map(Received::short).collect()
    }
}

/// Everything the double saw.
#[derive(Debug, Clone, Default)]
pub struct IngestLog {
    pub connections: Vec<ConnectionLog>,
    stored: HashSet<ContentHash>,
    latest: Option<ContentHash>,
}

impl IngestLog {
    /// Every upload on every stream, in order.
    pub fn uploads(&self) -> Vec<&Received> {
        self.connections.iter().flat_map(|c| c.uploads()).collect()
    }

    /// A summary for failure messages.
    pub fn summary(&self) -> String {
        self.connections
            .iter()
            .enumerate()
            .map(|(i, c)| {
                format!(
                    "connection {i}: refused {:?}, auth {:?}, {}",
                    c.refused,
                    c.authorization,
                    c.shorts().join(" ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug, Default)]
struct Shared {
    log: Mutex<IngestLog>,
    changed: Condvar,
}

impl Shared {
    fn update<T>(&self, change: impl FnOnce(&mut IngestLog) -> T) -> T {
        let result = change(&mut self.log.lock().unwrap());
        self.changed.notify_all();
        result
    }
}

#[derive(Debug, Clone)]
struct ScriptedIngest {
    shared: Arc<Shared>,
    plans: Arc<Vec<Plan>>,
}

type ServerStream = Pin<Box<dyn Stream<Item = Result<proto::ServerMessage, Status>> + Send>>;

fn reply(message: server_message::Message) -> Result<proto::ServerMessage, Status> {
    Ok(proto::ServerMessage {
        message: Some(message),
    })
}

#[tonic::async_trait]
impl AgentIngest for ScriptedIngest {
    type ConnectStream = ServerStream;

    async fn connect(
        &self,
        request: Request<Streaming<proto::AgentMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (index, plan) = self.shared.update(|log| {
            let index = log.connections.len();
            let plan = self.plans.get(index).cloned().unwrap_or_default();
            log.connections.push(ConnectionLog {
                authorization,
                refused: plan.refuse,
                received: Vec::new(),
            });
            if plan.forget {
                log.stored.clear();
                log.latest = None;
            }
            (index, plan)
        });
        if let Some(code) = plan.refuse {
            return Err(Status::new(code, "refused by the test's script"));
        }
        let mut inbound = request.into_inner();
        let (answers, stream) = mpsc::channel(16);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let mut uploads = 0;
            let mut heartbeats = 0;
            while let Ok(Some(message)) = inbound.message().await {
                let (received, answer, end) = match message.message {
                    Some(agent_message::Message::Hello(hello)) => {
                        let latest = shared.log.lock().unwrap().latest;
                        let welcome = server_message::Message::Welcome(proto::Welcome {
                            server_version: "ingest-double".into(),
                            heartbeat_interval_ms: plan.heartbeat_ms,
                            max_message_bytes: 64 << 20,
                            latest_content_hash: latest.map(|h| h.to_wire()),
                        });
                        (Received::Hello(hello), reply(welcome), false)
                    }
                    Some(agent_message::Message::Snapshot(upload)) => {
                        let hash = ContentHash::from_wire(&upload.content_hash).unwrap();
                        let snapshot = uploaded_snapshot(upload.body.expect("a snapshot"));
                        let hash_matches = content_hash(&snapshot) == hash;
                        let stored = shared.update(|log| {
                            log.latest = Some(hash);
                            log.stored.insert(hash)
                        });
                        uploads += 1;
                        let outcome = if stored {
                            proto::AckOutcome::Stored
                        } else {
                            proto::AckOutcome::Unchanged
                        };
                        let ack = server_message::Message::Ack(proto::Ack {
                            sequence: upload.sequence,
                            outcome: outcome.into(),
                            snapshot_id: 1,
                        });
                        let received = Received::Upload {
                            sequence: upload.sequence,
                            hash,
                            hash_matches,
                            snapshot: Box::new(snapshot),
                        };
                        (
                            received,
                            reply(ack),
                            plan.end_after_uploads == Some(uploads),
                        )
                    }
                    Some(agent_message::Message::Heartbeat(beat)) => {
                        let hash = ContentHash::from_wire(&beat.content_hash).unwrap();
                        heartbeats += 1;
                        let held = shared.log.lock().unwrap().stored.contains(&hash);
                        let answer = if heartbeats <= plan.resend_heartbeats || !held {
                            server_message::Message::Resend(proto::Resend {
                                sequence: beat.sequence,
                                content_hash: beat.content_hash,
                            })
                        } else {
                            server_message::Message::Ack(proto::Ack {
                                sequence: beat.sequence,
                                outcome: proto::AckOutcome::Unchanged.into(),
                                snapshot_id: 1,
                            })
                        };
                        let received = Received::Heartbeat {
                            sequence: beat.sequence,
                            hash,
                        };
                        (received, reply(answer), false)
                    }
                    None => break,
                };
                let welcome = matches!(received, Received::Hello(_));
                shared.update(|log| log.connections[index].received.push(received));
                if plan.silent && !welcome {
                    continue;
                }
                if answers.send(answer).await.is_err() {
                    break;
                }
                if end {
                    let _ = answers
                        .send(Err(Status::unavailable(
                            "the test's script drops the stream",
                        )))
                        .await;
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(stream))))
    }
}

/// The double, serving until dropped.
#[derive(Debug)]
pub struct IngestDouble {
    /// Where it listens, inside the namespace it was started in.
    pub address: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl IngestDouble {
    /// Listens on an ephemeral loopback port inside the namespace at `netns_path`; connection
    /// `i` follows `plans[i]` (the default plan beyond them).
    pub fn start_in(netns_path: &Path, plans: Vec<Plan>) -> IngestDouble {
        let listener = run_in_namespace(netns_path, || std::net::TcpListener::bind("127.0.0.1:0"))
            .expect("enter the namespace")
            .expect("bind loopback inside the namespace");
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let service = ScriptedIngest {
            shared: shared.clone(),
            plans: Arc::new(plans),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let server = AgentIngestServer::new(service)
                    .send_compressed(COMPRESSION)
                    .accept_compressed(COMPRESSION)
                    .max_decoding_message_size(64 << 20);
                let serve = tonic::transport::Server::builder()
                    .add_service(server)
                    .serve_with_incoming(TcpIncoming::from(listener));
                // Not a graceful shutdown: the agent's stream never ends by itself. The open
                // streams go with the runtime.
                tokio::select! {
                    served = serve => served.unwrap(),
                    _ = stopped => {}
                }
            });
        });
        IngestDouble {
            address,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://ADDRESS`, for `--server`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A copy of what it saw so far.
    pub fn log(&self) -> IngestLog {
        self.shared.log.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the log (at most `limit`); the log then, or `Err` with the
    /// log when it never did.
    pub fn wait_until(
        &self,
        limit: Duration,
        mut done: impl FnMut(&IngestLog) -> bool,
    ) -> Result<IngestLog, IngestLog> {
        let deadline = Instant::now() + limit;
        let mut log = self.shared.log.lock().unwrap();
        loop {
            if done(&log) {
                return Ok(log.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(log.clone());
            }
            log = self.shared.changed.wait_timeout(log, left).unwrap().0;
        }
    }
}

impl Drop for IngestDouble {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The snapshot an upload carries, in either form; the canonical form's collection time and
/// duration put back.
fn uploaded_snapshot(body: proto::snapshot_upload::Body) -> NodeSnapshot {
    use prost::Message as _;
    match body {
        proto::snapshot_upload::Body::Snapshot(wire) => NodeSnapshot::try_from(wire).unwrap(),
        proto::snapshot_upload::Body::Canonical(canonical) => {
            let raw = open_frame(&canonical.zstd_frame, 64 << 20).expect("a zstd frame");
            let wire = proto::NodeSnapshot::decode(raw.as_slice()).expect("a NodeSnapshot");
            let mut snapshot = NodeSnapshot::try_from(wire).unwrap();
            snapshot.node.collected_at_unix_ms = canonical.collected_at_unix_ms;
            snapshot.node.collection_duration_us = canonical.collection_duration_us;
            snapshot
        }
    }
}
