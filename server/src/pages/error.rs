//! What a page shows when it cannot show what was asked: the status, one sentence, and the way
//! back. Internal detail is logged here, once, and never rendered.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::read::ReadError;

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0:?} is not a time: use 2026-11-20T13:05:00Z or the time field")]
    BadTime(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("the database is unavailable; try again shortly")]
    Unavailable(#[source] ReadError),
    #[error("something went wrong on the server")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<ReadError> for PageError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::NotFound { what } => PageError::NotFound { what },
            ReadError::Store(crate::store::StoreError::Unavailable(_)) => {
                PageError::Unavailable(err)
            }
            other => PageError::Internal(Box::new(other)),
        }
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(err: crate::store::StoreError) -> Self {
        PageError::from(ReadError::Store(err))
    }
}

/// The error page (it does not extend the base layout: it must render whatever failed).
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    reason: &'static str,
    message: String,
}

fn render(status: StatusCode, message: String) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        message,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "error page did not render");
            (status, status.canonical_reason().unwrap_or("Error")).into_response()
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self {
            PageError::BadTime(_) | PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound { .. } => StatusCode::NOT_FOUND,
            PageError::Unavailable(source) => {
                tracing::warn!(error = %source, "page failed: database unavailable");
                StatusCode::SERVICE_UNAVAILABLE
            }
            PageError::Internal(source) => {
                tracing::error!(error = %source, "page failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        render(status, self.to_string())
    }
}

/// The page for a path no route serves.
pub(crate) fn not_found_page(path: &str) -> Response {
    render(StatusCode::NOT_FOUND, format!("no page at {path}"))
}
