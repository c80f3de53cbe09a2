//! One stream to the server: connect, `Hello`, `Welcome`, then the [`Conversation`] until the
//! stream fails or the agent stops.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use podwire_node_state::wire::proto::agent_ingest_client::AgentIngestClient;
use podwire_node_state::wire::proto::{self, agent_message, server_message};
use podwire_node_state::wire::{COMPRESSION, ContentHash};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;
use tonic::{Request, Streaming};

use super::conversation::{Conversation, MessageKind, Outgoing};
use super::failure::SessionError;
use super::state::SessionFacts;
use crate::run::config::ConnectionSettings;
use crate::run::latest::LatestSnapshot;
use crate::run::status::StatusBoard;
use crate::run::token::{BearerToken, TokenError};

/// The server gets at least this long to answer `Hello` (or `--connect-timeout`, if longer).
const MIN_WELCOME_WAIT: Duration = Duration::from_secs(30);

/// A heartbeat interval from `Welcome` below this is raised to it: a misconfigured server must
/// not make every agent spin.
const MIN_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);

/// Messages queued for the stream beyond the one being sent. One: a newer snapshot replaces an
/// older one before it is queued, never behind it.
const OUTBOX_DEPTH: usize = 1;

/// How long a stopping agent waits for the server to close the stream after its own end.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// An established stream.
#[derive(Debug)]
pub struct Session {
    outbox: mpsc::Sender<proto::AgentMessage>,
    inbound: Streaming<proto::ServerMessage>,
    conversation: Conversation,
    facts: SessionFacts,
    /// `Welcome`'s message size limit, when it set one.
    max_message_bytes: Option<usize>,
    /// The snapshot already reported as over that limit (reported once).
    reported_oversize: Option<ContentHash>,
}

/// Connects, authenticates and says `Hello` for the node of `latest`; returns once `Welcome` is in.
pub async fn open(
    settings: &ConnectionSettings,
    latest: &LatestSnapshot,
) -> Result<Session, SessionError> {
    let token = match &settings.token_file {
        Some(path) => Some(read_token(path).await.map_err(SessionError::Token)?),
        None => None,
    };
    let endpoint = Endpoint::from(settings.server.clone())
        .user_agent(concat!("podwire-agent/", env!("CARGO_PKG_VERSION")))
        .map_err(SessionError::Connect)?
        .connect_timeout(settings.connect_timeout)
        .tcp_nodelay(true)
        .tcp_keepalive(Some(Duration::from_secs(60)))
        // A server that vanished without closing (a node lost, a partition) is noticed in about
        // 40 s even when the agent has nothing to send.
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    let channel = endpoint.connect().await.map_err(SessionError::Connect)?;
    // Uploads carry their own zstd frame (`CanonicalSnapshot`), and heartbeats are a few dozen
    // bytes: compressing the stream as well would cost CPU on both ends for nothing.
    let mut client = AgentIngestClient::new(channel).accept_compressed(COMPRESSION);

    // Hello is queued before the call: a server may wait for it before answering at all.
    let (outbox, queued) = mpsc::channel(OUTBOX_DEPTH);
    outbox
        .send(proto::AgentMessage {
            message: Some(agent_message::Message::Hello(latest.hello())),
        })
        .await
        .map_err(|_| SessionError::OutboxClosed)?;
    let mut request = Request::new(ReceiverStream::new(queued));
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", token.authorization().clone());
    }

    let welcome_wait = settings.connect_timeout.max(MIN_WELCOME_WAIT);
    let handshake = async {
        let response = client
            .connect(request)
            .await
            .map_err(|status| SessionError::from_status(&status, true))?;
        let mut inbound = response.into_inner();
        match inbound.message().await {
            Ok(Some(proto::ServerMessage {
                message: Some(server_message::Message::Welcome(welcome)),
            })) => Ok((inbound, welcome)),
            Ok(Some(proto::ServerMessage {
                message: Some(other),
            })) => Err(SessionError::NotWelcome {
                got: message_name(&other),
            }),
            Ok(Some(proto::ServerMessage { message: None })) => Err(SessionError::EmptyMessage),
            Ok(None) => Err(SessionError::Closed),
            Err(status) => Err(SessionError::from_status(&status, true)),
        }
    };
    let (inbound, welcome) = tokio::time::timeout(welcome_wait, handshake)
        .await
        .map_err(|_| SessionError::NoWelcome(welcome_wait))??;

    let heartbeat_interval = match welcome.heartbeat_interval_ms {
        0 => settings.heartbeat_interval,
        ms => Duration::from_millis(u64::from(ms)).max(MIN_HEARTBEAT_INTERVAL),
    };
    let server_holds = welcome
        .latest_content_hash
        .as_deref()
        .and_then(|bytes| ContentHash::from_wire(bytes).ok());
    tracing::info!(
        server_version = %welcome.server_version,
        heartbeat_interval = ?heartbeat_interval,
        server_holds_latest = server_holds == Some(latest.hash),
        "connected"
    );
    Ok(Session {
        outbox,
        inbound,
        conversation: Conversation::new(server_holds, heartbeat_interval, settings.ack_timeout),
        facts: SessionFacts {
            since: Instant::now(),
            server_version: welcome.server_version,
            heartbeat_interval,
        },
        max_message_bytes: usize::try_from(welcome.max_message_bytes)
            .ok()
            .filter(|limit| *limit > 0),
        reported_oversize: None,
    })
}

