//! EC2 enrichment's tables (`migrations/0003_enrichment.sql`) ⇄ the types of
//! [`crate::enrich::model`]: what to describe, one refresh's observation written in one
//! transaction, failures, and the facts the read side joins in by MAC and subnet id as of T.

use chrono::{DateTime, Utc};
use podwire_node_state::MacAddr;
use podwire_node_state::ec2::{Ec2Eni, EniKind, classify};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{NodeId, Store, StoreError};
use crate::enrich::model::{
    Ec2Observation, EnrichmentStatus, EnrichmentTargets, StoredEc2Eni, StoredSubnet,
};

fn parse_mac(text: &str, column: &str) -> Result<MacAddr, StoreError> {
    text.parse()
        .map_err(|_| StoreError::CorruptRow(format!("{column} = {text:?}")))
}

impl Store {
    /// The MACs, primary ENIs, subnets and instances the agents report now.
    pub async fn enrichment_targets(&self) -> Result<EnrichmentTargets, StoreError> {
        let macs: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT m::text FROM ( \
                 SELECT mac AS m FROM node_eni_samples WHERE valid_to = 'infinity' AND mac IS NOT NULL \
                 UNION ALL \
                 SELECT eni_mac FROM current_pod_attachments WHERE eni_mac IS NOT NULL) t \
             ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        let primaries = sqlx::query(
            "SELECT DISTINCT ON (node_id) node_id, mac::text AS mac FROM node_eni_samples \
             WHERE valid_to = 'infinity' AND is_primary AND mac IS NOT NULL ORDER BY node_id, eni_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let subnet_ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT subnet_id FROM node_eni_samples \
             WHERE valid_to = 'infinity' AND subnet_id IS NOT NULL ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        let instance_ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT instance_id FROM ec2_node_instances \
             WHERE instance_type IS NOT NULL ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(EnrichmentTargets {
            macs: macs
                .iter()
                .map(|m| parse_mac(m, "mac"))
                .collect::<Result<_, _>>()?,
            primary_macs: primaries
                .iter()
                .map(|row| {
                    let mac: String = row.try_get("mac")?;
                    Ok((NodeId(row.try_get("node_id")?), parse_mac(&mac, "mac")?))
                })
                .collect::<Result<_, StoreError>>()?,
            subnet_ids,
            instance_ids,
            // Not the store's: the enrichment task adds them from the Kubernetes API.
            kubernetes_instances: Vec::new(),
        })
    }

    /// Instance types whose limits are stored (they never change: described once).
    pub async fn known_instance_types(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT instance_type FROM ec2_instance_types ORDER BY 1")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Writes one completed refresh: ENIs and subnets get a new interval where a described field
    /// changed, vanished ENIs are closed, free counts sampled when they moved, and the status
    /// turns fresh.
    pub async fn record_ec2_refresh(&self, obs: &Ec2Observation) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let at = obs.at;
        let docs: Vec<serde_json::Value> = obs
            .enis
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or(serde_json::Value::Null))
            .collect();
        let ids: Vec<&str> = obs
            .enis
            .iter()
            .map(|e| e.network_interface_id.as_str())
            .collect();
        // Changed descriptions close their open interval; a new one opens below.
        sqlx::query(
            "UPDATE ec2_enis e SET valid_to = $1 FROM unnest($2::text[], $3::jsonb[]) AS t(id, doc) \
             WHERE e.eni_id = t.id AND e.valid_to = 'infinity' AND e.described <> t.doc",
        )
        .bind(at)
        .bind(&ids)
        .bind(&docs)
        .execute(&mut *tx)
        .await?;
        // Asked about by MAC and no longer described: gone.
        let asked: Vec<String> = obs.asked_macs.iter().map(MacAddr::to_string).collect();
        sqlx::query(
            "UPDATE ec2_enis SET valid_to = $1 WHERE valid_to = 'infinity' \
             AND mac = ANY($2::macaddr[]) AND eni_id <> ALL($3::text[])",
        )
        .bind(at)
        .bind(&asked)
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        let kinds: Vec<&str> = obs.enis.iter().map(|e| classify(e).as_str()).collect();
        let macs: Vec<Option<String>> = obs
            .enis
            .iter()
            .map(|e| e.mac().map(|m| m.to_string()))
            .collect();
        let opt = |f: fn(&Ec2Eni) -> Option<&str>| -> Vec<Option<String>> {
            obs.enis.iter().map(|e| f(e).map(str::to_owned)).collect()
        };
        let device_index: Vec<Option<i32>> = obs.enis.iter().map(Ec2Eni::device_index).collect();
        sqlx::query(
            "INSERT INTO ec2_enis (valid_from, eni_id, mac, kind, subnet_id, vpc_id, instance_id, \
                 device_index, described) \
             SELECT $1, t.id, t.mac::macaddr, t.kind, t.subnet, t.vpc, t.instance, t.dev, t.doc \
             FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                 $8::int4[], $9::jsonb[]) AS t(id, mac, kind, subnet, vpc, instance, dev, doc) \
             WHERE NOT EXISTS (SELECT 1 FROM ec2_enis e \
                 WHERE e.eni_id = t.id AND e.valid_to = 'infinity')",
        )
        .bind(at)
        .bind(&ids)
        .bind(&macs)
        .bind(&kinds)
        .bind(opt(|e| e.subnet_id.as_deref()))
        .bind(opt(|e| e.vpc_id.as_deref()))
        .bind(opt(|e| e.attachment.as_ref()?.instance_id.as_deref()))
        .bind(&device_index)
        .bind(&docs)
        .execute(&mut *tx)
        .await?;

        let subnet_ids: Vec<&str> = obs.subnets.iter().map(|s| s.subnet_id.as_str()).collect();
        let vpcs: Vec<Option<&str>> = obs.subnets.iter().map(|s| s.vpc_id.as_deref()).collect();
        let cidrs: Vec<Option<String>> = obs
            .subnets
            .iter()
            .map(|s| s.cidr.map(|c| c.to_string()))
            .collect();
        let zones: Vec<Option<&str>> = obs
            .subnets
            .iter()
            .map(|s| s.availability_zone.as_deref())
            .collect();
        let available: Vec<Option<i32>> = obs.subnets.iter().map(|s| s.available).collect();
        sqlx::query(
            "UPDATE ec2_subnets s SET valid_to = $1 \
             FROM unnest($2::text[], $3::text[], $4::cidr[], $5::text[]) AS t(id, vpc, cidr, zone) \
             WHERE s.subnet_id = t.id AND s.valid_to = 'infinity' \
               AND (s.vpc_id, s.cidr, s.availability_zone) IS DISTINCT FROM (t.vpc, t.cidr, t.zone)",
        )
        .bind(at)
        .bind(&subnet_ids)
        .bind(&vpcs)
        .bind(&cidrs)
        .bind(&zones)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO ec2_subnets (valid_from, subnet_id, vpc_id, cidr, availability_zone) \
             SELECT $1, t.id, t.vpc, t.cidr, t.zone \
             FROM unnest($2::text[], $3::text[], $4::cidr[], $5::text[]) AS t(id, vpc, cidr, zone) \
             WHERE NOT EXISTS (SELECT 1 FROM ec2_subnets s \
                 WHERE s.subnet_id = t.id AND s.valid_to = 'infinity')",
        )
        .bind(at)
        .bind(&subnet_ids)
        .bind(&vpcs)
        .bind(&cidrs)
        .bind(&zones)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO ec2_subnet_free_samples (sampled_at, subnet_id, available) \
             SELECT $1, t.id, t.available FROM unnest($2::text[], $3::int4[]) AS t(id, available) \
             WHERE t.available IS NOT NULL AND t.available IS DISTINCT FROM ( \
                 SELECT f.available FROM ec2_subnet_free_samples f WHERE f.subnet_id = t.id \
                 ORDER BY f.sampled_at DESC LIMIT 1) \
             ON CONFLICT DO NOTHING",
        )
        .bind(at)
        .bind(&subnet_ids)
        .bind(&available)
        .execute(&mut *tx)
        .await?;

        for limits in &obs.instance_types {
            sqlx::query(
                "INSERT INTO ec2_instance_types (instance_type, max_enis, ipv4_per_eni, \
                     ipv6_per_eni, described_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (instance_type) DO UPDATE SET max_enis = EXCLUDED.max_enis, \
                     ipv4_per_eni = EXCLUDED.ipv4_per_eni, ipv6_per_eni = EXCLUDED.ipv6_per_eni, \
                     described_at = EXCLUDED.described_at",
            )
            .bind(&limits.instance_type)
            .bind(limits.max_enis)
            .bind(limits.ipv4_per_eni)
            .bind(limits.ipv6_per_eni)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        for node in &obs.node_instances {
            sqlx::query(
                "INSERT INTO ec2_node_instances (node_id, instance_id, instance_type, described_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (node_id) DO UPDATE SET \
                     instance_id = EXCLUDED.instance_id, \
                     instance_type = COALESCE(EXCLUDED.instance_type, ec2_node_instances.instance_type), \
                     described_at = EXCLUDED.described_at",
            )
            .bind(node.node_id.0)
            .bind(&node.instance_id)
            .bind(node.instance_type.as_deref())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO enrichment_status (source, last_attempt_at, last_success_at, stale, last_calls) \
             VALUES ($1, $2, now(), false, $3) ON CONFLICT (source) DO UPDATE SET \
                 last_attempt_at = EXCLUDED.last_attempt_at, last_success_at = now(), \
                 stale = false, last_calls = EXCLUDED.last_calls",
        )
        .bind(crate::enrich::model::EC2_SOURCE)
        .bind(at)
        .bind(i32::try_from(obs.calls).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed refresh: what is stored stays, marked stale.
    pub async fn record_enrichment_failure(
        &self,
        source: &str,
        attempted_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO enrichment_status (source, last_attempt_at, last_error_at, last_error, stale) \
             VALUES ($1, $2, now(), $3, true) ON CONFLICT (source) DO UPDATE SET \
                 last_attempt_at = EXCLUDED.last_attempt_at, last_error_at = now(), \
                 last_error = EXCLUDED.last_error, stale = true",
        )
        .bind(source)
        .bind(attempted_at)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The status of `source`; not `configured` when it never ran against this database.
    pub async fn enrichment_status(&self, source: &str) -> Result<EnrichmentStatus, StoreError> {
        let row = sqlx::query(
            "SELECT last_attempt_at, last_success_at, last_error_at, last_error, stale, last_calls \
             FROM enrichment_status WHERE source = $1",
        )
        .bind(source)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(EnrichmentStatus {
                stale: true,
                ..EnrichmentStatus::default()
            });
        };
        Ok(EnrichmentStatus {
            stale: row.try_get("stale")?,
            last_attempt_at: row.try_get("last_attempt_at")?,
            last_success_at: row.try_get("last_success_at")?,
            last_error_at: row.try_get("last_error_at")?,
            last_error: row.try_get("last_error")?,
            last_calls: row.try_get("last_calls")?,
            configured: true,
        })
    }

    /// EC2's description of the ENI with `mac`, as of `at`.
    pub async fn ec2_eni_by_mac_at(
        &self,
        mac: MacAddr,
        at: DateTime<Utc>,
    ) -> Result<Option<StoredEc2Eni>, StoreError> {
        self.ec2_eni_at("mac = $1::macaddr", &mac.to_string(), at)
            .await
    }

    /// EC2's description of the ENI `eni_id`, as of `at`.
    pub async fn ec2_eni_by_id_at(
        &self,
        eni_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<StoredEc2Eni>, StoreError> {
        self.ec2_eni_at("eni_id = $1", eni_id, at).await
    }

    /// The ENI row matching `key` (a condition on `$1`, one of the two above) valid at `at`.
    async fn ec2_eni_at(
        &self,
        key: &'static str,
        value: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<StoredEc2Eni>, StoreError> {
        let sql = format!(
            "SELECT described, kind, valid_from, NULLIF(valid_to, 'infinity') AS valid_to \
             FROM ec2_enis WHERE {key} AND valid_from <= $2 AND valid_to > $2 \
             ORDER BY valid_from DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .bind(at)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode_eni).transpose()
    }

    /// EC2's description of subnet `subnet_id` as of `at`, with its free count then.
    pub async fn ec2_subnet_at(
        &self,
        subnet_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<StoredSubnet>, StoreError> {
        let row = sqlx::query(
            "SELECT s.vpc_id, s.cidr::text AS cidr, s.availability_zone, f.available, f.sampled_at \
             FROM ec2_subnets s LEFT JOIN LATERAL ( \
                 SELECT available, sampled_at FROM ec2_subnet_free_samples \
                 WHERE subnet_id = s.subnet_id AND sampled_at <= $2 \
                 ORDER BY sampled_at DESC LIMIT 1) f ON true \
             WHERE s.subnet_id = $1 AND s.valid_to > $2 AND s.valid_from <= $2 \
             ORDER BY s.valid_from DESC LIMIT 1",
        )
        .bind(subnet_id)
        .bind(at)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let cidr: Option<String> = row.try_get("cidr")?;
        Ok(Some(StoredSubnet {
            subnet_id: subnet_id.to_owned(),
            vpc_id: row.try_get("vpc_id")?,
            cidr: cidr
                .map(|c| {
                    c.parse()
                        .map_err(|_| StoreError::CorruptRow(format!("ec2_subnets.cidr = {c:?}")))
                })
                .transpose()?,
            availability_zone: row.try_get("availability_zone")?,
            available: row.try_get("available")?,
            available_sampled_at: row.try_get("sampled_at")?,
        }))
    }
}

pub(super) fn decode_eni(row: &PgRow) -> Result<StoredEc2Eni, StoreError> {
    let doc: serde_json::Value = row.try_get("described")?;
    let kind: String = row.try_get("kind")?;
    let eni: Ec2Eni = serde_json::from_value(doc)
        .map_err(|err| StoreError::CorruptRow(format!("ec2_enis.described: {err}")))?;
    Ok(StoredEc2Eni {
        kind: EniKind::parse(&kind)
            .ok_or_else(|| StoreError::CorruptRow(format!("ec2_enis.kind = {kind:?}")))?,
        eni,
        valid_from: row.try_get("valid_from")?,
        valid_to: row.try_get("valid_to")?,
    })
}
