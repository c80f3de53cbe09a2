//! `pod_attachments` rows ⇄ [`Attachment`]: the one place that knows the columns.

use chrono::{DateTime, Utc};
use podwire_node_state::MacAddr;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

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

/// The insert of [`replace`]: one row per element of the arrays `$5`…`$19`, of the
/// node `$1`, from `$2`. A macro so that both statements are static strings.
macro_rules! insert_current {
    () => {
        "INSERT INTO current_pod_attachments (node_id, valid_from, netns_inode, interface, pod_namespace, \
             pod_name, ip, mac, host_veth, bridge, route_table, egress_device, eni_mac, vlan_id, wiring, \
             problem_codes, pod_key) \
         SELECT $1, $2, t.inode, t.interface, t.ns, t.name, t.ip, t.mac::macaddr, t.veth, t.bridge, t.tbl, \
             t.egress, t.eni::macaddr, t.vlan, t.wiring::pod_wiring, \
             CASE WHEN t.problems = '' THEN NULL ELSE string_to_array(t.problems, ',') END, t.pod_key \
         FROM unnest($5::int8[], $6::text[], $7::text[], $8::text[], $9::inet[], $10::text[], $11::text[], \
             $12::text[], $13::int4[], $14::text[], $15::text[], $16::int2[], $17::text[], $18::text[], \
             $19::int4[]) \
           AS t(inode, interface, ns, name, ip, mac, veth, bridge, tbl, egress, eni, vlan, wiring, problems, \
             pod_key)"
    };
}

/// Closes the open intervals of the keys `$3`/`$4` of the node `$1` at `$2`: moves them from the
/// current table to the history.
macro_rules! close_current {
    () => {
        "closed AS ( \
             DELETE FROM current_pod_attachments \
             WHERE node_id = $1 AND (netns_inode, interface) IN (SELECT * FROM unnest($3::int8[], $4::text[])) \
             RETURNING *), \
         moved AS ( \
         INSERT INTO pod_attachment_history (valid_from, valid_to, netns_inode, node_id, route_table, pod_key, \
             wiring, vlan_id, ip, mac, eni_mac, interface, pod_namespace, pod_name, host_veth, bridge, \
             egress_device, problem_codes) \
         SELECT valid_from, $2, netns_inode, node_id, route_table, pod_key, wiring, vlan_id, ip, mac, eni_mac, \
             interface, pod_namespace, pod_name, host_veth, bridge, egress_device, problem_codes \
         FROM closed)"
    };
}

/// Binds the arrays of [`insert_current`] (`$5`…`$19`) for `rows`.
fn bind_rows<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    rows: &'q [Attachment],
) -> Result<sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>, StoreError> {
    let inodes: Vec<i64> = rows
        .iter()
        .map(|a| inode_column(a.netns_inode))
        .collect::<Result<_, _>>()?;
    Ok(query
        .bind(inodes)
        .bind(
            rows.iter()
                .map(|a| a.interface.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|a| a.pod_namespace.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|a| a.pod_name.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|a| a.ip).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|a| a.mac.map(|m| m.to_string()))
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|a| a.host_veth.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|a| a.bridge.as_deref()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|a| a.route_table.map(|t| t as i32))
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|a| a.egress_device.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|a| a.eni_mac.map(|m| m.to_string()))
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|a| a.vlan_id.map(|v| v as i16))
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|a| a.wiring.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(problems_column).collect::<Vec<_>>())
        .bind(rows.iter().map(Attachment::pod_key).collect::<Vec<_>>()))
}

/// Closes the intervals of `close` and opens those of `open`, all at `at`, in one statement (one
/// round trip): the diff of one snapshot. Returns (closed, opened).
pub(crate) async fn replace(
    conn: &mut PgConnection,
    node: NodeId,
    close: &[AttachmentKey],
    open: &[Attachment],
    at: DateTime<Utc>,
) -> Result<(u64, u64), StoreError> {
    if close.is_empty() && open.is_empty() {
        return Ok((0, 0));
    }
    let inodes: Vec<i64> = close
        .iter()
        .map(|k| inode_column(k.netns_inode))
        .collect::<Result<_, _>>()?;
    let interfaces: Vec<&str> = close.iter().map(|k| k.interface.as_str()).collect();
    // A changed interval's key is deleted and inserted again by this one statement: the unique
    // check sees the old row as deleted by this transaction.
    let query = sqlx::query(concat!(
        "WITH ",
        close_current!(),
        ", opened AS (",
        insert_current!(),
        " RETURNING 1) \
         SELECT (SELECT count(*) FROM closed), (SELECT count(*) FROM opened)"
    ))
    .bind(node.0)
    .bind(at)
    .bind(inodes)
    .bind(interfaces);
    let (closed, opened): (i64, i64) = bind_rows(query, open)?
        .try_map(|row: PgRow| Ok((row.try_get(0)?, row.try_get(1)?)))
        .fetch_one(conn)
        .await?;
    Ok((closed.unsigned_abs(), opened.unsigned_abs()))
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
