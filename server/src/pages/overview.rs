//! `/`: the fleet at a glance — clusters, nodes, pods, ENIs; IP-pool utilization per subnet and
//! per node; stale agents; pods with problems.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};

use super::PageError;
use super::chrome::{AtQuery, Chrome, enc, percent, time};
use crate::api::AppState;
use crate::read::overview_utilization;

/// How many nodes the utilization list shows (the nodes page has them all).
const NODE_BARS: usize = 15;

pub(crate) struct Utilization {
    pub label: String,
    pub href: String,
    pub used: i64,
    pub total: i64,
    pub percent: i64,
    /// `high` from 80 %, `full` from 95 %.
    pub class: &'static str,
}

impl Utilization {
    pub fn new(label: String, href: String, used: i64, total: i64) -> Self {
        let percent = percent(used, total);
        Utilization {
            label,
            href,
            used,
            total,
            percent,
            class: bar_class(percent),
        }
    }
}

pub(crate) fn bar_class(percent: i64) -> &'static str {
    match percent {
        95.. => "full",
        80.. => "high",
        _ => "",
    }
}

pub(crate) struct ProblemRow {
    pub pod: String,
    pub href: Option<String>,
    pub node: String,
    pub node_href: String,
    pub ip: String,
    pub problems: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "overview.html")]
pub(crate) struct OverviewPage {
    chrome: Chrome,
    clusters: Vec<crate::read::ClusterOverview>,
    total_nodes: i64,
    total_pods: i64,
    total_enis: i64,
    total_stale: i64,
    subnets: Vec<Utilization>,
    nodes: Vec<Utilization>,
    stale: Vec<(String, String, String)>,
    problem_counts: Vec<(&'static str, usize)>,
    problems: Vec<ProblemRow>,
    empty: bool,
}

pub(crate) async fn overview(
    State(state): State<AppState>,
    Query(query): Query<AtQuery>,
) -> Result<OverviewPage, PageError> {
    let chrome = Chrome::new("Overview", query.at.as_deref())?;
    let o = state.reader().overview(chrome.at).await?;
    let subnets = o
        .subnets
        .iter()
        .map(|s| {
            Utilization::new(
                format!("{} ({} ENIs on {} nodes)", s.subnet_id, s.enis, s.nodes),
                format!("/subnets/{}{}", enc(&s.subnet_id), chrome.at_query),
                s.assigned,
                s.held,
            )
        })
        .collect();
    let nodes = o
        .nodes
        .iter()
        .filter(|n| !n.pools.is_empty())
        .take(NODE_BARS)
        .map(|n| {
            let (used, total) = overview_utilization(n);
            Utilization::new(
                format!("{}/{}", n.node.cluster, n.node.name),
                format!(
                    "/nodes/{}/{}{}",
                    enc(&n.node.cluster),
                    enc(&n.node.name),
                    chrome.at_query
                ),
                used,
                total,
            )
        })
        .collect();
    let stale = o
        .stale
        .iter()
        .map(|n| {
            (
                format!("{}/{}", n.cluster, n.name),
                format!(
                    "/nodes/{}/{}{}",
                    enc(&n.cluster),
                    enc(&n.name),
                    chrome.at_query
                ),
                time(n.last_heartbeat_at),
            )
        })
        .collect();
    let problems = o
        .problem_pods
        .iter()
        .map(|p| {
            let a = &p.attachment;
            ProblemRow {
                pod: pod_label(
                    a.pod_namespace.as_deref(),
                    a.pod_name.as_deref(),
                    &a.interface,
                ),
                href: pod_href(
                    a.pod_namespace.as_deref(),
                    a.pod_name.as_deref(),
                    &chrome.at_query,
                ),
                node: format!("{}/{}", p.cluster, p.node),
                node_href: format!(
                    "/nodes/{}/{}{}",
                    enc(&p.cluster),
                    enc(&p.node),
                    chrome.at_query
                ),
                ip: a.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                problems: problem_list(&a.problems),
            }
        })
        .collect();
    Ok(OverviewPage {
        total_nodes: o.clusters.iter().map(|c| c.nodes).sum(),
        total_pods: o.clusters.iter().map(|c| c.pods).sum(),
        total_enis: o.clusters.iter().map(|c| c.enis).sum(),
        total_stale: o.clusters.iter().map(|c| c.stale_nodes).sum(),
        empty: o.clusters.is_empty(),
        clusters: o.clusters,
        subnets,
        nodes,
        stale,
        problem_counts: o
            .problem_counts
            .iter()
            .map(|(code, n)| (crate::history::problem_code_str(*code), *n))
            .collect(),
        problems,
        chrome,
    })
}

/// `namespace/name`, or the interface when the pod is unnamed.
pub(crate) fn pod_label(namespace: Option<&str>, name: Option<&str>, interface: &str) -> String {
    match (namespace, name) {
        (Some(ns), Some(name)) => format!("{ns}/{name}"),
        _ => format!("unnamed pod ({interface})"),
    }
}

/// The pod page's link, for named pods.
pub(crate) fn pod_href(
    namespace: Option<&str>,
    name: Option<&str>,
    at_query: &str,
) -> Option<String> {
    Some(format!(
        "/pods/{}/{}{}",
        enc(namespace?),
        enc(name?),
        at_query
    ))
}

pub(crate) fn problem_list(problems: &[podwire_node_state::resolver::ProblemCode]) -> String {
    problems
        .iter()
        .map(|p| crate::history::problem_code_str(*p))
        .collect::<Vec<_>>()
        .join(", ")
}
