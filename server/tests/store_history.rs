//! The store on a real Postgres: intervals opened and closed exactly when a pod is added, deleted,
//! readdressed or moved to another ENI; "as of", "who held IP X", timelines, clamping, retention.

mod common;

use chrono::{DateTime, Utc};
use common::TestDb;
use common::fixtures::{ENI0, ENI1, Pod, mac, node_state, pod, t};
use podwire_node_state::resolver::{KernelCheck, Wiring};
use podwire_server::store::queries::{AttachmentInterval, PodFilter};
use podwire_server::store::{NodeKey, Store, StoreError, StoredOutcome};

fn key(cluster: &str, node: &str) -> NodeKey {
    NodeKey {
        cluster: cluster.into(),
        name: node.into(),
    }
}

async fn record(
    store: &Store,
    cluster: &str,
    node: &str,
    at: DateTime<Utc>,
    pods: &[Pod],
) -> StoredOutcome {
    let (snapshot, resolution) = node_state(cluster, node, at, pods);
    store
        .record_snapshot(&key(cluster, node), &snapshot, &resolution)
        .await
        .expect("record snapshot")
}

fn names(rows: &[AttachmentInterval]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            format!(
                "{}/{}",
                r.attachment.pod_namespace.as_deref().unwrap_or("?"),
                r.attachment.pod_name.as_deref().unwrap_or("?")
            )
        })
        .collect()
}

fn at(time: DateTime<Utc>) -> PodFilter {
    PodFilter {
        cluster: None,
        node: None,
        namespace: None,
        at: time,
        limit: 1000,
    }
}

/// The fixture node is what these tests stand on: the real resolver must find every pod, name it
/// from the CNI cache, send it out through its ENI's table and device, agree with the kernel's
/// recorded answers, and find nothing wrong.
#[test]
fn the_fixture_node_resolves_like_a_vpc_cni_node() {
    let pods = [
        pod("shop", "web-1", 4026532001, "172.31.55.218"),
        pod("shop", "db-0", 4026532002, "172.31.55.219").on_eni(1),
    ];
    let (_, resolution) = node_state("prod", "ip-172-31-55-1", t(12, 0), &pods);
    assert_eq!(resolution.pods.len(), 2);
    let db = &resolution.pods[0];
    let web = &resolution.pods[1];
    assert_eq!(
        (db.name.as_deref(), web.name.as_deref()),
        (Some("db-0"), Some("web-1"))
    );
    for (path, table, device, eni) in [(web, 254, "eth0", ENI0), (db, 2, "eth1", ENI1)] {
        assert_eq!(path.wiring, Wiring::AwsVpcCni);
        assert!(path.problems.is_empty(), "{:?}", path.problems);
        let egress = path.egress.as_ref().expect("an egress path");
        assert_eq!(egress.table, Some(table));
        assert_eq!(
            egress.egress_device.as_ref().map(|l| l.name.as_str()),
            Some(device)
        );
        assert_eq!(egress.eni_mac, Some(mac(eni)));
        assert_eq!(egress.kernel, KernelCheck::Agrees);
    }
}

