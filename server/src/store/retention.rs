//! Retention: history older than the setting is deleted; the state at the cut-off survives.

use chrono::{DateTime, Utc};

use super::{Store, StoreError};

/// Rows deleted by one retention pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub pod_attachments: u64,
    pub ipam_samples: u64,
    pub eni_samples: u64,
    pub snapshots: u64,
    pub blobs: u64,
}

impl Store {
    /// Deletes what no question about a time after `cutoff` needs: intervals closed before it,
    /// snapshots superseded by a later snapshot of their node valid at or before it (the one valid
    /// at the cut-off is kept, so "as of" answers stay whole), and blobs that no snapshot
    /// references and that were not referenced since the cut-off.
    pub async fn apply_retention(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<RetentionReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        let pod_attachments = sqlx::query(
            "DELETE FROM pod_attachment_history WHERE valid_from < $1 AND valid_to < $1",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let ipam_samples = sqlx::query(
            "DELETE FROM node_ipam_samples WHERE valid_from < $1 AND valid_to IS NOT NULL AND valid_to < $1",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let eni_samples =
            sqlx::query("DELETE FROM node_eni_samples WHERE valid_from < $1 AND valid_to < $1")
                .bind(cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let snapshots = sqlx::query(
            "DELETE FROM snapshots s WHERE s.valid_from < $1 AND EXISTS ( \
                 SELECT 1 FROM snapshots later WHERE later.node_id = s.node_id \
                   AND (later.valid_from, later.id) > (s.valid_from, s.id) AND later.valid_from <= $1)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let blobs = sqlx::query(
            "DELETE FROM snapshot_blobs b WHERE b.last_referenced_at < $1 \
               AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.blob_hash = b.hash)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(RetentionReport {
            pod_attachments,
            ipam_samples,
            eni_samples,
            snapshots,
            blobs,
        })
    }
}
