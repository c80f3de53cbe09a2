//! What the ingest refuses, with which gRPC code and message, over a real stream into a real
//! Postgres, and that nothing of a refused message is stored.

mod common;

use std::sync::Arc;

use common::TestDb;
use common::fixtures::{node_snapshot, pod, t};
use common::ingest::{
    AgentStream, TOKEN, TestIngest, ack, hello, refusal, settings, stored_rows, upload,
};
use common::vpc_node::busy_node;
use podwire_node_state::NodeSnapshot;
use podwire_node_state::wire::proto::{self, agent_message};
use podwire_node_state::wire::{CanonicalFrame, ContentHash, content_hash};
use podwire_server::ingest::{AnyAgent, StaticTokens};
use prost::Message as _;
use tonic::Code;

const NOTHING: [i64; 4] = [0, 0, 0, 0];

fn two_pod_node() -> NodeSnapshot {
    node_snapshot(
        "prod",
        "n1",
        t(12, 0),
        &[
            pod("shop", "web-1", 4026532001, "172.31.55.218"),
            pod("shop", "db-0", 4026532002, "172.31.55.219").on_eni(1),
        ],
    )
}

/// Opens an authenticated stream for prod/n1 and says Hello.
async fn open(server: &TestIngest) -> AgentStream {
    let mut agent = server.connect(Some(TOKEN)).await.expect("authenticated");
    agent.hello("prod", "n1").await.expect("welcome");
    agent
}

/// Uploads a wire snapshot as it is (with whatever hash it is given); the status the stream ends
/// with.
async fn refused_upload(
    server: &TestIngest,
    snapshot: proto::NodeSnapshot,
    hash: ContentHash,
) -> tonic::Status {
    let mut agent = open(server).await;
    agent
        .send(agent_message::Message::Snapshot(proto::SnapshotUpload {
            sequence: 1,
            content_hash: hash.to_wire(),
            body: Some(proto::snapshot_upload::Body::Snapshot(snapshot)),
        }))
        .await;
    refusal(agent.next().await)
}

#[tokio::test]
async fn missing_and_wrong_tokens_are_unauthenticated_alike() {
    let db = TestDb::new().await;
    let server = TestIngest::start(db.store.clone()).await;
    let missing = server.connect(None).await.err().expect("refused");
    let wrong = server.connect(Some("guess")).await.err().expect("refused");
    let almost = server
        .connect(Some(&TOKEN[..TOKEN.len() - 1]))
        .await
        .err()
        .expect("refused");
    for status in [&missing, &wrong, &almost] {
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), "missing or invalid agent credentials");
    }
    assert_eq!(stored_rows(&db.store).await, NOTHING);
    // the right token gets in and can store
    let mut agent = open(&server).await;
    ack(agent.upload(1, &two_pod_node()).await);
    server.stop().await;

    // --allow-unauthenticated-agents lets a stream without a token in
    let open_server =
        TestIngest::start_with(db.store.clone(), settings(16 << 20), Arc::new(AnyAgent)).await;
    let mut anonymous = open_server.connect(None).await.expect("no token needed");
    anonymous.hello("prod", "n1").await.unwrap();
    open_server.stop().await;

    // no token file: nobody gets in
    let closed = TestIngest::start_with(
        db.store.clone(),
        settings(16 << 20),
        Arc::new(StaticTokens::new([])),
    )
    .await;
    let status = closed.connect(Some(TOKEN)).await.err().expect("refused");
    assert_eq!(status.code(), Code::Unauthenticated);
    closed.stop().await;
}

#[tokio::test]
async fn oversized_snapshots_are_resource_exhausted_compressed_or_not() {
    let db = TestDb::new().await;
    // 64 KiB: a 250-pod snapshot is about 350 KB decoded and well under 64 KiB compressed
    let server = TestIngest::start_with(
        db.store.clone(),
        settings(64 << 10),
        Arc::new(StaticTokens::new([TOKEN])),
    )
    .await;
    let big = busy_node("prod", "n1", t(12, 0).timestamp_millis(), 250).snapshot();

    let mut compressed = open(&server).await;
    let status = refusal(compressed.upload(1, &big).await);
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("65536"), "{status:?}");

    let mut plain = AgentStream::open(server.address, Some(TOKEN), false)
        .await
        .unwrap();
    plain.hello("prod", "n1").await.unwrap();
    let status = refusal(plain.upload(1, &big).await);
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    assert_eq!(stored_rows(&db.store).await, NOTHING);
    // a small node passes the same limit
    let mut agent = open(&server).await;
    ack(agent.upload(1, &two_pod_node()).await);
    server.stop().await;
}