#[tokio::test]
async fn intervals_follow_pod_add_delete_readdress_and_eni_move() {
    let db = TestDb::new().await;
    let store = &db.store;
    let web = pod("shop", "web-1", 4026532001, "172.31.55.218");
    let db_pod = pod("shop", "db-0", 4026532002, "172.31.55.219");
    let cache = pod("infra", "cache-0", 4026532003, "172.31.55.220");

    // 12:00 two pods
    let first = record(
        store,
        "prod",
        "ip-172-31-55-1",
        t(12, 0),
        &[web.clone(), db_pod.clone()],
    )
    .await;
    // two pods, the node's ipamd pool (network card 0) and its two ENIs
    assert!(
        matches!(
            first,
            StoredOutcome::Stored {
                opened: 5,
                closed: 0,
                ..
            }
        ),
        "{first:?}"
    );

    // 12:05 db-0 deleted, cache-0 added
    let second = record(
        store,
        "prod",
        "ip-172-31-55-1",
        t(12, 5),
        &[web.clone(), cache.clone()],
    )
    .await;
    assert!(
        matches!(
            second,
            StoredOutcome::Stored {
                opened: 1,
                closed: 1,
                ..
            }
        ),
        "{second:?}"
    );

    // 12:10 web-1 gets another IP; cache-0 moves to the secondary ENI (table 2, eth1)
    let web_new_ip = web.clone().with_ip("172.31.55.230");
    let cache_moved = cache.clone().on_eni(1);
    let third = record(
        store,
        "prod",
        "ip-172-31-55-1",
        t(12, 10),
        &[web_new_ip.clone(), cache_moved.clone()],
    )
    .await;
    // two attachments, and both ENIs' samples (cache-0's address moved from one to the other)
    assert!(
        matches!(
            third,
            StoredOutcome::Stored {
                opened: 4,
                closed: 4,
                ..
            }
        ),
        "{third:?}"
    );

    assert_eq!(
        names(&store.pods_as_of(&at(t(11, 59))).await.unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&store.pods_as_of(&at(t(12, 0))).await.unwrap()),
        ["shop/db-0", "shop/web-1"]
    );
    assert_eq!(
        names(&store.pods_as_of(&at(t(12, 4))).await.unwrap()),
        ["shop/db-0", "shop/web-1"]
    );
    assert_eq!(
        names(&store.pods_as_of(&at(t(12, 5))).await.unwrap()),
        ["infra/cache-0", "shop/web-1"]
    );
    let now = store.pods_as_of(&at(t(13, 0))).await.unwrap();
    assert_eq!(names(&now), ["infra/cache-0", "shop/web-1"]);
    let cache_now = &now[0];
    assert_eq!(cache_now.attachment.route_table, Some(2));
    assert_eq!(cache_now.attachment.egress_device.as_deref(), Some("eth1"));
    assert_eq!(cache_now.attachment.eni_mac, Some(mac(ENI1)));
    assert_eq!(
        (cache_now.valid_from, cache_now.valid_to),
        (t(12, 10), None)
    );

    // the full timeline of cache-0: ENI0 from 12:05 to 12:10, then ENI1
    let timeline = store
        .pod_timeline(Some("prod"), "infra", "cache-0")
        .await
        .unwrap();
    let spans: Vec<_> = timeline
        .iter()
        .map(|r| (r.valid_from, r.valid_to, r.attachment.eni_mac))
        .collect();
    assert_eq!(
        spans,
        [
            (t(12, 5), Some(t(12, 10)), Some(mac(ENI0))),
            (t(12, 10), None, Some(mac(ENI1)))
        ]
    );
    // db-0 lived from 12:00 to 12:05
    let db_timeline = store.pod_timeline(None, "shop", "db-0").await.unwrap();
    assert_eq!(
        db_timeline
            .iter()
            .map(|r| (r.valid_from, r.valid_to))
            .collect::<Vec<_>>(),
        [(t(12, 0), Some(t(12, 5)))]
    );
    // web-1's interval is continuous across the change at 12:05 (not touched), split at 12:10
    let web_timeline = store.pod_timeline(None, "shop", "web-1").await.unwrap();
    assert_eq!(
        web_timeline
            .iter()
            .map(|r| (
                r.valid_from,
                r.valid_to,
                r.attachment.ip.unwrap().to_string()
            ))
            .collect::<Vec<_>>(),
        [
            (t(12, 0), Some(t(12, 10)), "172.31.55.218".to_owned()),
            (t(12, 10), None, "172.31.55.230".to_owned())
        ]
    );

    // who held 172.31.55.218: web-1 before 12:10, nobody after; the new address after only
    let ip_old = "172.31.55.218".parse().unwrap();
    let ip_new = "172.31.55.230".parse().unwrap();
    let before = store.ip_holders(ip_old, t(12, 9)).await.unwrap();
    assert_eq!(names(&before), ["shop/web-1"]);
    assert_eq!(
        (before[0].cluster.as_str(), before[0].node.as_str()),
        ("prod", "ip-172-31-55-1")
    );
    assert_eq!(before[0].valid_to, Some(t(12, 10)));
    assert!(
        store
            .ip_holders(ip_old, t(12, 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.ip_holders(ip_new, t(12, 9)).await.unwrap().is_empty());
    assert_eq!(
        names(&store.ip_holders(ip_new, t(12, 10)).await.unwrap()),
        ["shop/web-1"]
    );
}

#[tokio::test]
async fn identical_snapshot_is_unchanged_even_when_collected_later() {
    let db = TestDb::new().await;
    let pods = [pod("default", "nginx", 4026532100, "10.0.0.5")];
    let first = record(&db.store, "c", "n1", t(9, 0), &pods).await;
    let again = record(&db.store, "c", "n1", t(9, 0), &pods).await;
    let later = record(&db.store, "c", "n1", t(9, 30), &pods).await;
    let unchanged = StoredOutcome::Unchanged {
        node_id: first.node_id(),
        snapshot_id: first.snapshot_id(),
    };
    assert!(matches!(first, StoredOutcome::Stored { .. }), "{first:?}");
    assert_eq!(again, unchanged);
    assert_eq!(later, unchanged);
    let snapshots: i64 = sqlx::query_scalar("SELECT count(*) FROM snapshots")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM pod_attachments")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!((snapshots, rows), (1, 1));
}

#[tokio::test]
async fn valid_from_never_goes_back_for_a_node() {
    let db = TestDb::new().await;
    let a = pod("default", "a", 4026532200, "10.0.0.5");
    let b = pod("default", "b", 4026532201, "10.0.0.6");
    record(&db.store, "c", "n1", t(12, 0), std::slice::from_ref(&a)).await;
    // the agent's clock stepped back an hour; the change must still come after 12:00
    record(&db.store, "c", "n1", t(11, 0), std::slice::from_ref(&b)).await;
    let a_span = db.store.pod_timeline(None, "default", "a").await.unwrap();
    let b_span = db.store.pod_timeline(None, "default", "b").await.unwrap();
    assert_eq!(
        (a_span[0].valid_from, a_span[0].valid_to),
        (t(12, 0), Some(t(12, 0)))
    );
    assert_eq!((b_span[0].valid_from, b_span[0].valid_to), (t(12, 0), None));
    assert_eq!(
        names(&db.store.pods_as_of(&at(t(12, 0))).await.unwrap()),
        ["default/b"]
    );
    // the snapshot valid at 12:00 is the later one (same valid_from, stored second)
    let snap = db
        .store
        .snapshot_at(b_span[0].node_id, t(12, 0))
        .await
        .unwrap()
        .expect("snapshot");
    assert_eq!(snap.snapshot.namespaces[0].inode, 4026532201);
    assert_eq!(snap.collected_at, t(11, 0));
}

#[tokio::test]
async fn filters_by_cluster_node_and_namespace() {
    let db = TestDb::new().await;
    record(
        &db.store,
        "prod",
        "n1",
        t(8, 0),
        &[pod("a", "p1", 1, "10.0.0.1"), pod("b", "p2", 2, "10.0.0.2")],
    )
    .await;
    record(
        &db.store,
        "prod",
        "n2",
        t(8, 0),
        &[pod("a", "p3", 1, "10.0.0.3")],
    )
    .await;
    record(
        &db.store,
        "dev",
        "n1",
        t(8, 0),
        &[pod("a", "p4", 1, "10.0.0.1")],
    )
    .await;
    let q = |cluster: Option<&str>, node: Option<&str>, ns: Option<&str>| PodFilter {
        cluster: cluster.map(Into::into),
        node: node.map(Into::into),
        namespace: ns.map(Into::into),
        at: t(9, 0),
        limit: 100,
    };
    let s = &db.store;
    assert_eq!(
        names(&s.pods_as_of(&q(Some("prod"), None, None)).await.unwrap()),
        ["a/p1", "b/p2", "a/p3"]
    );
    assert_eq!(
        names(
            &s.pods_as_of(&q(Some("prod"), Some("n1"), None))
                .await
                .unwrap()
        ),
        ["a/p1", "b/p2"]
    );
    assert_eq!(
        names(&s.pods_as_of(&q(None, Some("n1"), Some("a"))).await.unwrap()),
        ["a/p4", "a/p1"]
    );
    // the same IP in two clusters: both holders
    assert_eq!(
        names(
            &s.ip_holders("10.0.0.1".parse().unwrap(), t(9, 0))
                .await
                .unwrap()
        ),
        ["a/p4", "a/p1"]
    );
}

#[tokio::test]
async fn snapshot_for_another_node_is_refused_and_nothing_is_stored() {
    let db = TestDb::new().await;
    let (snapshot, resolution) = node_state("c", "n1", t(8, 0), &[pod("a", "p", 1, "10.0.0.1")]);
    let err = db
        .store
        .record_snapshot(&key("c", "n2"), &snapshot, &resolution)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdentityMismatch { .. }),
        "{err:?}"
    );
    let nodes: i64 = sqlx::query_scalar("SELECT count(*) FROM nodes")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(nodes, 0);
}

