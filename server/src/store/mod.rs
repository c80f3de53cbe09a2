//! The Postgres store: nodes and their liveness, content-addressed snapshots, and the derived
//! history of pod attachments and IP pools with validity intervals.
//!
//! Ingest writes through the [`GroupCommit`] (several sessions' snapshots in one transaction),
//! [`Store::record_snapshot`] and the [`HeartbeatCoalescer`]; the API reads
//! the read models in [`queries`]. SQL rows stop here: callers see domain types only. Queries are
//! built at run time (no `query!` macros, which would need a database at build time), from static
//! strings only.
//!
//! Pod attachments live in two tables: `current_pod_attachments` (open intervals; a row is deleted
//! when its interval closes) and `pod_attachment_history` (closed intervals, insert-only, so no
//! dead row versions). Reads go through the view `pod_attachment_spans`, where an open interval
//! ends at `infinity`, so "valid at T" is `valid_from <= T AND valid_to > T` on both tables' indexes.

mod attachment_rows;
pub mod blob;
mod dashboard_queries;
mod ec2_reads;
mod ec2_rows;
mod eni_rows;
mod error;
mod group_commit;
mod heartbeat;
mod ingest;
mod ipam_rows;
mod node_diff;
pub mod queries;
mod retention;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use dashboard_queries::{
    EniFilter, EniInterval, NodeSummary, PodCursor, PodPageFilter, PoolInterval,
};
pub use ec2_reads::{FreeSample, NodeInstanceLimits};
pub use error::StoreError;
pub use group_commit::GroupCommit;
pub use heartbeat::HeartbeatCoalescer;
pub use ingest::{CurrentRows, NodeId, NodeKey, NodeLatest, PreparedSnapshot, StoredOutcome};
pub use retention::RetentionReport;

/// The migrations in the workspace's `migrations/`, embedded at build time. sqlx's Postgres
/// migrator holds a session advisory lock (`pg_advisory_lock`, keyed on the database name) while
/// it applies them, so several replicas starting at once apply each migration exactly once.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// How long a request waits for a pooled connection before the database counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// A store over an existing pool.
    pub fn new(pool: PgPool) -> Self {
        Store { pool }
    }

    /// Opens a pool lazily: no connection is made until the first query, so the server starts and
    /// stays up while the database is away, and reconnects when it returns.
    pub fn connect_lazy(options: PgConnectOptions) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Store { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations under the migrator's advisory lock.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(|err| match err {
            sqlx::migrate::MigrateError::Execute(e) if error::is_unavailable(&e) => {
                StoreError::Unavailable(e)
            }
            other => StoreError::Migrate(other),
        })
    }

    /// One round trip to the database: what readiness reports.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    /// Closes every pooled connection (before a local Postgres is stopped).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
