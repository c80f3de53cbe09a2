//! Recording one node snapshot: the blob, the `snapshots` row and the history diff, in one
//! transaction.
//!
//! A changed snapshot of a node whose ingest session remembers its open rows ([`CurrentRows`])
//! costs six round trips: `BEGIN`, the node's row locked, the blob + snapshot + node pointer in
//! one statement, the attachments closed and opened in one statement, the ENI samples when they
//! changed, `COMMIT`. Without remembered rows the open ones are read first. The commit is durable
//! (`synchronous_commit` as the server has it) before the agent is acked; concurrent sessions
//! share WAL flushes (group commit), so durability costs latency, not throughput.

use chrono::{DateTime, Utc};
use podwire_node_state::NodeSnapshot;
use podwire_node_state::resolver::{NodeResolution, PodFacts};
use podwire_node_state::wire::ContentHash;
use sqlx::Row;

use super::blob::{BlobEncoding, SnapshotBlob};
use super::{Store, StoreError, attachment_rows, eni_rows, ipam_rows};
use crate::history::{
    Attachment, IpamPool, NodeEni, attachments_of_facts, diff, enis_of, ipam_pools_of,
};

/// A node as agents and users name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeKey {
    pub cluster: String,
    pub name: String,
}

/// The store's id of a node (`nodes.id`): what heartbeats are recorded against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub i32);

/// What [`Store::record_snapshot`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredOutcome {
    /// The node's latest stored snapshot has the same content: nothing but liveness was written.
    Unchanged {
        node_id: NodeId,
        /// The node's latest stored snapshot, which has this content.
        snapshot_id: i64,
    },
    Stored {
        node_id: NodeId,
        snapshot_id: i64,
        /// History intervals opened (pod attachments, IP pools and ENIs).
        opened: u64,
        /// History intervals closed.
        closed: u64,
    },
}

impl StoredOutcome {
    pub fn node_id(&self) -> NodeId {
        match self {
            StoredOutcome::Unchanged { node_id, .. } | StoredOutcome::Stored { node_id, .. } => {
                *node_id
            }
        }
    }

    /// The snapshot the node's state now points at.
    pub fn snapshot_id(&self) -> i64 {
        match self {
            StoredOutcome::Unchanged { snapshot_id, .. }
            | StoredOutcome::Stored { snapshot_id, .. } => *snapshot_id,
        }
    }
}

/// What the store holds as a node's latest state: what an agent reconnecting is told, and what
/// its heartbeats are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLatest {
    pub node_id: NodeId,
    pub content_hash: ContentHash,
    pub snapshot_id: i64,
}

/// Everything [`Store::record_prepared`] writes, computed without the database: hashing,
/// compressing and deriving the history rows are CPU work the caller may move to a blocking
/// thread.
#[derive(Debug, Clone)]
pub struct PreparedSnapshot {
    pub node: NodeKey,
    boot_id: String,
    kernel: String,
    agent_version: String,
    collected_at: DateTime<Utc>,
    collection_duration_us: i64,
    blob: SnapshotBlob,
    attachments: Vec<Attachment>,
    ipam_pools: Vec<IpamPool>,
    enis: Vec<NodeEni>,
}

impl PreparedSnapshot {
    /// Everything to store for `snapshot`, resolved as `resolution`.
    pub fn new(snapshot: &NodeSnapshot, resolution: &NodeResolution) -> Result<Self, StoreError> {
        let pods = resolution.pods.iter().map(PodFacts::of).collect();
        Self::with_blob(snapshot, SnapshotBlob::of(snapshot)?, pods)
    }

    /// [`PreparedSnapshot::new`] with the blob already made (ingest makes it first, to check the
    /// agent's content hash before spending a resolution on the snapshot), from the pods' facts
    /// in resolution order (`resolve_facts`, which is all the history keeps of a resolution).
    pub fn with_blob(
        snapshot: &NodeSnapshot,
        blob: SnapshotBlob,
        pods: Vec<PodFacts>,
    ) -> Result<Self, StoreError> {
        let identity = &snapshot.node;
        let collected_at = DateTime::<Utc>::from_timestamp_millis(identity.collected_at_unix_ms)
            .ok_or(StoreError::InvalidSnapshot("collection time out of range"))?;
        Ok(PreparedSnapshot {
            node: NodeKey {
                cluster: identity.cluster.clone(),
                name: identity.node_name.clone(),
            },
            boot_id: identity.boot_id.clone(),
            kernel: identity.kernel.clone(),
            agent_version: identity.agent_version.clone(),
            collected_at,
            collection_duration_us: i64::try_from(identity.collection_duration_us)
                .unwrap_or(i64::MAX),
            blob,
            attachments: attachments_of_facts(pods),
            ipam_pools: ipam_pools_of(snapshot),
            enis: enis_of(snapshot),
        })
    }

    pub fn content_hash(&self) -> ContentHash {
        self.blob.hash
    }

    /// Bytes the blob takes in the database (compressed).
    pub fn stored_bytes(&self) -> usize {
        self.blob.compressed.len()
    }
}