#[tokio::test]
async fn retention_drops_old_closed_history_but_keeps_the_state_at_the_cutoff() {
    let db = TestDb::new().await;
    let s = &db.store;
    let a = pod("default", "a", 10, "10.0.0.1");
    let b = pod("default", "b", 11, "10.0.0.2");
    let c = pod("default", "c", 12, "10.0.0.3");
    record(s, "k", "n", t(1, 0), std::slice::from_ref(&a)).await; // snapshot 1
    record(s, "k", "n", t(2, 0), std::slice::from_ref(&b)).await; // snapshot 2: a closed at 2:00
    record(s, "k", "n", t(4, 0), &[b.clone(), c.clone()]).await; // snapshot 3
    // retention cut-off 3:00 (the clock of last_referenced_at is real time, so age blobs by hand)
    sqlx::query("UPDATE snapshot_blobs SET last_referenced_at = $1")
        .bind(t(0, 30))
        .execute(s.pool())
        .await
        .unwrap();
    let report = s.apply_retention(t(3, 0)).await.unwrap();
    assert_eq!(
        report.pod_attachments, 1,
        "only a's interval ended before 3:00"
    );
    assert_eq!(
        report.snapshots, 1,
        "snapshot 1 is superseded by snapshot 2, valid at 3:00"
    );
    assert_eq!(report.blobs, 1, "snapshot 1's blob is unreferenced now");
    assert!(
        s.pod_timeline(None, "default", "a")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        names(&s.pods_as_of(&at(t(3, 0))).await.unwrap()),
        ["default/b"]
    );
    let node = s.pod_timeline(None, "default", "b").await.unwrap()[0].node_id;
    let at_cutoff = s
        .snapshot_at(node, t(3, 0))
        .await
        .unwrap()
        .expect("the snapshot valid at the cut-off is kept");
    assert_eq!(at_cutoff.valid_from, t(2, 0));
    // a second pass finds nothing more
    assert_eq!(
        s.apply_retention(t(3, 0)).await.unwrap(),
        Default::default()
    );
}

