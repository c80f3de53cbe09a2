//! Read models for the API: nodes with liveness, pods as of a time, the holders of an IP, a pod's
//! timeline and the snapshot valid at a time. Each "as of" question is one index lookup.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use podwire_node_state::NodeSnapshot;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use super::attachment_rows::{self, attachment_columns};
use super::{NodeId, Store, StoreError, blob};
use crate::history::{Attachment, pod_key};

/// A node and how recently it was heard from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLiveness {
    pub node_id: NodeId,
    pub cluster: String,
    pub name: String,
    pub boot_id: String,
    pub kernel: String,
    pub agent_version: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_heartbeat_at: DateTime<Utc>,
    pub last_snapshot_at: Option<DateTime<Utc>>,
    /// No heartbeat or snapshot within the stale-after setting.
    pub stale: bool,
}

/// One pod interface's state over one interval, on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInterval {
    pub node_id: NodeId,
    pub cluster: String,
    pub node: String,
    pub attachment: Attachment,
    pub valid_from: DateTime<Utc>,
    /// `None` while current.
    pub valid_to: Option<DateTime<Utc>>,
}

/// Which pods to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodFilter {
    pub cluster: Option<String>,
    pub node: Option<String>,
    pub namespace: Option<String>,
    pub at: DateTime<Utc>,
    /// At most this many rows.
    pub limit: i64,
}

/// The snapshot of a node that was valid at some time.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSnapshot {
    pub snapshot_id: i64,
    pub valid_from: DateTime<Utc>,
    pub collected_at: DateTime<Utc>,
    /// Decompressed, with its collection time restored from the `snapshots` row.
    pub snapshot: NodeSnapshot,
}

/// The columns [`interval`] reads: the interval, its node, and the attachment.
macro_rules! interval_columns {
    () => {
        concat!(
            "a.node_id, n.cluster, n.name AS node_name, a.valid_from, \
             NULLIF(a.valid_to, 'infinity'::timestamptz) AS valid_to, ",
            attachment_columns!()
        )
    };
}

pub(crate) fn interval(row: &PgRow) -> Result<AttachmentInterval, StoreError> {
    Ok(AttachmentInterval {
        node_id: NodeId(row.try_get("node_id")?),
        cluster: row.try_get("cluster")?,
        node: row.try_get("node_name")?,
        attachment: attachment_rows::decode(row)?,
        valid_from: row.try_get("valid_from")?,
        valid_to: row.try_get("valid_to")?,
    })
}

