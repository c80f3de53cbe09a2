//! Recording node snapshots: the blob, the `snapshots` row and the history diff, in one
//! transaction — one snapshot's ([`Store::record_prepared_after`]) or several nodes' at once
//! ([`Store::record_batch`], what the [`GroupCommit`](super::GroupCommit) writers use).
//!
//! A changed snapshot of a node whose ingest session remembers its open rows ([`CurrentRows`])
//! costs at most six round trips on its own: `BEGIN`, the node's row locked, the blob + snapshot +
//! node pointer in one statement, then one statement per history table it changes (pod
//! attachments, IP pools, ENIs: each closes and opens in one), `COMMIT`. Without remembered rows
//! the open ones are read first. A batch costs the same round trips for all of its snapshots: the
//! statements take arrays with a node column (`unnest`). Postgres spends most of a small
//! transaction's CPU on per-statement and per-transaction work, so in `bench-ingest` (50 agents,
//! 250-pod nodes, 2 cores) batches of about 4 cut its CPU per stored snapshot from 1.6–1.7 ms to
//! 0.9–1.0 ms. The commit is durable (`synchronous_commit` as the server has it) before any
//! agent is acked.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use podwire_node_state::NodeSnapshot;
use podwire_node_state::resolver::{NodeResolution, PodFacts};
use podwire_node_state::wire::ContentHash;
use sqlx::{PgConnection, Row};

