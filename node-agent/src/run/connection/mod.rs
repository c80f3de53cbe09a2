//! The agent's connection to the server: one long-lived `AgentIngest.Connect` stream, kept up by
//! the [`state`] machine, each stream run by a [`session`], what to send on it decided by the
//! [`conversation`].
//!
//! The connection only reads the latest snapshot the collector published; the collector never
//! waits for it. A snapshot collected while disconnected is simply the latest one when the next
//! session starts, and is sent in full then unless the server's `Welcome` already names its hash.

mod conversation;
mod failure;
mod session;
mod state;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::watch;

pub use conversation::{Conversation, MessageKind, Outgoing};
pub use failure::{SessionError, classify};
pub use state::{
    ConnectionEvent, ConnectionState, FailureKind, JitteredBackoff, RetryDelays, SessionFacts,
};

use super::config::ConnectionSettings;
use super::latest::LatestSnapshot;
use super::status::{ConnectionPhase, ConnectionView, StatusBoard};
use crate::collect::error_chain;
use session::Session;

/// Keeps a session with the server until `shutdown` turns true.
pub async fn maintain(
    settings: ConnectionSettings,
    mut latest: watch::Receiver<Option<Arc<LatestSnapshot>>>,
    status: Arc<StatusBoard>,
    mut shutdown: watch::Receiver<bool>,
) {
    // `Hello` names the node from the first collection.
    let collected = tokio::select! {
        first = latest.wait_for(Option::is_some) => first.is_ok(),
        () = crate::run::stopping(&mut shutdown) => false,
    };
    if !collected {
        status.set_connection(view(&ConnectionState::Stopped));
        return;
    }

    let mut delays = JitteredBackoff::new(settings.backoff);
    let mut state = ConnectionState::initial(Instant::now());
    let mut established: Option<Session> = None;
    loop {
        status.set_connection(view(&state));
        let (event, failure) = match &state {
            ConnectionState::Stopped => return,
            ConnectionState::Disconnected { retry_at, .. } => {
                let event = tokio::select! {
                    () = tokio::time::sleep_until((*retry_at).into()) => ConnectionEvent::RetryDue,
                    () = crate::run::stopping(&mut shutdown) => ConnectionEvent::Shutdown,
                };
                (event, None)
            }
            ConnectionState::Connecting { attempt } => {
                let current = latest.borrow().clone();
                let Some(current) = current else {
                    // The first collection is in: the latest is never empty again.
                    return;
                };
                tracing::debug!(server = %settings.server, attempt, "connecting");
                tokio::select! {
                    opened = session::open(&settings, &current) => match opened {
                        Ok(session) => {
                            let facts = session.facts().clone();
                            established = Some(session);
                            (ConnectionEvent::Welcomed(facts), None)
                        }
                        Err(err) => (ConnectionEvent::Failed(err.kind()), Some(err)),
                    },
                    () = crate::run::stopping(&mut shutdown) => (ConnectionEvent::Shutdown, None),
                }
            }
            ConnectionState::Connected { .. } => match established.take() {
                Some(session) => match session.run(&mut latest, &status, &mut shutdown).await {
                    Ok(()) => (ConnectionEvent::Shutdown, None),
                    Err(err) => (ConnectionEvent::Failed(err.kind()), Some(err)),
                },
                // Connected always follows a Welcome that stored its session.
                None => (ConnectionEvent::Failed(FailureKind::Transient), None),
            },
        };
        let now = Instant::now();
        state = state.next(event, now, &mut delays, settings.backoff.healthy_after);
        if let Some(err) = failure {
            report_failure(&err, &state, now, &status);
        }
    }
}

/// Logs a failure once, with when the next attempt is due, and records it for the status.
fn report_failure(err: &SessionError, next: &ConnectionState, now: Instant, status: &StatusBoard) {
    let kind = err.kind();
    let error = error_chain(err);
    let (attempt, retry_in) = match next {
        ConnectionState::Disconnected { attempt, retry_at } => {
            (*attempt, retry_at.saturating_duration_since(now))
        }
        _ => (0, std::time::Duration::ZERO),
    };
    let code = err.code().map(|code| format!("{code:?}"));
    match kind {
        // ERROR: nothing improves until an operator fixes the token or the server's configuration.
        FailureKind::Rejected => tracing::error!(
            grpc_code = code.as_deref(),
            %error,
            next_attempt = attempt,
            retry_in = ?retry_in,
            "the server refused this agent; fix its credentials or the server's configuration"
        ),
        FailureKind::Transient => tracing::warn!(
            grpc_code = code.as_deref(),
            %error,
            next_attempt = attempt,
            retry_in = ?retry_in,
            "lost the connection to the server"
        ),
    }
    status.record_failure(kind, error);
}

/// The state as the status endpoint shows it.
fn view(state: &ConnectionState) -> ConnectionView {
    let now = SystemTime::now();
    let mut view = ConnectionView {
        state: ConnectionPhase::Stopped,
        since: now,
        attempt: 0,
        retry_at: None,
        server_version: None,
        heartbeat_interval: None,
    };
    match state {
        ConnectionState::Disconnected { attempt, retry_at } => {
            view.state = ConnectionPhase::Disconnected;
            view.attempt = *attempt;
            view.retry_at = Some(now + retry_at.saturating_duration_since(Instant::now()));
        }
        ConnectionState::Connecting { attempt } => {
            view.state = ConnectionPhase::Connecting;
            view.attempt = *attempt;
        }
        ConnectionState::Connected { attempt, session } => {
            view.state = ConnectionPhase::Connected;
            view.attempt = *attempt;
            view.server_version = Some(session.server_version.clone());
            view.heartbeat_interval = Some(session.heartbeat_interval);
        }
        ConnectionState::Stopped => {}
    }
    view
}