impl Store {
    /// Every node, by cluster and name, with `stale` judged at `now`.
    pub async fn nodes(
        &self,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> Result<Vec<NodeLiveness>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, cluster, name, boot_id, kernel, agent_version, first_seen_at, last_heartbeat_at, \
                    last_snapshot_at, last_heartbeat_at < $1 AS stale \
             FROM nodes ORDER BY cluster, name",
        )
        .bind(now - stale_after)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(node_liveness).collect()
    }

    /// The nodes not heard from within `stale_after` of `now`.
    pub async fn stale_nodes(
        &self,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> Result<Vec<NodeLiveness>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, cluster, name, boot_id, kernel, agent_version, first_seen_at, last_heartbeat_at, \
                    last_snapshot_at, true AS stale \
             FROM nodes WHERE last_heartbeat_at < $1 ORDER BY cluster, name",
        )
        .bind(now - stale_after)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(node_liveness).collect()
    }

    /// The pod interfaces attached at `filter.at`, by cluster, node, namespace, name. Only the
    /// filters given appear in the SQL, so each shape gets a plan that uses the as-of index.
    pub async fn pods_as_of(
        &self,
        filter: &PodFilter,
    ) -> Result<Vec<AttachmentInterval>, StoreError> {
        let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(concat!(
            "SELECT ",
            interval_columns!(),
            " FROM nodes n JOIN pod_attachment_spans a ON a.node_id = n.id \
             WHERE a.valid_from <= "
        ));
        sql.push_bind(filter.at)
            .push(" AND a.valid_to > ")
            .push_bind(filter.at);
        if let Some(cluster) = &filter.cluster {
            sql.push(" AND n.cluster = ").push_bind(cluster);
        }
        if let Some(node) = &filter.node {
            sql.push(" AND n.name = ").push_bind(node);
        }
        if let Some(namespace) = &filter.namespace {
            sql.push(" AND a.pod_namespace = ").push_bind(namespace);
        }
        sql.push(" ORDER BY n.cluster, n.name, a.pod_namespace, a.pod_name, a.interface, a.netns_inode LIMIT ")
            .push_bind(filter.limit);
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.iter().map(interval).collect()
    }

    /// Who held `ip` at `at`: normally one pod interface, more when clusters overlap.
    pub async fn ip_holders(
        &self,
        ip: IpAddr,
        at: DateTime<Utc>,
    ) -> Result<Vec<AttachmentInterval>, StoreError> {
        let sql = concat!(
            "SELECT ",
            interval_columns!(),
            " FROM pod_attachment_spans a JOIN nodes n ON n.id = a.node_id \
             WHERE a.ip = $1 AND a.valid_from <= $2 AND a.valid_to > $2 \
             ORDER BY n.cluster, n.name"
        );
        let rows = sqlx::query(sql)
            .bind(ip)
            .bind(at)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(interval).collect()
    }

    /// Every interval of the pod `namespace/name`, oldest first, optionally in one cluster.
    pub async fn pod_timeline(
        &self,
        cluster: Option<&str>,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<AttachmentInterval>, StoreError> {
        let sql = concat!(
            "SELECT ",
            interval_columns!(),
            " FROM pod_attachment_spans a JOIN nodes n ON n.id = a.node_id \
             WHERE a.pod_key = $4 AND a.pod_name = $1 AND a.pod_namespace = $2 \
               AND ($3::text IS NULL OR n.cluster = $3) \
             ORDER BY a.valid_from, a.interface"
        );
        let rows = sqlx::query(sql)
            .bind(name)
            .bind(namespace)
            .bind(cluster)
            .bind(pod_key(namespace, name))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(interval).collect()
    }

    /// The intervals of the pod `namespace/name` that contain `at`.
    pub async fn pod_at(
        &self,
        cluster: Option<&str>,
        namespace: &str,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<AttachmentInterval>, StoreError> {
        let sql = concat!(
            "SELECT ",
            interval_columns!(),
            " FROM pod_attachment_spans a JOIN nodes n ON n.id = a.node_id \
             WHERE a.pod_key = $5 AND a.pod_name = $1 AND a.pod_namespace = $2 \
               AND ($3::text IS NULL OR n.cluster = $3) AND a.valid_from <= $4 AND a.valid_to > $4 \
             ORDER BY n.cluster, n.name, a.interface"
        );
        let rows = sqlx::query(sql)
            .bind(name)
            .bind(namespace)
            .bind(cluster)
            .bind(at)
            .bind(pod_key(namespace, name))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(interval).collect()
    }

    /// The snapshot of `node` valid at `at`: the latest one whose interval started by then.
    pub async fn snapshot_at(
        &self,
        node: NodeId,
        at: DateTime<Utc>,
    ) -> Result<Option<StoredSnapshot>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id, s.valid_from, s.collected_at, s.collection_duration_us, b.encoding, b.content \
             FROM snapshots s JOIN snapshot_blobs b ON b.hash = s.blob_hash \
             WHERE s.node_id = $1 AND s.valid_from <= $2 \
             ORDER BY s.valid_from DESC, s.id DESC LIMIT 1",
        )
        .bind(node.0)
        .bind(at)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let encoding: String = row.try_get("encoding")?;
        let content: Vec<u8> = row.try_get("content")?;
        let collected_at: DateTime<Utc> = row.try_get("collected_at")?;
        let duration: i64 = row.try_get("collection_duration_us")?;
        let mut snapshot = blob::decode(blob::BlobEncoding::parse(&encoding)?, &content)?;
        snapshot.node.collected_at_unix_ms = collected_at.timestamp_millis();
        snapshot.node.collection_duration_us = u64::try_from(duration).unwrap_or(0);
        Ok(Some(StoredSnapshot {
            snapshot_id: row.try_get("id")?,
            valid_from: row.try_get("valid_from")?,
            collected_at,
            snapshot,
        }))
    }
}

pub(crate) fn node_liveness(row: &PgRow) -> Result<NodeLiveness, StoreError> {
    Ok(NodeLiveness {
        node_id: NodeId(row.try_get("id")?),
        cluster: row.try_get("cluster")?,
        name: row.try_get("name")?,
        boot_id: row.try_get("boot_id")?,
        kernel: row.try_get("kernel")?,
        agent_version: row.try_get("agent_version")?,
        first_seen_at: row.try_get("first_seen_at")?,
        last_heartbeat_at: row.try_get("last_heartbeat_at")?,
        last_snapshot_at: row.try_get("last_snapshot_at")?,
        stale: row.try_get("stale")?,
    })
}
