//! The REST API: one file per action, assembled into one router here.
//!
//! Handlers read the store's read models and convert them to JSON in [`views`]; every failure is
//! an [`ApiError`], mapped to a status and a JSON body in one place.

mod error;
mod health;
mod ip_holders;
mod list_nodes;
mod list_pods;
mod params;
mod pod_path;
mod ready;
mod views;

use axum::Router;
use axum::routing::get;

pub use error::ApiError;

use crate::store::Store;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    /// A node not heard from for this long is reported stale.
    pub stale_after: chrono::Duration,
}

impl AppState {
    pub fn new(store: Store, stale_after: chrono::Duration) -> Self {
        AppState { store, stale_after }
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(ready::readyz))
        .route("/api/v1/nodes", get(list_nodes::list_nodes))
        .route("/api/v1/pods", get(list_pods::list_pods))
        .route("/api/v1/pods/{namespace}/{name}", get(pod_path::pod_path))
        .route("/api/v1/ips/{ip}", get(ip_holders::ip_holders))
        .fallback(|| async { ApiError::NoSuchRoute })
        .with_state(state)
}
