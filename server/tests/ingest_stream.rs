//! The ingest's conversation with an agent, over a real gRPC stream on loopback into a real
//! Postgres: Hello, full upload, identical resend, heartbeats, Resend, reconnect.

mod common;

use common::TestDb;
use common::fixtures::{ENI1, VpcNode, mac, node_snapshot, pod, t};
use common::ingest::{TestIngest, ack};
use common::vpc_node::busy_node;
use podwire_node_state::wire::proto::{AckOutcome, server_message};
use podwire_node_state::wire::{ContentHash, content_hash};
use podwire_server::store::queries::PodFilter;

const CLUSTER: &str = "prod-eu-west-1";
const NODE: &str = "ip-172-31-48-94.eu-west-1.compute.internal";

#[tokio::test]
async fn a_250_pod_node_is_stored_acked_and_queryable() {
    let db = TestDb::new().await;
    let server = TestIngest::start(db.store.clone()).await;
    let mut agent = server
        .connect(Some(common::ingest::TOKEN))
        .await
        .expect("authenticated");
    let welcome = agent.hello(CLUSTER, NODE).await.expect("welcome");
    assert_eq!(welcome.latest_content_hash, None, "a node never seen");
    assert_eq!(welcome.max_message_bytes, 16 << 20);
    assert_eq!(welcome.heartbeat_interval_ms, 15_000);
    assert_eq!(welcome.server_version, env!("CARGO_PKG_VERSION"));

    let node = busy_node(CLUSTER, NODE, t(12, 0).timestamp_millis(), 250);
    let snapshot = node.snapshot();
    let (outcome, snapshot_id) = ack(agent.upload(1, &snapshot).await);
    assert_eq!(outcome, AckOutcome::Stored);
    assert!(snapshot_id > 0);

    // every pod is in the history, with the ENI its address belongs to
    let pods = db
        .store
        .pods_as_of(&PodFilter {
            cluster: Some(CLUSTER.into()),
            node: Some(NODE.into()),
            namespace: None,
            at: t(12, 1),
            limit: 1000,
        })
        .await
        .unwrap();
    assert_eq!(pods.len(), 250);
    let first_on_eni1 = &node.pods[1];
    let row = pods
        .iter()
        .find(|p| p.attachment.pod_name.as_deref() == Some(first_on_eni1.name.as_str()))
        .expect("the pod is stored");
    assert_eq!(row.attachment.ip, Some(first_on_eni1.ip.into()));
    assert_eq!(row.attachment.eni_mac, Some(mac(ENI1)));
    assert_eq!(row.attachment.route_table, Some(2));
    assert!(row.attachment.problems.is_empty());

    // the stored blob is the agent's content: same hash, decodes to the snapshot
    let stored = db
        .store
        .snapshot_at(row.node_id, t(12, 1))
        .await
        .unwrap()
        .expect("snapshot stored");
    assert_eq!(stored.snapshot_id, i64::try_from(snapshot_id).unwrap());
    assert_eq!(content_hash(&stored.snapshot), content_hash(&snapshot));
    let (hash, encoding): (Vec<u8>, String) =
        sqlx::query_as("SELECT hash, encoding FROM snapshot_blobs")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert_eq!(hash, content_hash(&snapshot).as_bytes());
    assert_eq!(encoding, "protobuf");

    server.stop().await;
}

