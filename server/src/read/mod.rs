//! Read models shared by the REST API and the pages: each answers one question about the fleet
//! at a time T from the store's rows and, where the full picture is needed, from the node's
//! snapshot valid at T re-resolved with the current resolver.
//!
//! SQL stays in [`crate::store`]; JSON and HTML stay in `api` and `pages`. Everything here is
//! domain types.

mod eni;
pub mod ip_text;
mod node;
pub mod node_diff;
mod overview;
mod pod;
mod search;
mod subnet;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use podwire_node_state::NodeSnapshot;
use podwire_node_state::resolver::NodeResolution;

pub use eni::{Branch, EniAddress, EniDetail};
pub use node::{NodeDetail, NodeDiff, SnapshotMeta};
pub use overview::{ClusterOverview, Overview, SubnetSummary, utilization as overview_utilization};
pub use pod::{Ec2Facts, PodDetail, PodInterfaceAt};
pub use search::{SearchQuery, SearchResults};
pub use subnet::{SubnetPoint, SubnetSeries, subnet_series};

use crate::store::{NodeId, Store, StoreError};

/// Turns a stored snapshot into pod paths: the shared resolver in production; tests pass their
/// own so that they can use resolutions they built.
pub type PathResolver = Arc<dyn Fn(&NodeSnapshot) -> NodeResolution + Send + Sync>;

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what} not found")]
    NotFound { what: String },
    /// Resolution runs on a blocking thread; it panicked or was cancelled.
    #[error("resolving a snapshot failed")]
    Resolve(#[source] tokio::task::JoinError),
}

/// Enrichment data from EC2 (security groups, subnet CIDR and free addresses) is not stored by
/// this version; pages and the API show the slot as not enriched rather than leave it out.
pub const NOT_ENRICHED: &str = "not enriched";

/// A node's snapshot valid at some time, and its resolution.
#[derive(Debug, Clone)]
pub struct ResolvedSnapshot {
    pub snapshot_id: i64,
    pub valid_from: DateTime<Utc>,
    pub collected_at: DateTime<Utc>,
    pub snapshot: NodeSnapshot,
    pub resolution: NodeResolution,
}

/// The read side of the store, with the resolver that re-resolves snapshots. Cheap to clone.
#[derive(Clone)]
pub struct Reader {
    pub store: Store,
    pub resolver: PathResolver,
    /// A node not heard from for this long is stale.
    pub stale_after: chrono::Duration,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("store", &self.store)
            .field("stale_after", &self.stale_after)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// The snapshot of `node` valid at `at`, resolved on a blocking thread (decompression and
    /// resolution are CPU work).
    pub async fn resolved_snapshot_at(
        &self,
        node: NodeId,
        at: DateTime<Utc>,
    ) -> Result<Option<ResolvedSnapshot>, ReadError> {
        let Some(stored) = self.store.snapshot_at(node, at).await? else {
            return Ok(None);
        };
        let resolver = self.resolver.clone();
        let resolved = tokio::task::spawn_blocking(move || {
            let resolution = resolver(&stored.snapshot);
            ResolvedSnapshot {
                snapshot_id: stored.snapshot_id,
                valid_from: stored.valid_from,
                collected_at: stored.collected_at,
                snapshot: stored.snapshot,
                resolution,
            }
        })
        .await
        .map_err(ReadError::Resolve)?;
        Ok(Some(resolved))
    }
}
