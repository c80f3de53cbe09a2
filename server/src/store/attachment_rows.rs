//! `pod_attachments` rows ⇄ [`Attachment`]: the one place that knows the columns.

use chrono::{DateTime, Utc};
use podwire_node_state::MacAddr;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::node_diff::{Counts, NodeDiff, counts_per_node};
use super::{NodeId, StoreError};
use crate::history::{
    Attachment, AttachmentKey, parse_problem_code, parse_wiring, problem_code_str,
};

/// The columns [`decode`] reads, for a `pod_attachments` aliased `a`. A macro so that queries are
/// assembled with `concat!` into static strings: no SQL is built at run time from values.
macro_rules! attachment_columns {
    () => {
        "a.netns_inode, a.interface, a.pod_namespace, a.pod_name, a.ip, a.mac::text AS mac, a.host_veth, \
         a.bridge, a.route_table, a.egress_device, a.eni_mac::text AS eni_mac, a.vlan_id, \
         a.wiring::text AS wiring, a.problem_codes"
    };
}
pub(crate) use attachment_columns;

pub(crate) fn decode(row: &PgRow) -> Result<Attachment, StoreError> {
    let inode: i64 = row.try_get("netns_inode")?;
    let wiring: String = row.try_get("wiring")?;
    let problems: Option<Vec<String>> = row.try_get("problem_codes")?;
    let route_table: Option<i32> = row.try_get("route_table")?;
    let vlan_id: Option<i16> = row.try_get("vlan_id")?;
    Ok(Attachment {
        netns_inode: u64::try_from(inode)
            .map_err(|_| corrupt("netns_inode", &inode.to_string()))?,
        interface: row.try_get("interface")?,
        pod_namespace: row.try_get("pod_namespace")?,
        pod_name: row.try_get("pod_name")?,
        ip: row.try_get("ip")?,
        mac: mac(row, "mac")?,
        host_veth: row.try_get("host_veth")?,
        bridge: row.try_get("bridge")?,
        route_table: route_table.map(|t| t as u32),
        egress_device: row.try_get("egress_device")?,
        eni_mac: mac(row, "eni_mac")?,
        vlan_id: vlan_id.map(|v| v as u16),
        wiring: parse_wiring(&wiring).ok_or_else(|| corrupt("wiring", &wiring))?,
        problems: problems
            .unwrap_or_default()
            .iter()
            .map(|p| parse_problem_code(p).ok_or_else(|| corrupt("problem_codes", p)))
            .collect::<Result<_, _>>()?,
    })
}

fn mac(row: &PgRow, column: &str) -> Result<Option<MacAddr>, StoreError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| t.parse::<MacAddr>().map_err(|_| corrupt(column, &t)))
        .transpose()
}

fn corrupt(column: &str, value: &str) -> StoreError {
    StoreError::CorruptRow(format!("pod_attachments.{column} = {value:?}"))
}

pub(crate) async fn open_rows(
    conn: &mut PgConnection,
    node: NodeId,
) -> Result<Vec<Attachment>, StoreError> {
    let sql = concat!(
        "SELECT ",
        attachment_columns!(),
        " FROM current_pod_attachments a WHERE a.node_id = $1"
    );
    let rows = sqlx::query(sql).bind(node.0).fetch_all(conn).await?;
    rows.iter().map(decode).collect()
}

/// The insert of [`replace`]: one row per element of the arrays `$5`…`$21`: of the node `$5`,
/// from `$6`. A macro so that the statement is a static string.
macro_rules! insert_current {
    () => {
        "INSERT INTO current_pod_attachments (node_id, valid_from, netns_inode, interface, pod_namespace, \
             pod_name, ip, mac, host_veth, bridge, route_table, egress_device, eni_mac, vlan_id, wiring, \
             problem_codes, pod_key) \
         SELECT t.node_id, t.at, t.inode, t.interface, t.ns, t.name, t.ip, t.mac::macaddr, t.veth, t.bridge, \
             t.tbl, t.egress, t.eni::macaddr, t.vlan, t.wiring::pod_wiring, \
             CASE WHEN t.problems = '' THEN NULL ELSE string_to_array(t.problems, ',') END, t.pod_key \
         FROM unnest($5::int4[], $6::timestamptz[], $7::int8[], $8::text[], $9::text[], $10::text[], \
             $11::inet[], $12::text[], $13::text[], $14::text[], $15::int4[], $16::text[], $17::text[], \
             $18::int2[], $19::text[], $20::text[], $21::int4[]) \
           AS t(node_id, at, inode, interface, ns, name, ip, mac, veth, bridge, tbl, egress, eni, vlan, \
             wiring, problems, pod_key)"
    };
}

