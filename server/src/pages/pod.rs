//! `/pods/{namespace}/{name}`: the pod's path hop by hop (pod eth0 → host veth → bridge → rule →
//! table → route → device → ENI with its security groups and subnet), its problems, and its
//! timeline (IPs, nodes, ENIs over time).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use podwire_node_state::resolver::{Egress, KernelCheck, PodPath};
use podwire_node_state::table;

use super::PageError;
use super::chrome::{Chrome, enc, parse_at, rfc3339, time};
use super::ec2_text;
use super::pod_kubernetes::{self, KubernetesSection};
use crate::api::AppState;
use crate::read::{PodDetail, PodInterfaceAt};

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct PodQuery {
    at: Option<String>,
    cluster: Option<String>,
}

pub(crate) struct Hop {
    pub what: &'static str,
    pub text: String,
    pub href: Option<String>,
}

pub(crate) struct PathSection {
    pub label: String,
    pub hops: Vec<Hop>,
    pub kernel: String,
}

pub(crate) struct InterfaceSection {
    pub title: String,
    pub node_href: String,
    pub since: String,
    pub wiring: &'static str,
    pub paths: Vec<PathSection>,
    pub problems: Vec<(String, String)>,
    pub unresolved: bool,
}

pub(crate) struct TimelineRow {
    pub from: String,
    pub from_href: String,
    pub to: String,
    pub node: String,
    pub node_href: String,
    pub ip: String,
    pub egress: String,
    pub eni_mac: String,
    pub table: String,
    pub problems: String,
    pub current: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "pod.html")]
pub(crate) struct PodPage {
    chrome: Chrome,
    namespace: String,
    name: String,
    interfaces: Vec<InterfaceSection>,
    timeline: Vec<TimelineRow>,
    /// The pod as the Kubernetes API has it now, when the server watches its cluster.
    kubernetes: Option<KubernetesSection>,
    /// Why the EC2 facts in the paths may be out of date, when they may.
    enrichment_stale: Option<String>,
}

pub(crate) async fn pod(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
    Query(query): Query<PodQuery>,
) -> Result<PodPage, PageError> {
    let mut chrome = Chrome::new(format!("{namespace}/{name}"), query.at.as_deref())?;
    let _ = parse_at(query.at.as_deref())?;
    chrome.q = format!("{namespace}/{name}");
    let cluster = query.cluster.filter(|c| !c.is_empty());
    let detail = state
        .reader()
        .pod_detail(cluster.as_deref(), &namespace, &name, chrome.at)
        .await?;
    let facts = pod_kubernetes::facts(&state, &detail);
    let disagreements = facts
        .as_ref()
        .map(|(f, _)| pod_kubernetes::disagreements(f, &detail));
    let mut page = render(chrome, detail);
    for (section, problems) in page
        .interfaces
        .iter_mut()
        .zip(disagreements.unwrap_or_default())
    {
        section.problems.extend(problems);
    }
    page.kubernetes = facts.map(|(f, directory)| pod_kubernetes::section(&f, directory));
    Ok(page)
}

fn render(chrome: Chrome, detail: PodDetail) -> PodPage {
    let at_query = chrome.at_query.clone();
    let interfaces = detail
        .interfaces
        .iter()
        .map(|i| interface_section(i, &at_query))
        .collect();
    let here = format!("/pods/{}/{}", enc(&detail.namespace), enc(&detail.name));
    let timeline = detail
        .timeline
        .iter()
        .map(|row| {
            let a = &row.attachment;
            TimelineRow {
                from: time(row.valid_from),
                from_href: format!("{here}?at={}", enc(&rfc3339(row.valid_from))),
                to: row.valid_to.map_or_else(|| "now".to_owned(), time),
                node: format!("{}/{}", row.cluster, row.node),
                node_href: format!(
                    "/nodes/{}/{}?at={}",
                    enc(&row.cluster),
                    enc(&row.node),
                    enc(&rfc3339(row.valid_from))
                ),
                ip: a.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                egress: a.egress_device.clone().unwrap_or_default(),
                eni_mac: a.eni_mac.map(|m| m.to_string()).unwrap_or_default(),
                table: a.route_table.map(table::name).unwrap_or_default(),
                problems: super::overview::problem_list(&a.problems),
                current: row.valid_from <= chrome.at && row.valid_to.is_none_or(|t| t > chrome.at),
            }
        })
        .collect();
    PodPage {
        enrichment_stale: ec2_text::stale_note(&detail.enrichment),
        namespace: detail.namespace,
        name: detail.name,
        interfaces,
        timeline,
        chrome,
        kubernetes: None,
    }
}