#[tokio::test]
async fn malformed_snapshots_are_invalid_argument_naming_the_field() {
    let db = TestDb::new().await;
    let server = TestIngest::start(db.store.clone()).await;
    let good = proto::NodeSnapshot::from(&two_pod_node());
    let any_hash = content_hash(&two_pod_node());

    // an address of 5 bytes
    let mut bad_address = good.clone();
    bad_address.namespaces[1].addresses[1]
        .address
        .as_mut()
        .unwrap()
        .address = vec![172, 31, 55, 219, 0].into();
    // an enum value this server does not know (from a newer agent)
    let mut unknown_enum = good.clone();
    unknown_enum.host.as_mut().unwrap().links[1].oper_state = 42;
    // a required oneof left out
    let mut missing_kind = good.clone();
    missing_kind.namespaces[0].links[1].kind = None;
    // a required message left out
    let mut missing_cni = good.clone();
    missing_cni.cni = None;

    let cases = [
        (
            bad_address,
            "field `snapshot.namespaces[1].addresses[1].address.address` holds 5 bytes, not a \
             4-byte IPv4 or 16-byte IPv6 address",
        ),
        (
            unknown_enum,
            "field `snapshot.host.links[1].oper_state` holds 42, which is not a known enum value",
        ),
        (
            missing_kind,
            "field `snapshot.namespaces[0].links[1].kind` is missing",
        ),
        (missing_cni, "field `snapshot.cni` is missing"),
    ];
    for (snapshot, expected) in cases {
        let status = refused_upload(&server, snapshot, any_hash).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(
            status.message(),
            format!("invalid SnapshotUpload (sequence 1): {expected}")
        );
    }
    assert_eq!(stored_rows(&db.store).await, NOTHING);
    server.stop().await;
}

#[tokio::test]
async fn out_of_bounds_fields_and_wrong_hashes_are_refused_and_nothing_is_stored() {
    let db = TestDb::new().await;
    let server = TestIngest::start(db.store.clone()).await;
    let snapshot = two_pod_node();

    // a pod name longer than any Kubernetes allows
    let mut long_name = snapshot.clone();
    long_name.cni.cache[1].pod_name = Some("p".repeat(300));
    let status = refused_upload(&server, (&long_name).into(), content_hash(&long_name)).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status
            .message()
            .contains("field `snapshot.cni.cache[1].pod_name` is 300 bytes long"),
        "{status:?}"
    );

    // the hash of other content
    let other = node_snapshot("prod", "n1", t(12, 0), &[]);
    let status = refused_upload(&server, (&snapshot).into(), content_hash(&other)).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        format!(
            "invalid SnapshotUpload (sequence 1): field `content_hash` is {}, but the \
             snapshot's content hash is {}",
            content_hash(&other),
            content_hash(&snapshot)
        )
    );

    // a hash that is not a SHA-256
    let mut agent = open(&server).await;
    let agent_message::Message::Snapshot(mut short) = upload(1, &snapshot) else {
        unreachable!()
    };
    short.content_hash = vec![1; 20].into();
    agent.send(agent_message::Message::Snapshot(short)).await;
    let status = refusal(agent.next().await);
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status
            .message()
            .ends_with("field `content_hash` holds 20 bytes, not a 32-byte SHA-256"),
        "{status:?}"
    );

    // a snapshot of another node than the Hello named
    let elsewhere = node_snapshot("prod", "n2", t(12, 0), &[]);
    let status = refused_upload(&server, (&elsewhere).into(), content_hash(&elsewhere)).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status
            .message()
            .ends_with("the snapshot is of node prod/n2, but this stream's Hello named prod/n1"),
        "{status:?}"
    );

    assert_eq!(stored_rows(&db.store).await, NOTHING);
    server.stop().await;
}

