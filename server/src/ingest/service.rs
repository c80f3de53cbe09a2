//! The `AgentIngest` gRPC service: authenticates each `Connect` from its metadata, then hands the
//! stream to a [`Session`] task and answers through a channel.

use std::sync::Arc;

use podwire_node_state::wire::COMPRESSION;
use podwire_node_state::wire::proto::agent_ingest_server::{AgentIngest, AgentIngestServer};
use podwire_node_state::wire::proto::{AgentMessage, ServerMessage};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::auth::{AgentAuthenticator, AuthError, bearer_token};
use super::errors::IngestError;
use super::session::Session;
use super::upload::UploadWorkers;
use crate::config::IngestSettings;
use crate::store::{GroupCommit, HeartbeatCoalescer, Store};

/// Group-commit writer tasks. One: in `bench-ingest` on 2 cores the ingest process, not Postgres,
/// is the bound, and one writer makes the largest batches (4 snapshots on average, 0.9 ms of
/// Postgres CPU per snapshot); two made batches of 2.5 (1.05 ms), four of 1.1 (1.9 ms, as
/// without group commit), at the same throughput.
const GROUP_COMMIT_WRITERS: usize = 1;

/// Answers queued per stream: the answer to the one message in progress, and the final status.
const OUTBOX_DEPTH: usize = 2;

/// What every stream shares.
#[derive(Debug)]
pub struct Ingest {
    pub(super) store: Store,
    /// Where sessions' changed snapshots are written, several sessions' in one transaction.
    pub(super) writer: GroupCommit,
    pub(super) heartbeats: HeartbeatCoalescer,
    pub(super) authenticator: Arc<dyn AgentAuthenticator>,
    pub(super) workers: UploadWorkers,
    pub(super) settings: IngestSettings,
    /// Turns true when the server stops: every session ends its stream with UNAVAILABLE, so
    /// that agents reconnect (to another replica, or to this one once it is back).
    pub(super) shutdown: watch::Receiver<bool>,
}

impl Ingest {
    /// Starts the group-commit writers, so must be called within a Tokio runtime; they stop
    /// once the last session using this `Ingest` has ended.
    pub fn new(
        store: Store,
        heartbeats: HeartbeatCoalescer,
        authenticator: Arc<dyn AgentAuthenticator>,
        workers: UploadWorkers,
        settings: IngestSettings,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Ingest {
            writer: GroupCommit::start(store.clone(), GROUP_COMMIT_WRITERS),
            store,
            heartbeats,
            authenticator,
            workers,
            settings,
            shutdown,
        }
    }
}

/// The `AgentIngest` implementation; cheap to clone.
#[derive(Debug, Clone)]
pub struct IngestService {
    ingest: Arc<Ingest>,
}

impl IngestService {
    pub fn new(ingest: Ingest) -> Self {
        IngestService {
            ingest: Arc::new(ingest),
        }
    }

    /// The tonic service: agents' messages in the shared codec (or plain), and the decode limit
    /// of `--max-message-bytes` (beyond it tonic ends the stream, RESOURCE_EXHAUSTED).
    ///
    /// Answers go out uncompressed: they are 10 to 50 bytes, which zstd makes no smaller, and
    /// tonic sets up a fresh zstd context for every message it compresses (about 70 µs here, more
    /// than everything else a heartbeat costs the server). An agent that accepts zstd accepts
    /// plain messages too.
    pub fn into_server(self) -> AgentIngestServer<IngestService> {
        let limit = usize::try_from(self.ingest.settings.max_message_bytes).unwrap_or(usize::MAX);
        AgentIngestServer::new(self)
            .accept_compressed(COMPRESSION)
            .max_decoding_message_size(limit)
    }
}

#[tonic::async_trait]
impl AgentIngest for IngestService {
    type ConnectStream = ReceiverStream<Result<ServerMessage, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let peer = request.remote_addr();
        let decision = match bearer_token(request.metadata()) {
            Ok(bearer) => {
                self.ingest
                    .authenticator
                    .authenticate(bearer.as_deref())
                    .await
            }
            Err(err) => Err(err),
        };
        let principal = decision.map_err(|err| {
            let peer = peer.map(|p| p.to_string()).unwrap_or_default();
            let refused = match err {
                AuthError::Unavailable(_) => IngestError::AuthUnavailable(err),
                _ => IngestError::Unauthenticated(err),
            };
            // The reason (missing, wrong, unreadable) is only in the log.
            tracing::warn!(%peer, error = %super::errors::error_chain(&refused), "agent refused");
            refused.to_status()
        })?;
        let (outbox, answers) = mpsc::channel(OUTBOX_DEPTH);
        let session = Session::new(self.ingest.clone(), principal, peer);
        tokio::spawn(session.run(request.into_inner(), outbox));
        Ok(Response::new(ReceiverStream::new(answers)))
    }
}
