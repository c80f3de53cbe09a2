//! The REST API: one file per action, assembled into one router here, with the OpenAPI 3.1
//! document generated from the handlers' annotations (utoipa) and served at `/api/openapi.json`
//! beside a vendored Swagger UI at `/api/docs`.
//!
//! Handlers read the read models ([`crate::read`], [`crate::store`]) and convert them to JSON in
//! [`views`] (CSV in `csv`); every failure is an [`ApiError`], mapped to a status and an
//! `application/problem+json` body in one place.

mod csv;
mod ec2_views;
mod error;
mod get_eni;
mod get_node;
mod health;
mod ip_holders;
mod kubernetes;
mod list_enis;
mod list_ipam_pools;
mod list_nodes;
mod list_pods;
mod list_subnets;
mod node_diff;
pub(crate) mod params;
mod pod_path;
mod pod_timeline;
mod ready;
mod search;
mod subnet_history;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

pub use crate::router::app;
pub use error::ApiError;

pub use crate::read::PathResolver;
use crate::read::Reader;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Resolves a stored snapshot (the shared crate's resolver).
    pub resolver: PathResolver,
    /// A node not heard from for this long is reported stale.
    pub stale_after: chrono::Duration,
    /// What the Kubernetes API says about pods and nodes (`None`: not watched).
    pub cluster: Option<Arc<dyn crate::cluster::ClusterDirectory>>,
}

impl AppState {
    pub fn new(store: Store, stale_after: chrono::Duration) -> Self {
        AppState {
            store,
            resolver: Arc::new(podwire_node_state::resolver::resolve),
            stale_after,
            cluster: None,
        }
    }

    /// The same state with the Kubernetes facts of `cluster`.
    pub fn with_cluster(
        mut self,
        cluster: Option<Arc<dyn crate::cluster::ClusterDirectory>>,
    ) -> Self {
        self.cluster = cluster;
        self
    }

    /// The read models over this state's store and resolver.
    pub fn reader(&self) -> Reader {
        Reader {
            store: self.store.clone(),
            resolver: self.resolver.clone(),
            stale_after: self.stale_after,
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .field("stale_after", &self.stale_after)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

/// The document's fixed parts; paths and schemas come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "podwire",
        description = "How every pod is wired and which ENI carries its traffic, now and at any past time. \
                       Every GET takes `at` (RFC 3339) where a time applies; errors are RFC 9457 \
                       problem documents; list endpoints answer CSV for `format=csv` or `Accept: text/csv`."
    ),
    tags(
        (name = "nodes"), (name = "pods"), (name = "enis"), (name = "subnets"), (name = "ipam"),
        (name = "history", description = "IP at T, pod timelines, node diffs"), (name = "search"),
        (name = "kubernetes", description = "What the server reads from the Kubernetes API"),
    )
)]
struct ApiDoc;

/// The `/api` routes: health, the versioned REST endpoints, the OpenAPI document and its docs
/// page.
pub(crate) fn routes() -> Router<AppState> {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_nodes::list_nodes))
        .routes(routes!(get_node::get_node))
        .routes(routes!(node_diff::node_diff))
        .routes(routes!(list_pods::list_pods))
        .routes(routes!(pod_path::pod_path))
        .routes(routes!(pod_timeline::pod_timeline))
        .routes(routes!(list_enis::list_enis))
        .routes(routes!(get_eni::get_eni))
        .routes(routes!(list_subnets::list_subnets))
        .routes(routes!(subnet_history::subnet_history))
        .routes(routes!(list_ipam_pools::list_ipam_pools))
        .routes(routes!(ip_holders::ip_holders))
        .routes(routes!(search::search))
        .routes(routes!(kubernetes::kubernetes_status))
        .split_for_parts();
    router
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(ready::readyz))
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
}
