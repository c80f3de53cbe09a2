//! One agent's stream, as a small state machine: waiting for `Hello`, then open for uploads and
//! heartbeats of the node it named.
//!
//! Back-pressure: a session reads the agent's next message only once it has answered the previous
//! one, so at most one upload per stream is in the server at any time; HTTP/2 flow control holds
//! the agent back meanwhile. Heartbeats never touch the database: the session remembers what the
//! store holds as its node's latest snapshot (read once at `Hello`, then updated by every upload
//! it stores) and notes liveness in the [`HeartbeatCoalescer`](crate::store::HeartbeatCoalescer).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use podwire_node_state::wire::proto::{self, agent_message, server_message};
use tokio::sync::{mpsc, watch};
use tonic::{Status, Streaming};

use super::auth::AgentPrincipal;
use super::errors::{IngestError, MessageKind, error_chain};
use super::service::Ingest;
use super::validation::{
    FieldProblem, FieldViolation, Violation, check_hash, check_hello, check_sequence,
};
use crate::store::{CurrentRows, NodeKey, NodeLatest, StoredOutcome};

/// How long a new stream may take to say `Hello`.
pub const HELLO_PATIENCE: Duration = Duration::from_secs(60);

/// Answers go out through this channel to the response stream.
pub type Outbox = mpsc::Sender<Result<proto::ServerMessage, Status>>;

/// A stream that has said `Hello`.
#[derive(Debug)]
struct OpenNode {
    key: NodeKey,
    /// What the store holds as the node's latest snapshot, as far as this stream knows.
    latest: Option<NodeLatest>,
    /// The last `sequence` handled.
    sequence: u64,
    /// The rows of the node's open intervals as this stream's last stored upload left them,
    /// so that the next upload's diff needs no read (the store checks they are still current).
    current: Option<CurrentRows>,
}

/// One agent's stream.
#[derive(Debug)]
pub struct Session {
    ingest: Arc<Ingest>,
    principal: AgentPrincipal,
    peer: Option<SocketAddr>,
    node: Option<OpenNode>,
}

impl Session {
    pub fn new(ingest: Arc<Ingest>, principal: AgentPrincipal, peer: Option<SocketAddr>) -> Self {
        Session {
            ingest,
            principal,
            peer,
            node: None,
        }
    }

    /// Converses until the agent hangs up, a message is refused, or the server shuts down; an
    /// error ends the response stream with its status, and is logged here, once.
    pub async fn run(mut self, mut inbound: Streaming<proto::AgentMessage>, outbox: Outbox) {
        let mut shutdown = self.ingest.shutdown.clone();
        let ended = self.converse(&mut inbound, &outbox, &mut shutdown).await;
        let (cluster, node) = self
            .node
            .as_ref()
            .map_or(("", ""), |n| (n.key.cluster.as_str(), n.key.name.as_str()));
        let peer = self.peer.map(|p| p.to_string()).unwrap_or_default();
        match ended {
            Ok(()) => tracing::debug!(%peer, cluster, node, "agent stream ended"),
            Err(err) => {
                let status = err.to_status();
                if err.is_agents_fault() {
                    tracing::warn!(%peer, cluster, node, principal = %self.principal.name, code = ?status.code(), "agent stream refused: {}", status.message());
                } else if matches!(
                    err,
                    IngestError::ShuttingDown
                        | IngestError::Store(_)
                        | IngestError::AuthUnavailable(_)
                ) {
                    tracing::info!(%peer, cluster, node, code = ?status.code(), error = %error_chain(&err), "agent stream ended");
                } else {
                    tracing::error!(%peer, cluster, node, error = %error_chain(&err), "agent stream failed");
                }
                let _ = outbox.send(Err(status)).await;
            }
        }
    }

    async fn converse(
        &mut self,
        inbound: &mut Streaming<proto::AgentMessage>,
        outbox: &Outbox,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), IngestError> {
        loop {
            let received = tokio::select! {
                received = next_message(inbound, self.node.is_none()) => received?,
                _ = shutdown.wait_for(|stop| *stop) => return Err(IngestError::ShuttingDown),
            };
            let Some(message) = received else {
                return Ok(());
            };
            let answer = self.answer(message).await?;
            if outbox
                .send(Ok(proto::ServerMessage {
                    message: Some(answer),
                }))
                .await
                .is_err()
            {
                // The agent is gone; nothing is left to tell it.
                return Ok(());
            }
        }
    }

    async fn answer(
        &mut self,
        message: proto::AgentMessage,
    ) -> Result<server_message::Message, IngestError> {
        use agent_message::Message;
        let Some(message) = message.message else {
            return Err(IngestError::Invalid {
                kind: MessageKind::AgentMessage,
                violation: FieldViolation::new("message".into(), FieldProblem::Missing).into(),
            });
        };
        match (message, self.node.as_mut()) {
            (Message::Hello(hello), None) => self.hello(hello).await,
            (Message::Hello(_), Some(_)) => Err(IngestError::SecondHello),
            (Message::Snapshot(upload), None) => {
                Err(IngestError::BeforeHello(MessageKind::SnapshotUpload {
                    sequence: upload.sequence,
                }))
            }
            (Message::Heartbeat(beat), None) => {
                Err(IngestError::BeforeHello(MessageKind::Heartbeat {
                    sequence: beat.sequence,
                }))
            }
            (Message::Snapshot(upload), Some(node)) => {
                Self::upload(&self.ingest, node, upload).await
            }
            (Message::Heartbeat(beat), Some(node)) => Self::heartbeat(&self.ingest, node, beat),
        }
    }