use super::blob::{BlobEncoding, SnapshotBlob};
use super::node_diff::{Counts, NodeDiff};
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
        let attachments = attachments_of_facts(pods);
        // Checked here, where only this snapshot's ingest is refused, not in the batch that
        // writes it with others.
        if attachments
            .iter()
            .any(|a| i64::try_from(a.netns_inode).is_err())
        {
            return Err(StoreError::InvalidSnapshot(
                "network namespace inode beyond 2^63",
            ));
        }
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
            attachments,
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

        let valid_from = prepared.valid_from_after(last_valid_from);
        let ids = insert_snapshots(
            &mut tx,
            &[SnapshotRow {
                node: node_id,
                valid_from,
                received_at,
                prepared,
            }],
        )
        .await?;
        let snapshot_id = snapshot_id_of(&ids, node_id)?;

        let diff = match known {
            Some(rows) => rows.diff_to(node_id, valid_from, prepared),
            None => NodeDiff {
                node: node_id,
                at: valid_from,
                attachments: diff(
                    &attachment_rows::open_rows(&mut tx, node_id).await?,
                    &prepared.attachments,
                ),
                ipam_pools: diff(
                    &ipam_rows::open_rows(&mut tx, node_id).await?,
                    &prepared.ipam_pools,
                ),
                enis: diff(
                    &eni_rows::open_rows(&mut tx, node_id).await?,
                    &prepared.enis,
                ),
            },
        };
        let (closed, opened) = write_diffs(&mut tx, std::slice::from_ref(&diff))
            .await?
            .of(node_id);
        if known.is_some() && closed != diff.expected_closed() {
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

    /// Writes changed snapshots of several nodes in one transaction (group commit): the nodes'
    /// rows locked in id order, then one statement for all blobs, snapshot rows and node pointers
    /// and one per history table, and one commit. Each snapshot's diff is made against its
    /// remembered rows; a snapshot is left out (`None`, nothing of it written) when it is not a
    /// change of its node's latest stored snapshot as remembered: the node's latest is another
    /// (stale rows), or has the same content (unchanged), or the node is gone, or the node has an
    /// earlier snapshot in this batch. When the database disagrees with remembered rows, the
    /// whole batch is rolled back: [`BatchResult::RolledBack`].
    pub(super) async fn record_batch(
        &self,
        batch: &[Batched<'_>],
    ) -> Result<BatchResult, StoreError> {
        let mut tx = self.pool.begin().await?;
        // In id order: two writers locking overlapping sets cannot deadlock (ORDER BY sorts
        // before the rows are locked).
        let locked = sqlx::query(
            "SELECT n.id, n.cluster, n.name, n.last_snapshot_hash, n.last_snapshot_at FROM nodes n \
             JOIN unnest($1::text[], $2::text[]) AS k(cluster, name) \
               ON n.cluster = k.cluster AND n.name = k.name \
             ORDER BY n.id FOR UPDATE OF n",
        )
        .bind(
            batch
                .iter()
                .map(|b| b.prepared.node.cluster.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            batch
                .iter()
                .map(|b| b.prepared.node.name.as_str())
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut nodes: HashMap<(&str, &str), LockedNode> = HashMap::with_capacity(locked.len());
        for row in &locked {
            let last_hash: Option<Vec<u8>> = row.try_get("last_snapshot_hash")?;
            nodes.insert(
                (row.try_get("cluster")?, row.try_get("name")?),
                LockedNode {
                    id: NodeId(row.try_get("id")?),
                    last_hash,
                    last_valid_from: row.try_get("last_snapshot_at")?,
                },
            );
        }

        let mut rows = Vec::with_capacity(batch.len());
        let mut diffs = Vec::with_capacity(batch.len());
        let mut written: Vec<Option<NodeId>> = vec![None; batch.len()];
        let mut seen = HashSet::with_capacity(batch.len());
        for (i, item) in batch.iter().enumerate() {
            let prepared = item.prepared;
            let Some(node) =
                nodes.get(&(prepared.node.cluster.as_str(), prepared.node.name.as_str()))
            else {
                continue;
            };
            let last_hash = node.last_hash.as_deref();
            if last_hash != Some(item.known.hash.as_bytes().as_slice())
                || last_hash == Some(prepared.blob.hash.as_bytes().as_slice())
                || !seen.insert(node.id)
            {
                continue;
            }
            let valid_from = prepared.valid_from_after(node.last_valid_from);
            rows.push(SnapshotRow {
                node: node.id,
                valid_from,
                received_at: item.received_at,
                prepared,
            });
            diffs.push(item.known.diff_to(node.id, valid_from, prepared));
            written[i] = Some(node.id);
        }
        if rows.is_empty() {
            return Ok(BatchResult::Committed(vec![None; batch.len()]));
        }

        let ids = insert_snapshots(&mut tx, &rows).await?;
        let counts = write_diffs(&mut tx, &diffs).await?;
        if diffs
            .iter()
            .any(|d| counts.of(d.node).0 != d.expected_closed())
        {
            return Ok(BatchResult::RolledBack);
        }
        tx.commit().await?;

        written
            .into_iter()
            .map(|node| {
                node.map(|node| {
                    let (closed, opened) = counts.of(node);
                    Ok(StoredOutcome::Stored {
                        node_id: node,
                        snapshot_id: snapshot_id_of(&ids, node)?,
                        opened,
                        closed,
                    })
                })
                .transpose()
            })
            .collect::<Result<_, StoreError>>()
            .map(BatchResult::Committed)
    }
}

/// A node's row as a group commit locked it.
struct LockedNode {
    id: NodeId,
    last_hash: Option<Vec<u8>>,
    last_valid_from: Option<DateTime<Utc>>,
}

/// One snapshot of a group commit ([`Store::record_batch`]): of a node whose ingest session
/// remembers its open rows.
pub(super) struct Batched<'a> {
    pub prepared: &'a PreparedSnapshot,
    pub received_at: DateTime<Utc>,
    pub known: &'a CurrentRows,
}

/// What [`Store::record_batch`] did.
#[derive(Debug)]
pub(super) enum BatchResult {
    /// Committed: each snapshot's outcome, in the batch's order; `None` for those left out.
    Committed(Vec<Option<StoredOutcome>>),
    /// Some remembered rows were not what the database holds: nothing was written.
    RolledBack,
}

/// A snapshot row to write, of a node this transaction has locked.
struct SnapshotRow<'a> {
    node: NodeId,
    valid_from: DateTime<Utc>,
    received_at: DateTime<Utc>,
    prepared: &'a PreparedSnapshot,
}

/// The blobs, the snapshot rows and the nodes' pointers to them, in one statement however many
/// nodes; returns each node's new snapshot id. A blob two snapshots share is inserted once (an
/// `ON CONFLICT DO UPDATE` may not touch a row twice).
async fn insert_snapshots(
    conn: &mut PgConnection,
    rows: &[SnapshotRow<'_>],
) -> Result<Vec<(NodeId, i64)>, StoreError> {
    let mut hashes = HashSet::with_capacity(rows.len());
    let blobs: Vec<&SnapshotBlob> = rows
        .iter()
        .map(|r| &r.prepared.blob)
        .filter(|b| hashes.insert(b.hash))
        .collect();
    let ids = sqlx::query(
        "WITH blob AS ( \
             INSERT INTO snapshot_blobs (hash, encoding, raw_bytes, content) \
             SELECT b.hash, $1, b.raw_bytes, b.content \
             FROM unnest($2::bytea[], $3::int4[], $4::bytea[]) AS b(hash, raw_bytes, content) \
             ON CONFLICT (hash) DO UPDATE SET last_referenced_at = now()), \
         t AS MATERIALIZED ( \
             SELECT * FROM unnest($5::int4[], $6::bytea[], $7::timestamptz[], $8::int8[], \
                 $9::timestamptz[], $10::timestamptz[], $11::int4[], $12::text[], $13::text[], $14::text[]) \
               AS t(node_id, hash, collected_at, duration_us, valid_from, received_at, pod_count, \
                 boot_id, kernel, agent_version)), \
         node AS ( \
             UPDATE nodes n SET boot_id = t.boot_id, kernel = t.kernel, agent_version = t.agent_version, \
                 last_snapshot_hash = t.hash, last_snapshot_at = t.valid_from, \
                 last_collected_at = t.collected_at, \
                 last_heartbeat_at = GREATEST(n.last_heartbeat_at, t.received_at) \
             FROM t WHERE n.id = t.node_id) \
         INSERT INTO snapshots (node_id, blob_hash, collected_at, collection_duration_us, valid_from, \
             received_at, pod_count) \
         SELECT node_id, hash, collected_at, duration_us, valid_from, received_at, pod_count FROM t \
         RETURNING node_id, id",
    )
    .bind(BlobEncoding::Protobuf.as_str())
    .bind(blobs.iter().map(|b| b.hash.as_bytes().as_slice()).collect::<Vec<_>>())
    .bind(
        blobs
            .iter()
            .map(|b| i32::try_from(b.raw_len).unwrap_or(i32::MAX))
            .collect::<Vec<_>>(),
    )
    .bind(blobs.iter().map(|b| b.compressed.as_slice()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.node.0).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.prepared.blob.hash.as_bytes().as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.prepared.collected_at).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.prepared.collection_duration_us)
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.valid_from).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.received_at).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| i32::try_from(r.prepared.attachments.len()).unwrap_or(i32::MAX))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.prepared.boot_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.prepared.kernel.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.prepared.agent_version.as_str())
            .collect::<Vec<_>>(),
    )
    .fetch_all(conn)
    .await?;
    ids.iter()
        .map(|row| Ok((NodeId(row.try_get("node_id")?), row.try_get("id")?)))
        .collect()
}

