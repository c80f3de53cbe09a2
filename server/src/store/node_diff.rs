//! One snapshot's changes to its node's open history intervals, as the history tables' writers
//! take them: several nodes' diffs are written by one statement per table (group commit).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{NodeId, StoreError};
use crate::history::{Attachment, Diff, IpamPool, NodeEni};

/// What one stored snapshot closes and opens, all at `at` (its valid_from).
#[derive(Debug)]
pub(crate) struct NodeDiff {
    pub node: NodeId,
    pub at: DateTime<Utc>,
    pub attachments: Diff<Attachment>,
    pub ipam_pools: Diff<IpamPool>,
    pub enis: Diff<NodeEni>,
}

impl NodeDiff {
    /// Intervals the diff closes: what the database must find open when the diff was made
    /// against remembered rows.
    pub fn expected_closed(&self) -> u64 {
        (self.attachments.close.len() + self.ipam_pools.close.len() + self.enis.close.len()) as u64
    }
}

/// Intervals (closed, opened) per node, as the database counted them.
#[derive(Debug, Default)]
pub(crate) struct Counts(HashMap<NodeId, (u64, u64)>);

impl Counts {
    /// From the rows of [`counts_per_node`]: (node_id, closed, opened).
    pub fn of_rows(rows: &[PgRow]) -> Result<Counts, StoreError> {
        let mut counts = Counts::default();
        for row in rows {
            let node: i32 = row.try_get(0)?;
            let closed: i64 = row.try_get(1)?;
            let opened: i64 = row.try_get(2)?;
            counts.add(NodeId(node), closed.unsigned_abs(), opened.unsigned_abs());
        }
        Ok(counts)
    }

    pub fn add(&mut self, node: NodeId, closed: u64, opened: u64) {
        let entry = self.0.entry(node).or_default();
        entry.0 += closed;
        entry.1 += opened;
    }

    pub fn merge(&mut self, other: Counts) {
        for (node, (closed, opened)) in other.0 {
            self.add(node, closed, opened);
        }
    }

    /// (closed, opened) of `node`.
    pub fn of(&self, node: NodeId) -> (u64, u64) {
        self.0.get(&node).copied().unwrap_or_default()
    }
}

/// The final query of a statement whose CTEs `closed` and `opened` return the `node_id` of each
/// interval they closed and opened: [`Counts::of_rows`]. `closed` is the union's first branch, so
/// it runs (and its rows leave the unique indexes) before `opened` inserts the same keys.
macro_rules! counts_per_node {
    () => {
        "SELECT node_id, count(*) FILTER (WHERE NOT opened), count(*) FILTER (WHERE opened) \
         FROM (SELECT node_id, false AS opened FROM closed \
               UNION ALL SELECT node_id, true FROM opened) AS changed \
         GROUP BY node_id"
    };
}
pub(crate) use counts_per_node;
