//! Read models for the dashboard and the full API: pages of pods with a cursor, node summaries,
//! ENIs and IP pools as of a time, and a subnet's ENIs over a period.
//!
//! "As of T" over many nodes goes node by node (`CROSS JOIN LATERAL`): each node's intervals are
//! one range scan of its as-of index, whereas a single condition over the whole history table
//! leaves the planner nothing better than a scan of every interval that started before T.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use podwire_node_state::MacAddr;
use podwire_node_state::resolver::Wiring;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use super::attachment_rows::attachment_columns;
use super::eni_rows::{self, eni_columns};
use super::ipam_rows;
use super::queries::{AttachmentInterval, NodeLiveness, interval, node_liveness};
use super::{NodeId, Store, StoreError};
use crate::history::{IpamPool, NodeEni, parse_wiring};

/// Where a page of pods starts: the sort key of the last pod of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodCursor {
    pub cluster: String,
    pub node: String,
    /// `""` for a pod without a known namespace (they sort first).
    pub namespace: String,
    pub name: String,
    pub interface: String,
    pub netns_inode: i64,
}

impl PodCursor {
    /// The cursor that continues after `row`.
    pub fn after(row: &AttachmentInterval) -> Self {
        PodCursor {
            cluster: row.cluster.clone(),
            node: row.node.clone(),
            namespace: row.attachment.pod_namespace.clone().unwrap_or_default(),
            name: row.attachment.pod_name.clone().unwrap_or_default(),
            interface: row.attachment.interface.clone(),
            netns_inode: i64::try_from(row.attachment.netns_inode).unwrap_or(i64::MAX),
        }
    }
}

/// Which pods one page holds. Filters left `None` are absent from the SQL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodPageFilter {
    pub cluster: Option<String>,
    pub node: Option<String>,
    pub node_id: Option<NodeId>,
    pub namespace: Option<String>,
    /// Pods whose name starts with this (search).
    pub name_prefix: Option<String>,
    pub ip: Option<IpAddr>,
    /// The pod interface's own MAC.
    pub mac: Option<MacAddr>,
    /// The MAC of the ENI carrying the pod's traffic.
    pub eni_mac: Option<MacAddr>,
    /// Only pods with at least one problem.
    pub with_problems: bool,
    pub after: Option<PodCursor>,
    pub limit: i64,
}

/// One node as the nodes list shows it at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSummary {
    pub node: NodeLiveness,
    /// Pod interfaces attached at the time.
    pub pods: i64,
    /// Pod interfaces with a problem.
    pub pods_with_problems: i64,
    /// The wiring most of its pods have; `None` without pods.
    pub wiring: Option<Wiring>,
    /// ENIs ipamd reported (VPC CNI nodes only).
    pub enis: i64,
    /// Its IP pools at the time.
    pub pools: Vec<IpamPool>,
    /// Its EC2 instance and the instance type's limits (EC2 enrichment; `None` before it).
    pub instance: Option<super::NodeInstanceLimits>,
}

/// One ENI of one node over one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EniInterval {
    pub node_id: NodeId,
    pub cluster: String,
    pub node: String,
    pub eni: NodeEni,
    pub valid_from: DateTime<Utc>,
    /// `None` while current.
    pub valid_to: Option<DateTime<Utc>>,
}

/// Which ENIs to list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EniFilter {
    pub cluster: Option<String>,
    pub node: Option<String>,
    pub node_id: Option<NodeId>,
    pub eni_id: Option<String>,
    pub subnet_id: Option<String>,
    pub mac: Option<MacAddr>,
}

/// One IP pool of one node over one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolInterval {
    pub node_id: NodeId,
    pub cluster: String,
    pub node: String,
    pub pool: IpamPool,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
}

