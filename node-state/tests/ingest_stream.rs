//! The generated `AgentIngest` client and server, over a loopback socket with the shared codec: the
//! conversation of `ingest.proto` (hello, full snapshot, heartbeats, resend) carries a 250-pod
//! snapshot intact, compressed, with the credentials in metadata.

#![expect(
    clippy::unwrap_used,
    reason = "helpers of tests: a failed unwrap is a failed test"
)]

mod support;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use podwire_node_state::NodeSnapshot;
use podwire_node_state::wire::proto::agent_ingest_client::AgentIngestClient;
use podwire_node_state::wire::proto::agent_ingest_server::{AgentIngest, AgentIngestServer};
use podwire_node_state::wire::proto::{self, agent_message, server_message};
use podwire_node_state::wire::{COMPRESSION, ContentHash, content_hash};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};

const TOKEN: &str = "Bearer s3cret";

/// A minimal ingest: enough of the protocol to exercise every message, storing in memory.
#[derive(Debug, Default, Clone)]
struct MemoryIngest {
    stored: Arc<Mutex<HashMap<ContentHash, NodeSnapshot>>>,
}

type ServerStream = Pin<Box<dyn Stream<Item = Result<proto::ServerMessage, Status>> + Send>>;

impl MemoryIngest {
    fn answer(&self, message: proto::AgentMessage) -> Result<proto::ServerMessage, Status> {
        use server_message::Message as Out;
        let out = match message.message {
            Some(agent_message::Message::Hello(hello)) => {
                assert_eq!(hello.node, "ip-172-31-48-94.eu-west-1.compute.internal");
                Out::Welcome(proto::Welcome {
                    server_version: "test".into(),
                    heartbeat_interval_ms: 10_000,
                    max_message_bytes: 4 << 20,
                    latest_content_hash: None,
                })
            }
            Some(agent_message::Message::Snapshot(upload)) => {
                let claimed = ContentHash::from_wire(&upload.content_hash)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                let Some(proto::snapshot_upload::Body::Snapshot(wire)) = upload.body else {
                    return Err(Status::invalid_argument("no snapshot"));
                };
                let snapshot = NodeSnapshot::try_from(wire)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                if content_hash(&snapshot) != claimed {
                    return Err(Status::invalid_argument("content hash mismatch"));
                }
                let mut stored = self.stored.lock().unwrap();
                let outcome = match stored.insert(claimed, snapshot) {
                    None => proto::AckOutcome::Stored,
                    Some(_) => proto::AckOutcome::Unchanged,
                };
                Out::Ack(proto::Ack {
                    sequence: upload.sequence,
                    outcome: outcome.into(),
                    snapshot_id: 1,
                })
            }
            Some(agent_message::Message::Heartbeat(beat)) => {
                let hash = ContentHash::from_wire(&beat.content_hash)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                if self.stored.lock().unwrap().contains_key(&hash) {
                    Out::Ack(proto::Ack {
                        sequence: beat.sequence,
                        outcome: proto::AckOutcome::Unchanged.into(),
                        snapshot_id: 1,
                    })
                } else {
                    Out::Resend(proto::Resend {
                        sequence: beat.sequence,
                        content_hash: beat.content_hash,
                    })
                }
            }
            None => return Err(Status::invalid_argument("empty message")),
        };
        Ok(proto::ServerMessage { message: Some(out) })
    }
}

#[tonic::async_trait]
impl AgentIngest for MemoryIngest {
    type ConnectStream = ServerStream;

    async fn connect(
        &self,
        request: Request<Streaming<proto::AgentMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        if request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            != Some(TOKEN)
        {
            return Err(Status::unauthenticated("no valid bearer token"));
        }
        let this = self.clone();
        let answers = request
            .into_inner()
            .map(move |message| this.answer(message?));
        Ok(Response::new(Box::pin(answers)))
    }
}

/// The stubs carry no transport of their own (the shared crate builds them without it), so the
/// channel is made here, as the agent makes it.
async fn channel(address: std::net::SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn agent_message(message: agent_message::Message) -> proto::AgentMessage {
    proto::AgentMessage {
        message: Some(message),
    }
}

#[tokio::test]
async fn a_250_pod_snapshot_travels_compressed_and_intact() {
    let ingest = MemoryIngest::default();
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = incoming.local_addr().unwrap();
    let service = AgentIngestServer::new(ingest.clone())
        .send_compressed(COMPRESSION)
        .accept_compressed(COMPRESSION);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );

    let mut client = AgentIngestClient::new(channel(address).await)
        .send_compressed(COMPRESSION)
        .accept_compressed(COMPRESSION);
    let (to_server, outbox) = mpsc::channel(4);
    let mut request = Request::new(ReceiverStream::new(outbox));
    request
        .metadata_mut()
        .insert("authorization", TOKEN.parse().unwrap());
    let snapshot = support::vpc_cni_node(250);
    let hash = content_hash(&snapshot);
    to_server
        .send(agent_message(agent_message::Message::Hello(proto::Hello {
            cluster: snapshot.node.cluster.clone(),
            node: snapshot.node.node_name.clone(),
            agent_version: snapshot.node.agent_version.clone(),
            boot_id: snapshot.node.boot_id.clone(),
            capabilities: vec![],
        })))
        .await
        .unwrap();
    let response = client.connect(request).await.unwrap();
    assert_eq!(
        response
            .metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("zstd"),
        "the server compresses its answers with the shared codec"
    );
    let mut answers = response.into_inner();
    let mut next = async || answers.message().await.unwrap().unwrap().message.unwrap();

    assert!(matches!(next().await, server_message::Message::Welcome(_)));

    to_server
        .send(agent_message(agent_message::Message::Snapshot(
            proto::SnapshotUpload {
                sequence: 1,
                content_hash: hash.to_wire(),
                body: Some(proto::snapshot_upload::Body::Snapshot((&snapshot).into())),
            },
        )))
        .await
        .unwrap();
    let server_message::Message::Ack(ack) = next().await else {
        panic!("no ack for the snapshot")
    };
    assert_eq!(
        (ack.sequence, ack.outcome()),
        (1, proto::AckOutcome::Stored)
    );
    assert_eq!(ingest.stored.lock().unwrap().get(&hash), Some(&snapshot));

    let heartbeat = |sequence, content_hash: ContentHash| {
        agent_message(agent_message::Message::Heartbeat(proto::Heartbeat {
            sequence,
            content_hash: content_hash.to_wire(),
        }))
    };
    to_server.send(heartbeat(2, hash)).await.unwrap();
    let server_message::Message::Ack(ack) = next().await else {
        panic!("no ack for the heartbeat")
    };
    assert_eq!(
        (ack.sequence, ack.outcome()),
        (2, proto::AckOutcome::Unchanged)
    );

    let unknown = ContentHash([7; 32]);
    to_server.send(heartbeat(3, unknown)).await.unwrap();
    let server_message::Message::Resend(resend) = next().await else {
        panic!("no resend")
    };
    assert_eq!(
        (resend.sequence, resend.content_hash.as_ref()),
        (3, unknown.as_bytes().as_slice())
    );

    drop(to_server);
    assert!(
        answers.message().await.unwrap().is_none(),
        "the server ends the stream after the agent"
    );
    server.abort();
}

#[tokio::test]
async fn a_stream_without_credentials_is_refused() {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = incoming.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(AgentIngestServer::new(MemoryIngest::default()))
            .serve_with_incoming(incoming),
    );
    let mut client = AgentIngestClient::new(channel(address).await);
    let status = client.connect(tokio_stream::empty()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    server.abort();
}
