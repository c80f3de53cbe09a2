//! The gRPC ingest: agents stream their node snapshots here (`podwire.agent.v1.AgentIngest`,
//! documented in `node-state/proto/podwire/agent/v1/ingest.proto`).
//!
//! A stream is authenticated from its metadata ([`auth`]), then converses in a [`session`]:
//! `Hello` (names checked in [`validation`]), then uploads, each bounded ([`limits`]), converted,
//! hashed, resolved and prepared on a blocking thread ([`upload`]) and written through the store,
//! and heartbeats, which only note liveness. Every refusal is an [`IngestError`] with one gRPC
//! status code ([`errors`]). Protobuf types stop here: the store sees the model and prepared rows.

pub mod auth;
pub mod errors;
pub mod limits;
pub mod model_limits;
mod service;
mod session;
#[cfg(feature = "kube")]
pub mod token_review;
pub mod upload;
pub mod validation;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;

pub use auth::{AgentAuthenticator, AgentPrincipal, AnyAgent, AuthError, FirstOf, StaticTokens};
pub use errors::{IngestError, MessageKind};
pub use limits::SnapshotLimits;
pub use service::{Ingest, IngestService};
pub use session::HELLO_PATIENCE;
pub use upload::UploadWorkers;

use crate::config::Config;
use crate::local_agent::LocalAgentToken;

/// HTTP/2 pings on idle connections, so that the stream of an agent whose node vanished (no FIN,
/// no RST) ends within a minute instead of holding its session forever.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest HTTP/2 frame agents may send: a 250-pod upload (~43 KB) arrives as one DATA frame
/// instead of three of 16 KB (the protocol's default), so the stream is woken and the socket read
/// fewer times per upload.
const MAX_FRAME_BYTES: u32 = 1 << 20;

/// The authenticator the configuration asks for: any agent with `--allow-unauthenticated-agents`;
/// otherwise the tokens of `--agent-token-file` and the local agent's, which may be none at all
/// (every agent refused; start-up says so); with `token_review` (`--agent-token-review`), those
/// tokens OR an agent ServiceAccount token that TokenReview accepts.
pub fn authenticator_for(
    config: &Config,
    local_agent: Option<&LocalAgentToken>,
    token_review: Option<Arc<dyn AgentAuthenticator>>,
) -> Arc<dyn AgentAuthenticator> {
    if config.ingest.allow_unauthenticated {
        tracing::warn!(
            "--allow-unauthenticated-agents: any agent that reaches --grpc-listen may stream snapshots"
        );
        return Arc::new(AnyAgent);
    }
    let file_tokens = config.agent_tokens.iter().flat_map(|tokens| tokens.iter());
    let tokens = StaticTokens::new(file_tokens.chain(local_agent.map(LocalAgentToken::token)));
    if let Some(token_review) = token_review {
        return if tokens.is_empty() {
            token_review
        } else {
            Arc::new(FirstOf::new(vec![Arc::new(tokens), token_review]))
        };
    }
    if tokens.is_empty() {
        tracing::warn!(
            "no --agent-token-file: every agent will be refused (UNAUTHENTICATED); give one, or \
             --allow-unauthenticated-agents on a trusted network"
        );
    }
    Arc::new(tokens)
}

/// Serves the ingest on `listener` until `shutdown` turns true. Sessions see the same flag and
/// end their streams with UNAVAILABLE, so the stop does not wait for agents to hang up.
pub async fn serve(
    listener: TcpListener,
    service: IngestService,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .add_service(service.into_server())
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}