/// The id of a node's latest stored snapshot: valid_from never goes back for a node, and of two
/// with the same valid_from the later stored wins (as in `snapshot_at`).
const LATEST_SNAPSHOT_ID: &str =
    "SELECT id FROM snapshots WHERE node_id = $1 ORDER BY valid_from DESC, id DESC LIMIT 1";

impl Store {
    /// The node's latest stored snapshot, if the node has one: one indexed lookup.
    pub async fn node_latest(&self, node: &NodeKey) -> Result<Option<NodeLatest>, StoreError> {
        let row = sqlx::query(
            "SELECT n.id, n.last_snapshot_hash, s.id AS snapshot_id FROM nodes n \
             JOIN LATERAL (SELECT id FROM snapshots WHERE node_id = n.id \
                           ORDER BY valid_from DESC, id DESC LIMIT 1) s ON true \
             WHERE n.cluster = $1 AND n.name = $2",
        )
        .bind(&node.cluster)
        .bind(&node.name)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let hash: Option<Vec<u8>> = row.try_get("last_snapshot_hash")?;
        let Some(hash) = hash else { return Ok(None) };
        let content_hash = ContentHash::from_wire(&hash)
            .map_err(|err| StoreError::CorruptRow(format!("nodes.last_snapshot_hash: {err}")))?;
        Ok(Some(NodeLatest {
            node_id: NodeId(row.try_get("id")?),
            content_hash,
            snapshot_id: row.try_get("snapshot_id")?,
        }))
    }

    /// Stores a snapshot of `node` unless its content equals the node's latest stored one, and
    /// updates the derived history: intervals whose attributes changed or whose pod interface
    /// disappeared are closed, new ones opened, all at the snapshot's collection time clamped so
    /// that it never goes back before the node's previous snapshot. Resending an identical
    /// snapshot is harmless: [`StoredOutcome::Unchanged`].
    pub async fn record_snapshot(
        &self,
        node: &NodeKey,
        snapshot: &NodeSnapshot,
        resolution: &NodeResolution,
    ) -> Result<StoredOutcome, StoreError> {
        let prepared = PreparedSnapshot::new(snapshot, resolution)?;
        if &prepared.node != node {
            return Err(StoreError::IdentityMismatch {
                cluster: node.cluster.clone(),
                node: node.name.clone(),
                snapshot_cluster: prepared.node.cluster,
                snapshot_node: prepared.node.name,
            });
        }
        self.record_prepared(&prepared, Utc::now()).await
    }

    /// [`Store::record_snapshot`] for a snapshot already prepared; `received_at` is the server's
    /// clock, which liveness is measured by.
    pub async fn record_prepared(
        &self,
        prepared: &PreparedSnapshot,
        received_at: DateTime<Utc>,
    ) -> Result<StoredOutcome, StoreError> {
        self.record_prepared_after(prepared, received_at, None)
            .await
    }

    /// [`Store::record_prepared`] for a caller that remembers what it stored last for the node
    /// (`known`, from [`PreparedSnapshot::into_current_rows`]): when the node's latest stored
    /// snapshot is still that one, its open intervals are those rows, and the diff needs no read.
    /// When it is not (another stream of the node stored since), or the database disagrees with
    /// the rows, the transaction is rolled back and done again from the database.
    pub async fn record_prepared_after(
        &self,
        prepared: &PreparedSnapshot,
        received_at: DateTime<Utc>,
        known: Option<&CurrentRows>,
    ) -> Result<StoredOutcome, StoreError> {
        if known.is_some()
            && let Some(outcome) = self.try_record(prepared, received_at, known).await?
        {
            return Ok(outcome);
        }
        self.try_record(prepared, received_at, None)
            .await?
            .ok_or(StoreError::InvalidSnapshot(
                "the node vanished while it was stored",
            ))
    }

