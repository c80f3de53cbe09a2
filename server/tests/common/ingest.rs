//! The real ingest server on a loopback port and a real tonic client speaking to it the way an
//! agent does: `authorization: Bearer` metadata, the shared zstd codec, one long-lived stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use podwire_node_state::NodeSnapshot;
use podwire_node_state::wire::proto::agent_ingest_client::AgentIngestClient;
use podwire_node_state::wire::proto::{self, agent_message, server_message};
use podwire_node_state::wire::{COMPRESSION, ContentHash, content_hash};
use podwire_server::config::IngestSettings;
use podwire_server::ingest::{
    AgentAuthenticator, Ingest, IngestService, SnapshotLimits, StaticTokens, UploadWorkers,
};
use podwire_server::store::{HeartbeatCoalescer, Store};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;
use tonic::{Request, Status, Streaming};

/// The token the test server accepts.
pub const TOKEN: &str = "d6c1f0a4e2b3-test-agent-token";

pub fn settings(max_message_bytes: u32) -> IngestSettings {
    IngestSettings {
        allow_unauthenticated: false,
        max_message_bytes,
        heartbeat_interval: Duration::from_secs(15),
    }
}

/// `podwire_server::ingest::serve` on 127.0.0.1, port chosen by the kernel.
pub struct TestIngest {
    pub address: SocketAddr,
    /// The coalescer the server notes heartbeats in; tests flush it themselves.
    pub heartbeats: HeartbeatCoalescer,
    stop: watch::Sender<bool>,
    served: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl TestIngest {
    /// Accepts [`TOKEN`] only; 16 MiB messages.
    pub async fn start(store: Store) -> TestIngest {
        Self::start_with(
            store,
            settings(16 << 20),
            Arc::new(StaticTokens::new([TOKEN])),
        )
        .await
    }

    pub async fn start_with(
        store: Store,
        settings: IngestSettings,
        authenticator: Arc<dyn AgentAuthenticator>,
    ) -> TestIngest {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("bound address");
        let heartbeats = HeartbeatCoalescer::new();
        let (stop, stopping) = watch::channel(false);
        let service = IngestService::new(Ingest::new(
            store,
            heartbeats.clone(),
            authenticator,
            UploadWorkers::new(2, SnapshotLimits::default()),
            settings,
            stopping.clone(),
        ));
        let served = tokio::spawn(podwire_server::ingest::serve(listener, service, stopping));
        TestIngest {
            address,
            heartbeats,
            stop,
            served,
        }
    }

    /// Opens a stream with `Bearer <token>` (none when `None`), compressing what it sends.
    pub async fn connect(&self, token: Option<&str>) -> Result<AgentStream, Status> {
        AgentStream::open(self.address, token, true).await
    }

    /// Stops the server; its sessions end their streams first.
    pub async fn stop(self) {
        self.stop.send(true).expect("server still listening");
        self.served
            .await
            .expect("server task")
            .expect("server stops cleanly");
    }
}

/// One agent stream.
pub struct AgentStream {
    outbox: mpsc::Sender<proto::AgentMessage>,
    answers: Streaming<proto::ServerMessage>,
}

impl AgentStream {
    pub async fn open(
        address: SocketAddr,
        token: Option<&str>,
        compress: bool,
    ) -> Result<AgentStream, Status> {
        let channel = Endpoint::from_shared(format!("http://{address}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("the server accepts connections");
        let mut client = AgentIngestClient::new(channel).accept_compressed(COMPRESSION);
        if compress {
            client = client.send_compressed(COMPRESSION);
        }
        let (outbox, messages) = mpsc::channel(8);
        let mut request = Request::new(ReceiverStream::new(messages));
        if let Some(token) = token {
            request.metadata_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("ascii token"),
            );
        }
        let response = client.connect(request).await?;
        Ok(AgentStream {
            outbox,
            answers: response.into_inner(),
        })
    }

    pub async fn send(&self, message: agent_message::Message) {
        self.send_raw(proto::AgentMessage {
            message: Some(message),
        })
        .await;
    }

    /// Sends an envelope as it is, even an empty one.
    pub async fn send_raw(&self, message: proto::AgentMessage) {
        // The server may already have ended the stream; its status is what the test reads next.
        let _ = self.outbox.send(message).await;
    }

    /// The server's next answer, or the status it ended the stream with.
    pub async fn next(&mut self) -> Result<server_message::Message, Status> {
        match self.answers.message().await? {
            Some(proto::ServerMessage {
                message: Some(message),
            }) => Ok(message),
            Some(_) => panic!("a ServerMessage without a message"),
            None => Err(Status::ok("the server ended the stream without a status")),
        }
    }

    /// Says `Hello` for `cluster`/`node` and returns the `Welcome`.
    pub async fn hello(&mut self, cluster: &str, node: &str) -> Result<proto::Welcome, Status> {
        self.send(agent_message::Message::Hello(hello(cluster, node)))
            .await;
        match self.next().await? {
            server_message::Message::Welcome(welcome) => Ok(welcome),
            other => panic!("expected Welcome, got {other:?}"),
        }
    }

    /// Uploads a snapshot with its content hash; the server's answer.
    pub async fn upload(
        &mut self,
        sequence: u64,
        snapshot: &NodeSnapshot,
    ) -> Result<server_message::Message, Status> {
        self.send(upload(sequence, snapshot)).await;
        self.next().await
    }

    pub async fn heartbeat(
        &mut self,
        sequence: u64,
        hash: ContentHash,
    ) -> Result<server_message::Message, Status> {
        self.send(agent_message::Message::Heartbeat(proto::Heartbeat {
            sequence,
            content_hash: hash.to_wire(),
        }))
        .await;
        self.next().await
    }
}

pub fn hello(cluster: &str, node: &str) -> proto::Hello {
    proto::Hello {
        cluster: cluster.into(),
        node: node.into(),
        agent_version: "0.1.0".into(),
        boot_id: "0f3c6e1a-7b1d-4f1e-9f0e-2d7c1b9a8e55".into(),
        capabilities: vec![],
    }
}

/// An upload of `snapshot` as the agent makes it: the wire form and its content hash.
pub fn upload(sequence: u64, snapshot: &NodeSnapshot) -> agent_message::Message {
    agent_message::Message::Snapshot(proto::SnapshotUpload {
        sequence,
        content_hash: content_hash(snapshot).to_wire(),
        body: Some(proto::snapshot_upload::Body::Snapshot(snapshot.into())),
    })
}

/// The answer must be an `Ack`: its outcome and snapshot id.
pub fn ack(answer: Result<server_message::Message, Status>) -> (proto::AckOutcome, u64) {
    match answer {
        Ok(server_message::Message::Ack(ack)) => (ack.outcome(), ack.snapshot_id),
        other => panic!("expected Ack, got {other:?}"),
    }
}

/// The answer must be the end of the stream with an error status.
pub fn refusal(answer: Result<server_message::Message, Status>) -> Status {
    match answer {
        Err(status) => status,
        Ok(message) => panic!("expected the stream to end with a status, got {message:?}"),
    }
}

/// Rows in the tables an upload writes: nodes, snapshots, blobs, pod attachments.
pub async fn stored_rows(store: &Store) -> [i64; 4] {
    let mut counts = [0; 4];
    for (i, table) in ["nodes", "snapshots", "snapshot_blobs", "pod_attachments"]
        .iter()
        .enumerate()
    {
        counts[i] =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(store.pool())
                .await
                .expect("count rows");
    }
    counts
}
