//! Group commit: changed snapshots of several agents' sessions written in one transaction.
//!
//! Why: a changed snapshot written on its own costs about seven round trips and a commit, and
//! Postgres spends most of its ~1.7 ms of CPU per snapshot on what every statement and every
//! transaction costs whatever it writes (executor start-up, plan cache, locks, wake-ups), not on
//! the rows. Sessions therefore hand their snapshots to writer tasks, which take whatever is
//! queued (never waiting for more: an idle server adds no latency) and write it with one
//! statement per table for the whole batch ([`Store::record_batch`]), then answer each session
//! once the transaction has committed, durably. An agent is still acked only for what is stored.
//!
//! What a batch cannot write is written on its own afterwards, in order, through
//! [`Store::record_prepared_after`]: a snapshot whose session remembers no rows (its first after
//! `Hello`, written by the session itself without queueing), one whose remembered rows are stale
//! or that is unchanged, a node's second snapshot in the batch, and every snapshot of a batch
//! whose remembered rows the database disagreed with (rolled back). A database error fails the
//! whole batch, nothing of it written: every snapshot in it gets the error.
//!
//! Ordering: a session has one upload in flight, so a node's snapshots reach the queue in order;
//! two streams of one node (a reconnect racing its old stream) are serialised by the node's row
//! lock and the remembered-hash check, as without batching.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::ingest::{BatchResult, Batched};
use super::{CurrentRows, PreparedSnapshot, Store, StoreError, StoredOutcome};

/// Snapshots written in one transaction at most.
const MAX_BATCH: usize = 32;
/// Compressed blob bytes in one transaction at most (the statement carries them all).
const MAX_BATCH_BYTES: usize = 4 << 20;
/// Snapshots queued at most; a session submitting beyond waits (one upload per session is in
/// flight, so this is reached only with more sessions than that).
const QUEUE_DEPTH: usize = 1024;

/// What a session is told about its snapshot: the outcome, and the snapshot back (its rows are
/// what the session remembers next).
type Answer = Result<(StoredOutcome, PreparedSnapshot), StoreError>;

struct Submission {
    prepared: PreparedSnapshot,
    received_at: DateTime<Utc>,
    known: CurrentRows,
    answer: oneshot::Sender<Answer>,
}

/// The queue into the writer tasks; cheap to clone. The writers stop once every clone is dropped
/// and the queue is drained: nothing queued is abandoned.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    store: Store,
    queue: mpsc::Sender<Submission>,
}

impl GroupCommit {
    /// Starts `writers` writer tasks (at least one) on the current Tokio runtime, each with its
    /// own transaction at a time: while one writes, the next collects what arrives meanwhile.
    pub fn start(store: Store, writers: usize) -> GroupCommit {
        let (queue, queued) = mpsc::channel(QUEUE_DEPTH);
        let queued = Arc::new(Mutex::new(queued));
        for _ in 0..writers.max(1) {
            tokio::spawn(write(store.clone(), queued.clone()));
        }
        GroupCommit { store, queue }
    }

    /// [`Store::record_prepared_after`] through the group commit: returns once the snapshot is
    /// durably stored (or the batch failed), with the rows to remember for the next one.
    pub async fn record(
        &self,
        prepared: PreparedSnapshot,
        received_at: DateTime<Utc>,
        known: Option<CurrentRows>,
    ) -> Result<(StoredOutcome, CurrentRows), StoreError> {
        let Some(known) = known else {
            // The open rows are read first: a transaction of its own.
            let outcome = self
                .store
                .record_prepared_after(&prepared, received_at, None)
                .await?;
            return Ok((outcome, prepared.into_current_rows()));
        };
        let (answer, answered) = oneshot::channel();
        self.queue
            .send(Submission {
                prepared,
                received_at,
                known,
                answer,
            })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        let (outcome, prepared) = answered.await.map_err(|_| StoreError::WriterStopped)??;
        Ok((outcome, prepared.into_current_rows()))
    }
}

/// One writer: takes what is queued, up to a batch, and writes it; ends when the queue closes.
async fn write(store: Store, queued: Arc<Mutex<mpsc::Receiver<Submission>>>) {
    loop {
        let batch = {
            let mut queued = queued.lock().await;
            let Some(first) = queued.recv().await else {
                return;
            };
            let mut bytes = first.prepared.stored_bytes();
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                let Ok(next) = queued.try_recv() else { break };
                bytes += next.prepared.stored_bytes();
                batch.push(next);
            }
            batch
        };
        commit(&store, batch).await;
    }
}

/// Writes one batch and answers every submitter.
async fn commit(store: &Store, batch: Vec<Submission>) {
    let items: Vec<Batched<'_>> = batch
        .iter()
        .map(|s| Batched {
            prepared: &s.prepared,
            received_at: s.received_at,
            known: &s.known,
        })
        .collect();
    let written = store.record_batch(&items).await;
    drop(items);
    let outcomes = match written {
        Ok(BatchResult::Committed(outcomes)) => outcomes,
        Ok(BatchResult::RolledBack) => {
            tracing::debug!(
                snapshots = batch.len(),
                "group commit rolled back: remembered rows are stale; writing one by one"
            );
            vec![None; batch.len()]
        }
        Err(err) => {
            fail(batch, err);
            return;
        }
    };
    let mut alone = Vec::new();
    for (submission, outcome) in batch.into_iter().zip(outcomes) {
        match outcome {
            Some(outcome) => {
                let _ = submission.answer.send(Ok((outcome, submission.prepared)));
            }
            None => alone.push(submission),
        }
    }
    for submission in alone {
        let answer = store
            .record_prepared_after(
                &submission.prepared,
                submission.received_at,
                Some(&submission.known),
            )
            .await
            .map(|outcome| (outcome, submission.prepared));
        let _ = submission.answer.send(answer);
    }
}

/// Every submitter of a failed batch gets its error.
fn fail(mut batch: Vec<Submission>, err: StoreError) {
    if batch.len() == 1
        && let Some(submission) = batch.pop()
    {
        let _ = submission.answer.send(Err(err));
        return;
    }
    let err = Arc::new(err);
    for submission in batch {
        let _ = submission.answer.send(Err(StoreError::Batch(err.clone())));
    }
}