/// The columns of `pod_attachment_spans`, in its order: what the lateral subqueries return.
macro_rules! span_columns {
    ($valid_to:literal) => {
        concat!(
            "valid_from, ",
            $valid_to,
            " AS valid_to, netns_inode, node_id, route_table, pod_key, wiring, vlan_id, ip, mac, \
             eni_mac, interface, pod_namespace, pod_name, host_veth, bridge, egress_device, problem_codes"
        )
    };
}

/// A node's pod attachments valid at `$1`, for a lateral join on `nodes n`.
const NODE_SPANS_AT: &str = concat!(
    "(SELECT ",
    span_columns!("'infinity'::timestamptz"),
    " FROM current_pod_attachments WHERE node_id = n.id AND valid_from <= $1 \
     UNION ALL SELECT ",
    span_columns!("valid_to"),
    " FROM pod_attachment_history WHERE node_id = n.id AND valid_to > $1 AND valid_from <= $1)"
);

/// The sort key of pods in lists, cursor included.
const POD_ORDER: &str = "n.cluster, n.name, COALESCE(a.pod_namespace, ''), COALESCE(a.pod_name, ''), \
                         a.interface, a.netns_inode";

impl Store {
    /// One page of the pod interfaces attached at `at`, in [`POD_ORDER`], after the cursor.
    pub async fn pods_page(
        &self,
        filter: &PodPageFilter,
        at: DateTime<Utc>,
    ) -> Result<Vec<AttachmentInterval>, StoreError> {
        let mut sql: QueryBuilder<Postgres> = QueryBuilder::new("SELECT ");
        sql.push(concat!(
            "a.node_id, n.cluster, n.name AS node_name, a.valid_from, \
             NULLIF(a.valid_to, 'infinity'::timestamptz) AS valid_to, ",
            attachment_columns!()
        ));
        if let Some(ip) = filter.ip {
            // One address: its few intervals through the ip indexes of both tables.
            sql.push(" FROM pod_attachment_spans a JOIN nodes n ON n.id = a.node_id WHERE a.valid_from <= ")
                .push_bind(at)
                .push(" AND a.valid_to > ")
                .push_bind(at)
                .push(" AND a.ip = ")
                .push_bind(ip);
        } else {
            // $1 is `at`: the lateral text refers to it by number.
            sql.push(" FROM nodes n CROSS JOIN LATERAL ")
                .push(NODE_SPANS_AT)
                .push(" a WHERE a.valid_from <= ")
                .push_bind(at);
        }
        if let Some(cluster) = &filter.cluster {
            sql.push(" AND n.cluster = ").push_bind(cluster);
        }
        if let Some(node) = &filter.node {
            sql.push(" AND n.name = ").push_bind(node);
        }
        if let Some(node_id) = filter.node_id {
            sql.push(" AND n.id = ").push_bind(node_id.0);
        }
        if let Some(namespace) = &filter.namespace {
            sql.push(" AND a.pod_namespace = ").push_bind(namespace);
        }
        if let Some(prefix) = &filter.name_prefix {
            sql.push(" AND a.pod_name LIKE ")
                .push_bind(format!("{}%", like_escape(prefix)));
        }
        if let Some(mac) = filter.mac {
            sql.push(" AND a.mac = ")
                .push_bind(mac.to_string())
                .push("::macaddr");
        }
        if let Some(mac) = filter.eni_mac {
            sql.push(" AND a.eni_mac = ")
                .push_bind(mac.to_string())
                .push("::macaddr");
        }
        if filter.with_problems {
            sql.push(" AND a.problem_codes IS NOT NULL");
        }
        if let Some(c) = &filter.after {
            // The first comparison lets the nodes index start at the cursor's node.
            sql.push(" AND (n.cluster, n.name) >= (")
                .push_bind(&c.cluster)
                .push(", ")
                .push_bind(&c.node)
                .push(") AND (")
                .push(POD_ORDER)
                .push(") > (")
                .push_bind(&c.cluster)
                .push(", ")
                .push_bind(&c.node)
                .push(", ")
                .push_bind(&c.namespace)
                .push(", ")
                .push_bind(&c.name)
                .push(", ")
                .push_bind(&c.interface)
                .push(", ")
                .push_bind(c.netns_inode)
                .push(")");
        }
        sql.push(" ORDER BY ")
            .push(POD_ORDER)
            .push(" LIMIT ")
            .push_bind(filter.limit);
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.iter().map(interval).collect()
    }

