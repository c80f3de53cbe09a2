//! The dashboard's assets, compiled into the binary from `web/static/` and served under
//! `/static/` with a cache lifetime set by tower-http.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::api::AppState;

const STYLESHEET: &str = include_str!("../../../web/static/podwire.css");
const FAVICON: &str = include_str!("../../../web/static/favicon.svg");

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/static/podwire.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    STYLESHEET,
                )
                    .into_response()
            }),
        )
        .route(
            "/static/favicon.svg",
            get(|| async { ([(header::CONTENT_TYPE, "image/svg+xml")], FAVICON).into_response() }),
        )
        .route(
            "/favicon.ico",
            get(|| async { ([(header::CONTENT_TYPE, "image/svg+xml")], FAVICON).into_response() }),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ))
}
