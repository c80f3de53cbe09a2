//! The whole HTTP application in one place: the API (with its OpenAPI document), the pages and
//! their static assets, and the fallback that answers unknown paths in the caller's language.

use axum::Router;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};

use crate::api::{self, ApiError, AppState};
use crate::pages;

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(pages::routes())
        .fallback(not_found)
        .with_state(state)
}

/// Unknown API paths get a problem document, anything else the HTML not-found page.
async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") || uri.path() == "/api" {
        ApiError::NoSuchRoute.into_response()
    } else {
        pages::not_found_page(uri.path()).into_response()
    }
}
