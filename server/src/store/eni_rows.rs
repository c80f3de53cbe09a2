//! `node_eni_samples` rows ⇄ [`NodeEni`]: the one place that knows the columns.

use chrono::{DateTime, Utc};
use podwire_node_state::MacAddr;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{NodeId, StoreError};
use crate::history::NodeEni;

/// The columns [`decode`] reads, for a `node_eni_samples` aliased `e`.
macro_rules! eni_columns {
    () => {
        "e.eni_id, e.network_card, e.device_number, e.route_table, e.subnet_id, e.is_primary, \
         e.is_trunk, e.device, e.mac::text AS mac, e.ip_capacity, e.assigned"
    };
}
pub(crate) use eni_columns;

pub(crate) fn decode(row: &PgRow) -> Result<NodeEni, StoreError> {
    let mac: Option<String> = row.try_get("mac")?;
    let network_card: i32 = row.try_get("network_card")?;
    let device_number: i32 = row.try_get("device_number")?;
    let route_table: Option<i32> = row.try_get("route_table")?;
    let ip_capacity: i32 = row.try_get("ip_capacity")?;
    let assigned: i32 = row.try_get("assigned")?;
    Ok(NodeEni {
        eni_id: row.try_get("eni_id")?,
        network_card: network_card as u32,
        device_number: device_number as u32,
        route_table: route_table.map_or(0, |t| t as u32),
        subnet_id: row.try_get("subnet_id")?,
        is_primary: row.try_get("is_primary")?,
        is_trunk: row.try_get("is_trunk")?,
        device: row.try_get("device")?,
        mac: mac
            .map(|m| {
                m.parse::<MacAddr>()
                    .map_err(|_| StoreError::CorruptRow(format!("node_eni_samples.mac = {m:?}")))
            })
            .transpose()?,
        ip_capacity: i64::from(ip_capacity),
        assigned: i64::from(assigned),
    })
}

pub(crate) async fn open_rows(
    conn: &mut PgConnection,
    node: NodeId,
) -> Result<Vec<NodeEni>, StoreError> {
    let sql = concat!(
        "SELECT ",
        eni_columns!(),
        " FROM node_eni_samples e WHERE e.node_id = $1 AND e.valid_to = 'infinity'"
    );
    let rows = sqlx::query(sql).bind(node.0).fetch_all(conn).await?;
    rows.iter().map(decode).collect()
}

/// Ends the open intervals of the ENIs `ids` at `at`.
pub(crate) async fn close(
    conn: &mut PgConnection,
    node: NodeId,
    ids: &[String],
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let result = sqlx::query(
        "UPDATE node_eni_samples SET valid_to = $2 \
         WHERE node_id = $1 AND valid_to = 'infinity' AND eni_id = ANY($3)",
    )
    .bind(node.0)
    .bind(at)
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

pub(crate) async fn open(
    conn: &mut PgConnection,
    node: NodeId,
    enis: &[NodeEni],
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if enis.is_empty() {
        return Ok(0);
    }
    let small = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let count = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
    let result = sqlx::query(
        "INSERT INTO node_eni_samples (node_id, valid_from, eni_id, network_card, device_number, \
             route_table, subnet_id, is_primary, is_trunk, device, mac, ip_capacity, assigned) \
         SELECT $1, $2, t.id, t.card, t.dev, t.tbl, t.subnet, t.prim, t.trunk, t.device, \
             t.mac::macaddr, t.cap, t.assigned \
         FROM unnest($3::text[], $4::int4[], $5::int4[], $6::int4[], $7::text[], $8::bool[], \
             $9::bool[], $10::text[], $11::text[], $12::int4[], $13::int4[]) \
           AS t(id, card, dev, tbl, subnet, prim, trunk, device, mac, cap, assigned)",
    )
    .bind(node.0)
    .bind(at)
    .bind(enis.iter().map(|e| e.eni_id.as_str()).collect::<Vec<_>>())
    .bind(
        enis.iter()
            .map(|e| small(e.network_card))
            .collect::<Vec<_>>(),
    )
    .bind(
        enis.iter()
            .map(|e| small(e.device_number))
            .collect::<Vec<_>>(),
    )
    .bind(
        enis.iter()
            .map(|e| small(e.route_table))
            .collect::<Vec<_>>(),
    )
    .bind(
        enis.iter()
            .map(|e| e.subnet_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(enis.iter().map(|e| e.is_primary).collect::<Vec<_>>())
    .bind(enis.iter().map(|e| e.is_trunk).collect::<Vec<_>>())
    .bind(enis.iter().map(|e| e.device.as_deref()).collect::<Vec<_>>())
    .bind(
        enis.iter()
            .map(|e| e.mac.map(|m| m.to_string()))
            .collect::<Vec<_>>(),
    )
    .bind(
        enis.iter()
            .map(|e| count(e.ip_capacity))
            .collect::<Vec<_>>(),
    )
    .bind(enis.iter().map(|e| count(e.assigned)).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}
