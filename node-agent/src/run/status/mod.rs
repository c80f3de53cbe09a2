//! What the agent is doing, for people and for Prometheus: one [`StatusBoard`] that the
//! collector, the change sources and the connection report into, read by the local status
//! endpoint as JSON (`GET /status`, [`StatusReport`]) and in the Prometheus text format
//! (`GET /metrics`, [`metrics`]).

pub mod http;
pub mod metrics;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use podwire_node_state::wire::ContentHash;
use serde::Serialize;

use super::changes::SourceState;
use super::connection::{FailureKind, MessageKind};
use super::latest::{CollectionSummary, CollectionTrigger};

/// The connection as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionView {
    pub state: ConnectionPhase,
    /// When the connection entered this state.
    pub since: SystemTime,
    /// Which attempt in a row this is (or the next one will be).
    pub attempt: u32,
    /// When the next attempt is due, while disconnected.
    pub retry_at: Option<SystemTime>,
    pub server_version: Option<String>,
    pub heartbeat_interval: Option<Duration>,
}

/// The connection's state, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionPhase {
    /// Before the first collection: `Hello` names the node from it.
    WaitingForFirstCollection,
    Disconnected,
    Connecting,
    Connected,
    Stopped,
}

/// Everything the board knows. Counters only grow.
#[derive(Debug, Clone)]
pub struct AgentStatus {
    pub server: String,
    pub cluster: String,
    pub node: String,
    pub connection: ConnectionView,
    pub last_collection: Option<(CollectionSummary, ContentHash)>,
    pub collections: [u64; 3],
    pub failed_collections: u64,
    pub kernel_source: SourceState,
    pub file_source: SourceState,
    pub watched_dirs: usize,
    pub kernel_changes: u64,
    pub file_changes: u64,
    /// Batches in which the kernel reported dropped notifications.
    pub lost_changes: u64,
    pub connection_attempts: u64,
    pub sessions: u64,
    pub transient_failures: u64,
    pub rejected_failures: u64,
    pub uploads_sent: u64,
    pub uploads_acked: u64,
    pub heartbeats_sent: u64,
    pub heartbeats_acked: u64,
    pub resends_received: u64,
    /// The content hash of the last snapshot the server acknowledged holding: an upload it
    /// stored, or the snapshot an acknowledged heartbeat named.
    pub last_acked_hash: Option<ContentHash>,
    pub last_ack_at: Option<SystemTime>,
    pub last_error: Option<LastError>,
}

/// The most recent failure of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastError {
    pub at: SystemTime,
    pub kind: FailureKind,
    pub message: String,
}

/// The shared status. A plain mutex: every holder only copies a few fields in or out.
#[derive(Debug)]
pub struct StatusBoard {
    status: Mutex<AgentStatus>,
}

