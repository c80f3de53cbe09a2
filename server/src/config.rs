//! The command line and environment, checked in full before any socket is bound or any process
//! started: bad configuration exits with a message that says what to fix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use sqlx::postgres::PgConnectOptions;

use crate::local_agent::{self, LocalAgentError, LocalAgentProgram};

/// `podwire-server`: stores every node's network state and answers for any pod, IP or time.
#[derive(Debug, Parser)]
#[command(name = "podwire-server", version, about)]
pub struct Args {
    /// Address the REST API listens on.
    #[arg(
        long,
        env = "PODWIRE_HTTP_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub http_listen: SocketAddr,

    /// Address agents stream their snapshots to (gRPC).
    #[arg(
        long,
        env = "PODWIRE_GRPC_LISTEN",
        default_value = "127.0.0.1:50051",
        value_name = "ADDR"
    )]
    pub grpc_listen: SocketAddr,

    /// File of accepted agent tokens, one per line (blank lines and `#` comments ignored).
    #[arg(long, env = "PODWIRE_AGENT_TOKEN_FILE", value_name = "FILE")]
    pub agent_token_file: Option<PathBuf>,

    /// Directory for local-mode state (the private Postgres). Default: /var/lib/podwire when run
    /// as root, else $XDG_DATA_HOME/podwire, ~/.local/share/podwire or ./podwire-data.
    #[arg(long, env = "PODWIRE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Postgres to use. When unset, the server runs a private Postgres in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// How long history is kept (e.g. `30d`, `12h`).
    #[arg(long, env = "PODWIRE_RETENTION", default_value = "30d", value_parser = parse_duration)]
    pub retention: Duration,

    /// A node not heard from (heartbeat or snapshot) for this long is stale.
    #[arg(long, env = "PODWIRE_STALE_AFTER", default_value = "90s", value_parser = parse_duration)]
    pub stale_after: Duration,

    /// How often coalesced heartbeats are written to the database.
    #[arg(long, env = "PODWIRE_HEARTBEAT_FLUSH", default_value = "1s", value_parser = parse_duration)]
    pub heartbeat_flush: Duration,

    /// Also run `podwire-agent run` for this machine (cluster `local`), from the directory of this
    /// binary, restarting it if it exits.
    #[arg(long)]
    pub local_agent: bool,
}

fn parse_duration(s: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(s)
}

/// The configuration the server runs with, every part checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub http_listen: SocketAddr,
    pub grpc_listen: SocketAddr,
    /// `None`: no token file given (the ingest decides what that allows).
    pub agent_tokens: Option<AgentTokens>,
    pub database: Database,
    pub retention: Duration,
    pub stale_after: Duration,
    pub heartbeat_flush: Duration,
    pub local_agent: Option<LocalAgentProgram>,
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum Database {
    /// `DATABASE_URL`.
    External(Box<PgConnectOptions>),
    /// A private Postgres under this directory.
    Local { data_dir: PathBuf },
}

/// The accepted agent tokens. Debug output never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentTokens(Vec<String>);

impl AgentTokens {
    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for AgentTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgentTokens({} tokens)", self.0.len())
    }
}

