//! The HTML dashboard: server-rendered askama pages, one file and one template struct per page,
//! usable without JavaScript; the only user of `web/`.
//!
//! Every page takes `?at=` (RFC 3339, or `YYYY-MM-DDTHH:MM[:SS]` read as UTC, which is what the
//! header's time field sends) and shows the fleet as it was then; every link it renders keeps that
//! time. Assets are compiled into the binary and served under `/static/`, so the dashboard works
//! wherever the binary runs, with no CDN.

mod chart;
mod chrome;
mod diagram;
mod ec2_text;
mod eni;
mod error;
mod node;
mod node_diff;
mod nodes;
mod overview;
mod pod;
mod pod_kubernetes;
mod search;
mod static_files;
mod subnet;
mod subnets;

use axum::Router;
use axum::routing::get;

pub use error::PageError;
pub(crate) use error::not_found_page;

use crate::api::AppState;

/// The page routes and the static assets.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::overview))
        .route("/nodes", get(nodes::nodes))
        .route("/nodes/{cluster}/{name}", get(node::node))
        .route("/nodes/{cluster}/{name}/diff", get(node_diff::node_diff))
        .route("/pods/{namespace}/{name}", get(pod::pod))
        .route("/enis/{eni_id}", get(eni::eni))
        .route("/subnets", get(subnets::subnets))
        .route("/subnets/{subnet_id}", get(subnet::subnet))
        .route("/search", get(search::search))
        .merge(static_files::routes())
}
