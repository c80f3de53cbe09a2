//! `/nodes`: every node with its wiring, ENIs used, IPs assigned / warm / free and last contact.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use chrono::Utc;

use super::PageError;
use super::chrome::{AtQuery, Chrome, enc, time};
use crate::history::IpamSource;

pub(crate) struct NodeRow {
    pub cluster: String,
    pub name: String,
    pub href: String,
    pub wiring: String,
    pub pods: i64,
    pub problems: i64,
    pub enis: i64,
    /// The instance type's ENI limit, or `not enriched`.
    pub max_enis: String,
    pub assigned: i64,
    /// ipamd: addresses held on ENIs but not assigned.
    pub warm: String,
    /// host-local: addresses left in the ranges; ipamd: the instance type's IP capacity less
    /// what ipamd holds (EC2 enrichment).
    pub free: String,
    pub last_seen: String,
    pub stale: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "nodes.html")]
pub(crate) struct NodesPage {
    chrome: Chrome,
    rows: Vec<NodeRow>,
}

pub(crate) async fn nodes(
    State(state): State<crate::api::AppState>,
    Query(query): Query<AtQuery>,
) -> Result<NodesPage, PageError> {
    let chrome = Chrome::new("Nodes", query.at.as_deref())?;
    let summaries = state
        .store
        .node_summaries(None, chrome.at, Utc::now(), state.stale_after)
        .await?;
    let rows = summaries
        .into_iter()
        .map(|s| {
            let ipamd: Vec<_> = s
                .pools
                .iter()
                .filter(|p| p.source == IpamSource::Ipamd)
                .collect();
            let host_local: Vec<_> = s
                .pools
                .iter()
                .filter(|p| p.source == IpamSource::HostLocal)
                .collect();
            let warm = if ipamd.is_empty() {
                "—".to_owned()
            } else {
                ipamd.iter().map(|p| p.free).sum::<i64>().to_string()
            };
            let limits = s.instance.as_ref().and_then(|i| i.limits.as_ref());
            let free = if !host_local.is_empty() {
                host_local.iter().map(|p| p.free).sum::<i64>().to_string()
            } else if !ipamd.is_empty() {
                match limits {
                    Some(l) => free_by_capacity(l, ipamd.iter().map(|p| p.total).sum()).to_string(),
                    None => crate::read::NOT_ENRICHED.to_owned(),
                }
            } else {
                "—".to_owned()
            };
            NodeRow {
                href: format!(
                    "/nodes/{}/{}{}",
                    enc(&s.node.cluster),
                    enc(&s.node.name),
                    chrome.at_query
                ),
                wiring: s.wiring.map_or("—", |w| w.as_str()).to_owned(),
                pods: s.pods,
                problems: s.pods_with_problems,
                enis: s.enis,
                max_enis: match limits {
                    Some(l) => l.max_enis.to_string(),
                    None if ipamd.is_empty() => "—".to_owned(),
                    None => crate::read::NOT_ENRICHED.to_owned(),
                },
                assigned: s.pools.iter().map(|p| p.assigned).sum(),
                warm,
                free,
                last_seen: time(s.node.last_heartbeat_at),
                stale: s.node.stale,
                cluster: s.node.cluster,
                name: s.node.name,
            }
        })
        .collect();
    Ok(NodesPage { chrome, rows })
}

/// Addresses a VPC CNI node could still attach: its instance type's capacity less what ipamd
/// holds. A node holding more than secondary IPs allow uses prefix delegation, where each
/// address slot of an ENI holds a /28 (16 addresses).
fn free_by_capacity(limits: &crate::enrich::model::InstanceTypeLimits, held: i64) -> i64 {
    let secondary_ips = limits.ip_capacity();
    let capacity = if held > secondary_ips {
        secondary_ips * 16
    } else {
        secondary_ips
    };
    (capacity - held).max(0)
}

#[cfg(test)]
mod tests {
    use crate::enrich::model::InstanceTypeLimits;

    #[test]
    fn free_addresses_follow_the_instance_type_with_or_without_prefixes() {
        let m5_large = InstanceTypeLimits {
            instance_type: "m5.large".into(),
            max_enis: 3,
            ipv4_per_eni: 10,
            ipv6_per_eni: Some(10),
        };
        // secondary IPs: 3 × 9 = 27 slots
        assert_eq!(super::free_by_capacity(&m5_large, 20), 7);
        assert_eq!(super::free_by_capacity(&m5_large, 27), 0);
        // prefixes: 27 slots × 16 addresses
        assert_eq!(super::free_by_capacity(&m5_large, 56), 432 - 56);
    }
}
