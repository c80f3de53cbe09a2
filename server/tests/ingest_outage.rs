//! Postgres going away under a running server: the whole server (`startup::serve_with`: REST API,
//! gRPC ingest, heartbeat flusher) on loopback, its database a private Postgres this test stops
//! and starts again. The ingest answers UNAVAILABLE while the database is away, the server stays
//! up and healthy, and agents get through again once it is back.

mod common;

use std::os::unix::fs::PermissionsExt;

use clap::Parser;
use common::fixtures::{node_snapshot, pod, t};
use common::ingest::{AgentStream, TOKEN, ack, refusal};
use podwire_node_state::wire::content_hash;
use podwire_node_state::wire::proto::AckOutcome;
use podwire_server::config::Args;
use podwire_server::local_postgres::LocalPostgres;
use podwire_server::startup::{Listeners, serve_with};
use podwire_server::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tonic::Code;

/// `GET path` over plain HTTP/1.1; the status code.
async fn http_status(address: std::net::SocketAddr, path: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("the HTTP server listens");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: podwire\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("read the response");
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

#[tokio::test]
async fn database_outage_answers_unavailable_and_the_server_stays_up() {
    // a private Postgres in a directory `nobody` can pass through (it runs as nobody under root)
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut postgres = LocalPostgres::start(&root.path().join("data"))
        .await
        .unwrap();
    let store = Store::connect_lazy(postgres.connect_options());
    store.migrate().await.unwrap();

    let token_file = root.path().join("tokens");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let config = Args::try_parse_from([
        "podwire-server".as_ref(),
        "--agent-token-file".as_ref(),
        token_file.as_os_str(),
        "--data-dir".as_ref(),
        root.path().as_os_str(),
    ])
    .unwrap();
    let config = Args {
        // never used: the store is handed over ready
        database_url: Some("postgres://unused@127.0.0.1:1/unused".into()),
        ..config
    }
    .validate()
    .unwrap();
    let listeners = Listeners {
        http: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        grpc: TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let http = listeners.http.local_addr().unwrap();
    let grpc = listeners.grpc.local_addr().unwrap();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve_with(config, store.clone(), listeners, stopping));

    let web = pod("shop", "web-1", 4026532001, "172.31.55.218");
    let before = node_snapshot("prod", "n1", t(12, 0), std::slice::from_ref(&web));
    let after = node_snapshot("prod", "n1", t(12, 5), &[web.clone().on_eni(1)]);

    let mut agent = AgentStream::open(grpc, Some(TOKEN), true).await.unwrap();
    agent.hello("prod", "n1").await.unwrap();
    let (stored, id) = ack(agent.upload(1, &before).await);
    assert_eq!(stored, AckOutcome::Stored);
    assert_eq!(http_status(http, "/readyz").await, 200);

    postgres.stop_server().await.unwrap();

    // heartbeats need no database: the node stays alive while Postgres is away
    assert_eq!(
        ack(agent.heartbeat(2, content_hash(&before)).await),
        (AckOutcome::Unchanged, id)
    );
    // a changed snapshot cannot be stored: UNAVAILABLE, and the agent will retry
    let status = refusal(agent.upload(3, &after).await);
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "the database is unavailable; retry");
    // a new stream cannot even learn the node's latest hash
    let mut another = AgentStream::open(grpc, Some(TOKEN), true).await.unwrap();
    let status = another.hello("prod", "n1").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // the process is healthy, not ready
    assert_eq!(http_status(http, "/healthz").await, 200);
    assert_eq!(http_status(http, "/readyz").await, 503);

    postgres.start_server().await.unwrap();

    // the agent reconnects as it would after UNAVAILABLE: told the old state, sends the new one
    let mut back = AgentStream::open(grpc, Some(TOKEN), true).await.unwrap();
    let welcome = back.hello("prod", "n1").await.unwrap();
    assert_eq!(
        welcome.latest_content_hash.as_deref(),
        Some(content_hash(&before).as_bytes().as_slice())
    );
    let (stored, new_id) = ack(back.upload(1, &after).await);
    assert_eq!(stored, AckOutcome::Stored);
    assert!(new_id > id);
    assert_eq!(http_status(http, "/readyz").await, 200);
    let moved = store.pod_timeline(None, "shop", "web-1").await.unwrap();
    assert_eq!(
        moved
            .iter()
            .map(|r| (r.valid_from, r.valid_to, r.attachment.route_table))
            .collect::<Vec<_>>(),
        [
            (t(12, 0), Some(t(12, 5)), Some(254)),
            (t(12, 5), None, Some(2))
        ],
        "no interval lost or doubled by the outage"
    );

    // stopping the server ends the agent's open stream and returns
    stop.send(true).unwrap();
    server.await.unwrap().expect("the server stops cleanly");
    assert_eq!(back.next().await.unwrap_err().code(), Code::Unavailable);
    store.close().await;
    postgres.stop().await.unwrap();
}
