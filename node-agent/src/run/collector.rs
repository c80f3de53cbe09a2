//! The collector task: turns node changes (debounced) and the periodic resync into collections,
//! each run on a blocking thread, and publishes the latest into a `watch` channel that the
//! connection and the file watcher read. It never waits for the network.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use super::changes::NodeChange;
use super::config::ChangeTiming;
use super::debounce::Debounce;
use super::latest::{CollectionTrigger, LatestSnapshot};
use super::status::StatusBoard;
use crate::collect::{self, CollectConfig};

/// Collects the node until `shutdown` turns true: once at start, then after each burst of changes
/// and at least every resync interval.
pub async fn run(
    config: Arc<CollectConfig>,
    timing: ChangeTiming,
    mut changes: mpsc::Receiver<NodeChange>,
    latest: watch::Sender<Option<Arc<LatestSnapshot>>>,
    status: Arc<StatusBoard>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut debounce = Debounce::new(timing.quiet, timing.max_delay);
    let mut trigger = CollectionTrigger::Startup;
    let mut changes_open = true;
    loop {
        // Changes seen until now are read by this collection; those that arrive while it runs
        // start the next burst.
        debounce.clear();
        if !collect_once(&config, trigger, &latest, &status).await {
            return;
        }
        let resync_at = Instant::now() + timing.resync_interval;
        trigger = loop {
            let due = debounce.due_at().unwrap_or(resync_at).min(resync_at);
            tokio::select! {
                change = changes.recv(), if changes_open => match change {
                    Some(change) => {
                        tracing::trace!(?change, "node change");
                        debounce.record(Instant::now());
                    }
                    // Both sources failed (and said so); the resync still runs.
                    None => changes_open = false,
                },
                () = tokio::time::sleep_until(due.into()) => {
                    break if debounce.due_at().is_some() {
                        CollectionTrigger::Change
                    } else {
                        CollectionTrigger::Resync
                    };
                }
                () = crate::run::stopping(&mut shutdown) => return,
            }
        };
    }
}

/// One collection on a blocking thread, published when done. `false` when the agent is stopping
/// (nobody reads the snapshots any more).
async fn collect_once(
    config: &Arc<CollectConfig>,
    trigger: CollectionTrigger,
    latest: &watch::Sender<Option<Arc<LatestSnapshot>>>,
    status: &StatusBoard,
) -> bool {
    let config = config.clone();
    let collected = tokio::task::spawn_blocking(move || {
        LatestSnapshot::prepare(collect::collect(&config), trigger)
    })
    .await;
    let snapshot = match collected {
        Ok(snapshot) => snapshot,
        Err(err) => {
            // A panic in a collector: keep the previous snapshot and try again at the next change
            // or resync.
            tracing::error!(error = %err, trigger = trigger.as_str(), "collection failed");
            status.count_failed_collection();
            return !latest.is_closed();
        }
    };
    let summary = &snapshot.summary;
    let changed = latest
        .borrow()
        .as_ref()
        .is_none_or(|previous| previous.hash != snapshot.hash);
    tracing::debug!(
        trigger = trigger.as_str(),
        duration = ?summary.duration,
        pods = summary.pods,
        source_errors = summary.source_errors,
        content_hash = %snapshot.hash,
        changed,
        "collected"
    );
    status.record_collection(summary, snapshot.hash);
    // Replaced even when unchanged: the status and the next upload carry the newest collection
    // time. Receivers compare hashes, so an unchanged snapshot sends nothing.
    latest.send_replace(Some(Arc::new(snapshot)));
    !latest.is_closed()
}
