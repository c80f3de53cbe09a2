//! The command line and environment, checked in full before any socket is bound or any process
//! started: bad configuration exits with a message that says what to fix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use sqlx::postgres::PgConnectOptions;

use crate::enrich::{Ec2Settings, EnrichmentArgs, EnrichmentConfigError};
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
    /// Agents send one as `authorization: Bearer <token>`. Without this file (and without
    /// --allow-unauthenticated-agents) every agent is refused, except the one --local-agent
    /// starts, which gets a token of its own.
    #[arg(long, env = "PODWIRE_AGENT_TOKEN_FILE", value_name = "FILE")]
    pub agent_token_file: Option<PathBuf>,

    /// Accept agents without checking any token. Only for a trusted network (a laptop, a lab).
    #[arg(long, conflicts_with = "agent_token_file")]
    pub allow_unauthenticated_agents: bool,

    /// The largest agent message accepted, in bytes after decompression; larger ones end the
    /// stream with RESOURCE_EXHAUSTED. A 250-pod node's snapshot is about 350 KB.
    #[arg(
        long,
        env = "PODWIRE_MAX_MESSAGE_BYTES",
        default_value_t = 16 << 20,
        value_name = "BYTES",
        value_parser = clap::value_parser!(u32).range(64 << 10..=1 << 30)
    )]
    pub max_message_bytes: u32,

    /// How often agents send a heartbeat while their node's state is unchanged (told to each agent
    /// when it connects).
    #[arg(long, env = "PODWIRE_AGENT_HEARTBEAT_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    pub agent_heartbeat_interval: Duration,

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

    #[command(flatten)]
    pub kubernetes: crate::cluster::KubernetesArgs,

    #[command(flatten)]
    pub enrichment: EnrichmentArgs,
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
    pub ingest: IngestSettings,
    pub database: Database,
    /// Where local-mode state lives: the private Postgres, the local agent's token.
    pub data_dir: PathBuf,
    pub retention: Duration,
    pub stale_after: Duration,
    pub heartbeat_flush: Duration,
    pub local_agent: Option<LocalAgentProgram>,
    /// Watching the Kubernetes API, and TokenReview of agents' tokens.
    pub kubernetes: crate::cluster::KubernetesSettings,
    /// EC2 enrichment; `None` when off.
    pub ec2: Option<Ec2Settings>,
}

/// How the gRPC ingest treats agents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    /// Accept agents without a token (`--allow-unauthenticated-agents`).
    pub allow_unauthenticated: bool,
    /// The decode limit of one agent message, in bytes.
    pub max_message_bytes: u32,
    /// What agents are told to use between heartbeats.
    pub heartbeat_interval: Duration,
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum Database {
    /// `DATABASE_URL`.
    External(Box<PgConnectOptions>),
    /// A private Postgres under this directory.
    Local { data_dir: PathBuf },
}

/// The accepted agent tokens. Debug output never shows them. Checking a token against them is
/// the ingest's business (in constant time, `ingest::StaticTokens`).
#[derive(Clone, PartialEq, Eq)]
pub struct AgentTokens(Vec<String>);

impl AgentTokens {
    pub fn new(tokens: Vec<String>) -> Self {
        AgentTokens(tokens)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
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
    #[error(
        "--stale-after {stale_after:?} must be at least twice --agent-heartbeat-interval \
         {heartbeat:?}, or nodes turn stale between two heartbeats"
    )]
    StaleBeforeHeartbeats {
        stale_after: Duration,
        heartbeat: Duration,
    },
    #[error("--local-agent cannot start the agent")]
    LocalAgent(#[source] LocalAgentError),
    #[error(transparent)]
    Kubernetes(#[from] crate::cluster::settings::KubernetesConfigError),
    #[error(transparent)]
    Enrichment(#[from] EnrichmentConfigError),
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
            ("agent-heartbeat-interval", self.agent_heartbeat_interval),
        ] {
            if value.is_zero() {
                return Err(ConfigError::ZeroDuration { name });
            }
        }
        if self.retention < Duration::from_secs(3600) {
            return Err(ConfigError::RetentionTooShort(self.retention));
        }
        if self.stale_after < self.agent_heartbeat_interval.saturating_mul(2) {
            return Err(ConfigError::StaleBeforeHeartbeats {
                stale_after: self.stale_after,
                heartbeat: self.agent_heartbeat_interval,
            });
        }
        let data_dir = self.data_dir.clone().unwrap_or_else(default_data_dir);
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
                data_dir: data_dir.clone(),
            },
        };
        let local_agent = if self.local_agent {
            Some(local_agent::locate_beside_current_exe().map_err(ConfigError::LocalAgent)?)
        } else {
            None
        };
        let ec2 = self.enrichment.settings()?;
        Ok(Config {
            http_listen: self.http_listen,
            grpc_listen: self.grpc_listen,
            agent_tokens,
            ingest: IngestSettings {
                allow_unauthenticated: self.allow_unauthenticated_agents,
                max_message_bytes: self.max_message_bytes,
                heartbeat_interval: self.agent_heartbeat_interval,
            },
            database,
            data_dir,
            retention: self.retention,
            stale_after: self.stale_after,
            heartbeat_flush: self.heartbeat_flush,
            local_agent,
            kubernetes: self
                .kubernetes
                .validate(crate::cluster::settings::in_cluster_env())?,
            ec2,
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
        assert_eq!(
            config.ingest,
            IngestSettings {
                allow_unauthenticated: false,
                max_message_bytes: 16 << 20,
                heartbeat_interval: Duration::from_secs(15),
            }
        );
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
        let mut beats = args(&["--stale-after", "20s", "--agent-heartbeat-interval", "15s"]);
        beats.database_url = None;
        assert!(matches!(
            beats.validate(),
            Err(ConfigError::StaleBeforeHeartbeats { .. })
        ));
        assert!(
            Args::try_parse_from([
                "podwire-server",
                "--agent-token-file",
                "/etc/podwire/tokens",
                "--allow-unauthenticated-agents"
            ])
            .is_err(),
            "a token file and accepting everyone contradict each other"
        );
        assert!(Args::try_parse_from(["podwire-server", "--max-message-bytes", "1000"]).is_err());
        assert!(Args::try_parse_from(["podwire-server", "--retention", "soon"]).is_err());
        assert!(Args::try_parse_from(["podwire-server", "--http-listen", "localhost"]).is_err());
    }

    #[test]
    fn token_file_is_read_and_empty_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("tokens");
        std::fs::write(&good, "# agents\nabc123\n\n  def456  \n").unwrap();
        let tokens = read_tokens(&good).unwrap();
        assert_eq!(tokens.iter().collect::<Vec<_>>(), ["abc123", "def456"]);
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
