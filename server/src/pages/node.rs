//! `/nodes/{cluster}/{name}`: one node at T — its wiring diagram, and its interfaces, rules, route
//! tables and IPAM state joined the way one reads `ip link`, `ip rule`, `ip route` side by side.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use podwire_node_state::{NodeSnapshot, table};

use super::PageError;
use super::chrome::{AtQuery, Chrome, enc, rfc3339, time};
use super::diagram::{pod_key, wiring_svg};
use super::overview::{pod_href, problem_list};
use crate::api::AppState;
use crate::read::ip_text::{link_kind_text, route_text, rule_text};
use crate::read::{NodeDetail, ResolvedSnapshot};

pub(crate) struct PodRow {
    pub label: String,
    pub href: Option<String>,
    pub ip: String,
    pub host_veth: String,
    pub via: String,
    pub table: String,
    pub egress: String,
    pub eni: String,
    pub problems: String,
}

pub(crate) struct LinkRow {
    pub ifindex: u32,
    pub name: String,
    pub kind: String,
    pub mac: String,
    pub mtu: u32,
    pub state: String,
    pub master: String,
    /// What is at the other end: the pod a veth leads into, the lower device of a vlan.
    pub peer: String,
    pub addresses: String,
}

pub(crate) struct RouteTable {
    pub name: String,
    pub routes: Vec<String>,
}

pub(crate) struct EniRow {
    pub id: String,
    pub href: String,
    pub role: &'static str,
    pub device: String,
    pub mac: String,
    pub table: String,
    pub subnet: String,
    pub subnet_href: Option<String>,
    pub assigned: i64,
    pub capacity: i64,
    pub cidrs: String,
}

pub(crate) struct PoolRow {
    pub source: &'static str,
    pub pool: String,
    pub assigned: i64,
    pub free: i64,
    pub total: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "node.html")]
pub(crate) struct NodePage {
    chrome: Chrome,
    cluster: String,
    name: String,
    kernel: String,
    boot_id: String,
    agent_version: String,
    last_heartbeat: String,
    stale: bool,
    snapshot: Option<String>,
    diff_href: String,
    diagram: String,
    pods: Vec<PodRow>,
    links: Vec<LinkRow>,
    rules: Vec<String>,
    tables: Vec<RouteTable>,
    enis: Vec<EniRow>,
    pools: Vec<PoolRow>,
    errors: Vec<String>,
}

pub(crate) async fn node(
    State(state): State<AppState>,
    Path((cluster, name)): Path<(String, String)>,
    Query(query): Query<AtQuery>,
) -> Result<NodePage, PageError> {
    let chrome = Chrome::new(format!("{cluster}/{name}"), query.at.as_deref())?;
    let detail = state
        .reader()
        .node_detail(&cluster, &name, chrome.at)
        .await?;
    Ok(render(chrome, detail))
}