/// What is wrong with the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--http-listen and --grpc-listen are both {0}; give them different ports")]
    SameListenAddress(SocketAddr),
    #[error("cannot read --agent-token-file {}", .path.display())]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--agent-token-file {} holds no token (one per line)", .path.display())]
    NoTokens { path: PathBuf },
    #[error("DATABASE_URL must start with postgres:// or postgresql://")]
    DatabaseUrlScheme,
    #[error("DATABASE_URL is not a usable Postgres URL")]
    DatabaseUrl(#[source] sqlx::Error),
    #[error("--{name} must be more than zero")]
    ZeroDuration { name: &'static str },
    #[error("--retention {0:?} is shorter than one hour")]
    RetentionTooShort(Duration),
    #[error("--local-agent cannot start the agent")]
    LocalAgent(#[source] LocalAgentError),
}

impl Args {
    /// Checks everything that can be checked without binding a socket or touching the database.
    pub fn validate(self) -> Result<Config, ConfigError> {
        if self.http_listen == self.grpc_listen {
            return Err(ConfigError::SameListenAddress(self.http_listen));
        }
        for (name, value) in [
            ("stale-after", self.stale_after),
            ("heartbeat-flush", self.heartbeat_flush),
        ] {
            if value.is_zero() {
                return Err(ConfigError::ZeroDuration { name });
            }
        }
        if self.retention < Duration::from_secs(3600) {
            return Err(ConfigError::RetentionTooShort(self.retention));
        }
        let agent_tokens = self
            .agent_token_file
            .as_deref()
            .map(read_tokens)
            .transpose()?;
        let database = match self.database_url.as_deref().filter(|url| !url.is_empty()) {
            Some(url) if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) => {
                return Err(ConfigError::DatabaseUrlScheme);
            }
            Some(url) => Database::External(Box::new(
                PgConnectOptions::from_str(url).map_err(ConfigError::DatabaseUrl)?,
            )),
            None => Database::Local {
                data_dir: self.data_dir.clone().unwrap_or_else(default_data_dir),
            },
        };
        let local_agent = if self.local_agent {
            Some(local_agent::locate_beside_current_exe().map_err(ConfigError::LocalAgent)?)
        } else {
            None
        };
        Ok(Config {
            http_listen: self.http_listen,
            grpc_listen: self.grpc_listen,
            agent_tokens,
            database,
            retention: self.retention,
            stale_after: self.stale_after,
            heartbeat_flush: self.heartbeat_flush,
            local_agent,
        })
    }
}

fn read_tokens(path: &Path) -> Result<AgentTokens, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::TokenFile {
        path: path.to_owned(),
        source,
    })?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        return Err(ConfigError::NoTokens {
            path: path.to_owned(),
        });
    }
    Ok(AgentTokens(tokens))
}

/// Root gets a system directory: the private Postgres runs as `nobody`, which cannot reach into
/// root's home.
fn default_data_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/podwire");
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("podwire");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/podwire");
    }
    PathBuf::from("podwire-data")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["podwire-server"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).unwrap()
    }

    #[test]
    fn defaults_are_valid_and_local() {
        let mut a = args(&[]);
        a.database_url = None;
        let config = a.validate().unwrap();
        assert!(matches!(config.database, Database::Local { .. }));
        assert_eq!(config.retention, Duration::from_secs(30 * 86400));
    }

    #[test]
    fn rejects_bad_values_with_clear_messages() {
        let mut same = args(&[
            "--http-listen",
            "127.0.0.1:9000",
            "--grpc-listen",
            "127.0.0.1:9000",
        ]);
        same.database_url = None;
        assert_eq!(
            same.validate().unwrap_err().to_string(),
            "--http-listen and --grpc-listen are both 127.0.0.1:9000; give them different ports"
        );
        let mut short = args(&["--retention", "5m"]);
        short.database_url = None;
        assert!(matches!(
            short.validate(),
            Err(ConfigError::RetentionTooShort(_))
        ));
        let mut url = args(&[]);
        url.database_url = Some("mysql://nope".into());
        assert!(matches!(
            url.validate(),
            Err(ConfigError::DatabaseUrlScheme)
        ));
        let mut port = args(&[]);
        port.database_url = Some("postgres://app@db:notaport/podwire".into());
        assert!(matches!(port.validate(), Err(ConfigError::DatabaseUrl(_))));
        assert!(Args::try_parse_from(["podwire-server", "--retention", "soon"]).is_err());
        assert!(Args::try_parse_from(["podwire-server", "--http-listen", "localhost"]).is_err());
    }

    #[test]
    fn token_file_is_read_and_empty_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("tokens");
        std::fs::write(&good, "# agents\nabc123\n\n  def456  \n").unwrap();
        let tokens = read_tokens(&good).unwrap();
        assert!(
            tokens.contains("abc123") && tokens.contains("def456") && !tokens.contains("# agents")
        );
        assert_eq!(format!("{tokens:?}"), "AgentTokens(2 tokens)");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "# none yet\n").unwrap();
        assert!(matches!(
            read_tokens(&empty),
            Err(ConfigError::NoTokens { .. })
        ));
        assert!(matches!(
            read_tokens(&dir.path().join("missing")),
            Err(ConfigError::TokenFile { .. })
        ));
    }
}