impl Session {
    pub fn facts(&self) -> &SessionFacts {
        &self.facts
    }

    /// Sends what is due and handles what the server says, until the stream fails (the error) or
    /// `shutdown` turns true (`Ok`).
    pub async fn run(
        self,
        latest: &mut watch::Receiver<Option<Arc<LatestSnapshot>>>,
        status: &StatusBoard,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), SessionError> {
        let Session {
            outbox,
            mut inbound,
            mut conversation,
            max_message_bytes,
            mut reported_oversize,
            ..
        } = self;
        let mut collector_running = true;
        loop {
            let Some(current) = latest.borrow_and_update().clone() else {
                // Cannot happen: the connection starts after the first collection.
                if latest.changed().await.is_err() {
                    return Err(SessionError::OutboxClosed);
                }
                continue;
            };
            let now = Instant::now();
            if let Some(overdue) = conversation.overdue(now) {
                return Err(SessionError::AckTimeout {
                    kind: overdue.message.kind,
                    sequence: overdue.message.sequence,
                    waited: overdue.waited,
                });
            }
            let sending = conversation.due(current.hash, now).is_some();
            let deadline = conversation.next_deadline();
            tokio::select! {
                biased;
                () = crate::run::stopping(shutdown) => break,
                message = inbound.message() => {
                    let message = match message {
                        Ok(Some(message)) => message,
                        Ok(None) => return Err(SessionError::Closed),
                        Err(status) => return Err(SessionError::from_status(&status, false)),
                    };
                    receive(&mut conversation, message, &current, status)?;
                }
                permit = outbox.reserve(), if sending => {
                    let permit = permit.map_err(|_| SessionError::OutboxClosed)?;
                    if let Some(outgoing) = conversation.take_due(current.hash, Instant::now()) {
                        permit.send(agent_message(outgoing, &current));
                        status.count_sent(outgoing.kind);
                        log_sent(outgoing, &current);
                        if outgoing.kind == MessageKind::Upload {
                            check_size(&current, max_message_bytes, &mut reported_oversize);
                        }
                    }
                }
                changed = latest.changed(), if collector_running => {
                    // The collector stops only with the agent; until then, keep heartbeating.
                    collector_running = changed.is_ok();
                }
                () = sleep_until(deadline) => {}
            }
        }
        close(outbox, inbound).await;
        Ok(())
    }
}

