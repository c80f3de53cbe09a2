//! `node_ipam_samples` rows ⇄ [`IpamPool`].

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::node_diff::{Counts, NodeDiff, counts_per_node};
use super::{NodeId, StoreError};
use crate::history::{IpamPool, IpamPoolKey, IpamSource};

pub(crate) fn decode(row: &PgRow) -> Result<IpamPool, StoreError> {
    let source: String = row.try_get("source")?;
    Ok(IpamPool {
        source: IpamSource::parse(&source).ok_or_else(|| {
            StoreError::CorruptRow(format!("node_ipam_samples.source = {source:?}"))
        })?,
        pool: row.try_get("pool")?,
        assigned: row.try_get("assigned")?,
        free: row.try_get("free")?,
        total: row.try_get("total")?,
    })
}

pub(crate) async fn open_rows(
    conn: &mut PgConnection,
    node: NodeId,
) -> Result<Vec<IpamPool>, StoreError> {
    let rows = sqlx::query(
        "SELECT source, pool, assigned, free, total FROM node_ipam_samples WHERE node_id = $1 AND valid_to IS NULL",
    )
    .bind(node.0)
    .fetch_all(conn)
    .await?;
    rows.iter().map(decode).collect()
}

/// Closes and opens the pool intervals of every node's diff in `diffs`, each at its node's time,
/// in one statement. Returns (closed, opened) per node.
pub(crate) async fn replace(
    conn: &mut PgConnection,
    diffs: &[NodeDiff],
) -> Result<Counts, StoreError> {
    let close: Vec<(NodeId, DateTime<Utc>, &IpamPoolKey)> = diffs
        .iter()
        .flat_map(|d| d.ipam_pools.close.iter().map(|k| (d.node, d.at, k)))
        .collect();
    let open: Vec<(NodeId, DateTime<Utc>, &IpamPool)> = diffs
        .iter()
        .flat_map(|d| d.ipam_pools.open.iter().map(|p| (d.node, d.at, p)))
        .collect();
    if close.is_empty() && open.is_empty() {
        return Ok(Counts::default());
    }
    let rows = sqlx::query(concat!(
        "WITH closed AS ( \
             UPDATE node_ipam_samples s SET valid_to = k.at \
             FROM unnest($1::int4[], $2::timestamptz[], $3::text[], $4::text[]) AS k(node_id, at, source, pool) \
             WHERE s.node_id = k.node_id AND s.valid_to IS NULL AND s.source = k.source AND s.pool = k.pool \
             RETURNING s.node_id), \
         opened AS ( \
             INSERT INTO node_ipam_samples (node_id, valid_from, source, pool, assigned, free, total) \
             SELECT t.* FROM unnest($5::int4[], $6::timestamptz[], $7::text[], $8::text[], $9::int8[], \
                 $10::int8[], $11::int8[]) AS t(node_id, at, source, pool, assigned, free, total) \
             RETURNING node_id) ",
        counts_per_node!()
    ))
    .bind(close.iter().map(|(node, _, _)| node.0).collect::<Vec<_>>())
    .bind(close.iter().map(|(_, at, _)| *at).collect::<Vec<_>>())
    .bind(close.iter().map(|(_, _, k)| k.source.as_str()).collect::<Vec<_>>())
    .bind(close.iter().map(|(_, _, k)| k.pool.as_str()).collect::<Vec<_>>())
    .bind(open.iter().map(|(node, _, _)| node.0).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, at, _)| *at).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, p)| p.source.as_str()).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, p)| p.pool.as_str()).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, p)| p.assigned).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, p)| p.free).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, p)| p.total).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    Counts::of_rows(&rows)
}