fn snapshot_id_of(ids: &[(NodeId, i64)], node: NodeId) -> Result<i64, StoreError> {
    ids.iter()
        .find(|(n, _)| *n == node)
        .map(|(_, id)| *id)
        .ok_or_else(|| {
            StoreError::CorruptRow(format!("no snapshots row returned for node {}", node.0))
        })
}

/// The nodes' diffs, one statement per history table that any of them changes.
async fn write_diffs(conn: &mut PgConnection, diffs: &[NodeDiff]) -> Result<Counts, StoreError> {
    let mut counts = attachment_rows::replace(conn, diffs).await?;
    counts.merge(ipam_rows::replace(conn, diffs).await?);
    counts.merge(eni_rows::replace(conn, diffs).await?);
    Ok(counts)
}

impl PreparedSnapshot {
    /// Where the snapshot's intervals start: its collection time, but never before the node's
    /// previous snapshot's.
    fn valid_from_after(&self, last: Option<DateTime<Utc>>) -> DateTime<Utc> {
        last.map_or(self.collected_at, |last| last.max(self.collected_at))
    }
}

impl CurrentRows {
    /// What `prepared` changes when these are the node's open rows.
    fn diff_to(&self, node: NodeId, at: DateTime<Utc>, prepared: &PreparedSnapshot) -> NodeDiff {
        NodeDiff {
            node,
            at,
            attachments: diff(&self.attachments, &prepared.attachments),
            ipam_pools: diff(&self.ipam_pools, &prepared.ipam_pools),
            enis: diff(&self.enis, &prepared.enis),
        }
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
