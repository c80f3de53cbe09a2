//! Why an agent's stream ends, and the gRPC status each reason is answered with: the one place
//! where ingest errors become status codes.
//!
//! | reason | code |
//! |---|---|
//! | missing or wrong bearer token | UNAUTHENTICATED (same message for both) |
//! | credentials cannot be checked now (TokenReview unreachable) | UNAVAILABLE |
//! | a message larger than `--max-message-bytes` | RESOURCE_EXHAUSTED (tonic's decoder) |
//! | a field out of bounds, a wire value the model cannot hold, identity or hash mismatch | INVALID_ARGUMENT, naming the field |
//! | anything before `Hello`, a second `Hello` | FAILED_PRECONDITION |
//! | no `Hello` in time | DEADLINE_EXCEEDED |
//! | database unreachable, server shutting down | UNAVAILABLE: the agent retries |
//! | anything else | INTERNAL, with no detail (the detail is logged) |
//!
//! What the agent did wrong is told in full (it is the agent's own data); what went wrong inside
//! the server is not.

use std::fmt;
use std::time::Duration;

use tonic::{Code, Status};

use super::auth::AuthError;
use super::validation::Violation;
use crate::store::StoreError;

/// Which agent message was refused, as `ingest.proto` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// The `AgentMessage` envelope itself.
    AgentMessage,
    Hello,
    SnapshotUpload {
        sequence: u64,
    },
    Heartbeat {
        sequence: u64,
    },
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageKind::AgentMessage => f.write_str("AgentMessage"),
            MessageKind::Hello => f.write_str("Hello"),
            MessageKind::SnapshotUpload { sequence } => {
                write!(f, "SnapshotUpload (sequence {sequence})")
            }
            MessageKind::Heartbeat { sequence } => write!(f, "Heartbeat (sequence {sequence})"),
        }
    }
}

/// Why a stream ends with an error.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("missing or invalid agent credentials")]
    Unauthenticated(#[source] AuthError),
    #[error("agent credentials cannot be checked now; retry")]
    AuthUnavailable(#[source] AuthError),
    /// A message the agent must not send in this form. Nothing from it was stored.
    #[error("invalid {kind}")]
    Invalid {
        kind: MessageKind,
        #[source]
        violation: Violation,
    },
    #[error("{0} before Hello: the first message of a stream must be Hello")]
    BeforeHello(MessageKind),
    #[error("a second Hello: Hello is only the first message of a stream")]
    SecondHello,
    #[error("no Hello within {0:?} of connecting")]
    NoHello(Duration),
    /// The agent's stream itself failed: tonic's decoder refused a message (too large, bad
    /// framing, undecodable protobuf) or the connection broke.
    #[error("reading the agent's stream failed")]
    Inbound(#[source] Status),
    #[error("the database is unavailable; retry")]
    Store(#[source] StoreError),
    #[error("the server is shutting down; reconnect")]
    ShuttingDown,
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl IngestError {
    /// The status the agent gets.
    pub fn to_status(&self) -> Status {
        match self {
            IngestError::Unauthenticated(_) => Status::unauthenticated(self.to_string()),
            IngestError::AuthUnavailable(_) | IngestError::ShuttingDown => {
                Status::unavailable(self.to_string())
            }
            IngestError::Invalid { .. } => Status::invalid_argument(error_chain(self)),
            IngestError::BeforeHello(_) | IngestError::SecondHello => {
                Status::failed_precondition(self.to_string())
            }
            IngestError::NoHello(_) => Status::deadline_exceeded(self.to_string()),
            IngestError::Inbound(status) => inbound_status(status),
            IngestError::Store(err) if err.is_unavailable() => {
                Status::unavailable(self.to_string())
            }
            IngestError::Store(StoreError::InvalidSnapshot(what)) => {
                Status::invalid_argument(format!("invalid SnapshotUpload: {what}"))
            }
            IngestError::Store(_) | IngestError::Internal(_) => Status::internal("internal error"),
        }
    }

    /// Whether the agent did something wrong (logged as a warning, once) rather than the server
    /// or its database (logged as an error) or nobody (an ordinary end).
    pub fn is_agents_fault(&self) -> bool {
        matches!(
            self,
            IngestError::Unauthenticated(_)
                | IngestError::Invalid { .. }
                | IngestError::BeforeHello(_)
                | IngestError::SecondHello
                | IngestError::NoHello(_)
                | IngestError::Inbound(_)
                | IngestError::Store(StoreError::InvalidSnapshot(_))
        )
    }
}

impl From<StoreError> for IngestError {
    fn from(err: StoreError) -> Self {
        IngestError::Store(err)
    }
}

/// tonic refuses a message longer than the decode limit with OUT_OF_RANGE when it arrives
/// uncompressed and RESOURCE_EXHAUSTED when it grows past the limit while being decompressed;
/// gRPC's own servers say RESOURCE_EXHAUSTED for both, and so does this one. Every other status
/// of the inbound stream is the decoder's or the transport's verdict and passes unchanged.
fn inbound_status(status: &Status) -> Status {
    if status.code() == Code::OutOfRange {
        Status::resource_exhausted(status.message().to_owned())
    } else {
        status.clone()
    }
}

pub use crate::error_chain::error_chain;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::validation::{FieldProblem, FieldViolation};

    #[test]
    fn invalid_messages_name_the_field_and_internal_errors_say_nothing() {
        let err = IngestError::Invalid {
            kind: MessageKind::SnapshotUpload { sequence: 3 },
            violation: Violation::Field(FieldViolation::new(
                "snapshot.namespaces[2].links[0].name".into(),
                FieldProblem::TooLong { len: 300, max: 255 },
            )),
        };
        let status = err.to_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "invalid SnapshotUpload (sequence 3): field `snapshot.namespaces[2].links[0].name` \
             is 300 bytes long; at most 255 are accepted"
        );
        let internal = IngestError::Store(StoreError::CorruptRow("nodes.id: SQL detail".into()));
        assert_eq!(internal.to_status().code(), Code::Internal);
        assert_eq!(internal.to_status().message(), "internal error");
    }

    #[test]
    fn oversized_messages_are_resource_exhausted_however_they_arrive() {
        let plain = IngestError::Inbound(Status::out_of_range(
            "Error, decoded message length too large: found 20000000 bytes, the limit is: 16777216 bytes",
        ));
        assert_eq!(plain.to_status().code(), Code::ResourceExhausted);
        let broken = IngestError::Inbound(Status::internal("Unexpected EOF decoding stream."));
        assert_eq!(broken.to_status().code(), Code::Internal);
    }
}
