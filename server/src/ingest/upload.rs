//! The CPU half of a snapshot upload: bounds, identity, conversion to the model, content hash,
//! resolution and the prepared rows, on a blocking thread.
//!
//! A 250-pod snapshot costs about 7 ms of CPU here (the `ingest_cost` example: conversion 1 ms,
//! canonical encoding, hash and compression 3 ms, resolution 2.7 ms), far too long for an async
//! worker, so it runs under `spawn_blocking`, and at most one upload per
//! core at a time (a semaphore): a burst of uploads queues for the CPU instead of starving the
//! heartbeats and the HTTP API of runtime threads. Nothing here touches the database.

use std::sync::Arc;

use podwire_node_state::NodeSnapshot;
use podwire_node_state::resolver::resolve;
use podwire_node_state::wire::proto;
use tokio::sync::Semaphore;

use super::errors::{IngestError, MessageKind};
use super::limits::{SnapshotLimits, check_snapshot};
use super::validation::{FieldProblem, FieldViolation, Violation, check_hash, check_identity};
use crate::store::blob::SnapshotBlob;
use crate::store::{NodeKey, PreparedSnapshot};

/// Runs uploads' CPU work on blocking threads, as many at once as there are permits.
#[derive(Debug, Clone)]
pub struct UploadWorkers {
    permits: Arc<Semaphore>,
    limits: SnapshotLimits,
}

impl UploadWorkers {
    /// `concurrency` uploads prepared at once: the number of cores is right for CPU-bound work.
    pub fn new(concurrency: usize, limits: SnapshotLimits) -> Self {
        UploadWorkers {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            limits,
        }
    }

    /// One worker per core the process may use.
    pub fn per_core(limits: SnapshotLimits) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self::new(cores, limits)
    }

    /// Checks and prepares one upload of the node `node` for the store.
    pub async fn prepare(
        &self,
        node: &NodeKey,
        upload: proto::SnapshotUpload,
    ) -> Result<PreparedSnapshot, IngestError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|closed| IngestError::Internal(Box::new(closed)))?;
        let node = node.clone();
        let limits = self.limits;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            prepare_upload(&node, upload, &limits)
        })
        .await
        .map_err(|join| IngestError::Internal(Box::new(join)))?
    }
}

/// Everything an upload must pass before it is stored, cheapest first: the hash's form, the
/// bounds, the identity, the conversion, the hash itself, and only then the resolution.
pub fn prepare_upload(
    node: &NodeKey,
    upload: proto::SnapshotUpload,
    limits: &SnapshotLimits,
) -> Result<PreparedSnapshot, IngestError> {
    let kind = MessageKind::SnapshotUpload {
        sequence: upload.sequence,
    };
    let invalid = |violation: Violation| IngestError::Invalid { kind, violation };
    let claimed = check_hash(&upload.content_hash).map_err(|v| invalid(v.into()))?;
    let wire = upload.snapshot.ok_or_else(|| {
        invalid(FieldViolation::new("snapshot".into(), FieldProblem::Missing).into())
    })?;
    check_snapshot(&wire, limits).map_err(|v| invalid(v.into()))?;
    let identity = wire.node.as_ref().ok_or_else(|| {
        invalid(FieldViolation::new("snapshot.node".into(), FieldProblem::Missing).into())
    })?;
    check_identity(node, identity).map_err(invalid)?;
    let snapshot = NodeSnapshot::try_from(wire).map_err(|e| invalid(Violation::Wire(e)))?;
    let blob = SnapshotBlob::of(&snapshot).map_err(|e| IngestError::Internal(Box::new(e)))?;
    if blob.hash != claimed {
        return Err(invalid(Violation::HashMismatch {
            claimed,
            computed: blob.hash,
        }));
    }
    let resolution = resolve(&snapshot);
    PreparedSnapshot::with_blob(&snapshot, blob, &resolution).map_err(IngestError::Store)
}
