//! The API's one error type and its mapping to HTTP: a status and an RFC 9457 problem document
//! (`application/problem+json`: `type`, `title`, `status`, `detail`), which also carries the
//! earlier `error` code and `message` members so clients of the first API keep working.
//! Internal detail (SQL, blob decoding) is logged here, once, and never sent.

use crate::error_chain::error_chain;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::read::ReadError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid {parameter} {value:?}: expected {expected}")]
    BadParameter {
        parameter: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("invalid query string: {0}")]
    BadQuery(String),
    #[error("invalid path: {0}")]
    BadPath(String),
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("no such endpoint")]
    NoSuchRoute,
    #[error("{0}")]
    NotAcceptable(&'static str),
    #[error("the database is unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => ApiError::Unavailable(err),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::Store(err) => ApiError::from(err),
            ReadError::NotFound { what } => ApiError::NotFound { what },
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadQuery(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadPath(rejection.body_text())
    }
}

/// An RFC 9457 problem document.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Problem {
    /// `urn:podwire:problem:<code>`.
    #[serde(rename = "type")]
    kind: String,
    /// The same for every problem of this type.
    title: &'static str,
    status: u16,
    /// What was wrong with this request.
    detail: String,
    /// The problem's code (`bad_parameter`, `not_found`, …), as the first API sent it.
    error: &'static str,
    /// `detail` again, as the first API sent it.
    message: String,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadParameter { .. } => (StatusCode::BAD_REQUEST, "bad_parameter"),
            ApiError::BadQuery(_) => (StatusCode::BAD_REQUEST, "bad_query"),
            ApiError::BadPath(_) => (StatusCode::BAD_REQUEST, "bad_path"),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::NoSuchRoute => (StatusCode::NOT_FOUND, "no_such_route"),
            ApiError::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "not_acceptable"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            ApiError::Internal(source) => {
                tracing::error!(error = %error_chain(source.as_ref()), "request failed")
            }
            ApiError::Unavailable(source) => {
                tracing::warn!(error = %error_chain(source), "request failed: database unavailable")
            }
            _ => {}
        }
        // Display of Internal and Unavailable is a fixed sentence: their sources stay in the log.
        let detail = self.to_string();
        let problem = Problem {
            kind: format!("urn:podwire:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.clone(),
            error: code,
            message: detail,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
