//! The validated configuration of `podwire-agent run`, and what makes a configuration invalid.
//!
//! Everything here is checked before the agent opens a socket (the linkerd discipline): a bad
//! flag or an unreadable token file stops it at once with a message naming the flag or file,
//! instead of surfacing later as a confusing connection failure.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tonic::transport::Uri;

use super::token::TokenError;
use crate::collect::CollectConfig;

/// Everything `run` needs, checked.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// What to collect and from where; `node_name` is always set (from `--node` or the hostname).
    pub collect: CollectConfig,
    pub changes: ChangeTiming,
    pub connection: ConnectionSettings,
    /// The local status endpoint; `None` when disabled (`--status-listen none`).
    pub status_listen: Option<SocketAddr>,
    /// Stop when the parent process is gone (`--exit-with-parent`).
    pub exit_with_parent: bool,
}

/// When node changes turn into collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeTiming {
    /// A collection starts once no change has been seen for this long…
    pub quiet: Duration,
    /// …or this long after the first change of a burst, whichever comes first.
    pub max_delay: Duration,
    /// A full collection at least this often, changes or not: it catches what no notification
    /// reports (the inside of pod namespaces, ipamd's pools).
    pub resync_interval: Duration,
}

/// How the agent talks to the server.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// `http://HOST:PORT` of the server's gRPC listener.
    pub server: Uri,
    /// Re-read before every connection; `None` sends no credentials.
    pub token_file: Option<PathBuf>,
    /// Used until the server's `Welcome` names its own.
    pub heartbeat_interval: Duration,
    /// A session whose oldest unacknowledged message is older than this is considered dead.
    pub ack_timeout: Duration,
    /// For the TCP connection, and again for the server's `Welcome`.
    pub connect_timeout: Duration,
    pub backoff: BackoffPolicy,
}

/// How long to wait before reconnecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The first delay after a failure (before jitter); it doubles with each further failure…
    pub min: Duration,
    /// …up to this.
    pub max: Duration,
    /// The first delay after the server refused the agent itself (bad credentials, a message it
    /// calls invalid): nothing changes until an operator acts, so retry slowly (doubling up to
    /// five times this).
    pub rejected: Duration,
    /// A session that lasted this long was healthy: the next failure starts from `min` again.
    pub healthy_after: Duration,
}

