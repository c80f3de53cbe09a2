//! One refresh: which EC2 calls to make for the targets the agents report, made through an
//! [`Ec2Api`] (the SDK in production, a counting fake in tests), throttled and retried, into one
//! [`Ec2Observation`].
//!
//! Batching: DescribeNetworkInterfaces with `mac-address` filters of at most
//! [`FILTER_VALUES_PER_CALL`] values (EC2's limit on one filter's values), then one with
//! `attachment.instance-id` per chunk of known instances (ENIs attached since the agents last
//! reported); DescribeSubnets by `subnet-id` chunks; DescribeInstances only for instances whose
//! type is not yet known; DescribeInstanceTypes only for types not yet stored (they never
//! change), at most [`INSTANCE_TYPES_PER_CALL`] a call. Every call pages through `NextToken`.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use podwire_node_state::MacAddr;
use podwire_node_state::ec2::{Ec2Eni, EniKind, classify};
use tokio::time::Instant;

use super::model::{
    DescribedSubnet, Ec2Observation, EnrichmentTargets, InstanceTypeLimits, NodeInstance,
};

/// EC2's limit on the values of one filter.
pub const FILTER_VALUES_PER_CALL: usize = 200;
/// DescribeInstanceTypes takes at most 100 types a call.
pub const INSTANCE_TYPES_PER_CALL: usize = 100;

/// One EC2 read, as planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ec2Call {
    EnisByMac(Vec<MacAddr>),
    EnisByInstance(Vec<String>),
    Subnets(Vec<String>),
    Instances(Vec<String>),
    InstanceTypes(Vec<String>),
}

/// One page of an answer and the token of the next, if any.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// A failed EC2 call: whether trying again may help, and why.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed")]
pub struct Ec2CallError {
    pub operation: &'static str,
    /// Throttling, a 5xx, a timeout or an unreachable endpoint.
    pub retryable: bool,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// The EC2 reads enrichment makes, one page at a time.
pub trait Ec2Api: Send + Sync {
    /// DescribeNetworkInterfaces with one filter: `mac-address` or `attachment.instance-id`.
    fn describe_enis(
        &self,
        filter: &'static str,
        values: &[String],
        token: Option<String>,
    ) -> impl Future<Output = Result<Page<Ec2Eni>, Ec2CallError>> + Send;
    fn describe_subnets(
        &self,
        ids: &[String],
        token: Option<String>,
    ) -> impl Future<Output = Result<Page<DescribedSubnet>, Ec2CallError>> + Send;
    /// (instance id, instance type) of running instances.
    fn describe_instances(
        &self,
        ids: &[String],
        token: Option<String>,
    ) -> impl Future<Output = Result<Page<(String, String)>, Ec2CallError>> + Send;
    fn describe_instance_types(
        &self,
        types: &[String],
        token: Option<String>,
    ) -> impl Future<Output = Result<Page<InstanceTypeLimits>, Ec2CallError>> + Send;
}

/// The ENI calls of a refresh: MAC chunks, then chunks of the instances tied to nodes (by
/// earlier refreshes or by the Kubernetes API).
pub fn plan_eni_calls(targets: &EnrichmentTargets) -> Vec<Ec2Call> {
    let mut calls: Vec<Ec2Call> = targets
        .macs
        .chunks(FILTER_VALUES_PER_CALL)
        .map(|chunk| Ec2Call::EnisByMac(chunk.to_vec()))
        .collect();
    let instances: Vec<String> = targets
        .instance_ids
        .iter()
        .chain(targets.kubernetes_instances.iter().map(|n| &n.instance_id))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    calls.extend(
        instances
            .chunks(FILTER_VALUES_PER_CALL)
            .map(|chunk| Ec2Call::EnisByInstance(chunk.to_vec())),
    );
    calls
}

/// How the refresh paces and retries its calls.
#[derive(Debug, Clone)]
pub struct CallPolicy {
    pub min_interval: Duration,
    pub retries: u32,
}

/// Makes the calls of one refresh, counting them.
#[derive(Debug)]
pub struct Refresher<'a, A> {
    api: &'a A,
    policy: CallPolicy,
    last_call: Option<Instant>,
    /// Calls made, retries and pages included.
    pub calls: u32,
}

impl<'a, A: Ec2Api> Refresher<'a, A> {
    pub fn new(api: &'a A, policy: CallPolicy) -> Self {
        Refresher {
            api,
            policy,
            last_call: None,
            calls: 0,
        }
    }