    /// A node by cluster and name, `stale` judged at `now`.
    pub async fn node_by_name(
        &self,
        cluster: &str,
        name: &str,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> Result<Option<NodeLiveness>, StoreError> {
        let row = sqlx::query(
            "SELECT id, cluster, name, boot_id, kernel, agent_version, first_seen_at, last_heartbeat_at, \
                    last_snapshot_at, last_heartbeat_at < $3 AS stale \
             FROM nodes WHERE cluster = $1 AND name = $2",
        )
        .bind(cluster)
        .bind(name)
        .bind(now - stale_after)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(node_liveness).transpose()
    }

    /// Nodes whose name starts with `prefix` (search), at most `limit`.
    pub async fn nodes_named_like(
        &self,
        prefix: &str,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
        limit: i64,
    ) -> Result<Vec<NodeLiveness>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, cluster, name, boot_id, kernel, agent_version, first_seen_at, last_heartbeat_at, \
                    last_snapshot_at, last_heartbeat_at < $2 AS stale \
             FROM nodes WHERE name LIKE $1 ORDER BY cluster, name LIMIT $3",
        )
        .bind(format!("{}%", like_escape(prefix)))
        .bind(now - stale_after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(node_liveness).collect()
    }

    /// Every node that had sent a snapshot by `at`, with its pods, ENIs and IP pools then.
    pub async fn node_summaries(
        &self,
        cluster: Option<&str>,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> Result<Vec<NodeSummary>, StoreError> {
        let sql = concat!(
            "SELECT n.id, n.cluster, n.name, n.boot_id, n.kernel, n.agent_version, n.first_seen_at, \
                    n.last_heartbeat_at, n.last_snapshot_at, n.last_heartbeat_at < $2 AS stale, \
                    p.pods, p.problems, p.wiring, e.enis, \
                    pools.sources, pools.names, pools.assigned, pools.free, pools.total \
             FROM nodes n \
             CROSS JOIN LATERAL (SELECT count(*) AS pods, count(a.problem_codes) AS problems, \
                    mode() WITHIN GROUP (ORDER BY a.wiring::text) AS wiring FROM ",
            "(SELECT ",
            span_columns!("'infinity'::timestamptz"),
            " FROM current_pod_attachments WHERE node_id = n.id AND valid_from <= $1 \
              UNION ALL SELECT ",
            span_columns!("valid_to"),
            " FROM pod_attachment_history WHERE node_id = n.id AND valid_to > $1 AND valid_from <= $1)",
            " a) p \
             CROSS JOIN LATERAL (SELECT count(*) AS enis FROM node_eni_samples s \
                    WHERE s.node_id = n.id AND s.valid_to > $1 AND s.valid_from <= $1) e \
             CROSS JOIN LATERAL (SELECT array_agg(i.source ORDER BY i.source, i.pool) AS sources, \
                    array_agg(i.pool ORDER BY i.source, i.pool) AS names, \
                    array_agg(i.assigned ORDER BY i.source, i.pool) AS assigned, \
                    array_agg(i.free ORDER BY i.source, i.pool) AS free, \
                    array_agg(i.total ORDER BY i.source, i.pool) AS total \
                    FROM node_ipam_samples i WHERE i.node_id = n.id \
                      AND COALESCE(i.valid_to, 'infinity'::timestamptz) > $1 AND i.valid_from <= $1) pools \
             WHERE EXISTS (SELECT 1 FROM snapshots s WHERE s.node_id = n.id AND s.valid_from <= $1) \
               AND ($3::text IS NULL OR n.cluster = $3) \
             ORDER BY n.cluster, n.name"
        );
        let rows = sqlx::query(sql)
            .bind(at)
            .bind(now - stale_after)
            .bind(cluster)
            .fetch_all(&self.pool)
            .await?;
        let mut instances = self.node_instance_limits().await?;
        rows.iter()
            .map(|row| {
                let mut summary = node_summary(row)?;
                summary.instance = instances.remove(&summary.node.node_id);
                Ok(summary)
            })
            .collect()
    }

    /// The ENIs valid at `at` that match `filter`, by cluster, node and device number.
    pub async fn enis_at(
        &self,
        filter: &EniFilter,
        at: DateTime<Utc>,
    ) -> Result<Vec<EniInterval>, StoreError> {
        let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(concat!(
            "SELECT e.node_id, n.cluster, n.name AS node_name, e.valid_from, \
                    NULLIF(e.valid_to, 'infinity'::timestamptz) AS valid_to, ",
            eni_columns!(),
            " FROM nodes n JOIN node_eni_samples e ON e.node_id = n.id WHERE e.valid_to > "
        ));
        sql.push_bind(at)
            .push(" AND e.valid_from <= ")
            .push_bind(at);
        if let Some(cluster) = &filter.cluster {
            sql.push(" AND n.cluster = ").push_bind(cluster);
        }
        if let Some(node) = &filter.node {
            sql.push(" AND n.name = ").push_bind(node);
        }
        if let Some(node_id) = filter.node_id {
            sql.push(" AND e.node_id = ").push_bind(node_id.0);
        }
        if let Some(id) = &filter.eni_id {
            sql.push(" AND e.eni_id = ").push_bind(id);
        }
        if let Some(subnet) = &filter.subnet_id {
            sql.push(" AND e.subnet_id = ").push_bind(subnet);
        }
        if let Some(mac) = filter.mac {
            sql.push(" AND e.mac = ")
                .push_bind(mac.to_string())
                .push("::macaddr");
        }
        sql.push(" ORDER BY n.cluster, n.name, e.network_card, e.device_number, e.eni_id");
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.iter().map(eni_interval).collect()
    }

    /// Every interval of the ENIs in `subnet_id` that overlaps `[from, to)`, oldest first.
    pub async fn subnet_eni_intervals(
        &self,
        subnet_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<EniInterval>, StoreError> {
        let sql = concat!(
            "SELECT e.node_id, n.cluster, n.name AS node_name, e.valid_from, \
                    NULLIF(e.valid_to, 'infinity'::timestamptz) AS valid_to, ",
            eni_columns!(),
            " FROM node_eni_samples e JOIN nodes n ON n.id = e.node_id \
             WHERE e.subnet_id = $1 AND e.valid_from < $3 AND e.valid_to > $2 \
             ORDER BY e.valid_from"
        );
        let rows = sqlx::query(sql)
            .bind(subnet_id)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(eni_interval).collect()
    }

    /// Every interval of one ENI, oldest first (it may have moved between nodes).
    pub async fn eni_timeline(&self, eni_id: &str) -> Result<Vec<EniInterval>, StoreError> {
        let sql = concat!(
            "SELECT e.node_id, n.cluster, n.name AS node_name, e.valid_from, \
                    NULLIF(e.valid_to, 'infinity'::timestamptz) AS valid_to, ",
            eni_columns!(),
            " FROM node_eni_samples e JOIN nodes n ON n.id = e.node_id \
             WHERE e.eni_id = $1 ORDER BY e.valid_from"
        );
        let rows = sqlx::query(sql).bind(eni_id).fetch_all(&self.pool).await?;
        rows.iter().map(eni_interval).collect()
    }

    /// The IP pools valid at `at`, by cluster, node, source and pool.
    pub async fn pools_at(
        &self,
        cluster: Option<&str>,
        node: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Vec<PoolInterval>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.node_id, n.cluster, n.name AS node_name, i.valid_from, i.valid_to, \
                    i.source, i.pool, i.assigned, i.free, i.total \
             FROM nodes n CROSS JOIN LATERAL (SELECT * FROM node_ipam_samples s WHERE s.node_id = n.id \
                 AND COALESCE(s.valid_to, 'infinity'::timestamptz) > $1 AND s.valid_from <= $1) i \
             WHERE ($2::text IS NULL OR n.cluster = $2) AND ($3::text IS NULL OR n.name = $3) \
             ORDER BY n.cluster, n.name, i.source, i.pool",
        )
        .bind(at)
        .bind(cluster)
        .bind(node)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PoolInterval {
                    node_id: NodeId(row.try_get("node_id")?),
                    cluster: row.try_get("cluster")?,
                    node: row.try_get("node_name")?,
                    pool: ipam_rows::decode(row)?,
                    valid_from: row.try_get("valid_from")?,
                    valid_to: row.try_get("valid_to")?,
                })
            })
            .collect()
    }

    /// Whether any snapshot of any node was stored by `at`: distinguishes "nothing yet" from
    /// "nothing matched" on an empty page.
    pub async fn first_snapshot_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = sqlx::query("SELECT min(first_seen_at) AS first FROM nodes")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("first")?)
    }
}

