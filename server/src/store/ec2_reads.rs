//! The read side of EC2 enrichment beyond the join of one MAC: several ENIs or subnets at once
//! (the list endpoints), a trunk's branch ENIs, a subnet's free-address samples over a period,
//! and each node's instance type limits. Answers are as of T where EC2 kept history.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{NodeId, Store, StoreError};
use crate::enrich::model::{InstanceTypeLimits, StoredEc2Eni, StoredSubnet};

/// The instance behind a node and its type's network limits (the type's limits are `None`
/// until DescribeInstanceTypes described it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInstanceLimits {
    pub instance_id: String,
    pub instance_type: Option<String>,
    pub limits: Option<InstanceTypeLimits>,
}

/// One AvailableIpAddressCount sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeSample {
    pub at: DateTime<Utc>,
    pub available: i32,
}

impl Store {
    /// EC2's descriptions of the ENIs `eni_ids` valid at `at`, keyed by id (absent ids were not
    /// described then).
    pub async fn ec2_enis_by_ids_at(
        &self,
        eni_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<HashMap<String, StoredEc2Eni>, StoreError> {
        if eni_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(
            "SELECT DISTINCT ON (eni_id) eni_id, described, kind, valid_from, \
                    NULLIF(valid_to, 'infinity') AS valid_to \
             FROM ec2_enis WHERE eni_id = ANY($1::text[]) AND valid_from <= $2 AND valid_to > $2 \
             ORDER BY eni_id, valid_from DESC",
        )
        .bind(eni_ids)
        .bind(at)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("eni_id")?, super::ec2_rows::decode_eni(row)?)))
            .collect()
    }

    /// The branch ENIs EC2 tags as riding on trunk `trunk_eni_id` (tag
    /// `vpcresources.k8s.aws/trunk-eni-id`), valid at `at`, by id.
    pub async fn ec2_branches_of_at(
        &self,
        trunk_eni_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<StoredEc2Eni>, StoreError> {
        let rows = sqlx::query(
            "SELECT described, kind, valid_from, NULLIF(valid_to, 'infinity') AS valid_to \
             FROM ec2_enis WHERE kind = 'branch' AND valid_from <= $2 AND valid_to > $2 \
               AND described -> 'TagSet' @> jsonb_build_array(jsonb_build_object( \
                   'Key', $3::text, 'Value', $1::text)) \
             ORDER BY eni_id",
        )
        .bind(trunk_eni_id)
        .bind(at)
        .bind(podwire_node_state::ec2::TRUNK_ENI_ID_TAG)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(super::ec2_rows::decode_eni).collect()
    }

    /// Whether EC2 enrichment ever described the ENI `eni_id`.
    pub async fn ec2_eni_ever_described(&self, eni_id: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ec2_enis WHERE eni_id = $1)")
                .bind(eni_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// EC2's descriptions of the subnets `subnet_ids` valid at `at`, with the free count then,
    /// keyed by id.
    pub async fn ec2_subnets_at(
        &self,
        subnet_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<HashMap<String, StoredSubnet>, StoreError> {
        let mut out = HashMap::with_capacity(subnet_ids.len());
        // A handful of subnets per cluster: one indexed lookup each.
        for id in subnet_ids {
            if let Some(subnet) = self.ec2_subnet_at(id, at).await? {
                out.insert(id.clone(), subnet);
            }
        }
        Ok(out)
    }

    /// The subnet's AvailableIpAddressCount over `[from, to]`: the sample in force at `from`
    /// (if any) followed by every sample inside the period, oldest first.
    pub async fn ec2_subnet_free_samples(
        &self,
        subnet_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<FreeSample>, StoreError> {
        let rows = sqlx::query(
            "(SELECT sampled_at, available FROM ec2_subnet_free_samples \
                 WHERE subnet_id = $1 AND sampled_at <= $2 ORDER BY sampled_at DESC LIMIT 1) \
             UNION ALL \
             (SELECT sampled_at, available FROM ec2_subnet_free_samples \
                 WHERE subnet_id = $1 AND sampled_at > $2 AND sampled_at <= $3) \
             ORDER BY sampled_at",
        )
        .bind(subnet_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(FreeSample {
                    at: row.try_get("sampled_at")?,
                    available: row.try_get("available")?,
                })
            })
            .collect()
    }

    /// Every node: (id, cluster, name), for matching nodes with the Kubernetes API's.
    pub async fn node_names(&self) -> Result<Vec<(NodeId, String, String)>, StoreError> {
        let rows = sqlx::query("SELECT id, cluster, name FROM nodes ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    NodeId(row.try_get("id")?),
                    row.try_get("cluster")?,
                    row.try_get("name")?,
                ))
            })
            .collect()
    }

    /// Each node's EC2 instance and its type's limits. The node → instance mapping is the
    /// latest refresh's (an instance keeps its node for the node's life).
    pub async fn node_instance_limits(
        &self,
    ) -> Result<HashMap<NodeId, NodeInstanceLimits>, StoreError> {
        let rows = sqlx::query(
            "SELECT n.node_id, n.instance_id, n.instance_type, t.max_enis, t.ipv4_per_eni, \
                    t.ipv6_per_eni \
             FROM ec2_node_instances n \
             LEFT JOIN ec2_instance_types t ON t.instance_type = n.instance_type",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let instance_type: Option<String> = row.try_get("instance_type")?;
                let max_enis: Option<i32> = row.try_get("max_enis")?;
                let ipv4_per_eni: Option<i32> = row.try_get("ipv4_per_eni")?;
                let limits = match (&instance_type, max_enis, ipv4_per_eni) {
                    (Some(t), Some(max_enis), Some(ipv4_per_eni)) => Some(InstanceTypeLimits {
                        instance_type: t.clone(),
                        max_enis,
                        ipv4_per_eni,
                        ipv6_per_eni: row.try_get("ipv6_per_eni")?,
                    }),
                    _ => None,
                };
                Ok((
                    NodeId(row.try_get("node_id")?),
                    NodeInstanceLimits {
                        instance_id: row.try_get("instance_id")?,
                        instance_type,
                        limits,
                    },
                ))
            })
            .collect()
    }
}
