//! The Kubernetes flags: whether to watch the API server, with which credentials, for which of
//! the agents' clusters; and whether agents may prove who they are with their ServiceAccount
//! token (TokenReview). Checked with the rest of the configuration, before anything starts.

use std::path::PathBuf;
use std::time::Duration;

/// When to watch the Kubernetes API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KubernetesMode {
    /// When running in a cluster (`KUBERNETES_SERVICE_HOST` set) or given --kubeconfig.
    Auto,
    /// Always: the in-cluster configuration, else --kubeconfig, else `$KUBECONFIG` /
    /// `~/.kube/config`.
    On,
    /// Never.
    Off,
}

/// The Kubernetes part of the command line (flattened into the server's `Args`).
#[derive(Debug, Clone, clap::Args)]
pub struct KubernetesArgs {
    /// Watch pods, nodes, ENIConfigs and SecurityGroupPolicies and show them beside each pod's
    /// path. `--kubernetes` alone means `on`.
    #[arg(
        long = "kubernetes",
        env = "PODWIRE_KUBERNETES",
        value_enum,
        default_value = "auto",
        num_args = 0..=1,
        default_missing_value = "on",
        value_name = "WHEN"
    )]
    pub mode: KubernetesMode,

    /// The kubeconfig to reach the API server with (instead of the in-cluster ServiceAccount).
    #[arg(long, env = "PODWIRE_KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The agents' cluster name (their --cluster) that this API server describes; Kubernetes facts
    /// join only pods of that cluster. Unset: every cluster's pods (one cluster per server).
    #[arg(long, env = "PODWIRE_KUBERNETES_CLUSTER", value_name = "NAME")]
    pub kubernetes_cluster: Option<String>,

    /// Also accept agents whose bearer token is a ServiceAccount token of
    /// --agent-service-account bound to --agent-token-audience, as a TokenReview says.
    #[arg(long, env = "PODWIRE_AGENT_TOKEN_REVIEW")]
    pub agent_token_review: bool,

    /// The audience agents' projected ServiceAccount tokens must be bound to.
    #[arg(
        long,
        env = "PODWIRE_AGENT_TOKEN_AUDIENCE",
        default_value = "podwire",
        value_name = "AUDIENCE"
    )]
    pub agent_token_audience: String,

    /// The agents' ServiceAccount, `NAMESPACE/NAME`: only its tokens are accepted.
    #[arg(
        long,
        env = "PODWIRE_AGENT_SERVICE_ACCOUNT",
        default_value = "podwire/podwire-agent",
        value_name = "NAMESPACE/NAME"
    )]
    pub agent_service_account: String,

    /// How long an accepted ServiceAccount token is trusted without asking again.
    #[arg(long, env = "PODWIRE_TOKEN_REVIEW_CACHE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub token_review_cache: Duration,
}

/// The checked Kubernetes settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KubernetesSettings {
    /// Watch the API server.
    pub watch: bool,
    pub kubeconfig: Option<PathBuf>,
    pub cluster: Option<String>,
    pub token_review: Option<TokenReviewSettings>,
}

impl KubernetesSettings {
    /// Whether a Kubernetes client is needed at all.
    pub fn needs_client(&self) -> bool {
        self.watch || self.token_review.is_some()
    }
}

/// Which ServiceAccount tokens are accepted from agents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenReviewSettings {
    pub audience: String,
    pub namespace: String,
    pub service_account: String,
    pub cache_for: Duration,
}

impl TokenReviewSettings {
    /// The user name the API server gives the ServiceAccount.
    pub fn username(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }
}

