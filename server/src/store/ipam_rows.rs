//! `node_ipam_samples` rows ⇄ [`IpamPool`].

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

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

pub(crate) async fn close(
    conn: &mut PgConnection,
    node: NodeId,
    keys: &[IpamPoolKey],
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if keys.is_empty() {
        return Ok(0);
    }
    let result = sqlx::query(
        "UPDATE node_ipam_samples SET valid_to = $2 \
         WHERE node_id = $1 AND valid_to IS NULL \
           AND (source, pool) IN (SELECT * FROM unnest($3::text[], $4::text[]))",
    )
    .bind(node.0)
    .bind(at)
    .bind(keys.iter().map(|k| k.source.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.pool.as_str()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

pub(crate) async fn open(
    conn: &mut PgConnection,
    node: NodeId,
    pools: &[IpamPool],
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if pools.is_empty() {
        return Ok(0);
    }
    let result = sqlx::query(
        "INSERT INTO node_ipam_samples (node_id, valid_from, source, pool, assigned, free, total) \
         SELECT $1, $2, t.* FROM unnest($3::text[], $4::text[], $5::int8[], $6::int8[], $7::int8[]) \
           AS t(source, pool, assigned, free, total)",
    )
    .bind(node.0)
    .bind(at)
    .bind(pools.iter().map(|p| p.source.as_str()).collect::<Vec<_>>())
    .bind(pools.iter().map(|p| p.pool.as_str()).collect::<Vec<_>>())
    .bind(pools.iter().map(|p| p.assigned).collect::<Vec<_>>())
    .bind(pools.iter().map(|p| p.free).collect::<Vec<_>>())
    .bind(pools.iter().map(|p| p.total).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}
