//! `/subnets`: every subnet the nodes' ENIs are in, with utilization: of what the nodes hold,
//! and of the subnet itself from EC2's free count (enrichment).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};

use super::PageError;
use super::chrome::{AtQuery, Chrome, enc};
use super::overview::Utilization;
use crate::api::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "subnets.html")]
pub(crate) struct SubnetsPage {
    chrome: Chrome,
    subnets: Vec<SubnetRow>,
}

pub(crate) struct SubnetRow {
    pub nodes_use: Utilization,
    pub enis: i64,
    pub nodes: i64,
    /// EC2's CIDR and free count, when enrichment described the subnet.
    pub ec2: Option<String>,
    /// EC2's use of the subnet's usable addresses.
    pub ec2_use: Option<Utilization>,
}

pub(crate) async fn subnets(
    State(state): State<AppState>,
    Query(query): Query<AtQuery>,
) -> Result<SubnetsPage, PageError> {
    let chrome = Chrome::new("Subnets", query.at.as_deref())?;
    let subnets = state
        .reader()
        .subnets_at(chrome.at)
        .await?
        .into_iter()
        .map(|s| {
            let href = format!("/subnets/{}{}", enc(&s.subnet_id), chrome.at_query);
            let ec2_use = s.ec2.as_ref().and_then(|e| {
                let usable = e.usable()?;
                let free = i64::from(e.available?);
                Some(Utilization::new(
                    s.subnet_id.clone(),
                    href.clone(),
                    (usable - free).max(0),
                    usable,
                ))
            });
            SubnetRow {
                nodes_use: Utilization::new(s.subnet_id.clone(), href, s.assigned, s.held),
                enis: s.enis,
                nodes: s.nodes,
                ec2: s.ec2.as_ref().map(super::ec2_text::subnet_facts),
                ec2_use,
            }
        })
        .collect();
    Ok(SubnetsPage { chrome, subnets })
}
