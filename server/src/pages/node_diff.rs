//! `/nodes/{cluster}/{name}/diff?from=&to=`: what changed on a node between two times — pods,
//! IPs, rules and routes added and removed.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use chrono::Duration;

use super::PageError;
use super::chrome::{Chrome, enc, parse_at, time};
use crate::api::AppState;
use crate::read::node_diff::Changes;

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
    /// The header's time field: taken as `to` when `to` is absent.
    at: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "node_diff.html")]
pub(crate) struct NodeDiffPage {
    chrome: Chrome,
    cluster: String,
    name: String,
    node_href: String,
    from: String,
    to: String,
    from_field: String,
    to_field: String,
    before: String,
    after: String,
    sections: Vec<(&'static str, Changes)>,
    unchanged: bool,
}

pub(crate) async fn node_diff(
    State(state): State<AppState>,
    Path((cluster, name)): Path<(String, String)>,
    Query(query): Query<DiffQuery>,
) -> Result<NodeDiffPage, PageError> {
    let to_text = query.to.as_deref().or(query.at.as_deref());
    let chrome = Chrome::new(format!("{cluster}/{name}: changes"), to_text)?;
    let to = chrome.at;
    let from = parse_at(query.from.as_deref())?.unwrap_or(to - Duration::hours(1));
    if from > to {
        return Err(PageError::BadRequest(
            "the first time must come before the second".into(),
        ));
    }
    let diff = state.reader().node_diff(&cluster, &name, from, to).await?;
    let snapshot_label = |s: Option<crate::read::SnapshotMeta>| {
        s.map_or_else(
            || "no snapshot yet".to_owned(),
            |s| format!("snapshot collected {}", time(s.collected_at)),
        )
    };
    let c = diff.changes;
    Ok(NodeDiffPage {
        node_href: format!("/nodes/{}/{}{}", enc(&cluster), enc(&name), chrome.at_query),
        from: time(from),
        to: time(to),
        from_field: from.format("%Y-%m-%dT%H:%M:%S").to_string(),
        to_field: to.format("%Y-%m-%dT%H:%M:%S").to_string(),
        before: snapshot_label(diff.before),
        after: snapshot_label(diff.after),
        unchanged: c.is_empty(),
        sections: vec![
            ("Pods", c.pods),
            ("IPs", c.ips),
            ("Rules", c.rules),
            ("Routes", c.routes),
        ],
        cluster,
        name,
        chrome,
    })
}