    /// Describes everything `targets` names. `known_types` are instance types already stored;
    /// `typed_instances` instances whose type is already stored.
    pub async fn refresh(
        &mut self,
        targets: &EnrichmentTargets,
        known_types: &[String],
        typed_instances: &[String],
    ) -> Result<Ec2Observation, Ec2CallError> {
        let mut enis: HashMap<String, Ec2Eni> = HashMap::new();
        for call in plan_eni_calls(targets) {
            let (filter, values) = match call {
                Ec2Call::EnisByMac(macs) => {
                    ("mac-address", macs.iter().map(MacAddr::to_string).collect())
                }
                Ec2Call::EnisByInstance(ids) => ("attachment.instance-id", ids),
                _ => continue,
            };
            for eni in self
                .paged(|api, token| api.describe_enis(filter, &values, token))
                .await?
            {
                enis.entry(eni.network_interface_id.clone()).or_insert(eni);
            }
        }
        let mut enis: Vec<Ec2Eni> = enis.into_values().collect();
        enis.sort_by(|a, b| a.network_interface_id.cmp(&b.network_interface_id));

        let subnet_ids: Vec<String> = targets
            .subnet_ids
            .iter()
            .cloned()
            .chain(enis.iter().filter_map(|e| e.subnet_id.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut subnets = Vec::new();
        for chunk in subnet_ids.chunks(FILTER_VALUES_PER_CALL) {
            subnets.extend(
                self.paged(|api, token| api.describe_subnets(chunk, token))
                    .await?,
            );
        }

        // Nodes → instances through their primary ENI's attachment.
        let by_mac: HashMap<MacAddr, &Ec2Eni> =
            enis.iter().filter_map(|e| Some((e.mac()?, e))).collect();
        let mut node_instances: Vec<NodeInstance> = targets
            .primary_macs
            .iter()
            .filter_map(|(node, mac)| {
                let eni = by_mac.get(mac)?;
                (classify(eni) == EniKind::Primary).then_some(())?;
                Some(NodeInstance {
                    node_id: *node,
                    instance_id: eni.attachment.as_ref()?.instance_id.clone()?,
                    instance_type: None,
                })
            })
            .collect();
        // What the Kubernetes API says fills the gaps: the instance of a node whose primary ENI
        // EC2 did not describe, and the type of an instance without asking DescribeInstances.
        for known in &targets.kubernetes_instances {
            match node_instances
                .iter_mut()
                .find(|n| n.node_id == known.node_id)
            {
                Some(joined) if joined.instance_id == known.instance_id => {
                    joined.instance_type = known.instance_type.clone();
                }
                // EC2's own answer (the instance its primary ENI is attached to) wins.
                Some(_) => {}
                None => node_instances.push(known.clone()),
            }
        }
        let untyped: Vec<String> = node_instances
            .iter()
            .filter(|n| n.instance_type.is_none())
            .map(|n| n.instance_id.clone())
            .filter(|id| !typed_instances.contains(id))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut types_of: HashMap<String, String> = HashMap::new();
        for chunk in untyped.chunks(FILTER_VALUES_PER_CALL) {
            types_of.extend(
                self.paged(|api, token| api.describe_instances(chunk, token))
                    .await?,
            );
        }
        for node in &mut node_instances {
            if node.instance_type.is_none() {
                node.instance_type = types_of.get(&node.instance_id).cloned();
            }
        }
        let new_types: Vec<String> = node_instances
            .iter()
            .filter_map(|n| n.instance_type.as_ref())
            .filter(|t| !known_types.contains(t))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut instance_types = Vec::new();
        for chunk in new_types.chunks(INSTANCE_TYPES_PER_CALL) {
            instance_types.extend(
                self.paged(|api, token| api.describe_instance_types(chunk, token))
                    .await?,
            );
        }
        Ok(Ec2Observation {
            at: chrono::Utc::now(),
            asked_macs: targets.macs.clone(),
            enis,
            subnets,
            instance_types,
            node_instances,
            calls: self.calls,
        })
    }

    /// Every page of one call, each page throttled and retried.
    async fn paged<T, F, Fut>(&mut self, call: F) -> Result<Vec<T>, Ec2CallError>
    where
        F: Fn(&'a A, Option<String>) -> Fut,
        Fut: Future<Output = Result<Page<T>, Ec2CallError>>,
    {
        let mut items = Vec::new();
        let mut token = None;
        loop {
            let page = self.one_page(&call, token.clone()).await?;
            items.extend(page.items);
            match page.next_token.filter(|t| !t.is_empty()) {
                // A token equal to the one sent would loop forever: stop.
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                _ => return Ok(items),
            }
        }
    }

    async fn one_page<T, F, Fut>(
        &mut self,
        call: &F,
        token: Option<String>,
    ) -> Result<Page<T>, Ec2CallError>
    where
        F: Fn(&'a A, Option<String>) -> Fut,
        Fut: Future<Output = Result<Page<T>, Ec2CallError>>,
    {
        let api = self.api;
        let min_interval = self.policy.min_interval;
        let last_call = &mut self.last_call;
        let calls = &mut self.calls;
        let attempt = || {
            let token = token.clone();
            let wait_until = last_call.map(|t| t + min_interval);
            *last_call = Some(Instant::now().max(wait_until.unwrap_or_else(Instant::now)));
            *calls += 1;
            async move {
                if let Some(when) = wait_until {
                    tokio::time::sleep_until(when).await;
                }
                call(api, token).await
            }
        };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(5))
                    .with_max_times(self.policy.retries as usize)
                    .with_jitter(),
            )
            .when(|err: &Ec2CallError| err.retryable)
            .await
    }
}

#[cfg(test)]
#[path = "refresh_tests.rs"]
mod tests;