fn interface_section(i: &PodInterfaceAt, at_query: &str) -> InterfaceSection {
    let row = &i.attachment;
    let node_href = format!(
        "/nodes/{}/{}{}",
        enc(&row.cluster),
        enc(&row.node),
        at_query
    );
    let mut section = InterfaceSection {
        title: format!(
            "{} on {}/{}",
            row.attachment.interface, row.cluster, row.node
        ),
        node_href,
        since: time(row.valid_from),
        wiring: row.attachment.wiring.as_str(),
        paths: Vec::new(),
        problems: Vec::new(),
        unresolved: i.path.is_none(),
    };
    let Some(path) = &i.path else { return section };
    section.problems = path
        .problems
        .iter()
        .map(|p| {
            (
                crate::history::problem_code_str(p.code).to_owned(),
                p.message.clone(),
            )
        })
        .collect();
    for egress in path.egress.iter().chain(path.snat_egress.iter()) {
        section.paths.push(PathSection {
            label: egress.label.clone(),
            hops: hops(path, egress, ec2_text::eni_hops(i, egress, at_query)),
            kernel: match &egress.kernel {
                KernelCheck::Agrees => "the kernel's own route lookup agrees".to_owned(),
                KernelCheck::Disagrees { kernel } => {
                    format!("the kernel chose otherwise: {kernel}")
                }
                KernelCheck::NotAsked => "the kernel was not asked".to_owned(),
                KernelCheck::Unresolved { kernel } => {
                    format!("unresolved here; the kernel chose {kernel}")
                }
            },
        });
    }
    section
}

fn hops(path: &PodPath, egress: &Egress, eni_hops: Vec<Hop>) -> Vec<Hop> {
    let mut hops = Vec::new();
    let pi = &path.pod_interface;
    hops.push(Hop {
        what: "pod",
        text: format!(
            "{} {} {}{}",
            pi.name,
            pi.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            pi.mac.map(|m| m.to_string()).unwrap_or_default(),
            pi.gateway
                .map(|g| format!(" · default via {g}"))
                .unwrap_or_default(),
        ),
        href: None,
    });
    if let Some(veth) = &path.host_veth {
        hops.push(Hop {
            what: "host veth",
            text: format!(
                "{} (if{}) {}",
                veth.name,
                veth.ifindex,
                veth.mac.map(|m| m.to_string()).unwrap_or_default()
            ),
            href: None,
        });
    }
    if let Some(bridge) = &path.bridge {
        hops.push(Hop {
            what: "bridge",
            text: bridge.name.clone(),
            href: None,
        });
    }
    if let Some(rule) = &egress.rule {
        hops.push(Hop {
            what: "rule",
            text: format!("{}: {} {}", rule.priority, rule.selector, rule.action),
            href: None,
        });
    }
    if let Some(t) = egress.table {
        hops.push(Hop {
            what: "table",
            text: table::name(t),
            href: None,
        });
    }
    if let Some(route) = &egress.route {
        let mut text = if route.destination.prefix_len() == 0 {
            "default".to_owned()
        } else {
            route.destination.to_string()
        };
        if let Some(gw) = route.gateway {
            text.push_str(&format!(" via {gw}"));
        }
        if let Some(dev) = &route.device {
            text.push_str(&format!(" dev {dev}"));
        }
        hops.push(Hop {
            what: "route",
            text,
            href: None,
        });
    }
    if let Some(dev) = &egress.egress_device {
        hops.push(Hop {
            what: "device",
            text: format!("{} ({})", dev.name, dev.kind),
            href: None,
        });
    }
    for layer in &egress.layers {
        hops.push(Hop {
            what: "below",
            text: format!("{} — {}", layer.link.name, layer.via),
            href: None,
        });
    }
    if let Some(stays) = &egress.stays_on_node {
        hops.push(Hop {
            what: "stays",
            text: stays.clone(),
            href: None,
        });
    } else {
        hops.extend(eni_hops);
    }
    hops
}
