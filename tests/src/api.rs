//! The server's REST API as a client sees it: one plain HTTP/1.1 GET per call over a fresh
//! connection, the status, the content type and the body.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// A request that could not be made or answered as expected.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot connect to the API at {addr}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("GET {path} failed")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("GET {path}: not an HTTP response: {detail}")]
    Malformed { path: String, detail: String },
    #[error("GET {path} answered {status}: {body}")]
    Status {
        path: String,
        status: u16,
        body: String,
    },
    #[error("GET {path} answered something that is not JSON: {body}")]
    Json {
        path: String,
        body: String,
        #[source]
        source: serde_json::Error,
    },
}

/// One answer.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

impl ApiResponse {
    /// The body as JSON.
    pub fn json(&self, path: &str) -> Result<Value, ApiError> {
        serde_json::from_str(&self.body).map_err(|source| ApiError::Json {
            path: path.to_owned(),
            body: self.body.chars().take(2000).collect(),
            source,
        })
    }
}

/// The API of one server, at its `--http-listen` address.
#[derive(Debug, Clone, Copy)]
pub struct ApiClient {
    addr: SocketAddr,
}

impl ApiClient {
    pub fn new(addr: SocketAddr) -> Self {
        ApiClient { addr }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET path` (with its query string), whatever the status.
    pub fn get(&self, path: &str) -> Result<ApiResponse, ApiError> {
        let mut stream = TcpStream::connect(self.addr).map_err(|source| ApiError::Connect {
            addr: self.addr,
            source,
        })?;
        let io_error = |source| ApiError::Io {
            path: path.to_owned(),
            source,
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(io_error)?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .map_err(io_error)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(io_error)?;
        parse_response(path, &raw)
    }

    /// `GET path`, which must answer 200 with JSON.
    pub fn json(&self, path: &str) -> Result<Value, ApiError> {
        let response = self.get(path)?;
        if response.status != 200 {
            return Err(ApiError::Status {
                path: path.to_owned(),
                status: response.status,
                body: response.body,
            });
        }
        response.json(path)
    }
}

fn parse_response(path: &str, raw: &[u8]) -> Result<ApiResponse, ApiError> {
    let malformed = |detail: &str| ApiError::Malformed {
        path: path.to_owned(),
        detail: detail.to_owned(),
    };
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| malformed("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| malformed("no status line"))?;
    let mut content_type = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    let body = &raw[split + 4..];
    let body = if chunked {
        dechunk(body).ok_or_else(|| malformed("broken chunked body"))?
    } else {
        body.to_vec()
    };
    Ok(ApiResponse {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The payload of a `Transfer-Encoding: chunked` body.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_bodies_are_read() {
        let plain = parse_response(
            "/x",
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/problem+json\r\ncontent-length: 2\r\n\r\n{}",
        )
        .unwrap();
        assert_eq!(plain.status, 404);
        assert_eq!(
            plain.content_type.as_deref(),
            Some("application/problem+json")
        );
        assert_eq!(plain.body, "{}");
        let chunked = parse_response(
            "/x",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{\"a\r\n5\r\n\":1}\n\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(chunked.body, "{\"a\":1}\n");
        assert!(parse_response("/x", b"garbage").is_err());
    }
}