/// Handles one message from the server.
fn receive(
    conversation: &mut Conversation,
    message: proto::ServerMessage,
    latest: &LatestSnapshot,
    status: &StatusBoard,
) -> Result<(), SessionError> {
    match message.message {
        Some(server_message::Message::Ack(ack)) => match conversation.acknowledge(ack.sequence) {
            Some(acked) => {
                status.record_ack(acked.kind, acked.hash);
                tracing::debug!(
                    sequence = ack.sequence,
                    kind = acked.kind.as_str(),
                    outcome = ack.outcome().as_str_name(),
                    snapshot_id = ack.snapshot_id,
                    "acknowledged"
                );
            }
            None => {
                tracing::warn!(
                    sequence = ack.sequence,
                    "the server acknowledged a message this stream did not send or that was acknowledged already; ignored"
                );
            }
        },
        Some(server_message::Message::Resend(resend)) => {
            status.count_resend();
            match ContentHash::from_wire(&resend.content_hash) {
                Ok(hash) => {
                    let full = conversation.resend(hash, latest.hash);
                    tracing::info!(
                        sequence = resend.sequence,
                        content_hash = %hash,
                        resending = full,
                        "the server lacks a snapshot"
                    );
                }
                Err(err) => {
                    tracing::warn!(sequence = resend.sequence, error = %err, "Resend with a malformed hash; ignored");
                }
            }
        }
        Some(server_message::Message::Welcome(_)) => return Err(SessionError::SecondWelcome),
        None => return Err(SessionError::EmptyMessage),
    }
    Ok(())
}

/// Logs, once per snapshot, an upload the server announced it will refuse.
fn check_size(latest: &LatestSnapshot, limit: Option<usize>, reported: &mut Option<ContentHash>) {
    let Some(limit) = limit else {
        return;
    };
    if latest.summary.wire_bytes > limit && *reported != Some(latest.hash) {
        *reported = Some(latest.hash);
        tracing::error!(
            bytes = latest.summary.wire_bytes,
            limit,
            content_hash = %latest.hash,
            "the snapshot is larger than the server accepts; raise the server's message limit"
        );
    }
}

/// Ends the agent's side of the stream and gives the server a moment to end its own.
async fn close(
    outbox: mpsc::Sender<proto::AgentMessage>,
    mut inbound: Streaming<proto::ServerMessage>,
) {
    drop(outbox);
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Ok(Some(_)) = inbound.message().await {}
    })
    .await;
}

/// Reads the token file on a blocking thread.
async fn read_token(path: &Path) -> Result<BearerToken, TokenError> {
    let owned = path.to_owned();
    match tokio::task::spawn_blocking(move || BearerToken::read(&owned)).await {
        Ok(result) => result,
        Err(join) => Err(TokenError::Read {
            path: path.to_owned(),
            source: std::io::Error::other(join),
        }),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

fn message_name(message: &server_message::Message) -> &'static str {
    match message {
        server_message::Message::Welcome(_) => "Welcome",
        server_message::Message::Ack(_) => "Ack",
        server_message::Message::Resend(_) => "Resend",
    }
}

fn agent_message(outgoing: Outgoing, latest: &LatestSnapshot) -> proto::AgentMessage {
    let message = match outgoing.kind {
        MessageKind::Upload => agent_message::Message::Snapshot(proto::SnapshotUpload {
            sequence: outgoing.sequence,
            content_hash: outgoing.hash.to_wire(),
            body: Some(latest.body.clone()),
        }),
        MessageKind::Heartbeat => agent_message::Message::Heartbeat(proto::Heartbeat {
            sequence: outgoing.sequence,
            content_hash: outgoing.hash.to_wire(),
        }),
    };
    proto::AgentMessage {
        message: Some(message),
    }
}

fn log_sent(outgoing: Outgoing, latest: &LatestSnapshot) {
    match outgoing.kind {
        MessageKind::Upload => tracing::info!(
            sequence = outgoing.sequence,
            content_hash = %outgoing.hash,
            bytes = latest.summary.wire_bytes,
            compressed = latest.summary.upload_bytes,
            pods = latest.summary.pods,
            "snapshot sent"
        ),
        MessageKind::Heartbeat => tracing::debug!(
            sequence = outgoing.sequence,
            content_hash = %outgoing.hash,
            "heartbeat sent"
        ),
    }
}
