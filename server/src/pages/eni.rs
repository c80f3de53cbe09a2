//! `/enis/{eni_id}`: one ENI at T — its type, node and device, subnet, security groups (EC2
//! enrichment), its addresses and their pods, branch ENIs for a trunk (its trunk for a branch),
//! and where it has been.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};

use super::PageError;
use super::chrome::{AtQuery, Chrome, enc, time};
use super::ec2_text::{security_groups, stale_note, subnet_facts};
use super::overview::{pod_href, pod_label};
use crate::api::AppState;

pub(crate) struct PodLink {
    pub label: String,
    pub href: Option<String>,
    pub ip: String,
    pub extra: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "eni.html")]
pub(crate) struct EniPage {
    chrome: Chrome,
    eni_id: String,
    attached: bool,
    role: &'static str,
    node: String,
    node_href: String,
    device: String,
    mac: String,
    table: String,
    subnet: String,
    subnet_href: Option<String>,
    assigned: i64,
    capacity: i64,
    cidrs: Vec<String>,
    addresses: Vec<PodLink>,
    pods: Vec<PodLink>,
    branches: Vec<PodLink>,
    timeline: Vec<(String, String, String, String)>,
    /// EC2's description at T, when enrichment described the ENI.
    ec2: Option<Ec2Section>,
    /// Why the EC2 facts may be out of date, when they may.
    enrichment_stale: Option<String>,
}

/// What EC2 says about the ENI.
pub(crate) struct Ec2Section {
    pub kind: &'static str,
    pub description: String,
    pub security_groups: String,
    pub subnet_id: String,
    pub subnet_href: Option<String>,
    pub subnet: String,
    pub vpc: String,
    pub attachment: String,
    /// For a branch ENI: its trunk, linked.
    pub trunk: Option<(String, String)>,
    /// For a trunk ENI: its branch ENIs (id, href, vlan · MAC · IPs).
    pub branches: Vec<(String, String, String)>,
}