/// `LIKE` treats `%`, `_` and `\` specially; a search for them means the characters themselves.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn node_summary(row: &PgRow) -> Result<NodeSummary, StoreError> {
    let wiring: Option<String> = row.try_get("wiring")?;
    let sources: Option<Vec<String>> = row.try_get("sources")?;
    let names: Option<Vec<String>> = row.try_get("names")?;
    let assigned: Option<Vec<i64>> = row.try_get("assigned")?;
    let free: Option<Vec<i64>> = row.try_get("free")?;
    let total: Option<Vec<i64>> = row.try_get("total")?;
    let mut pools = Vec::new();
    for (i, (source, name)) in sources
        .unwrap_or_default()
        .into_iter()
        .zip(names.unwrap_or_default())
        .enumerate()
    {
        let figure = |v: &Option<Vec<i64>>| v.as_ref().and_then(|v| v.get(i).copied());
        pools.push(IpamPool {
            source: crate::history::IpamSource::parse(&source).ok_or_else(|| {
                StoreError::CorruptRow(format!("node_ipam_samples.source = {source:?}"))
            })?,
            pool: name,
            assigned: figure(&assigned).unwrap_or(0),
            free: figure(&free).unwrap_or(0),
            total: figure(&total).unwrap_or(0),
        });
    }
    Ok(NodeSummary {
        node: node_liveness(row)?,
        pods: row.try_get("pods")?,
        pods_with_problems: row.try_get("problems")?,
        wiring: wiring
            .map(|w| {
                parse_wiring(&w).ok_or_else(|| {
                    StoreError::CorruptRow(format!("pod_attachments.wiring = {w:?}"))
                })
            })
            .transpose()?,
        enis: row.try_get("enis")?,
        pools,
        instance: None,
    })
}

fn eni_interval(row: &PgRow) -> Result<EniInterval, StoreError> {
    Ok(EniInterval {
        node_id: NodeId(row.try_get("node_id")?),
        cluster: row.try_get("cluster")?,
        node: row.try_get("node_name")?,
        eni: eni_rows::decode(row)?,
        valid_from: row.try_get("valid_from")?,
        valid_to: row.try_get("valid_to")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_wildcard_characters_literally() {
        assert_eq!(like_escape("web_1%"), "web\\_1\\%");
        assert_eq!(like_escape("a\\b"), "a\\\\b");
        assert_eq!(like_escape("api-7d9"), "api-7d9");
    }
}