#[tokio::test]
async fn ipam_pool_figures_get_intervals_too() {
    let db = TestDb::new().await;
    let (mut snapshot, resolution) = node_state("c", "n", t(5, 0), &[]);
    let card = |assigned| podwire_node_state::VpcCniState {
        ipamd: Some(podwire_node_state::IpamdEnis {
            shape: podwire_node_state::IpamdShape::PerNetworkCard,
            network_cards: vec![podwire_node_state::IpamdNetworkCard {
                index: 0,
                total_ips: 28,
                assigned_ips: assigned,
                enis: vec![],
            }],
        }),
        checkpoint: None,
    };
    snapshot.vpc_cni = Some(card(3));
    db.store
        .record_snapshot(&key("c", "n"), &snapshot, &resolution)
        .await
        .unwrap();
    snapshot.vpc_cni = Some(card(4));
    snapshot.node.collected_at_unix_ms = t(5, 10).timestamp_millis();
    let out = db
        .store
        .record_snapshot(&key("c", "n"), &snapshot, &resolution)
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            StoredOutcome::Stored {
                opened: 1,
                closed: 1,
                ..
            }
        ),
        "{out:?}"
    );
    type Sample = (i64, i64, DateTime<Utc>, Option<DateTime<Utc>>);
    let rows: Vec<Sample> = sqlx::query_as(
        "SELECT assigned, free, valid_from, valid_to FROM node_ipam_samples ORDER BY valid_from",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    assert_eq!(
        rows,
        [(3, 25, t(5, 0), Some(t(5, 10))), (4, 24, t(5, 10), None)]
    );
}
