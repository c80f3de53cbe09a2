use std::sync::Arc;

use crate::store::blob::BlobError;

/// Why a store operation failed. [`StoreError::is_unavailable`] tells those a caller may retry
/// as is: the database could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database query failed")]
    Query(#[source] sqlx::Error),
    #[error("applying the database migrations failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error(
        "snapshot names node {snapshot_cluster}/{snapshot_node}, but was sent for {cluster}/{node}"
    )]
    IdentityMismatch {
        cluster: String,
        node: String,
        snapshot_cluster: String,
        snapshot_node: String,
    },
    #[error("invalid snapshot: {0}")]
    InvalidSnapshot(&'static str),
    #[error("snapshot blob unusable")]
    Blob(#[from] BlobError),
    #[error("stored row unreadable: {0}")]
    CorruptRow(String),
    /// The group commit this write was part of failed; every snapshot in it got this error.
    #[error("the group commit failed")]
    Batch(#[source] Arc<StoreError>),
    /// The group commit's writers are gone (the runtime is stopping).
    #[error("the group commit writer stopped")]
    WriterStopped,
}

impl StoreError {
    /// Whether the database could not be reached (for this write or its batch): worth retrying.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::WriterStopped => true,
            StoreError::Batch(cause) => cause.is_unavailable(),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if is_unavailable(&err) {
            StoreError::Unavailable(err)
        } else {
            StoreError::Query(err)
        }
    }
}

/// Connection-level failures: the pool could not hand out a working connection, or the server
/// went away or refuses connections (SQLSTATE classes 08 and 57P).
pub(crate) fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}
