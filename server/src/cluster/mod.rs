//! Kubernetes enrichment: what the API server says about pods and nodes, beside what the agents
//! found in the kernel.
//!
//! - [`settings`]: the flags (`--kubernetes`, `--kubeconfig`, `--agent-token-review`, …).
//! - `reflectors` (feature `kube`): kube-runtime reflectors (`watcher(..).default_backoff()` +
//!   `reflector`) of Pods and Nodes, and of ENIConfigs and SecurityGroupPolicies where the API
//!   server serves those CRDs; `managedFields` trimmed before storing. In memory only:
//!   Kubernetes facts are "now", with no history.
//! - `convert` (feature `kube`): the reflected objects into [`facts`].
//! - [`pod_eni`]: the `vpc.amazonaws.com/pod-eni` annotation; [`cross_check`]: that annotation and
//!   the pod's node against the kernel-resolved path.
//! - [`status`]: each watch's state and last error, served at `GET /api/v1/kubernetes`.
//!
//! The API and the pages read a [`ClusterDirectory`]; they never call the API server.

#[cfg(feature = "kube")]
pub mod client;
#[cfg(feature = "kube")]
mod convert;
pub mod cross_check;
pub mod facts;
pub mod pod_eni;
#[cfg(feature = "kube")]
pub mod reflectors;
pub mod settings;
pub mod status;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

pub use cross_check::{CrossCheck, cross_check, cross_check_ec2};
pub use facts::{EniConfigFacts, NodeFacts, PodFacts, Workload};
pub use settings::{KubernetesArgs, KubernetesSettings, TokenReviewSettings};
pub use status::KubernetesStatus;

use crate::ingest::AgentAuthenticator;

/// The Kubernetes objects the server holds, as facts.
pub trait ClusterDirectory: Send + Sync + std::fmt::Debug {
    /// The agents' cluster these objects describe; `None`: any.
    fn cluster(&self) -> Option<&str>;
    fn pod(&self, namespace: &str, name: &str) -> Option<PodFacts>;
    fn node(&self, name: &str) -> Option<NodeFacts>;
    fn eni_config(&self, name: &str) -> Option<EniConfigFacts>;
    fn status(&self) -> KubernetesStatus;

    /// Whether the facts describe pods of the agents' cluster `cluster`.
    fn describes(&self, cluster: &str) -> bool {
        self.cluster().is_none_or(|c| c == cluster)
    }
}

/// What [`start`] set up.
#[derive(Debug, Default)]
pub struct Started {
    /// The reflected objects (also when the client could not be made: its status says why).
    pub directory: Option<Arc<dyn ClusterDirectory>>,
    /// Agents' ServiceAccount tokens, checked by TokenReview (`--agent-token-review`).
    pub token_review: Option<Arc<dyn AgentAuthenticator>>,
}

/// Why the Kubernetes side could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// TokenReview was asked for but no client can be made: every in-cluster agent would be
    /// refused, so start-up stops instead.
    #[error("--agent-token-review needs a Kubernetes client")]
    TokenReviewClient(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Makes the client and starts the reflectors as `tasks`, which run until `stop` turns true.
/// A client that cannot be made, or an API server that cannot be reached, is recorded in the
/// directory's status; only TokenReview without a client stops start-up.
#[cfg_attr(
    not(feature = "kube"),
    expect(
        clippy::unused_async,
        reason = "the same signature with and without kube"
    )
)]
pub async fn start(
    settings: &KubernetesSettings,
    tasks: &mut JoinSet<()>,
    stop: watch::Receiver<bool>,
) -> Result<Started, StartError> {
    if !settings.needs_client() {
        return Ok(Started::default());
    }
    #[cfg(feature = "kube")]
    {
        let client = client::connect(settings.kubeconfig.as_deref()).await;
        let token_review = match (&settings.token_review, &client) {
            (None, _) => None,
            (Some(review), Ok(client)) => Some(Arc::new(
                crate::ingest::token_review::TokenReviewer::new(client.clone(), review.clone()),
            ) as Arc<dyn AgentAuthenticator>),
            (Some(_), Err(err)) => {
                return Err(StartError::TokenReviewClient(err.to_string().into()));
            }
        };
        let directory = settings.watch.then(|| {
            reflectors::KubeDirectory::start(client, settings.cluster.clone(), tasks, stop)
                as Arc<dyn ClusterDirectory>
        });
        Ok(Started {
            directory,
            token_review,
        })
    }
    #[cfg(not(feature = "kube"))]
    {
        let _ = (tasks, stop);
        Ok(Started::default())
    }
}
