//! The fleet at a glance at a time T: clusters, nodes, pods and ENIs; IP-pool utilization per
//! subnet and per node; stale agents; pods with problems.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use podwire_node_state::resolver::ProblemCode;

use super::{ReadError, Reader};
use crate::store::queries::{AttachmentInterval, NodeLiveness};
use crate::store::{EniFilter, EniInterval, NodeSummary, PodPageFilter};

/// One cluster's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterOverview {
    pub name: String,
    pub nodes: i64,
    pub stale_nodes: i64,
    pub pods: i64,
    pub pods_with_problems: i64,
    pub enis: i64,
}

/// A subnet as the nodes' ENIs show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetSummary {
    pub subnet_id: String,
    pub enis: i64,
    pub nodes: i64,
    /// Addresses the subnet's ENIs hold for pods.
    pub held: i64,
    /// Of those, assigned to pods.
    pub assigned: i64,
    /// EC2's description (CIDR, free count) at the time, when the reader joined it in
    /// ([`super::Reader::subnets_at`] does; the overview does not).
    pub ec2: Option<crate::enrich::model::StoredSubnet>,
}

/// The overview page's content.
#[derive(Debug, Clone)]
pub struct Overview {
    pub at: DateTime<Utc>,
    pub clusters: Vec<ClusterOverview>,
    pub subnets: Vec<SubnetSummary>,
    /// Every node known at T, most utilized IP pools first.
    pub nodes: Vec<NodeSummary>,
    /// Stale now (liveness is about the present, whatever T is).
    pub stale: Vec<NodeLiveness>,
    /// Pods with problems at T (the first [`PROBLEM_PODS`]).
    pub problem_pods: Vec<AttachmentInterval>,
    /// How many pod interfaces had each problem, of those listed.
    pub problem_counts: Vec<(ProblemCode, usize)>,
}

/// How many pods with problems the overview lists.
pub const PROBLEM_PODS: i64 = 50;

/// Groups ENIs by subnet (ENIs without a subnet id are left out).
pub(crate) fn subnet_summaries(enis: &[EniInterval]) -> Vec<SubnetSummary> {
    let mut by_subnet: BTreeMap<&str, (SubnetSummary, std::collections::BTreeSet<i32>)> =
        BTreeMap::new();
    for e in enis {
        let Some(subnet) = e.eni.subnet_id.as_deref() else {
            continue;
        };
        let (summary, nodes) = by_subnet.entry(subnet).or_insert_with(|| {
            (
                SubnetSummary {
                    subnet_id: subnet.to_owned(),
                    enis: 0,
                    nodes: 0,
                    held: 0,
                    assigned: 0,
                    ec2: None,
                },
                Default::default(),
            )
        });
        summary.enis += 1;
        summary.held += e.eni.ip_capacity;
        summary.assigned += e.eni.assigned;
        nodes.insert(e.node_id.0);
    }
    by_subnet
        .into_values()
        .map(|(mut s, nodes)| {
            s.nodes = i64::try_from(nodes.len()).unwrap_or(i64::MAX);
            s
        })
        .collect()
}

/// A node's assigned and total addresses across its pools.
pub fn utilization(node: &NodeSummary) -> (i64, i64) {
    let total: i64 = node.pools.iter().map(|p| p.total).sum();
    let assigned: i64 = node.pools.iter().map(|p| p.assigned).sum();
    (assigned, total)
}

fn ratio(node: &NodeSummary) -> f64 {
    match utilization(node) {
        (_, 0) => 0.0,
        (assigned, total) => assigned as f64 / total as f64,
    }
}

impl Reader {
    /// The overview as of `at`.
    pub async fn overview(&self, at: DateTime<Utc>) -> Result<Overview, ReadError> {
        let now = Utc::now();
        let mut nodes = self
            .store
            .node_summaries(None, at, now, self.stale_after)
            .await?;
        let enis = self.store.enis_at(&EniFilter::default(), at).await?;
        let problem_pods = self
            .store
            .pods_page(
                &PodPageFilter {
                    with_problems: true,
                    limit: PROBLEM_PODS,
                    ..PodPageFilter::default()
                },
                at,
            )
            .await?;

        let mut clusters: BTreeMap<String, ClusterOverview> = BTreeMap::new();
        for n in &nodes {
            let c = clusters
                .entry(n.node.cluster.clone())
                .or_insert_with(|| ClusterOverview {
                    name: n.node.cluster.clone(),
                    ..ClusterOverview::default()
                });
            c.nodes += 1;
            c.stale_nodes += i64::from(n.node.stale);
            c.pods += n.pods;
            c.pods_with_problems += n.pods_with_problems;
            c.enis += n.enis;
        }
        let stale = nodes
            .iter()
            .filter(|n| n.node.stale)
            .map(|n| n.node.clone())
            .collect();
        nodes.sort_by(|a, b| ratio(b).total_cmp(&ratio(a)));

        let mut counts: BTreeMap<&'static str, (ProblemCode, usize)> = BTreeMap::new();
        for pod in &problem_pods {
            for code in &pod.attachment.problems {
                counts
                    .entry(crate::history::problem_code_str(*code))
                    .or_insert((*code, 0))
                    .1 += 1;
            }
        }
        Ok(Overview {
            at,
            clusters: clusters.into_values().collect(),
            subnets: subnet_summaries(&enis),
            nodes,
            stale,
            problem_counts: counts.into_values().collect(),
            problem_pods,
        })
    }
}