    /// One attempt; `None` when `known` turned out not to be what the database holds (nothing
    /// was written then).
    async fn try_record(
        &self,
        prepared: &PreparedSnapshot,
        received_at: DateTime<Utc>,
        known: Option<&CurrentRows>,
    ) -> Result<Option<StoredOutcome>, StoreError> {
        let mut tx = self.pool.begin().await?;

        if known.is_none() {
            sqlx::query(
                "INSERT INTO nodes (cluster, name, boot_id, kernel, agent_version, first_seen_at, last_heartbeat_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (cluster, name) DO NOTHING",
            )
            .bind(&prepared.node.cluster)
            .bind(&prepared.node.name)
            .bind(&prepared.boot_id)
            .bind(&prepared.kernel)
            .bind(&prepared.agent_version)
            .bind(received_at)
            .execute(&mut *tx)
            .await?;
        }
        // The row lock serialises concurrent ingest for one node (a reconnect racing its old stream).
        let row = sqlx::query(
            "SELECT id, last_snapshot_hash, last_snapshot_at FROM nodes WHERE cluster = $1 AND name = $2 FOR UPDATE",
        )
        .bind(&prepared.node.cluster)
        .bind(&prepared.node.name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let node_id = NodeId(row.try_get("id")?);
        let last_hash: Option<Vec<u8>> = row.try_get("last_snapshot_hash")?;
        let last_valid_from: Option<DateTime<Utc>> = row.try_get("last_snapshot_at")?;
        let known = match known {
            Some(rows) if last_hash.as_deref() == Some(rows.hash.as_bytes().as_slice()) => {
                Some(rows)
            }
            Some(_) => return Ok(None),
            None => None,
        };

        if last_hash.as_deref() == Some(prepared.blob.hash.as_bytes().as_slice()) {
            sqlx::query("UPDATE nodes SET last_heartbeat_at = GREATEST(last_heartbeat_at, $2) WHERE id = $1")
                .bind(node_id.0)
                .bind(received_at)
                .execute(&mut *tx)
                .await?;
            let snapshot_id: i64 = sqlx::query_scalar(LATEST_SNAPSHOT_ID)
                .bind(node_id.0)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Some(StoredOutcome::Unchanged {
                node_id,
                snapshot_id,
            }));
        }

        let valid_from = last_valid_from.map_or(prepared.collected_at, |last| {
            last.max(prepared.collected_at)
        });

        // The blob, the snapshot row and the node's pointer to it, in one round trip.
        let snapshot_id: i64 = sqlx::query(
            "WITH blob AS ( \
                 INSERT INTO snapshot_blobs (hash, encoding, raw_bytes, content) VALUES ($2, $8, $9, $10) \
                 ON CONFLICT (hash) DO UPDATE SET last_referenced_at = now()), \
             node AS ( \
                 UPDATE nodes SET boot_id = $11, kernel = $12, agent_version = $13, last_snapshot_hash = $2, \
                     last_snapshot_at = $5, last_collected_at = $3, \
                     last_heartbeat_at = GREATEST(last_heartbeat_at, $6) \
                 WHERE id = $1) \
             INSERT INTO snapshots (node_id, blob_hash, collected_at, collection_duration_us, valid_from, \
                 received_at, pod_count) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(node_id.0)
        .bind(prepared.blob.hash.as_bytes().as_slice())
        .bind(prepared.collected_at)
        .bind(prepared.collection_duration_us)
        .bind(valid_from)
        .bind(received_at)
        .bind(i32::try_from(prepared.attachments.len()).unwrap_or(i32::MAX))
        .bind(BlobEncoding::Protobuf.as_str())
        .bind(i32::try_from(prepared.blob.raw_len).unwrap_or(i32::MAX))
        .bind(prepared.blob.compressed.as_slice())
        .bind(&prepared.boot_id)
        .bind(&prepared.kernel)
        .bind(&prepared.agent_version)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;

        let read;
        let current = match known {
            Some(rows) => &rows.attachments,
            None => {
                read = attachment_rows::open_rows(&mut tx, node_id).await?;
                &read
            }
        };
        let attachments = diff(current, &prepared.attachments);
        let (mut closed, mut opened) = attachment_rows::replace(
            &mut tx,
            node_id,
            &attachments.close,
            &attachments.open,
            valid_from,
        )
        .await?;
        let mut expected_closed = attachments.close.len();

        let read;
        let current = match known {
            Some(rows) => &rows.ipam_pools,
            None => {
                read = ipam_rows::open_rows(&mut tx, node_id).await?;
                &read
            }
        };
        let pools = diff(current, &prepared.ipam_pools);
        expected_closed += pools.close.len();
        closed += ipam_rows::close(&mut tx, node_id, &pools.close, valid_from).await?;
        opened += ipam_rows::open(&mut tx, node_id, &pools.open, valid_from).await?;

        let read;
        let current = match known {
            Some(rows) => &rows.enis,
            None => {
                read = eni_rows::open_rows(&mut tx, node_id).await?;
                &read
            }
        };
        let enis = diff(current, &prepared.enis);
        expected_closed += enis.close.len();
        closed += eni_rows::close(&mut tx, node_id, &enis.close, valid_from).await?;
        opened += eni_rows::open(&mut tx, node_id, &enis.open, valid_from).await?;

        if known.is_some() && usize::try_from(closed).ok() != Some(expected_closed) {
            // Not what the remembered rows said: leave it to a diff against the database.
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(StoredOutcome::Stored {
            node_id,
            snapshot_id,
            opened,
            closed,
        }))
    }
}

/// The rows of a node's open intervals as one stored snapshot derived them: what an ingest
/// session keeps between uploads (about 200 bytes per pod) so that the next diff needs no read.
#[derive(Debug, Clone)]
pub struct CurrentRows {
    hash: ContentHash,
    attachments: Vec<Attachment>,
    ipam_pools: Vec<IpamPool>,
    enis: Vec<NodeEni>,
}

impl PreparedSnapshot {
    /// What the node's open intervals hold once this snapshot is its latest stored one.
    pub fn into_current_rows(self) -> CurrentRows {
        CurrentRows {
            hash: self.blob.hash,
            attachments: self.attachments,
            ipam_pools: self.ipam_pools,
            enis: self.enis,
        }
    }
}
