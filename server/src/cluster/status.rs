//! How the Kubernetes watches are doing, for `GET /api/v1/kubernetes` and the logs: each
//! resource syncing, synced, absent (its CRD is not installed) or failing, with its last error.
//! Failures are recorded here and retried with backoff; they never stop the server.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The state of one watched resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceState {
    /// Not listed yet (or being listed again).
    Syncing,
    /// Listed and watched.
    Synced,
    /// The API server does not serve it (a CRD that is not installed): not an error.
    Absent,
    /// The last list or watch failed; retried with backoff.
    Failing,
}

/// One watched resource.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResourceStatus {
    /// `pods`, `nodes`, `eniconfigs.crd.k8s.amazonaws.com`, `securitygrouppolicies.vpcresources.k8s.aws`.
    pub resource: &'static str,
    pub state: ResourceState,
    /// Objects held now.
    pub objects: usize,
    /// How many times the resource was listed from scratch (the first list, and a relist after
    /// every watch that expired: HTTP 410 Gone).
    pub lists: u64,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// The whole Kubernetes side.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KubernetesStatus {
    /// Whether the server watches a Kubernetes API at all.
    pub enabled: bool,
    /// The agents' cluster the API describes (`null`: every cluster).
    pub cluster: Option<String>,
    /// Why no client could be made (no kubeconfig, a bad one); `null` when connected.
    pub connection_error: Option<String>,
    pub resources: Vec<ResourceStatus>,
}

/// Shared, updated by a resource's watch task, read by the API.
#[derive(Debug, Clone)]
pub struct ResourceTracker(Arc<Mutex<ResourceStatus>>);

impl ResourceTracker {
    pub fn new(resource: &'static str) -> Self {
        ResourceTracker(Arc::new(Mutex::new(ResourceStatus {
            resource,
            state: ResourceState::Syncing,
            objects: 0,
            lists: 0,
            last_synced_at: None,
            last_error: None,
            last_error_at: None,
        })))
    }

    fn update(&self, f: impl FnOnce(&mut ResourceStatus)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// A status copy with the object count filled in.
    pub fn snapshot(&self, objects: usize) -> ResourceStatus {
        let mut status = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        status.objects = objects;
        status
    }

    pub fn resource(&self) -> &'static str {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .resource
    }

    /// A list from scratch begins.
    pub fn listing(&self) {
        self.update(|s| {
            s.lists += 1;
            if s.state != ResourceState::Failing {
                s.state = ResourceState::Syncing;
            }
        });
    }

    /// The list is complete, or a watch event arrived after a failure.
    pub fn synced(&self) {
        self.update(|s| {
            s.state = ResourceState::Synced;
            s.last_synced_at = Some(Utc::now());
        });
    }

    /// Whether the last thing that happened was a failure.
    pub fn is_failing(&self) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).state == ResourceState::Failing
    }

    /// A list or watch failed; `message` is the error with its causes.
    pub fn failed(&self, message: String) {
        self.update(|s| {
            s.state = ResourceState::Failing;
            s.last_error = Some(message);
            s.last_error_at = Some(Utc::now());
        });
    }

    /// The API server does not serve the resource.
    pub fn absent(&self) {
        self.update(|s| s.state = ResourceState::Absent);
    }
}

pub use crate::error_chain::error_chain;