/// A configuration `run` refuses. Exits with status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--server {url:?} is not a URL")]
    ServerUrl {
        url: String,
        #[source]
        source: tonic::codegen::http::uri::InvalidUri,
    },
    #[error(
        "--server {url:?}: only http:// is supported (this agent speaks plain HTTP/2, without TLS)"
    )]
    ServerScheme { url: String },
    #[error("--server {url:?} names no host")]
    ServerHost { url: String },
    #[error("--server {url:?} has a path, query or fragment; give only http://HOST:PORT")]
    ServerPath { url: String },
    #[error("{flag} is empty")]
    EmptyName { flag: &'static str },
    #[error("{flag} {value:?} is longer than {max} bytes")]
    LongName {
        flag: &'static str,
        value: String,
        max: usize,
    },
    #[error("{flag} {value:?} contains whitespace or control characters")]
    NameCharacters { flag: &'static str, value: String },
    #[error("no --node given and the hostname cannot be read from {}", .path.display())]
    Hostname {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no --node given and the hostname in {} is empty", .path.display())]
    EmptyHostname { path: PathBuf },
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("{flag} {} is not a directory", .path.display())]
    NotADirectory { flag: &'static str, path: PathBuf },
    #[error("--ipamd-url {url:?} is not an http:// URL (or `none`)")]
    IpamdUrl { url: String },
    #[error("{flag} must be longer than zero")]
    ZeroDuration { flag: &'static str },
    #[error("{longer} ({longer_value:?}) must not be shorter than {shorter} ({shorter_value:?})")]
    DurationOrder {
        longer: &'static str,
        longer_value: Duration,
        shorter: &'static str,
        shorter_value: Duration,
    },
    #[error("--status-listen {value:?} is neither ADDRESS:PORT nor `none`")]
    StatusListen {
        value: String,
        #[source]
        source: std::net::AddrParseError,
    },
}

/// Longest cluster or node name accepted: a DNS name's limit, which Kubernetes node names obey.
pub const MAX_NAME_BYTES: usize = 253;

/// Parses `--server`: `http://HOST[:PORT]`, nothing after the authority but an optional `/`.
pub fn server_uri(url: &str) -> Result<Uri, ConfigError> {
    let uri: Uri = url.parse().map_err(|source| ConfigError::ServerUrl {
        url: url.to_owned(),
        source,
    })?;
    if uri.scheme_str() != Some("http") {
        return Err(ConfigError::ServerScheme {
            url: url.to_owned(),
        });
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(ConfigError::ServerHost {
            url: url.to_owned(),
        });
    }
    let path_is_root = uri
        .path_and_query()
        .is_none_or(|p| p.query().is_none() && matches!(p.path(), "" | "/"));
    if !path_is_root || url.contains('#') {
        return Err(ConfigError::ServerPath {
            url: url.to_owned(),
        });
    }
    Ok(uri)
}

/// Checks a cluster or node name: what the server will store and show, so nothing that would
/// garble a log line or a table.
pub fn name(flag: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(ConfigError::EmptyName { flag });
    }
    if value.len() > MAX_NAME_BYTES {
        return Err(ConfigError::LongName {
            flag,
            value: value.to_owned(),
            max: MAX_NAME_BYTES,
        });
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::NameCharacters {
            flag,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// Checks that a duration flag is not zero.
pub fn nonzero(flag: &'static str, value: Duration) -> Result<Duration, ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::ZeroDuration { flag });
    }
    Ok(value)
}

/// Checks that `longer` is at least `shorter`.
pub fn ordered(
    (shorter, shorter_value): (&'static str, Duration),
    (longer, longer_value): (&'static str, Duration),
) -> Result<(), ConfigError> {
    if longer_value < shorter_value {
        return Err(ConfigError::DurationOrder {
            longer,
            longer_value,
            shorter,
            shorter_value,
        });
    }
    Ok(())
}

/// Parses `--status-listen`: an address, or `none`.
pub fn status_listen(value: &str) -> Result<Option<SocketAddr>, ConfigError> {
    if value == "none" {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|source| ConfigError::StatusListen {
            value: value.to_owned(),
            source,
        })
}

/// Checks `--ipamd-url`: `none`, or an http:// URL with a host.
pub fn ipamd_url(value: &str) -> Result<Option<String>, ConfigError> {
    if value == "none" {
        return Ok(None);
    }
    match value.parse::<Uri>() {
        Ok(uri) if uri.scheme_str() == Some("http") && uri.host().is_some() => {
            Ok(Some(value.to_owned()))
        }
        _ => Err(ConfigError::IpamdUrl {
            url: value.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        for good in [
            "http://127.0.0.1:50051",
            "http://podwire.podwire-system.svc:50051/",
            "http://[::1]:50051",
        ] {
            assert!(server_uri(good).is_ok(), "{good}");
        }
        for (bad, message) in [
            ("podwire:50051", "only http:// is supported"),
            ("https://podwire:50051", "only http:// is supported"),
            ("http://", "is not a URL"),
            (
                "http://podwire:50051/ingest",
                "has a path, query or fragment",
            ),
            ("http://podwire:50051/?x=1", "has a path, query or fragment"),
            ("not a url", "is not a URL"),
        ] {
            let err = server_uri(bad).unwrap_err();
            assert!(err.to_string().contains(message), "{bad}: {err}");
        }
    }

    #[test]
    fn names() {
        assert!(name("--cluster", "prod-eu-west-1").is_ok());
        assert!(name("--node", "ip-172-31-48-94.eu-west-1.compute.internal").is_ok());
        for (bad, message) in [
            ("", "--cluster is empty"),
            ("two words", "contains whitespace or control characters"),
            ("tab\there", "contains whitespace or control characters"),
        ] {
            let err = name("--cluster", bad).unwrap_err();
            assert!(err.to_string().contains(message), "{bad:?}: {err}");
        }
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        assert!(matches!(
            name("--node", &long),
            Err(ConfigError::LongName { .. })
        ));
    }

    #[test]
    fn durations() {
        assert!(matches!(
            nonzero("--debounce", Duration::ZERO),
            Err(ConfigError::ZeroDuration { flag: "--debounce" })
        ));
        let err = ordered(
            ("--debounce", Duration::from_secs(3)),
            ("--debounce-max", Duration::from_secs(2)),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--debounce-max (2s) must not be shorter than --debounce (3s)"
        );
        assert!(
            ordered(
                ("--backoff-min", Duration::from_secs(1)),
                ("--backoff-max", Duration::from_secs(1)),
            )
            .is_ok()
        );
    }

    #[test]
    fn status_listen_and_ipamd() {
        assert_eq!(status_listen("none").unwrap(), None);
        assert_eq!(
            status_listen("127.0.0.1:9102").unwrap(),
            Some("127.0.0.1:9102".parse().unwrap())
        );
        assert!(status_listen("localhost:9102").is_err());
        assert_eq!(ipamd_url("none").unwrap(), None);
        assert!(ipamd_url("http://127.0.0.1:61679").unwrap().is_some());
        assert!(ipamd_url("127.0.0.1:61679").is_err());
    }
}
