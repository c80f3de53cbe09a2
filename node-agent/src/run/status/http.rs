//! The local status endpoint (`--status-listen`, 127.0.0.1:9102 by default): `GET /status` and
//! `GET /metrics` over plain HTTP/1.1, served with hyper's connection API, one task per
//! connection. It only reads the status board, so a slow client cannot slow the agent.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{StatusBoard, metrics};

/// A client gets this long to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    board: Arc<StatusBoard>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of descriptors and the like: nothing to do but try the next one.
                    tracing::warn!(error = %err, "status endpoint cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = crate::run::stopping(&mut shutdown) => return,
        };
        let board = board.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = respond(&request, &board);
                async move { Ok::<_, Infallible>(response) }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(err) = served {
                tracing::debug!(error = %err, "status endpoint connection failed");
            }
        });
    }
}

/// Answers one request from the board.
pub fn respond(request: &Request<Incoming>, board: &StatusBoard) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/status") => match serde_json::to_vec_pretty(&board.report()) {
            Ok(mut json) => {
                json.push(b'\n');
                (StatusCode::OK, "application/json", json)
            }
            Err(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                b"cannot encode the status\n".to_vec(),
            ),
        },
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            metrics::CONTENT_TYPE,
            metrics::render(&board.snapshot()).into_bytes(),
        ),
        (_, "/status" | "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            b"only GET\n".to_vec(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            b"try /status or /metrics\n".to_vec(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
    }
    response
}
