//! Heartbeats, staleness, concurrent migrations and the size of the history on a real Postgres.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::TestDb;
use common::fixtures::{Pod, node_state, pod, t};
use podwire_server::store::{HeartbeatCoalescer, MIGRATOR, NodeId, NodeKey, StoredOutcome};

async fn node(db: &TestDb, cluster: &str, name: &str) -> NodeId {
    let (snapshot, resolution) = node_state(cluster, name, t(10, 0), &[]);
    let key = NodeKey {
        cluster: cluster.into(),
        name: name.into(),
    };
    db.store
        .record_snapshot(&key, &snapshot, &resolution)
        .await
        .expect("record snapshot")
        .node_id()
}

async fn set_heartbeat(db: &TestDb, id: NodeId, at: DateTime<Utc>) {
    sqlx::query("UPDATE nodes SET last_heartbeat_at = $2 WHERE id = $1")
        .bind(id.0)
        .bind(at)
        .execute(db.store.pool())
        .await
        .expect("set heartbeat");
}

#[tokio::test]
async fn coalesced_heartbeats_move_liveness_forward_only() {
    let db = TestDb::new().await;
    let a = node(&db, "c", "a").await;
    let b = node(&db, "c", "b").await;
    set_heartbeat(&db, a, t(10, 0)).await;
    set_heartbeat(&db, b, t(10, 0)).await;

    let coalescer = HeartbeatCoalescer::new();
    // many heartbeats, out of order, for two nodes: one row each in the batch
    for minute in [3u32, 1, 7, 2] {
        coalescer.note(a, t(10, minute));
    }
    coalescer.note(b, t(9, 0)); // older than what is stored: must not move it back
    assert_eq!(coalescer.pending(), 2);
    assert_eq!(coalescer.flush(&db.store).await.unwrap(), 2);
    assert_eq!(coalescer.pending(), 0);

    let nodes = db
        .store
        .nodes(t(10, 8), chrono::Duration::seconds(90))
        .await
        .unwrap();
    let by_name = |n: &str| nodes.iter().find(|x| x.name == n).unwrap().clone();
    assert_eq!(by_name("a").last_heartbeat_at, t(10, 7));
    assert_eq!(by_name("b").last_heartbeat_at, t(10, 0));
    assert!(!by_name("a").stale);
    assert!(by_name("b").stale, "b was last heard 8 minutes ago");

    let stale = db
        .store
        .stale_nodes(t(10, 8), chrono::Duration::seconds(90))
        .await
        .unwrap();
    assert_eq!(
        stale.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
}

#[tokio::test]
async fn failed_flush_keeps_the_batch() {
    let db = TestDb::new().await;
    let a = node(&db, "c", "a").await;
    let coalescer = HeartbeatCoalescer::new();
    coalescer.note(a, t(11, 0));
    db.store.pool().close().await;
    assert!(coalescer.flush(&db.store).await.is_err());
    assert_eq!(
        coalescer.pending(),
        1,
        "the heartbeat waits for the next flush"
    );
}

#[tokio::test]
async fn flusher_writes_on_shutdown() {
    let db = TestDb::new().await;
    let a = node(&db, "c", "a").await;
    set_heartbeat(&db, a, t(10, 0)).await;
    let coalescer = HeartbeatCoalescer::new();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let flusher = tokio::spawn(coalescer.clone().run_flusher(
        db.store.clone(),
        Duration::from_secs(3600),
        stopped,
    ));
    coalescer.note(a, t(23, 0));
    stop.send(true).unwrap();
    flusher.await.unwrap();
    let nodes = db
        .store
        .nodes(t(23, 0), chrono::Duration::seconds(90))
        .await
        .unwrap();
    assert_eq!(nodes[0].last_heartbeat_at, t(23, 0));
}

#[tokio::test]
async fn concurrent_migrators_apply_each_migration_once() {
    let db = TestDb::empty().await;
    let runs = (0..4).map(|_| {
        let pool = db.store.pool().clone();
        tokio::spawn(async move { MIGRATOR.run(&pool).await })
    });
    for run in futures::future::join_all(runs).await {
        run.unwrap()
            .expect("every replica's migrate succeeds (advisory lock)");
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(applied, i64::try_from(MIGRATOR.iter().count()).unwrap());
}

/// The target: at most 300 bytes per attachment change, heap and every index included.
/// A 250-pod node whose pods churn 50 at a time (each change closes one interval and opens one);
/// measured with `pg_total_relation_size` of both attachment tables (heap, TOAST, every index).
/// The history is insert-only and never vacuumed; the current table (inserts and deletes, bounded
/// by the live pods) is vacuumed every 20 snapshots, as autovacuum would.
#[tokio::test]
async fn attachment_history_stays_under_300_bytes_per_change() {
    let db = TestDb::new().await;
    let key = NodeKey {
        cluster: "prod".into(),
        name: "ip-172-31-55-1".into(),
    };
    let mut pods: Vec<Pod> = (0..250u64).map(numbered_pod).collect();
    let mut next = 250u64;
    let rounds = 160u32;
    for round in 0..rounds {
        let (snapshot, resolution) = node_state(
            "prod",
            "ip-172-31-55-1",
            t(0, 0) + chrono::Duration::minutes(i64::from(round)),
            &pods,
        );
        let out = db
            .store
            .record_snapshot(&key, &snapshot, &resolution)
            .await
            .unwrap();
        assert!(matches!(out, StoredOutcome::Stored { .. }));
        if round % 20 == 19 {
            // what autovacuum does for the current table in a running server
            sqlx::query("VACUUM current_pod_attachments")
                .execute(db.store.pool())
                .await
                .unwrap();
        }
        // replace 50 pods
        for slot in 0..50 {
            let idx = (usize::try_from(round).unwrap() * 50 + slot) % pods.len();
            pods[idx] = numbered_pod(next);
            next += 1;
        }
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM pod_attachments")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 250 + 50 * i64::from(rounds - 1));
    let history_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM pod_attachment_history")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    let history: i64 =
        sqlx::query_scalar("SELECT pg_total_relation_size('pod_attachment_history')")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    let current: i64 =
        sqlx::query_scalar("SELECT pg_total_relation_size('current_pod_attachments')")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    let per_change = history as f64 / history_rows as f64;
    let parts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, pg_relation_size(c.oid) FROM pg_class c \
         WHERE c.relname LIKE 'pod_attachment_history%' OR c.relname LIKE 'current_pod_attachments%' ORDER BY 1",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    eprintln!(
        "{history_rows} closed intervals: {history} bytes, {per_change:.0} bytes per change; \
         current table {current} bytes for {} live pods ({:.0} per live pod)",
        pods.len(),
        current as f64 / pods.len() as f64
    );
    for (name, bytes) in &parts {
        eprintln!("  {name}: {bytes} bytes");
    }
    assert!(
        per_change <= 300.0,
        "{per_change:.0} bytes per attachment change"
    );
    // the current table is a per-pod cost, not per change: bounded by live pods and the churn
    // between two vacuums (here 1,000 deleted rows)
    assert!(current < 1_000_000, "current table {current} bytes");
}

fn numbered_pod(i: u64) -> Pod {
    let p = pod(
        "shop",
        &format!("checkout-7c79c4bf97-{i:05}"),
        4026532000 + i,
        &format!("172.31.{}.{}", 16 + i / 250, i % 250 + 1),
    );
    if i.is_multiple_of(3) { p.on_eni(1) } else { p }
}