/// What is wrong with the Kubernetes flags.
#[derive(Debug, thiserror::Error)]
pub enum KubernetesConfigError {
    #[error("--agent-service-account {0:?} is not NAMESPACE/NAME")]
    ServiceAccount(String),
    #[error("--agent-token-audience is empty")]
    EmptyAudience,
    #[error("--token-review-cache must be at most 10m, so that a revoked token stops working soon")]
    CacheTooLong,
    #[error("{0} needs the server built with its `kube` feature")]
    NotBuiltIn(&'static str),
}

impl KubernetesArgs {
    /// Checks the flags; `in_cluster` says whether the process runs in a pod.
    pub fn validate(self, in_cluster: bool) -> Result<KubernetesSettings, KubernetesConfigError> {
        let watch = match self.mode {
            KubernetesMode::Off => false,
            KubernetesMode::On => true,
            KubernetesMode::Auto => {
                cfg!(feature = "kube") && (in_cluster || self.kubeconfig.is_some())
            }
        };
        if watch && !cfg!(feature = "kube") {
            return Err(KubernetesConfigError::NotBuiltIn("--kubernetes"));
        }
        let token_review = if self.agent_token_review {
            if !cfg!(feature = "kube") {
                return Err(KubernetesConfigError::NotBuiltIn("--agent-token-review"));
            }
            let (namespace, name) = self
                .agent_service_account
                .split_once('/')
                .filter(|(ns, name)| is_dns_label(ns) && is_dns_subdomain(name))
                .ok_or_else(|| {
                    KubernetesConfigError::ServiceAccount(self.agent_service_account.clone())
                })?;
            if self.agent_token_audience.trim().is_empty() {
                return Err(KubernetesConfigError::EmptyAudience);
            }
            if self.token_review_cache > Duration::from_secs(600) {
                return Err(KubernetesConfigError::CacheTooLong);
            }
            Some(TokenReviewSettings {
                audience: self.agent_token_audience.trim().to_owned(),
                namespace: namespace.to_owned(),
                service_account: name.to_owned(),
                cache_for: self.token_review_cache,
            })
        } else {
            None
        };
        Ok(KubernetesSettings {
            watch,
            kubeconfig: self.kubeconfig,
            cluster: self.kubernetes_cluster.filter(|c| !c.is_empty()),
            token_review,
        })
    }
}

/// Whether this process runs in a pod: the variables the kubelet sets in every container.
pub fn in_cluster_env() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|v| !v.is_empty())
        && std::env::var_os("KUBERNETES_SERVICE_PORT").is_some_and(|v| !v.is_empty())
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        kubernetes: KubernetesArgs,
    }

    fn settings(argv: &[&str], in_cluster: bool) -> Result<KubernetesSettings, String> {
        let mut all = vec!["podwire-server"];
        all.extend_from_slice(argv);
        let cli = Cli::try_parse_from(all).map_err(|e| e.to_string())?;
        cli.kubernetes
            .validate(in_cluster)
            .map_err(|e| e.to_string())
    }

    // Without the `kube` feature these settings are refused (`without_kube_the_flags_are_refused`).
    #[cfg(feature = "kube")]
    #[test]
    fn the_api_is_watched_in_a_cluster_or_when_asked() {
        assert!(!settings(&[], false).unwrap().watch);
        assert!(settings(&[], true).unwrap().watch);
        assert!(settings(&["--kubeconfig", "/k"], false).unwrap().watch);
        assert!(settings(&["--kubernetes"], false).unwrap().watch);
        assert!(!settings(&["--kubernetes", "off"], true).unwrap().watch);
        assert!(
            !settings(&["--kubernetes=off", "--kubeconfig", "/k"], true)
                .unwrap()
                .watch
        );
    }

    // Without the `kube` feature these settings are refused (`without_kube_the_flags_are_refused`).
    #[cfg(feature = "kube")]
    #[test]
    fn token_review_names_one_service_account() {
        let review = settings(&["--agent-token-review"], false)
            .unwrap()
            .token_review
            .unwrap();
        assert_eq!(
            review.username(),
            "system:serviceaccount:podwire:podwire-agent"
        );
        assert_eq!(review.audience, "podwire");
        assert_eq!(review.cache_for, Duration::from_secs(60));
        for (flag, value, error) in [
            ("--agent-service-account", "podwire", "NAMESPACE/NAME"),
            ("--agent-service-account", "Podwire/agent", "NAMESPACE/NAME"),
            ("--agent-token-audience", " ", "empty"),
            ("--token-review-cache", "1h", "at most 10m"),
        ] {
            let err = settings(&["--agent-token-review", flag, value], false).unwrap_err();
            assert!(err.contains(error), "{flag} {value}: {err}");
        }
    }

    #[cfg(not(feature = "kube"))]
    #[test]
    fn without_kube_the_flags_are_refused() {
        assert!(!settings(&[], true).unwrap().watch, "auto stays off");
        for flag in ["--kubernetes", "--agent-token-review"] {
            let refused = settings(&[flag], false).expect_err("refused without kube");
            assert_eq!(
                refused,
                KubernetesConfigError::NotBuiltIn(flag).to_string(),
                "{flag}"
            );
        }
    }
}
