//! The enrichment task: a refresh every `--ec2-refresh-interval` (the cache's TTL), each one's
//! outcome written to the store, until shutdown.

use crate::error_chain::error_chain;
use std::error::Error as _;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::watch;

use super::config::Ec2Settings;
use super::model::{EC2_SOURCE, Ec2Observation, NodeInstance};
use super::refresh::{CallPolicy, Ec2Api, Ec2CallError, Refresher};
use crate::cluster::ClusterDirectory;
use crate::store::{NodeId, Store, StoreError};

/// Why one refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error("reading what to describe from the store")]
    Targets(#[source] StoreError),
    #[error("EC2")]
    Ec2(#[from] Ec2CallError),
    #[error("writing EC2's answers to the store")]
    Record(#[source] StoreError),
}

/// One refresh: targets from the store (and the instances the Kubernetes API names for the
/// nodes, when the server watches their cluster), EC2's answers, written back in one transaction.
pub async fn refresh_once<A: Ec2Api>(
    api: &A,
    store: &Store,
    settings: &Ec2Settings,
    cluster: Option<&dyn ClusterDirectory>,
) -> Result<Ec2Observation, EnrichError> {
    let mut targets = store
        .enrichment_targets()
        .await
        .map_err(EnrichError::Targets)?;
    if let Some(directory) = cluster {
        let nodes = store.node_names().await.map_err(EnrichError::Targets)?;
        targets.kubernetes_instances = kubernetes_instances(&nodes, directory);
    }
    let known_types = store
        .known_instance_types()
        .await
        .map_err(EnrichError::Targets)?;
    let mut refresher = Refresher::new(
        api,
        CallPolicy {
            min_interval: settings.min_call_interval,
            retries: settings.retries,
        },
    );
    let observation = refresher
        .refresh(&targets, &known_types, &targets.instance_ids)
        .await?;
    store
        .record_ec2_refresh(&observation)
        .await
        .map_err(EnrichError::Record)?;
    Ok(observation)
}

/// The instances the Kubernetes API names for the agents' nodes: each node of a cluster the
/// directory describes whose Node object has an instance id in its `providerID`.
pub fn kubernetes_instances(
    nodes: &[(NodeId, String, String)],
    directory: &dyn ClusterDirectory,
) -> Vec<NodeInstance> {
    nodes
        .iter()
        .filter(|(_, cluster, _)| directory.describes(cluster))
        .filter_map(|(node_id, _, name)| {
            let facts = directory.node(name)?;
            Some(NodeInstance {
                node_id: *node_id,
                instance_id: facts.instance_id?,
                instance_type: facts.instance_type,
            })
        })
        .collect()
}

/// Refreshes at once and then every `settings.refresh_interval` until `shutdown` turns true.
pub async fn run<A: Ec2Api>(
    api: A,
    store: Store,
    settings: Ec2Settings,
    cluster: Option<Arc<dyn ClusterDirectory>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let attempted_at = Utc::now();
        match refresh_once(&api, &store, &settings, cluster.as_deref()).await {
            Ok(obs) => tracing::info!(
                calls = obs.calls,
                enis = obs.enis.len(),
                subnets = obs.subnets.len(),
                "EC2 enrichment refreshed"
            ),
            Err(err) => {
                let text = error_chain(&err);
                tracing::warn!(error = %text, retry_in = ?settings.refresh_interval,
                    "EC2 enrichment failed; stored EC2 facts are marked stale");
                if let Err(store_err) = store
                    .record_enrichment_failure(EC2_SOURCE, attempted_at, &text)
                    .await
                {
                    tracing::warn!(error = %store_err, cause = ?store_err.source(),
                        "could not record the EC2 enrichment failure");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.refresh_interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
