//! A one-shot HTTP/1 `GET /v1/enis` to ipamd's introspection server.
//!
//! hyper's bare connection API is enough: one request on one connection to a loopback server,
//! no pooling, no TLS, no redirects. The call is blocking, with its own current-thread runtime
//! on a thread of its own, so it can be made from plain threads and from async code alike.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::{Request, Uri, header};
use hyper_util::rt::TokioIo;
use podwire_node_state::IpamdEnis;
use tokio::net::TcpStream;

use super::{IpamdError, parse_enis};

/// Where ipamd serves its introspection API (`INTROSPECTION_BIND_ADDRESS`'s default).
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:61679";

/// The ENI listing's path.
pub const ENIS_PATH: &str = "/v1/enis";

/// A real answer is tens of kilobytes even on the largest instance types; far more is not ipamd.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The server to ask, from `http://HOST:PORT` (a trailing `/` allowed) or a bare `HOST:PORT`.
#[derive(Debug, Clone)]
struct Target {
    endpoint: String,
    host: String,
    port: u16,
    authority: String,
}

impl Target {
    fn parse(endpoint: &str) -> Result<Self, IpamdError> {
        let invalid = || IpamdError::InvalidEndpoint(endpoint.to_owned());
        let uri: Uri = endpoint.parse().map_err(|_| invalid())?;
        let plain_http = matches!(uri.scheme_str(), None | Some("http"));
        let bare = matches!(uri.path(), "" | "/") && uri.query().is_none();
        let authority = uri.authority().ok_or_else(invalid)?;
        if !plain_http || !bare || authority.as_str().contains('@') {
            return Err(invalid());
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        Ok(Target {
            endpoint: endpoint.to_owned(),
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(80),
            authority: authority.as_str().to_owned(),
        })
    }
}

/// Asks ipamd at `endpoint` (`http://127.0.0.1:61679`, see [`DEFAULT_ENDPOINT`]) for its ENIs.
/// `timeout` bounds the whole exchange: connecting, the answer's head and its body.
pub fn read_enis(endpoint: &str, timeout: Duration) -> Result<IpamdEnis, IpamdError> {
    let target = Target::parse(endpoint)?;
    let body = std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("ipamd-client".to_owned())
            .spawn_scoped(scope, || fetch(&target, timeout))
            .map_err(IpamdError::Runtime)?;
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    parse_enis(&body)
}

/// [`read_enis`] on the calling thread, which must not be driving an async runtime: for a
/// thread of its own (the agent's collector), where starting one more would only cost.
pub fn read_enis_here(endpoint: &str, timeout: Duration) -> Result<IpamdEnis, IpamdError> {
    let target = Target::parse(endpoint)?;
    parse_enis(&fetch(&target, timeout)?)
}

fn fetch(target: &Target, timeout: Duration) -> Result<Bytes, IpamdError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(IpamdError::Runtime)?;
    runtime.block_on(async {
        tokio::time::timeout(timeout, exchange(target))
            .await
            .unwrap_or_else(|_| {
                Err(IpamdError::Timeout {
                    endpoint: target.endpoint.clone(),
                    timeout,
                })
            })
    })
}

async fn exchange(target: &Target) -> Result<Bytes, IpamdError> {
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|source| IpamdError::Connect {
            endpoint: target.endpoint.clone(),
            source,
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(IpamdError::Http)?;
    // The connection is driven beside the request; its failure also fails the request, which
    // is where it is reported.
    let driver = tokio::spawn(connection);

    let request = Request::get(ENIS_PATH)
        .header(header::HOST, target.authority.as_str())
        .header(header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|_| IpamdError::InvalidEndpoint(target.endpoint.clone()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(IpamdError::Http)?;
    if !response.status().is_success() {
        driver.abort();
        return Err(IpamdError::Status(response.status()));
    }
    let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<LengthLimitError>() {
                return IpamdError::TooLarge(MAX_BODY_BYTES);
            }
            match e.downcast::<hyper::Error>() {
                Ok(http) => IpamdError::Http(*http),
                Err(other) => IpamdError::Body(other),
            }
        })?
        .to_bytes();
    driver.abort();
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let t = Target::parse("http://127.0.0.1:61679").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 61679));
        let t = Target::parse("http://127.0.0.1:61679/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 61679));
        let t = Target::parse("127.0.0.1:61679").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("127.0.0.1", 61679, "127.0.0.1:61679")
        );
        let t = Target::parse("http://[::1]:61679").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 61679));
        for bad in [
            "https://127.0.0.1:61679",
            "http://127.0.0.1:61679/v1/enis",
            "http://u@h:1",
            "",
            "not a url",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(IpamdError::InvalidEndpoint(_))),
                "{bad:?}"
            );
        }
    }
}
