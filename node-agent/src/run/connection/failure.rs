//! How a connection attempt or a session fails, and which failures an operator must act on.

use std::time::Duration;

use tonic::Code;

use super::conversation::MessageKind;
use super::state::FailureKind;
use crate::run::token::TokenError;

/// Why an attempt or a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the token file cannot be used")]
    Token(#[source] TokenError),
    #[error("cannot connect to the server")]
    Connect(#[source] tonic::transport::Error),
    #[error("the server refused the stream ({code:?}): {message}")]
    Refused { code: Code, message: String },
    #[error("the server ended the stream ({code:?}): {message}")]
    Ended { code: Code, message: String },
    #[error("the server closed the stream")]
    Closed,
    #[error("the server did not answer Hello within {0:?}")]
    NoWelcome(Duration),
    #[error("the server answered Hello with {got} instead of Welcome")]
    NotWelcome { got: &'static str },
    #[error("the server sent a second Welcome")]
    SecondWelcome,
    #[error("the server sent a message without content")]
    EmptyMessage,
    #[error("{} {sequence} was not acknowledged within {waited:?}", .kind.as_str())]
    AckTimeout {
        kind: MessageKind,
        sequence: u64,
        waited: Duration,
    },
    #[error("the stream to the server was dropped")]
    OutboxClosed,
}

impl SessionError {
    /// A stream ended with this status by the server, before (`refused`) or after it started.
    pub fn from_status(status: &tonic::Status, refused: bool) -> Self {
        let (code, message) = (status.code(), status.message().to_owned());
        if refused {
            SessionError::Refused { code, message }
        } else {
            SessionError::Ended { code, message }
        }
    }

    /// Whether retrying soon can help.
    pub fn kind(&self) -> FailureKind {
        match self {
            SessionError::Token(_) => FailureKind::Rejected,
            SessionError::Refused { code, .. } | SessionError::Ended { code, .. } => {
                classify(*code)
            }
            _ => FailureKind::Transient,
        }
    }

    /// The gRPC status code, when the server sent one.
    pub fn code(&self) -> Option<Code> {
        match self {
            SessionError::Refused { code, .. } | SessionError::Ended { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// The gRPC codes that say the agent itself is refused: its credentials
/// (`UNAUTHENTICATED`, `PERMISSION_DENIED`), what it sends (`INVALID_ARGUMENT`, `FAILED_PRECONDITION`)
/// or the protocol (`UNIMPLEMENTED`: not a podwire server, or one without this service). Everything
/// else — `UNAVAILABLE` while the server restarts or its database is down, `RESOURCE_EXHAUSTED`
/// under back-pressure, `DEADLINE_EXCEEDED`, `INTERNAL` — may pass by itself.
pub fn classify(code: Code) -> FailureKind {
    match code {
        Code::Unauthenticated
        | Code::PermissionDenied
        | Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::Unimplemented => FailureKind::Rejected,
        _ => FailureKind::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_an_operator_must_act_on() {
        let table = [
            (Code::Unauthenticated, FailureKind::Rejected),
            (Code::PermissionDenied, FailureKind::Rejected),
            (Code::InvalidArgument, FailureKind::Rejected),
            (Code::FailedPrecondition, FailureKind::Rejected),
            (Code::Unimplemented, FailureKind::Rejected),
            (Code::Unavailable, FailureKind::Transient),
            (Code::ResourceExhausted, FailureKind::Transient),
            (Code::DeadlineExceeded, FailureKind::Transient),
            (Code::Internal, FailureKind::Transient),
            (Code::Unknown, FailureKind::Transient),
            (Code::Cancelled, FailureKind::Transient),
        ];
        for (code, kind) in table {
            assert_eq!(classify(code), kind, "{code:?}");
        }
    }

    #[test]
    fn status_errors_keep_code_and_message() {
        let err = SessionError::from_status(&tonic::Status::unauthenticated("unknown token"), true);
        assert_eq!(
            err.to_string(),
            "the server refused the stream (Unauthenticated): unknown token"
        );
        assert_eq!(err.kind(), FailureKind::Rejected);
        assert_eq!(err.code(), Some(Code::Unauthenticated));
        let err = SessionError::from_status(&tonic::Status::unavailable("database down"), false);
        assert_eq!(err.kind(), FailureKind::Transient);
    }
}
