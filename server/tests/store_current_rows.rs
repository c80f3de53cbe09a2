//! Ingest sessions remember the rows their last stored upload left open, so that the next diff
//! needs no read. The store uses them only while they are the node's latest: here another stream
//! of the node stores in between, and the history must come out as if nothing were remembered.

mod common;

use chrono::{DateTime, Utc};
use common::TestDb;
use common::fixtures::{Pod, node_state, pod, t};
use podwire_server::store::queries::PodFilter;
use podwire_server::store::{CurrentRows, PreparedSnapshot, Store, StoredOutcome};

const CLUSTER: &str = "prod";
const NODE: &str = "ip-172-31-55-9";

fn web(n: u64) -> Pod {
    pod(
        "shop",
        &format!("web-{n}"),
        4_026_532_000 + n,
        &format!("172.31.60.{n}"),
    )
}

/// Stores the node's state at `at`, remembering `known`; returns what to remember next.
async fn upload(
    store: &Store,
    at: DateTime<Utc>,
    pods: &[Pod],
    known: Option<&CurrentRows>,
) -> CurrentRows {
    let (snapshot, resolution) = node_state(CLUSTER, NODE, at, pods);
    let prepared = PreparedSnapshot::new(&snapshot, &resolution).expect("prepare the snapshot");
    let outcome = store
        .record_prepared_after(&prepared, at, known)
        .await
        .expect("record the snapshot");
    assert!(
        matches!(outcome, StoredOutcome::Stored { .. }),
        "{outcome:?}"
    );
    prepared.into_current_rows()
}

async fn pods_at(store: &Store, at: DateTime<Utc>) -> Vec<String> {
    let filter = PodFilter {
        cluster: None,
        node: None,
        namespace: None,
        at,
        limit: 100,
    };
    let mut names: Vec<String> = store
        .pods_as_of(&filter)
        .await
        .expect("pods as of")
        .into_iter()
        .filter_map(|row| row.attachment.pod_name)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn remembered_rows_are_used_only_while_they_are_the_nodes_latest() {
    let db = TestDb::new().await;
    let store = &db.store;
    let session_a = upload(store, t(10, 0), &[web(1), web(2)], None).await;
    // another stream of the node (a reconnect racing the old one) stores in between
    let _session_b = upload(store, t(10, 5), &[web(1), web(3)], None).await;
    // the first stream's remembered rows (web-1, web-2) are stale now
    let remembered = upload(store, t(10, 10), &[web(1), web(4)], Some(&session_a)).await;
    assert_eq!(pods_at(store, t(10, 7)).await, ["web-1", "web-3"]);
    assert_eq!(pods_at(store, t(10, 10)).await, ["web-1", "web-4"]);
    let holders = store
        .ip_holders("172.31.60.3".parse().unwrap(), t(10, 10))
        .await
        .unwrap();
    assert!(
        holders.is_empty(),
        "web-3's interval was closed: {holders:?}"
    );

    // and while they are the latest, they stand in for the read
    upload(
        store,
        t(10, 15),
        &[web(4), web(5), web(1).on_eni(1)],
        Some(&remembered),
    )
    .await;
    assert_eq!(pods_at(store, t(10, 15)).await, ["web-1", "web-4", "web-5"]);
    let web1 = store
        .ip_holders("172.31.60.1".parse().unwrap(), t(10, 15))
        .await
        .unwrap();
    assert_eq!(web1.len(), 1);
    assert_eq!(
        web1[0].valid_from,
        t(10, 15),
        "moved to ENI 1: a new interval"
    );
    assert_eq!(web1[0].attachment.route_table, Some(2));
    let before = store
        .ip_holders("172.31.60.1".parse().unwrap(), t(10, 14))
        .await
        .unwrap();
    assert_eq!(before[0].valid_from, t(10, 0));
    assert_eq!(before[0].valid_to, Some(t(10, 15)));
}
