//! Liveness: heartbeats are many (every agent, every few seconds) and each only moves a
//! timestamp forward, so they are coalesced in memory and flushed in one statement per interval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::{NodeId, Store, StoreError};

impl Store {
    /// Moves each node's `last_heartbeat_at` forward to the given time (never back), in one
    /// transaction: the rows locked in id order, then one update. Unknown node ids are ignored.
    pub async fn record_heartbeats(
        &self,
        batch: &[(NodeId, DateTime<Utc>)],
    ) -> Result<u64, StoreError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i32> = batch.iter().map(|(id, _)| id.0).collect();
        // The rows are locked in id order first, as ingest's group commit locks its batch's
        // nodes: an UPDATE … FROM locks them in join order, which could deadlock with a batch.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT id FROM nodes WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        let result = sqlx::query(
            "UPDATE nodes n SET last_heartbeat_at = GREATEST(n.last_heartbeat_at, h.at) \
             FROM unnest($1::int4[], $2::timestamptz[]) AS h(id, at) WHERE n.id = h.id",
        )
        .bind(&ids)
        .bind(batch.iter().map(|(_, at)| *at).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(result.rows_affected())
    }
}

/// Collects heartbeats between flushes, keeping the latest time per node. Cheap to clone; every
/// clone feeds the same batch. Noting a heartbeat never touches the database.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatCoalescer {
    pending: Arc<Mutex<HashMap<NodeId, DateTime<Utc>>>>,
}

impl HeartbeatCoalescer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `node` was alive at `at`.
    pub fn note(&self, node: NodeId, at: DateTime<Utc>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending
            .entry(node)
            .and_modify(|t| *t = (*t).max(at))
            .or_insert(at);
    }

    /// Heartbeats noted since the last flush.
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Writes everything noted so far in one statement. When the write fails, the batch is kept
    /// (merged with what arrived meanwhile) for the next flush.
    pub async fn flush(&self, store: &Store) -> Result<u64, StoreError> {
        let batch: Vec<(NodeId, DateTime<Utc>)> = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut *pending).into_iter().collect()
        };
        match store.record_heartbeats(&batch).await {
            Ok(n) => Ok(n),
            Err(err) => {
                for (node, at) in batch {
                    self.note(node, at);
                }
                Err(err)
            }
        }
    }

    /// Flushes every `interval` until `shutdown` turns true, then once more.
    pub async fn run_flusher(
        self,
        store: Store,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            if let Err(err) = self.flush(&store).await {
                tracing::warn!(error = %err, pending = self.pending(), "heartbeat flush failed; keeping them for the next one");
            }
        }
        if let Err(err) = self.flush(&store).await {
            tracing::warn!(error = %err, lost = self.pending(), "final heartbeat flush failed");
        }
    }
}