impl StatusBoard {
    pub fn new(server: String, cluster: String, node: String) -> Self {
        StatusBoard {
            status: Mutex::new(AgentStatus {
                server,
                cluster,
                node,
                connection: ConnectionView {
                    state: ConnectionPhase::WaitingForFirstCollection,
                    since: SystemTime::now(),
                    attempt: 0,
                    retry_at: None,
                    server_version: None,
                    heartbeat_interval: None,
                },
                last_collection: None,
                collections: [0; 3],
                failed_collections: 0,
                kernel_source: SourceState::Running,
                file_source: SourceState::Running,
                watched_dirs: 0,
                kernel_changes: 0,
                file_changes: 0,
                lost_changes: 0,
                connection_attempts: 0,
                sessions: 0,
                transient_failures: 0,
                rejected_failures: 0,
                uploads_sent: 0,
                uploads_acked: 0,
                heartbeats_sent: 0,
                heartbeats_acked: 0,
                resends_received: 0,
                last_acked_hash: None,
                last_ack_at: None,
                last_error: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, AgentStatus> {
        // A panic while holding the lock leaves plain counters behind: still worth showing.
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of everything.
    pub fn snapshot(&self) -> AgentStatus {
        self.lock().clone()
    }

    pub fn set_kernel_source(&self, state: SourceState) {
        self.lock().kernel_source = state;
    }

    pub fn set_file_source(&self, state: SourceState, watched_dirs: usize) {
        let mut status = self.lock();
        status.file_source = state;
        status.watched_dirs = watched_dirs;
    }

    pub fn count_kernel_change(&self, lost: bool) {
        let mut status = self.lock();
        status.kernel_changes += 1;
        status.lost_changes += u64::from(lost);
    }

    pub fn count_file_change(&self, overflowed: bool) {
        let mut status = self.lock();
        status.file_changes += 1;
        status.lost_changes += u64::from(overflowed);
    }

    pub fn record_collection(&self, summary: &CollectionSummary, hash: ContentHash) {
        let mut status = self.lock();
        status.collections[trigger_index(summary.trigger)] += 1;
        status.last_collection = Some((summary.clone(), hash));
    }

    pub fn count_failed_collection(&self) {
        self.lock().failed_collections += 1;
    }

    pub fn set_connection(&self, view: ConnectionView) {
        let mut status = self.lock();
        if view.state == ConnectionPhase::Connecting {
            status.connection_attempts += 1;
        }
        if view.state == ConnectionPhase::Connected {
            status.sessions += 1;
        }
        status.connection = view;
    }

    pub fn record_failure(&self, kind: FailureKind, message: String) {
        let mut status = self.lock();
        match kind {
            FailureKind::Transient => status.transient_failures += 1,
            FailureKind::Rejected => status.rejected_failures += 1,
        }
        status.last_error = Some(LastError {
            at: SystemTime::now(),
            kind,
            message,
        });
    }

    pub fn count_sent(&self, kind: MessageKind) {
        let mut status = self.lock();
        match kind {
            MessageKind::Upload => status.uploads_sent += 1,
            MessageKind::Heartbeat => status.heartbeats_sent += 1,
        }
    }

    pub fn record_ack(&self, kind: MessageKind, hash: ContentHash) {
        let mut status = self.lock();
        match kind {
            MessageKind::Upload => status.uploads_acked += 1,
            MessageKind::Heartbeat => status.heartbeats_acked += 1,
        }
        // The server acknowledges a heartbeat only when it holds the snapshot it names (else it
        // answers Resend): after a reconnect to a server that stored an upload it never got to
        // acknowledge, the heartbeat's ack is the only word that it has the latest.
        status.last_acked_hash = Some(hash);
        status.last_ack_at = Some(SystemTime::now());
    }

    pub fn count_resend(&self) {
        self.lock().resends_received += 1;
    }

    /// The `GET /status` document.
    pub fn report(&self) -> StatusReport {
        StatusReport::from(&self.snapshot())
    }
}

fn trigger_index(trigger: CollectionTrigger) -> usize {
    match trigger {
        CollectionTrigger::Startup => 0,
        CollectionTrigger::Change => 1,
        CollectionTrigger::Resync => 2,
    }
}

/// An RFC 3339 UTC timestamp with milliseconds.
fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// `GET /status`.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub agent_version: &'static str,
    pub server: String,
    pub cluster: String,
    pub node: String,
    pub connection: ConnectionReport,
    pub last_collection: Option<CollectionReport>,
    pub collections: CollectionCounts,
    pub change_sources: ChangeSourcesReport,
    pub uploads: SentAcked,
    pub heartbeats: SentAcked,
    pub resends_received: u64,
    /// The content hash of the last snapshot the server acknowledged holding (storing it, or
    /// answering a heartbeat that named it).
    pub last_acked_hash: Option<String>,
    pub last_ack_at: Option<String>,
    pub connection_attempts: u64,
    pub sessions: u64,
    pub failures: FailureCounts,
    pub last_error: Option<ErrorReport>,
}

#[derive(Debug, Serialize)]
pub struct ConnectionReport {
    pub state: ConnectionPhase,
    pub since: String,
    pub attempt: u32,
    pub retry_at: Option<String>,
    pub server_version: Option<String>,
    pub heartbeat_interval_ms: Option<u128>,
}

#[derive(Debug, Serialize)]
pub struct CollectionReport {
    pub trigger: &'static str,
    pub finished_at: String,
    pub duration_ms: f64,
    pub content_hash: String,
    pub pods: usize,
    pub pods_with_problems: usize,
    pub source_errors: usize,
    pub snapshot_bytes: usize,
}

#[derive(Debug, Serialize)]
pub struct CollectionCounts {
    pub startup: u64,
    pub change: u64,
    pub resync: u64,
    pub failed: u64,
}

#[derive(Debug, Serialize)]
pub struct ChangeSourcesReport {
    /// `running`, or the error that stopped it.
    pub kernel: String,
    pub files: String,
    pub watched_dirs: usize,
    pub kernel_changes: u64,
    pub file_changes: u64,
    pub lost: u64,
}

#[derive(Debug, Serialize)]
pub struct SentAcked {
    pub sent: u64,
    pub acked: u64,
}

#[derive(Debug, Serialize)]
pub struct FailureCounts {
    pub transient: u64,
    pub rejected: u64,
}

#[derive(Debug, Serialize)]
pub struct ErrorReport {
    pub at: String,
    pub kind: &'static str,
    pub message: String,
}

fn source_report(state: &SourceState) -> String {
    match state {
        SourceState::Running => "running".to_owned(),
        SourceState::Failed { error } => format!("failed: {error}"),
    }
}

impl From<&AgentStatus> for StatusReport {
    fn from(status: &AgentStatus) -> Self {
        let connection = &status.connection;
        StatusReport {
            agent_version: env!("CARGO_PKG_VERSION"),
            server: status.server.clone(),
            cluster: status.cluster.clone(),
            node: status.node.clone(),
            connection: ConnectionReport {
                state: connection.state,
                since: timestamp(connection.since),
                attempt: connection.attempt,
                retry_at: connection.retry_at.map(timestamp),
                server_version: connection.server_version.clone(),
                heartbeat_interval_ms: connection.heartbeat_interval.map(|d| d.as_millis()),
            },
            last_collection: status.last_collection.as_ref().map(|(summary, hash)| {
                CollectionReport {
                    trigger: summary.trigger.as_str(),
                    finished_at: timestamp(summary.finished_at),
                    duration_ms: summary.duration.as_secs_f64() * 1000.0,
                    content_hash: hash.to_string(),
                    pods: summary.pods,
                    pods_with_problems: summary.pods_with_problems,
                    source_errors: summary.source_errors,
                    snapshot_bytes: summary.wire_bytes,
                }
            }),
            collections: CollectionCounts {
                startup: status.collections[0],
                change: status.collections[1],
                resync: status.collections[2],
                failed: status.failed_collections,
            },
            change_sources: ChangeSourcesReport {
                kernel: source_report(&status.kernel_source),
                files: source_report(&status.file_source),
                watched_dirs: status.watched_dirs,
                kernel_changes: status.kernel_changes,
                file_changes: status.file_changes,
                lost: status.lost_changes,
            },
            uploads: SentAcked {
                sent: status.uploads_sent,
                acked: status.uploads_acked,
            },
            heartbeats: SentAcked {
                sent: status.heartbeats_sent,
                acked: status.heartbeats_acked,
            },
            resends_received: status.resends_received,
            last_acked_hash: status.last_acked_hash.map(|h| h.to_string()),
            last_ack_at: status.last_ack_at.map(timestamp),
            connection_attempts: status.connection_attempts,
            sessions: status.sessions,
            failures: FailureCounts {
                transient: status.transient_failures,
                rejected: status.rejected_failures,
            },
            last_error: status.last_error.as_ref().map(|e| ErrorReport {
                at: timestamp(e.at),
                kind: e.kind.as_str(),
                message: e.message.clone(),
            }),
        }
    }
}
