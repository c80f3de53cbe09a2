//! The HTML dashboard (stub while the API compiles).
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};

use crate::api::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}

pub(crate) fn not_found_page(path: &str) -> impl IntoResponse {
    (StatusCode::NOT_FOUND, Html(format!("not found: {path}")))
}