pub(crate) async fn eni(
    State(state): State<AppState>,
    Path(eni_id): Path<String>,
    Query(query): Query<AtQuery>,
) -> Result<EniPage, PageError> {
    let mut chrome = Chrome::new(eni_id.clone(), query.at.as_deref())?;
    chrome.q = eni_id.clone();
    let d = state.reader().eni_detail(&eni_id, chrome.at).await?;
    let q = chrome.at_query.clone();
    let ec2 = d.ec2.as_ref().map(|f| {
        let e = &f.eni.eni;
        let eni_href = |id: &str| format!("/enis/{}{}", enc(id), q);
        Ec2Section {
            kind: f.eni.kind.as_str(),
            description: e.description.clone().unwrap_or_default(),
            security_groups: security_groups(f),
            subnet_id: e.subnet_id.clone().unwrap_or_else(|| "unknown".to_owned()),
            subnet_href: e
                .subnet_id
                .as_ref()
                .map(|s| format!("/subnets/{}{}", enc(s), q)),
            subnet: f
                .subnet
                .as_ref()
                .map_or_else(|| "not described".to_owned(), subnet_facts),
            vpc: e.vpc_id.clone().unwrap_or_default(),
            attachment: match &e.attachment {
                Some(a) => format!(
                    "{} · device index {}",
                    a.instance_id.as_deref().unwrap_or("no instance"),
                    a.device_index
                        .map_or_else(|| "?".to_owned(), |i| i.to_string())
                ),
                None => "not attached (a branch ENI rides on its trunk)".to_owned(),
            },
            trunk: d.trunk_eni_id.as_ref().map(|t| (t.clone(), eni_href(t))),
            branches: d
                .ec2_branches
                .iter()
                .map(|b| {
                    let id = &b.eni.network_interface_id;
                    let ips: Vec<&str> = b
                        .eni
                        .private_ip_addresses
                        .iter()
                        .map(|ip| ip.private_ip_address.as_str())
                        .collect();
                    (
                        id.clone(),
                        eni_href(id),
                        format!(
                            "vlan {} · {} · {}",
                            b.eni
                                .vlan_id()
                                .map_or_else(|| "?".to_owned(), |v| v.to_string()),
                            b.eni.mac_address.as_deref().unwrap_or(""),
                            ips.join(" ")
                        ),
                    )
                })
                .collect(),
        }
    });
    let mut page = EniPage {
        ec2,
        enrichment_stale: stale_note(&d.enrichment),
        eni_id: d.eni_id.clone(),
        attached: d.attached.is_some(),
        role: "",
        node: String::new(),
        node_href: String::new(),
        device: String::new(),
        mac: String::new(),
        table: String::new(),
        subnet: String::new(),
        subnet_href: None,
        assigned: 0,
        capacity: 0,
        cidrs: d.cidrs,
        addresses: d
            .addresses
            .iter()
            .map(|a| PodLink {
                label: match (&a.pod_namespace, &a.pod_name) {
                    (Some(ns), Some(n)) => format!("{ns}/{n}"),
                    _ if a.assigned => "assigned (pod scrubbed by ipamd)".to_owned(),
                    _ => "cooling down".to_owned(),
                },
                href: pod_href(a.pod_namespace.as_deref(), a.pod_name.as_deref(), &q),
                ip: a.ip.to_string(),
                extra: a.cidr.clone(),
            })
            .collect(),
        pods: d
            .pods
            .iter()
            .map(|p| PodLink {
                label: pod_label(
                    p.attachment.pod_namespace.as_deref(),
                    p.attachment.pod_name.as_deref(),
                    &p.attachment.interface,
                ),
                href: pod_href(
                    p.attachment.pod_namespace.as_deref(),
                    p.attachment.pod_name.as_deref(),
                    &q,
                ),
                ip: p.attachment.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                extra: p.attachment.host_veth.clone().unwrap_or_default(),
            })
            .collect(),
        branches: d
            .branches
            .iter()
            .map(|b| PodLink {
                label: pod_label(
                    b.pod.attachment.pod_namespace.as_deref(),
                    b.pod.attachment.pod_name.as_deref(),
                    &b.pod.attachment.interface,
                ),
                href: pod_href(
                    b.pod.attachment.pod_namespace.as_deref(),
                    b.pod.attachment.pod_name.as_deref(),
                    &q,
                ),
                ip: b
                    .pod
                    .attachment
                    .ip
                    .map(|ip| ip.to_string())
                    .unwrap_or_default(),
                extra: format!(
                    "vlan {} · {} · {}",
                    b.vlan_id,
                    b.device.as_deref().unwrap_or(""),
                    b.mac.map(|m| m.to_string()).unwrap_or_default()
                ),
            })
            .collect(),
        timeline: d
            .timeline
            .iter()
            .map(|t| {
                (
                    time(t.valid_from),
                    t.valid_to.map_or_else(|| "now".to_owned(), time),
                    format!("{}/{}", t.cluster, t.node),
                    format!("{} / {}", t.eni.assigned, t.eni.ip_capacity),
                )
            })
            .collect(),
        chrome,
    };
    if let Some(a) = d.attached {
        page.role = a.eni.role();
        page.node = format!("{}/{}", a.cluster, a.node);
        page.node_href = format!("/nodes/{}/{}{}", enc(&a.cluster), enc(&a.node), q);
        page.device = a.eni.device.clone().unwrap_or_default();
        page.mac = a.eni.mac.map(|m| m.to_string()).unwrap_or_default();
        page.table = podwire_node_state::table::name(a.eni.route_table);
        page.subnet_href = a
            .eni
            .subnet_id
            .as_ref()
            .map(|s| format!("/subnets/{}{}", enc(s), q));
        page.subnet = a.eni.subnet_id.unwrap_or_default();
        page.assigned = a.eni.assigned;
        page.capacity = a.eni.ip_capacity;
    }
    Ok(page)
}
