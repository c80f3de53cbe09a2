//! `/subnets/{subnet_id}`: a subnet's addresses over the week before T (charts: what the nodes
//! hold and assign, and EC2's free count), its CIDR and utilization, and its ENIs at T.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use chrono::Duration;

use super::PageError;
use super::chart::{free_chart, subnet_chart};
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
    /// EC2's CIDR, free count, VPC and zone at T, when enrichment described the subnet.
    ec2: Option<String>,
    /// EC2's utilization at T: (usable − free) / usable, in percent.
    ec2_utilization: Option<String>,
    /// The chart of EC2's free count over the period, when there are samples.
    free_chart: Option<String>,
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
    let samples = reader.subnet_free_samples(&subnet_id, from, to).await?;
    let described = state.store.ec2_subnet_at(&subnet_id, to).await?;
    Ok(SubnetPage {
        ec2: described.as_ref().map(super::ec2_text::subnet_facts),
        ec2_utilization: described.as_ref().and_then(|d| {
            let usable = d.usable()?;
            let percent = d.utilization_percent()?;
            Some(format!(
                "{} of {usable} usable addresses in use ({percent:.1} %)",
                usable - i64::from(d.available?)
            ))
        }),
        free_chart: (!samples.is_empty()).then(|| {
            let points: Vec<_> = samples
                .iter()
                .map(|s| (s.at, i64::from(s.available)))
                .collect();
            free_chart(&points, from, to)
        }),
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
