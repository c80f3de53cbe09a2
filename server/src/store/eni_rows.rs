//! `node_eni_samples` rows ⇄ [`NodeEni`]: the one place that knows the columns.

use chrono::{DateTime, Utc};
use podwire_node_state::MacAddr;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::node_diff::{Counts, NodeDiff, counts_per_node};
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

/// Closes and opens the ENI intervals of every node's diff in `diffs`, each at its node's time,
/// in one statement. Returns (closed, opened) per node.
pub(crate) async fn replace(
    conn: &mut PgConnection,
    diffs: &[NodeDiff],
) -> Result<Counts, StoreError> {
    let close: Vec<(NodeId, DateTime<Utc>, &str)> = diffs
        .iter()
        .flat_map(|d| d.enis.close.iter().map(|id| (d.node, d.at, id.as_str())))
        .collect();
    let open: Vec<(NodeId, DateTime<Utc>, &NodeEni)> = diffs
        .iter()
        .flat_map(|d| d.enis.open.iter().map(|e| (d.node, d.at, e)))
        .collect();
    if close.is_empty() && open.is_empty() {
        return Ok(Counts::default());
    }
    let small = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let count = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
    let rows = sqlx::query(concat!(
        "WITH closed AS ( \
             UPDATE node_eni_samples e SET valid_to = k.at \
             FROM unnest($1::int4[], $2::timestamptz[], $3::text[]) AS k(node_id, at, eni_id) \
             WHERE e.node_id = k.node_id AND e.valid_to = 'infinity' AND e.eni_id = k.eni_id \
             RETURNING e.node_id), \
         opened AS ( \
             INSERT INTO node_eni_samples (node_id, valid_from, eni_id, network_card, device_number, \
                 route_table, subnet_id, is_primary, is_trunk, device, mac, ip_capacity, assigned) \
             SELECT t.node_id, t.at, t.id, t.card, t.dev, t.tbl, t.subnet, t.prim, t.trunk, t.device, \
                 t.mac::macaddr, t.cap, t.assigned \
             FROM unnest($4::int4[], $5::timestamptz[], $6::text[], $7::int4[], $8::int4[], $9::int4[], \
                 $10::text[], $11::bool[], $12::bool[], $13::text[], $14::text[], $15::int4[], $16::int4[]) \
               AS t(node_id, at, id, card, dev, tbl, subnet, prim, trunk, device, mac, cap, assigned) \
             RETURNING node_id) ",
        counts_per_node!()
    ))
    .bind(close.iter().map(|(node, _, _)| node.0).collect::<Vec<_>>())
    .bind(close.iter().map(|(_, at, _)| *at).collect::<Vec<_>>())
    .bind(close.iter().map(|(_, _, id)| *id).collect::<Vec<_>>())
    .bind(open.iter().map(|(node, _, _)| node.0).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, at, _)| *at).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, e)| e.eni_id.as_str()).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, e)| small(e.network_card)).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, e)| small(e.device_number)).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, e)| small(e.route_table)).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, e)| e.subnet_id.as_deref()).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, e)| e.is_primary).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, e)| e.is_trunk).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, e)| e.device.as_deref()).collect::<Vec<_>>())
    .bind(
        open.iter()
            .map(|(_, _, e)| e.mac.map(|m| m.to_string()))
            .collect::<Vec<_>>(),
    )
    .bind(open.iter().map(|(_, _, e)| count(e.ip_capacity)).collect::<Vec<_>>())
    .bind(open.iter().map(|(_, _, e)| count(e.assigned)).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    Counts::of_rows(&rows)
}
