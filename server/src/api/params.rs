//! Parsing the parameters handlers share, with messages that say what was expected.

use chrono::{DateTime, Utc};

use super::ApiError;

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

#[cfg(test)]
mod tests {
    use super::*;

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