#[tokio::test]
async fn identical_resend_is_unchanged_and_heartbeats_keep_the_node_alive() {
    let db = TestDb::new().await;
    let server = TestIngest::start(db.store.clone()).await;
    let pods = [
        pod("shop", "web-1", 4026532001, "172.31.55.218"),
        pod("shop", "db-0", 4026532002, "172.31.55.219").on_eni(1),
    ];
    let snapshot = node_snapshot("prod", "ip-172-31-55-1", t(12, 0), &pods);
    let hash = content_hash(&snapshot);
    let mut agent = server.connect(Some(common::ingest::TOKEN)).await.unwrap();
    agent.hello("prod", "ip-172-31-55-1").await.unwrap();
    let (stored, id) = ack(agent.upload(1, &snapshot).await);
    assert_eq!(stored, AckOutcome::Stored);

    // collected again a minute later, nothing changed: same content, not stored again
    let mut later = snapshot.clone();
    later.node.collected_at_unix_ms = t(12, 1).timestamp_millis();
    later.node.collection_duration_us += 1000;
    assert_eq!(
        ack(agent.upload(2, &later).await),
        (AckOutcome::Unchanged, id)
    );

    // a heartbeat naming the stored hash: acked, and liveness moves on at the next flush
    sqlx::query("UPDATE nodes SET last_heartbeat_at = '2026-01-01T00:00:00Z'")
        .execute(db.store.pool())
        .await
        .unwrap();
    assert_eq!(
        ack(agent.heartbeat(3, hash).await),
        (AckOutcome::Unchanged, id)
    );
    assert_eq!(server.heartbeats.pending(), 1);
    server.heartbeats.flush(&db.store).await.unwrap();
    let alive = db
        .store
        .nodes(chrono::Utc::now(), chrono::Duration::seconds(90))
        .await
        .unwrap();
    assert!(!alive[0].stale, "the heartbeat was recorded: {alive:?}");

    // a heartbeat naming a hash the server does not hold as the node's latest: Resend
    let unknown = ContentHash([7; 32]);
    match agent.heartbeat(4, unknown).await.unwrap() {
        server_message::Message::Resend(resend) => {
            assert_eq!(resend.sequence, 4);
            assert_eq!(resend.content_hash.as_ref(), unknown.as_bytes());
        }
        other => panic!("expected Resend, got {other:?}"),
    }

    let counts: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM snapshot_blobs)",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(counts, (1, 1));
    server.stop().await;
}

#[tokio::test]
async fn a_reconnecting_agent_is_told_the_latest_hash_and_may_heartbeat_at_once() {
    let db = TestDb::new().await;
    let server = TestIngest::start(db.store.clone()).await;
    let web = pod("shop", "web-1", 4026532001, "172.31.55.218");
    let before = node_snapshot("prod", "n1", t(12, 0), std::slice::from_ref(&web));
    let after = node_snapshot("prod", "n1", t(12, 5), &[web.clone().on_eni(1)]);

    let mut first = server.connect(Some(common::ingest::TOKEN)).await.unwrap();
    first.hello("prod", "n1").await.unwrap();
    ack(first.upload(1, &before).await);
    let (_, after_id) = ack(first.upload(2, &after).await);
    drop(first);

    let mut second = server.connect(Some(common::ingest::TOKEN)).await.unwrap();
    let welcome = second.hello("prod", "n1").await.unwrap();
    assert_eq!(
        welcome.latest_content_hash.as_deref(),
        Some(content_hash(&after).as_bytes().as_slice())
    );
    // the agent still holds `after`: a heartbeat is enough
    assert_eq!(
        ack(second.heartbeat(1, content_hash(&after)).await),
        (AckOutcome::Unchanged, after_id)
    );
    // an agent that restarted with the older state is asked for it in full
    assert!(matches!(
        second.heartbeat(2, content_hash(&before)).await,
        Ok(server_message::Message::Resend(_))
    ));
    server.stop().await;
}

#[tokio::test]
async fn stopping_the_server_ends_open_streams_with_unavailable() {
    let db = TestDb::new().await;
    let server = TestIngest::start(db.store.clone()).await;
    let mut agent = server.connect(Some(common::ingest::TOKEN)).await.unwrap();
    agent.hello("prod", "n1").await.unwrap();
    let node = VpcNode::new("prod", "n1", t(9, 0).timestamp_millis(), vec![]);
    ack(agent.upload(1, &node.snapshot()).await);
    server.stop().await;
    let status = agent.next().await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
}