/// Closes the open intervals of the keys `$3`/`$4` of the nodes `$1`, each at its `$2`: moves
/// them from the current table to the history.
macro_rules! close_current {
    () => {
        "closed AS ( \
             DELETE FROM current_pod_attachments c \
             USING unnest($1::int4[], $2::timestamptz[], $3::int8[], $4::text[]) AS k(node_id, at, inode, interface) \
             WHERE c.node_id = k.node_id AND c.netns_inode = k.inode AND c.interface = k.interface \
             RETURNING c.*, k.at), \
         moved AS ( \
         INSERT INTO pod_attachment_history (valid_from, valid_to, netns_inode, node_id, route_table, pod_key, \
             wiring, vlan_id, ip, mac, eni_mac, interface, pod_namespace, pod_name, host_veth, bridge, \
             egress_device, problem_codes) \
         SELECT valid_from, at, netns_inode, node_id, route_table, pod_key, wiring, vlan_id, ip, mac, eni_mac, \
             interface, pod_namespace, pod_name, host_veth, bridge, egress_device, problem_codes \
         FROM closed)"
    };
}

/// Binds the arrays of [`insert_current`] (`$5`…`$21`) for `rows`, each opened for its node at
/// its time.
fn bind_rows<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    rows: &[(NodeId, DateTime<Utc>, &'q Attachment)],
) -> Result<sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>, StoreError> {
    let inodes: Vec<i64> = rows
        .iter()
        .map(|(_, _, a)| inode_column(a.netns_inode))
        .collect::<Result<_, _>>()?;
    let column = |f: fn(&'q Attachment) -> Option<&'q str>| -> Vec<Option<&'q str>> {
        rows.iter().map(|&(_, _, a)| f(a)).collect()
    };
    let text = |f: fn(&Attachment) -> Option<String>| -> Vec<Option<String>> {
        rows.iter().map(|&(_, _, a)| f(a)).collect()
    };
    Ok(query
        .bind(rows.iter().map(|(node, _, _)| node.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, at, _)| *at).collect::<Vec<_>>())
        .bind(inodes)
        .bind(column(|a| Some(a.interface.as_str())))
        .bind(column(|a| a.pod_namespace.as_deref()))
        .bind(column(|a| a.pod_name.as_deref()))
        .bind(rows.iter().map(|(_, _, a)| a.ip).collect::<Vec<_>>())
        .bind(text(|a| a.mac.map(|m| m.to_string())))
        .bind(column(|a| a.host_veth.as_deref()))
        .bind(column(|a| a.bridge.as_deref()))
        .bind(
            rows.iter()
                .map(|(_, _, a)| a.route_table.map(|t| t as i32))
                .collect::<Vec<_>>(),
        )
        .bind(column(|a| a.egress_device.as_deref()))
        .bind(text(|a| a.eni_mac.map(|m| m.to_string())))
        .bind(
            rows.iter()
                .map(|(_, _, a)| a.vlan_id.map(|v| v as i16))
                .collect::<Vec<_>>(),
        )
        .bind(column(|a| Some(a.wiring.as_str())))
        .bind(
            rows.iter()
                .map(|(_, _, a)| problems_column(a))
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|(_, _, a)| a.pod_key()).collect::<Vec<_>>()))
}

/// Closes and opens the attachment intervals of every node's diff in `diffs`, each at its node's
/// time, in one statement (one round trip, however many nodes). Returns (closed, opened) per node.
pub(crate) async fn replace(
    conn: &mut PgConnection,
    diffs: &[NodeDiff],
) -> Result<Counts, StoreError> {
    let close: Vec<(NodeId, DateTime<Utc>, &AttachmentKey)> = diffs
        .iter()
        .flat_map(|d| d.attachments.close.iter().map(|k| (d.node, d.at, k)))
        .collect();
    let open: Vec<(NodeId, DateTime<Utc>, &Attachment)> = diffs
        .iter()
        .flat_map(|d| d.attachments.open.iter().map(|a| (d.node, d.at, a)))
        .collect();
    if close.is_empty() && open.is_empty() {
        return Ok(Counts::default());
    }
    let inodes: Vec<i64> = close
        .iter()
        .map(|(_, _, k)| inode_column(k.netns_inode))
        .collect::<Result<_, _>>()?;
    // A changed interval's key is deleted and inserted again by this one statement: the unique
    // check sees the old row as deleted by this transaction. `closed` is read first (the union's
    // first branch), so the delete runs before the insert.
    let query = sqlx::query(concat!(
        "WITH ",
        close_current!(),
        ", opened AS (",
        insert_current!(),
        " RETURNING node_id) ",
        counts_per_node!()
    ))
    .bind(close.iter().map(|(node, _, _)| node.0).collect::<Vec<_>>())
    .bind(close.iter().map(|(_, at, _)| *at).collect::<Vec<_>>())
    .bind(inodes)
    .bind(
        close
            .iter()
            .map(|(_, _, k)| k.interface.as_str())
            .collect::<Vec<_>>(),
    );
    let rows = bind_rows(query, &open)?.fetch_all(conn).await?;
    Counts::of_rows(&rows)
}

/// Problem codes joined with commas (codes are snake_case words, never holding one).
fn problems_column(a: &Attachment) -> String {
    a.problems
        .iter()
        .map(|p| problem_code_str(*p))
        .collect::<Vec<_>>()
        .join(",")
}

fn inode_column(inode: u64) -> Result<i64, StoreError> {
    i64::try_from(inode)
        .map_err(|_| StoreError::InvalidSnapshot("network namespace inode beyond 2^63"))
}
