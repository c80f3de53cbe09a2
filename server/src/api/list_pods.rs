use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::csv::csv_response;
use super::error::Problem;
use super::views::AttachmentView;
use super::{ApiError, AppState, params};
use crate::store::{EniFilter, PodCursor, PodPageFilter};

/// The most rows one page holds.
const MAX_LIMIT: i64 = 10_000;
const DEFAULT_LIMIT: i64 = 1_000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PodsQuery {
    /// Only this cluster.
    cluster: Option<String>,
    /// Only this node.
    node: Option<String>,
    /// Only this Kubernetes namespace.
    namespace: Option<String>,
    /// Only pods whose traffic this ENI carries: an ENI id (`eni-…`) or an ENI MAC.
    eni: Option<String>,
    /// Only the pod interface holding this address.
    ip: Option<String>,
    /// RFC 3339 time; default now.
    at: Option<String>,
    /// Page size, 1 to 10000 (default 1000).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `json` (default) or `csv`; `Accept: text/csv` works too.
    format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PodsResponse {
    at: DateTime<Utc>,
    pods: Vec<AttachmentView>,
    /// More pods follow: pass `next_cursor` as `cursor` for the next page.
    truncated: bool,
    next_cursor: Option<String>,
}

/// Pod interfaces attached at `at`, ordered by cluster, node, namespace, name; a page at a time.
#[utoipa::path(get, path = "/api/v1/pods", tag = "pods", params(PodsQuery),
    responses(
        (status = 200, description = "One page of pods (JSON or CSV)", content((PodsResponse = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list_pods(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PodsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let csv = params::wants_csv(&headers, query.format.as_deref())?;
    let at = params::at(query.at.as_deref())?;
    let limit = params::limit(
        query.limit.as_deref(),
        DEFAULT_LIMIT,
        MAX_LIMIT,
        "a number from 1 to 10000",
    )?;
    let ip = params::filter(query.ip)
        .map(|text| {
            text.parse().map_err(|_| ApiError::BadParameter {
                parameter: "ip",
                value: text.clone(),
                expected: "an IPv4 or IPv6 address such as 172.31.55.218",
            })
        })
        .transpose()?;
    let mut filter = PodPageFilter {
        cluster: params::filter(query.cluster),
        node: params::filter(query.node),
        namespace: params::filter(query.namespace),
        ip,
        after: query
            .cursor
            .as_deref()
            .map(params::decode_cursor)
            .transpose()?,
        limit: limit + 1,
        ..PodPageFilter::default()
    };
    if let Some(eni) = params::filter(query.eni) {
        if let Ok(mac) = eni.parse() {
            filter.eni_mac = Some(mac);
        } else if eni.starts_with("eni-") {
            // The ENI's MAC on the node it was attached to at `at`.
            let attached = state
                .store
                .enis_at(
                    &EniFilter {
                        eni_id: Some(eni.clone()),
                        ..EniFilter::default()
                    },
                    at,
                )
                .await?;
            match attached.into_iter().next() {
                Some(e) if e.eni.mac.is_some() => {
                    filter.node_id = Some(e.node_id);
                    filter.eni_mac = e.eni.mac;
                }
                _ => {
                    return Err(ApiError::NotFound {
                        what: format!("ENI {eni} at {}", at.to_rfc3339()),
                    });
                }
            }
        } else {
            return Err(ApiError::BadParameter {
                parameter: "eni",
                value: eni,
                expected: "an ENI id (eni-…) or a MAC address",
            });
        }
    }
    let mut rows = state.store.pods_page(&filter, at).await?;
    let truncated = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = truncated
        .then(|| {
            rows.last()
                .map(|r| params::encode_cursor(&PodCursor::after(r)))
        })
        .flatten();
    let pods: Vec<AttachmentView> = rows.into_iter().map(AttachmentView::from).collect();
    if csv {
        return csv_response(&pods);
    }
    Ok(Json(PodsResponse {
        at,
        pods,
        truncated,
        next_cursor,
    })
    .into_response())
}
