//! What every page shares: the time it shows, the search box's text, links that keep the time,
//! and how times and figures are written.

use chrono::{DateTime, NaiveDateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::PageError;

/// Characters left as they are in a path segment or query value.
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

/// Percent-encodes a path segment or query value.
pub(crate) fn enc(text: &str) -> String {
    utf8_percent_encode(text, KEEP).to_string()
}

/// The query every page accepts.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AtQuery {
    pub at: Option<String>,
}

/// The header, footer and time of a page.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    /// The time shown.
    pub at: DateTime<Utc>,
    /// Whether it is "now" (no `at` given).
    pub is_now: bool,
    /// `?at=…` to append to links, empty when now.
    pub at_query: String,
    /// `&at=…` for links that already have a query.
    pub at_and: String,
    /// The value of the header's time field (`YYYY-MM-DDTHH:MM:SS`, UTC).
    pub at_field: String,
    /// What the search box holds.
    pub q: String,
    /// The page's title.
    pub title: String,
}

impl Chrome {
    /// The chrome for a page showing `at` (`None`: now).
    pub fn new(title: impl Into<String>, at: Option<&str>) -> Result<Self, PageError> {
        let parsed = parse_at(at)?;
        let is_now = parsed.is_none();
        let at = parsed.unwrap_or_else(Utc::now);
        let (at_query, at_and) = if is_now {
            (String::new(), String::new())
        } else {
            let value = enc(&rfc3339(at));
            (format!("?at={value}"), format!("&at={value}"))
        };
        Ok(Chrome {
            at,
            is_now,
            at_query,
            at_and,
            at_field: at.format("%Y-%m-%dT%H:%M:%S").to_string(),
            q: String::new(),
            title: title.into(),
        })
    }

    /// The time shown, for humans.
    pub fn at_label(&self) -> String {
        time(self.at)
    }
}

/// `2026-11-20T13:05:00Z`, the form links carry.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// `2026-11-20 13:05:00 UTC`.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Reads `at`: RFC 3339, or a `datetime-local` value taken as UTC. Blank means now.
pub(crate) fn parse_at(at: Option<&str>) -> Result<Option<DateTime<Utc>>, PageError> {
    let Some(text) = at.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Some(t.and_utc()));
        }
    }
    Err(PageError::BadTime(text.to_owned()))
}

/// Percent of `part` in `whole`, 0 when `whole` is 0, for bar widths.
pub(crate) fn percent(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        0
    } else {
        (part.saturating_mul(100) / whole).clamp(0, 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_come_as_rfc3339_or_as_the_time_field_sends_them() {
        let expected = "2026-11-20T13:05:00Z";
        for text in [
            "2026-11-20T13:05:00Z",
            "2026-11-20T14:05:00+01:00",
            "2026-11-20T13:05:00",
            "2026-11-20T13:05",
        ] {
            let t = parse_at(Some(text)).unwrap().unwrap();
            assert_eq!(rfc3339(t), expected, "{text}");
        }
        assert_eq!(parse_at(Some("  ")).unwrap(), None);
        assert!(parse_at(Some("yesterday")).is_err());
    }

    #[test]
    fn links_keep_the_time_and_encode_what_they_carry() {
        let chrome = Chrome::new("x", Some("2026-11-20T13:05:00Z")).unwrap();
        assert_eq!(chrome.at_query, "?at=2026-11-20T13:05:00Z");
        assert_eq!(chrome.at_field, "2026-11-20T13:05:00");
        assert!(Chrome::new("x", None).unwrap().at_query.is_empty());
        assert_eq!(enc("a b/c+d"), "a%20b%2Fc%2Bd");
        assert_eq!(percent(5, 20), 25);
        assert_eq!(percent(5, 0), 0);
    }
}
