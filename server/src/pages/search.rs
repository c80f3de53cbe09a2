//! `/search?q=&at=`: one box for IPs, MACs, pods, ENI ids, subnets and nodes, as of a time.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};

use super::PageError;
use super::chrome::{Chrome, enc, time};
use super::overview::{pod_href, pod_label, problem_list};
use crate::api::AppState;
use crate::read::SearchQuery;

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct SearchParams {
    q: Option<String>,
    at: Option<String>,
}

pub(crate) struct PodHit {
    pub label: String,
    pub href: Option<String>,
    pub node: String,
    pub node_href: String,
    pub ip: String,
    pub mac: String,
    pub since: String,
    pub until: String,
    pub problems: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "search.html")]
pub(crate) struct SearchPage {
    chrome: Chrome,
    understood: String,
    pods: Vec<PodHit>,
    enis: Vec<(String, String, String, String)>,
    nodes: Vec<(String, String)>,
    subnets: Vec<(String, String)>,
    empty: bool,
}

pub(crate) async fn search(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
) -> Result<SearchPage, PageError> {
    let mut chrome = Chrome::new("Search", params.at.as_deref())?;
    let text = params.q.unwrap_or_default();
    chrome.q = text.clone();
    let Some(query) = SearchQuery::parse(&text) else {
        return Ok(SearchPage {
            chrome,
            understood: "Type an IP, a MAC, a pod (namespace/name or the start of a name), an ENI id, a subnet id or a node name.".into(),
            pods: Vec::new(),
            enis: Vec::new(),
            nodes: Vec::new(),
            subnets: Vec::new(),
            empty: false,
        });
    };
    let found = state.reader().search(query, chrome.at).await?;
    let q = chrome.at_query.clone();
    Ok(SearchPage {
        understood: found.query.describe(),
        empty: found.is_empty(),
        pods: found
            .pods
            .iter()
            .map(|p| {
                let a = &p.attachment;
                PodHit {
                    label: pod_label(
                        a.pod_namespace.as_deref(),
                        a.pod_name.as_deref(),
                        &a.interface,
                    ),
                    href: pod_href(a.pod_namespace.as_deref(), a.pod_name.as_deref(), &q),
                    node: format!("{}/{}", p.cluster, p.node),
                    node_href: format!("/nodes/{}/{}{}", enc(&p.cluster), enc(&p.node), q),
                    ip: a.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                    mac: a.mac.map(|m| m.to_string()).unwrap_or_default(),
                    since: time(p.valid_from),
                    until: p.valid_to.map_or_else(|| "now".to_owned(), time),
                    problems: problem_list(&a.problems),
                }
            })
            .collect(),
        enis: found
            .enis
            .iter()
            .map(|e| {
                (
                    e.eni.eni_id.clone(),
                    format!("/enis/{}{}", enc(&e.eni.eni_id), q),
                    format!("{}/{}", e.cluster, e.node),
                    format!("{} {}", e.eni.role(), e.eni.device.as_deref().unwrap_or("")),
                )
            })
            .collect(),
        nodes: found
            .nodes
            .iter()
            .map(|n| {
                (
                    format!("{}/{}", n.cluster, n.name),
                    format!("/nodes/{}/{}{}", enc(&n.cluster), enc(&n.name), q),
                )
            })
            .collect(),
        subnets: found
            .subnets
            .iter()
            .map(|s| {
                (
                    s.subnet_id.clone(),
                    format!("/subnets/{}{}", enc(&s.subnet_id), q),
                )
            })
            .collect(),
        chrome,
    })
}