#[tokio::test]
async fn the_conversation_must_start_with_one_hello() {
    let db = TestDb::new().await;
    let server = TestIngest::start(db.store.clone()).await;
    let snapshot = two_pod_node();

    let mut early = server.connect(Some(TOKEN)).await.unwrap();
    let status = refusal(early.upload(1, &snapshot).await);
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.message(),
        "SnapshotUpload (sequence 1) before Hello: the first message of a stream must be Hello"
    );

    let mut early_beat = server.connect(Some(TOKEN)).await.unwrap();
    let status = refusal(early_beat.heartbeat(1, content_hash(&snapshot)).await);
    assert_eq!(status.code(), Code::FailedPrecondition);

    let mut twice = open(&server).await;
    twice
        .send(agent_message::Message::Hello(hello("prod", "n1")))
        .await;
    let status = refusal(twice.next().await);
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().starts_with("a second Hello"));

    // an empty envelope is malformed, not out of order
    let mut empty = server.connect(Some(TOKEN)).await.unwrap();
    empty.send_raw(proto::AgentMessage { message: None }).await;
    let status = refusal(empty.next().await);
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "invalid AgentMessage: field `message` is missing"
    );

    // names the store and the API would key by must be names
    let mut bad_node = server.connect(Some(TOKEN)).await.unwrap();
    let status = bad_node.hello("prod", "Node_1").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status
            .message()
            .starts_with("invalid Hello: field `node` is \"Node_1\", not a valid node name"),
        "{status:?}"
    );

    // sequence numbers grow
    let mut agent = open(&server).await;
    ack(agent.upload(5, &snapshot).await);
    let status = refusal(agent.heartbeat(5, content_hash(&snapshot)).await);
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status
            .message()
            .ends_with("field `sequence` is 5, but must be above the previous message's 5"),
        "{status:?}"
    );

    assert_eq!(
        stored_rows(&db.store).await,
        [1, 1, 1, 2],
        "only the one valid upload"
    );
    server.stop().await;
}

/// Uploads a canonical body as it is; the status the stream ends with.
async fn refused_canonical(
    server: &TestIngest,
    zstd_frame: Vec<u8>,
    hash: ContentHash,
) -> tonic::Status {
    let mut agent = open(server).await;
    agent
        .send(agent_message::Message::Snapshot(proto::SnapshotUpload {
            sequence: 1,
            content_hash: hash.to_wire(),
            body: Some(proto::snapshot_upload::Body::Canonical(
                proto::CanonicalSnapshot {
                    zstd_frame: zstd_frame.into(),
                    collected_at_unix_ms: t(12, 0).timestamp_millis(),
                    collection_duration_us: 1000,
                },
            )),
        }))
        .await;
    refusal(agent.next().await)
}

#[tokio::test]
async fn canonical_frames_that_are_damaged_oversized_mislabelled_or_timed_are_refused() {
    let db = TestDb::new().await;
    // 64 KiB decompressed at most
    let server = TestIngest::start_with(
        db.store.clone(),
        settings(64 << 10),
        Arc::new(StaticTokens::new([TOKEN])),
    )
    .await;
    let node = two_pod_node();
    let frame = CanonicalFrame::of(&node).unwrap();

    let status = refused_canonical(&server, b"not zstd".to_vec(), frame.hash).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("is not a zstd frame"),
        "{}",
        status.message()
    );

    let mut other = node.clone();
    other.node.kernel = "6.1.0-other".into();
    let status = refused_canonical(&server, frame.zstd_frame.clone(), content_hash(&other)).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("content_hash"),
        "{}",
        status.message()
    );

    // 250 pods are about 260 KB decompressed, beyond the 64 KiB this server accepts
    let big = busy_node("prod", "n1", t(12, 0).timestamp_millis(), 250).snapshot();
    let big = CanonicalFrame::of(&big).unwrap();
    assert!(big.zstd_frame.len() < 64 << 10);
    let status = refused_canonical(&server, big.zstd_frame, big.hash).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("holds more than 65536 bytes"),
        "{}",
        status.message()
    );

    // a frame whose snapshot keeps its collection time is not the canonical encoding
    let timed = proto::NodeSnapshot::from(&node).encode_to_vec();
    let timed = CanonicalFrame::of_encoding(&timed).unwrap();
    let status = refused_canonical(&server, timed.zstd_frame, timed.hash).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("collection time"),
        "{}",
        status.message()
    );

    assert_eq!(stored_rows(&db.store).await, NOTHING);
    // the same node in the canonical form is stored
    let mut agent = open(&server).await;
    agent
        .send(agent_message::Message::Snapshot(
            frame.upload(1, &node.node),
        ))
        .await;
    ack(agent.next().await);
    server.stop().await;
}
