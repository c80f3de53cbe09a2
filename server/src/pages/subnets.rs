//! `/subnets`: every subnet the nodes' ENIs are in, with utilization.

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
    subnets: Vec<(Utilization, i64, i64)>,
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
            (
                Utilization::new(
                    s.subnet_id.clone(),
                    format!("/subnets/{}{}", enc(&s.subnet_id), chrome.at_query),
                    s.assigned,
                    s.held,
                ),
                s.enis,
                s.nodes,
            )
        })
        .collect();
    Ok(SubnetsPage { chrome, subnets })
}
