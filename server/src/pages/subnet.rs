//! `/subnets/{subnet_id}`: a subnet's addresses over the week before T (a chart), and its ENIs at T.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use chrono::Duration;

use super::PageError;
use super::chart::subnet_chart;
use super::chrome::{Chrome, enc, parse_at, time};
use crate::api::AppState;
use crate::store::EniFilter;

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct SubnetQuery {
    at: Option<String>,
    /// How many days before `at` the chart covers (default 7).
    days: Option<i64>,
}

#[derive(Template, WebTemplate)]
#[template(path = "subnet.html")]
pub(crate) struct SubnetPage {
    chrome: Chrome,
    subnet_id: String,
    from: String,
    chart: String,
    enis: Vec<(String, String, String, String, String)>,
    held: i64,
    assigned: i64,
}

pub(crate) async fn subnet(
    State(state): State<AppState>,
    Path(subnet_id): Path<String>,
    Query(query): Query<SubnetQuery>,
) -> Result<SubnetPage, PageError> {
    let mut chrome = Chrome::new(subnet_id.clone(), query.at.as_deref())?;
    let _ = parse_at(query.at.as_deref())?;
    chrome.q = subnet_id.clone();
    let days = query.days.unwrap_or(7);
    if !(1..=366).contains(&days) {
        return Err(PageError::BadRequest("days must be from 1 to 366".into()));
    }
    let to = chrome.at;
    let from = to - Duration::days(days);
    let reader = state.reader();
    let series = reader.subnet_series(&subnet_id, from, to).await?;
    let enis = state
        .store
        .enis_at(
            &EniFilter {
                subnet_id: Some(subnet_id.clone()),
                ..EniFilter::default()
            },
            to,
        )
        .await?;
    let last = series.points.last().copied();
    Ok(SubnetPage {
        chart: subnet_chart(&series.points, from, to),
        from: time(from),
        held: last.map_or(0, |p| p.held),
        assigned: last.map_or(0, |p| p.assigned),
        enis: enis
            .iter()
            .map(|e| {
                (
                    e.eni.eni_id.clone(),
                    format!("/enis/{}{}", enc(&e.eni.eni_id), chrome.at_query),
                    format!("{}/{}", e.cluster, e.node),
                    e.eni.role().to_owned(),
                    format!("{} / {}", e.eni.assigned, e.eni.ip_capacity),
                )
            })
            .collect(),
        subnet_id,
        chrome,
    })
}