fn render(chrome: Chrome, detail: NodeDetail) -> NodePage {
    let NodeDetail {
        node,
        at,
        state,
        enis,
        pools,
    } = detail;
    let diff_href = format!(
        "/nodes/{}/{}/diff?from={}&to={}",
        enc(&node.cluster),
        enc(&node.name),
        enc(&rfc3339(at - chrono::Duration::hours(1))),
        enc(&rfc3339(at)),
    );
    let mut page = NodePage {
        cluster: node.cluster.clone(),
        name: node.name.clone(),
        kernel: node.kernel.clone(),
        boot_id: node.boot_id.clone(),
        agent_version: node.agent_version.clone(),
        last_heartbeat: time(node.last_heartbeat_at),
        stale: node.stale,
        snapshot: None,
        diff_href,
        diagram: String::new(),
        pods: Vec::new(),
        links: Vec::new(),
        rules: Vec::new(),
        tables: Vec::new(),
        enis: Vec::new(),
        pools: pools
            .iter()
            .map(|p| PoolRow {
                source: p.source.as_str(),
                pool: p.pool.clone(),
                assigned: p.assigned,
                free: p.free,
                total: p.total,
            })
            .collect(),
        errors: Vec::new(),
        chrome,
    };
    let Some(state) = state else { return page };
    let ResolvedSnapshot {
        snapshot,
        resolution,
        collected_at,
        ..
    } = &state;
    page.snapshot = Some(time(*collected_at));
    let at_query = page.chrome.at_query.clone();
    page.diagram = wiring_svg(
        &snapshot.host,
        resolution,
        &enis,
        &|pod| pod_href(pod.namespace.as_deref(), pod.name.as_deref(), &at_query),
        &|id| format!("/enis/{}{}", enc(id), at_query),
    );
    page.pods = resolution
        .pods
        .iter()
        .map(|pod| {
            let egress = pod.egress.as_ref();
            let eni_mac = egress.and_then(|e| e.eni_mac);
            PodRow {
                label: pod_key(pod),
                href: pod_href(pod.namespace.as_deref(), pod.name.as_deref(), &at_query),
                ip: pod
                    .pod_interface
                    .ip
                    .map(|ip| ip.to_string())
                    .unwrap_or_default(),
                host_veth: pod
                    .host_veth
                    .as_ref()
                    .map(|l| l.name.clone())
                    .unwrap_or_default(),
                via: egress
                    .and_then(|e| e.rule.as_ref())
                    .map(|r| format!("{}: {} {}", r.priority, r.selector, r.action))
                    .unwrap_or_default(),
                table: egress
                    .and_then(|e| e.table)
                    .map(table::name)
                    .unwrap_or_default(),
                egress: egress
                    .and_then(|e| e.egress_device.as_ref())
                    .map(|l| l.name.clone())
                    .unwrap_or_default(),
                eni: eni_mac
                    .and_then(|mac| enis.iter().find(|e| e.mac == Some(mac)))
                    .map(|e| e.eni_id.clone())
                    .or_else(|| eni_mac.map(|m| m.to_string()))
                    .unwrap_or_default(),
                problems: problem_list(&pod.problems.iter().map(|p| p.code).collect::<Vec<_>>()),
            }
        })
        .collect();
    page.links = link_rows(snapshot, resolution);
    page.rules = snapshot.host.rules.iter().map(rule_text).collect();
    let mut tables: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
    for route in &snapshot.host.routes {
        tables
            .entry(route.table)
            .or_default()
            .push(route_text(route, &snapshot.host));
    }
    // main first, then the numbered tables, local last: the order one reads them in.
    let mut ids: Vec<u32> = tables.keys().copied().collect();
    ids.sort_by_key(|id| match *id {
        table::MAIN => (0, 0),
        table::LOCAL => (2, 0),
        other => (1, other),
    });
    page.tables = ids
        .into_iter()
        .map(|id| RouteTable {
            name: table::name(id),
            routes: tables.remove(&id).unwrap_or_default(),
        })
        .collect();
    let ipamd_cidrs = |id: &str| -> String {
        snapshot
            .vpc_cni
            .as_ref()
            .and_then(|v| v.ipamd.as_ref())
            .and_then(|i| {
                i.network_cards
                    .iter()
                    .flat_map(|c| c.enis.iter())
                    .find(|e| e.id == id)
            })
            .map(|e| {
                e.cidrs
                    .iter()
                    .map(|c| c.cidr.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    page.enis = enis
        .iter()
        .map(|e| EniRow {
            href: format!("/enis/{}{}", enc(&e.eni_id), at_query),
            id: e.eni_id.clone(),
            role: e.role(),
            device: e.device.clone().unwrap_or_default(),
            mac: e.mac.map(|m| m.to_string()).unwrap_or_default(),
            table: table::name(e.route_table),
            subnet_href: e
                .subnet_id
                .as_ref()
                .map(|s| format!("/subnets/{}{}", enc(s), at_query)),
            subnet: e.subnet_id.clone().unwrap_or_default(),
            assigned: e.assigned,
            capacity: e.ip_capacity,
            cidrs: ipamd_cidrs(&e.eni_id),
        })
        .collect();
    page.errors = snapshot
        .errors
        .iter()
        .map(|e| format!("{:?} {}: {}", e.source, e.subject, e.message))
        .collect();
    page
}

/// The host's links, each with its addresses and what it leads to.
fn link_rows(
    snapshot: &NodeSnapshot,
    resolution: &podwire_node_state::resolver::NodeResolution,
) -> Vec<LinkRow> {
    let host = &snapshot.host;
    host.links
        .iter()
        .map(|link| {
            let pod = resolution.pods.iter().find(|p| {
                p.host_veth
                    .as_ref()
                    .is_some_and(|v| v.ifindex == link.ifindex)
            });
            let peer = match (pod, link.link) {
                (Some(pod), _) => format!("pod {} ({})", pod_key(pod), pod.pod_interface.name),
                (None, Some(lower)) if link.link_netnsid.is_none() => {
                    format!("on {}", crate::read::ip_text::link_name(host, lower))
                }
                (None, Some(peer)) => format!(
                    "if{peer} in netns {}",
                    link.link_netnsid.unwrap_or_default()
                ),
                (None, None) => String::new(),
            };
            LinkRow {
                ifindex: link.ifindex,
                name: link.name.clone(),
                kind: link_kind_text(&link.kind),
                mac: link.mac.map(|m| m.to_string()).unwrap_or_default(),
                mtu: link.mtu,
                state: format!("{:?}", link.oper_state).to_uppercase(),
                master: link
                    .master
                    .map(|m| crate::read::ip_text::link_name(host, m))
                    .unwrap_or_default(),
                peer,
                addresses: host
                    .addresses_of(link.ifindex)
                    .map(|a| a.address.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            }
        })
        .collect()
}
