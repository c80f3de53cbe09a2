//! The ipamd client against real HTTP/1 servers on loopback ports.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::{
    OneShotServer, Reply, chunked_response, content_length_response, read_fixture, refused_endpoint,
};
use podwire_agent::collect::vpc_cni::ipamd::{IpamdError, read_enis, read_enis_here};
use podwire_node_state::IpamdShape;

/// Long enough for a loaded CI machine; only the "never answers" test waits it out.
const TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn content_length_answer() {
    let body = read_fixture("ipamd/v1.22-per-network-card.json");
    let server = OneShotServer::start(Reply::Raw(content_length_response("200 OK", &body)));
    let enis = read_enis(&server.endpoint(), TIMEOUT).unwrap();
    assert_eq!(enis.shape, IpamdShape::PerNetworkCard);
    assert_eq!(enis.network_cards[0].enis.len(), 3);

    let addr = server.addr;
    let request = server.join().to_ascii_lowercase();
    assert!(
        request.starts_with("get /v1/enis http/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!("\r\nhost: {addr}\r\n")),
        "{request}"
    );
}

#[test]
fn asked_on_the_calling_thread() {
    let body = read_fixture("ipamd/v1.22-per-network-card.json");
    let server = OneShotServer::start(Reply::Raw(content_length_response("200 OK", &body)));
    let enis = read_enis_here(&server.endpoint(), TIMEOUT).unwrap();
    assert_eq!(enis.network_cards[0].enis.len(), 3);
    server.join();
    assert!(matches!(
        read_enis_here(&refused_endpoint(), TIMEOUT),
        Err(e) if e.is_unreachable()
    ));
}

#[test]
fn chunked_answer() {
    let body = read_fixture("ipamd/v1.23-multi-card-scrubbed.json");
    let server = OneShotServer::start(Reply::Raw(chunked_response(&body, 100)));
    let enis = read_enis(&server.endpoint(), TIMEOUT).unwrap();
    assert_eq!(enis.shape, IpamdShape::PerNetworkCardScrubbed);
    assert_eq!(enis.network_cards.len(), 2);
    server.join();
}

#[test]
fn server_error_status() {
    let server = OneShotServer::start(Reply::Raw(content_length_response(
        "500 Internal Server Error",
        b"Internal Server Error\n",
    )));
    let error = read_enis(&server.endpoint(), TIMEOUT).unwrap_err();
    assert!(
        matches!(&error, IpamdError::Status(s) if s.as_u16() == 500),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "ipamd answered HTTP 500 Internal Server Error"
    );
    server.join();
}

#[test]
fn garbage_body() {
    let server = OneShotServer::start(Reply::Raw(content_length_response(
        "200 OK",
        b"404 page not found\n",
    )));
    let error = read_enis(&server.endpoint(), TIMEOUT).unwrap_err();
    assert!(matches!(error, IpamdError::NotJson(_)), "{error:?}");
    server.join();
}

#[test]
fn not_http_at_all() {
    let server = OneShotServer::start(Reply::Raw(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()));
    let error = read_enis(&server.endpoint(), TIMEOUT).unwrap_err();
    assert!(matches!(error, IpamdError::Http(_)), "{error:?}");
    server.join();
}

#[test]
fn connection_closed_without_an_answer() {
    let server = OneShotServer::start(Reply::Close);
    let error = read_enis(&server.endpoint(), TIMEOUT).unwrap_err();
    assert!(matches!(error, IpamdError::Http(_)), "{error:?}");
    assert_eq!(error.to_string(), "HTTP exchange with ipamd failed");
    assert!(!error.is_unreachable());
    server.join();
}

#[test]
fn body_cut_short() {
    let mut response =
        content_length_response("200 OK", &read_fixture("ipamd/v1.22-per-network-card.json"));
    response.truncate(response.len() / 2);
    let server = OneShotServer::start(Reply::Raw(response));
    let error = read_enis(&server.endpoint(), TIMEOUT).unwrap_err();
    assert!(matches!(error, IpamdError::Http(_)), "{error:?}");
    server.join();
}

#[test]
fn refused_port() {
    let endpoint = refused_endpoint();
    let error = read_enis(&endpoint, TIMEOUT).unwrap_err();
    let IpamdError::Connect { source, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(error.is_unreachable());
    assert_eq!(
        error.to_string(),
        format!("cannot connect to ipamd at {endpoint}")
    );
}

#[test]
fn a_listener_that_never_answers_times_out() {
    // The kernel completes the handshake from the backlog, so the request goes out and no
    // answer ever comes back.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let timeout = Duration::from_millis(300);
    let error = read_enis(&endpoint, timeout).unwrap_err();
    assert!(
        matches!(&error, IpamdError::Timeout { timeout: t, .. } if *t == timeout),
        "{error:?}"
    );
    assert!(!error.is_unreachable());
    assert_eq!(
        error.to_string(),
        format!("ipamd at {endpoint} did not answer within 300ms")
    );
    drop(listener);
}

#[test]
fn callable_from_inside_an_async_runtime() {
    let body = read_fixture("ipamd/v1.19-flat-prefix-delegation.json");
    let server = OneShotServer::start(Reply::Raw(content_length_response("200 OK", &body)));
    let endpoint = server.endpoint();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let enis = runtime
        .block_on(async { read_enis(&endpoint, TIMEOUT) })
        .unwrap();
    assert_eq!(enis.shape, IpamdShape::Flat);
    server.join();
}

#[test]
fn invalid_endpoint() {
    let error = read_enis("https://127.0.0.1:61679", TIMEOUT).unwrap_err();
    assert!(matches!(error, IpamdError::InvalidEndpoint(_)), "{error:?}");
}
