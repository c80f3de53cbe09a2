//! What stored snapshots cost in the database: relation sizes (heap, TOAST and every index, by
//! `pg_total_relation_size`) and the blobs' own bytes (`pg_column_size`), before and after.

use podwire_server::store::Store;

/// The tables ingest writes.
const TABLES: [&str; 7] = [
    "snapshot_blobs",
    "snapshots",
    "pod_attachment_history",
    "current_pod_attachments",
    "node_eni_samples",
    "node_ipam_samples",
    "nodes",
];

/// One measurement.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// `pg_total_relation_size` of each of [`TABLES`].
    tables: Vec<i64>,
    blob_bytes: i64,
    history_rows: i64,
}

impl Sizes {
    pub async fn measure(store: &Store) -> anyhow::Result<Self> {
        let mut tables = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size($1::regclass)")
                .bind(table)
                .fetch_one(store.pool())
                .await?;
            tables.push(bytes);
        }
        let blob_bytes: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(pg_column_size(content)), 0)::int8 FROM snapshot_blobs",
        )
        .fetch_one(store.pool())
        .await?;
        let history_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM pod_attachment_history")
            .fetch_one(store.pool())
            .await?;
        Ok(Sizes {
            tables,
            blob_bytes,
            history_rows,
        })
    }
}

/// Prints the growth between two measurements, per stored snapshot and per attachment change
/// (a closed interval: one pod interface's state that ended).
pub fn report(before: &Sizes, after: &Sizes, stored: u64) {
    let grown: Vec<i64> = after
        .tables
        .iter()
        .zip(&before.tables)
        .map(|(a, b)| a - b)
        .collect();
    let total: i64 = grown.iter().sum();
    let changes = after.history_rows - before.history_rows;
    let per_snapshot = |bytes: i64| bytes as f64 / stored.max(1) as f64;
    println!(
        "  bytes stored per changed snapshot: {:.0} B in all tables (blob content {:.0} B)",
        per_snapshot(total),
        per_snapshot(after.blob_bytes - before.blob_bytes)
    );
    for (table, bytes) in TABLES.iter().zip(&grown) {
        println!("    {table:<24} {:>8.0} B", per_snapshot(*bytes));
    }
    let history = grown[2] as f64 / changes.max(1) as f64;
    println!(
        "  bytes per attachment change: {history:.0} B of history rows and indexes  [≤ 300 B]  \
         ({changes} intervals closed, {:.1} per snapshot; with the blob and every other row: {:.0} B)",
        changes as f64 / stored.max(1) as f64,
        total as f64 / changes.max(1) as f64
    );
}
