//! An HTTP proxy between a podwire-server and moto that can throttle. moto never throttles, so
//! to see what the server does when EC2 sheds load, the server's `AWS_ENDPOINT_URL` points here.
//!
//! Forwarding, it passes each request to moto unchanged (method, path, headers, body: the SigV4
//! signature still covers what moto receives) and moto's answer back unchanged. While switched to
//! throttling ([`Ec2Proxy::throttle`]) it answers every call as EC2 answers a call over the
//! account's request rate: HTTP 503 with the EC2 Query API error document and the code
//! `RequestLimitExceeded` (the pair the AWS SDKs' retry policies match as throttling), and counts
//! the calls it refused. When moto cannot be reached it closes the client's connection without an
//! answer, so a server behind it sees moto down as a client sees an endpoint down, not as a
//! gateway's error page.
//!
//! It runs on a thread of its own with its own runtime, so synchronous tests can use it.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

/// The proxy could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot start the EC2 proxy")]
    Start(#[source] std::io::Error),
}

/// Why one request was not forwarded; the connection is closed without an answer.
#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error("cannot connect to moto at {0}")]
    Connect(SocketAddr, #[source] std::io::Error),
    #[error("HTTP exchange with moto")]
    Http(#[source] hyper::Error),
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    throttling: AtomicBool,
    throttled: AtomicU64,
    forwarded: AtomicU64,
}

/// A running proxy, stopped on drop.
#[derive(Debug)]
pub struct Ec2Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ec2Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (moto's address).
    pub fn start(upstream: SocketAddr) -> Result<Self, ProxyError> {
        let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .map_err(ProxyError::Start)?;
        listener.set_nonblocking(true).map_err(ProxyError::Start)?;
        let addr = listener.local_addr().map_err(ProxyError::Start)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ProxyError::Start)?;
        let shared = Arc::new(Shared {
            upstream,
            throttling: AtomicBool::new(false),
            throttled: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
        });
        let (stop, mut stopped) = oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    let stream = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((stream, _)) => stream,
                            Err(_) => continue,
                        },
                        _ = &mut stopped => return,
                    };
                    let shared = serving.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            handle(shared.clone(), request)
                        });
                        // A failed exchange (moto unreachable) ends this connection only.
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Ok(Ec2Proxy {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`: what the server's `AWS_ENDPOINT_URL` is set to.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Throttles every call from now on (`true`), or forwards again (`false`).
    pub fn throttle(&self, on: bool) {
        self.shared.throttling.store(on, Ordering::SeqCst);
    }

    /// Calls answered with `RequestLimitExceeded` so far.
    pub fn throttled(&self) -> u64 {
        self.shared.throttled.load(Ordering::SeqCst)
    }

    /// Calls forwarded to moto and answered by it so far.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for Ec2Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// EC2's answer to a call over the request rate: the Query API error document, HTTP 503.
fn throttled_response(request_number: u64) -> Response<ProxyBody> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
         <Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>\
         </Error></Errors><RequestID>00000000-0000-4000-8000-{request_number:012x}</RequestID>\
         </Response>"
    );
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    response
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, ForwardError> {
    if shared.throttling.load(Ordering::SeqCst) {
        // Read the call to its end, as EC2 does before it answers.
        let _ = request.into_body().collect().await;
        let number = shared.throttled.fetch_add(1, Ordering::SeqCst) + 1;
        return Ok(throttled_response(number));
    }
    let stream = tokio::net::TcpStream::connect(shared.upstream)
        .await
        .map_err(|e| ForwardError::Connect(shared.upstream, e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(ForwardError::Http)?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(ForwardError::Http)?;
    shared.forwarded.fetch_add(1, Ordering::SeqCst);
    Ok(response.map(BodyExt::boxed))
}