    async fn hello(&mut self, hello: proto::Hello) -> Result<server_message::Message, IngestError> {
        let key = check_hello(&hello).map_err(|v| IngestError::Invalid {
            kind: MessageKind::Hello,
            violation: v.into(),
        })?;
        let latest = self.ingest.store.node_latest(&key).await?;
        if let Some(latest) = latest {
            self.ingest.heartbeats.note(latest.node_id, Utc::now());
        }
        tracing::info!(
            peer = %self.peer.map(|p| p.to_string()).unwrap_or_default(),
            cluster = %key.cluster,
            node = %key.name,
            agent_version = %hello.agent_version,
            principal = %self.principal.name,
            known = latest.is_some(),
            "agent connected"
        );
        let settings = &self.ingest.settings;
        let welcome = proto::Welcome {
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            heartbeat_interval_ms: u32::try_from(settings.heartbeat_interval.as_millis())
                .unwrap_or(u32::MAX),
            max_message_bytes: settings.max_message_bytes,
            latest_content_hash: latest.map(|l| l.content_hash.to_wire()),
        };
        self.node = Some(OpenNode {
            key,
            latest,
            sequence: 0,
            current: None,
        });
        Ok(server_message::Message::Welcome(welcome))
    }

    async fn upload(
        ingest: &Ingest,
        node: &mut OpenNode,
        upload: proto::SnapshotUpload,
    ) -> Result<server_message::Message, IngestError> {
        let sequence = upload.sequence;
        check_sequence(node.sequence, sequence).map_err(|v| IngestError::Invalid {
            kind: MessageKind::SnapshotUpload { sequence },
            violation: v.into(),
        })?;
        let max_encoding_bytes =
            usize::try_from(ingest.settings.max_message_bytes).unwrap_or(usize::MAX);
        let prepared = ingest
            .workers
            .prepare(&node.key, upload, max_encoding_bytes)
            .await?;
        let known = node.current.take();
        let content_hash = prepared.content_hash();
        let (outcome, current) = ingest.writer.record(prepared, Utc::now(), known).await?;
        node.sequence = sequence;
        node.latest = Some(NodeLatest {
            node_id: outcome.node_id(),
            content_hash,
            snapshot_id: outcome.snapshot_id(),
        });
        node.current = Some(current);
        let ack_outcome = match outcome {
            StoredOutcome::Stored { opened, closed, .. } => {
                tracing::debug!(cluster = %node.key.cluster, node = %node.key.name, opened, closed, "snapshot stored");
                proto::AckOutcome::Stored
            }
            StoredOutcome::Unchanged { .. } => proto::AckOutcome::Unchanged,
        };
        Ok(server_message::Message::Ack(proto::Ack {
            sequence,
            outcome: ack_outcome.into(),
            snapshot_id: wire_id(outcome.snapshot_id()),
        }))
    }

    fn heartbeat(
        ingest: &Ingest,
        node: &mut OpenNode,
        beat: proto::Heartbeat,
    ) -> Result<server_message::Message, IngestError> {
        let sequence = beat.sequence;
        let invalid = |v: FieldViolation| IngestError::Invalid {
            kind: MessageKind::Heartbeat { sequence },
            violation: Violation::from(v),
        };
        check_sequence(node.sequence, sequence).map_err(invalid)?;
        let hash = check_hash(&beat.content_hash).map_err(invalid)?;
        node.sequence = sequence;
        match node.latest {
            Some(latest) if latest.content_hash == hash => {
                ingest.heartbeats.note(latest.node_id, Utc::now());
                Ok(server_message::Message::Ack(proto::Ack {
                    sequence,
                    outcome: proto::AckOutcome::Unchanged.into(),
                    snapshot_id: wire_id(latest.snapshot_id),
                }))
            }
            _ => Ok(server_message::Message::Resend(proto::Resend {
                sequence,
                content_hash: beat.content_hash,
            })),
        }
    }
}

/// The agent's next message; the first must come within [`HELLO_PATIENCE`].
async fn next_message(
    inbound: &mut Streaming<proto::AgentMessage>,
    first: bool,
) -> Result<Option<proto::AgentMessage>, IngestError> {
    let received = if first {
        tokio::time::timeout(HELLO_PATIENCE, inbound.message())
            .await
            .map_err(|_| IngestError::NoHello(HELLO_PATIENCE))?
    } else {
        inbound.message().await
    };
    received.map_err(IngestError::Inbound)
}

/// Snapshot ids are positive (an identity column).
fn wire_id(id: i64) -> u64 {
    u64::try_from(id).unwrap_or(0)
}
