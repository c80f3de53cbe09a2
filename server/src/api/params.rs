//! Parsing the parameters handlers share, with messages that say what was expected.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::ApiError;
use crate::store::PodCursor;

/// `at=RFC3339`, default now.
pub(crate) fn at(value: Option<&str>) -> Result<DateTime<Utc>, ApiError> {
    match value {
        None => Ok(Utc::now()),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| ApiError::BadParameter {
                parameter: "at",
                value: text.to_owned(),
                expected: "an RFC 3339 time such as 2026-11-20T13:05:00Z",
            }),
    }
}

/// An optional filter: absent and empty mean "no filter".
pub(crate) fn filter(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// `limit=N` within `1..=max`, `default` when absent.
pub(crate) fn limit(
    value: Option<&str>,
    default: i64,
    max: i64,
    expected: &'static str,
) -> Result<i64, ApiError> {
    match value {
        None => Ok(default),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::BadParameter {
                parameter: "limit",
                value: text.to_owned(),
                expected,
            }),
    }
}

/// Whether a list answer is wanted as CSV: `format=csv`, or `Accept: text/csv` without
/// `format=json`. Any other `format` is refused.
pub(crate) fn wants_csv(headers: &HeaderMap, format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(ApiError::BadParameter {
            parameter: "format",
            value: other.to_owned(),
            expected: "json or csv",
        }),
        None => Ok(headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().split(';').next() == Some("text/csv"))),
    }
}

/// An opaque cursor: the sort key of the last row of a page, as URL-safe base64 of JSON.
pub(crate) fn encode_cursor(cursor: &PodCursor) -> String {
    let key = (
        &cursor.cluster,
        &cursor.node,
        &cursor.namespace,
        &cursor.name,
        &cursor.interface,
        cursor.netns_inode,
    );
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&key).unwrap_or_default())
}

pub(crate) fn decode_cursor(text: &str) -> Result<PodCursor, ApiError> {
    let bad = || ApiError::BadParameter {
        parameter: "cursor",
        value: text.to_owned(),
        expected: "the next_cursor of a previous page, unchanged",
    };
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let (cluster, node, namespace, name, interface, netns_inode): (
        String,
        String,
        String,
        String,
        String,
        i64,
    ) = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok(PodCursor {
        cluster,
        node,
        namespace,
        name,
        interface,
        netns_inode,
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = PodCursor {
            cluster: "prod".into(),
            node: "ip-172-31-55-30".into(),
            namespace: "default".into(),
            name: "web-1".into(),
            interface: "eth0".into(),
            netns_inode: 4026532001,
        };
        assert_eq!(decode_cursor(&encode_cursor(&cursor)).unwrap(), cursor);
        for bad in ["", "!!", "W10", "bm90IGpzb24"] {
            let err = decode_cursor(bad).unwrap_err();
            assert!(err.to_string().starts_with("invalid cursor"), "{err}");
        }
    }

    #[test]
    fn csv_is_asked_for_by_parameter_or_accept_header() {
        let mut headers = HeaderMap::new();
        assert!(!wants_csv(&headers, None).unwrap());
        assert!(wants_csv(&headers, Some("csv")).unwrap());
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json;q=0.5, text/csv"),
        );
        assert!(wants_csv(&headers, None).unwrap());
        assert!(!wants_csv(&headers, Some("json")).unwrap());
        assert!(wants_csv(&headers, Some("xml")).is_err());
    }

    #[test]
    fn at_accepts_rfc3339_with_offsets_and_refuses_the_rest() {
        let t = at(Some("2026-11-20T14:05:00+01:00")).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-20T13:05:00+00:00");
        for bad in [
            "yesterday",
            "2026-11-20",
            "2026-11-20 13:05:00",
            "1700000000",
        ] {
            let err = at(Some(bad)).unwrap_err();
            assert!(
                err.to_string().starts_with(&format!("invalid at {bad:?}")),
                "{err}"
            );
        }
    }
}
