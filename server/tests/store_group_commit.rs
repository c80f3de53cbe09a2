//! Group commit: several nodes' snapshots written in one transaction must leave exactly the
//! history that writing them one by one leaves, fall back to the single path when remembered
//! rows are stale, and fail as a whole.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::TestDb;
use common::fixtures::{Pod, node_state, pod, t};
use futures::future::join_all;
use podwire_server::store::{
    CurrentRows, GroupCommit, PreparedSnapshot, Store, StoreError, StoredOutcome,
};

const CLUSTER: &str = "prod";
const NODES: u32 = 12;

fn node_name(n: u32) -> String {
    format!("ip-10-0-{n}-9")
}

/// Pod `k` of node `n`.
fn web(n: u32, k: u64) -> Pod {
    pod(
        "shop",
        &format!("web-{n}-{k}"),
        4_026_532_000 + k,
        &format!("10.{n}.0.{k}"),
    )
}

/// Node `n`'s states, one per step: pods come, go and move between ENIs (which opens ENIs and
/// changes their and the pools' counts), and collection times that go back (valid_from clamps),
/// with node-specific variation so that the nodes' diffs differ within a batch.
fn series(n: u32) -> Vec<(DateTime<Utc>, Vec<Pod>)> {
    let n64 = u64::from(n);
    let back = t(10, 3) - Duration::seconds(i64::from(n));
    vec![
        (t(10, 0), vec![web(n, 1), web(n, 2), web(n, 3)]),
        (t(10, 1), vec![web(n, 1), web(n, 2).on_eni(1), web(n, 4)]),
        (
            t(10, 2),
            vec![web(n, 1), web(n, 2).on_eni(1), web(n, 4), web(n, 5 + n64)],
        ),
        // collected before the previous one: its intervals start at the previous valid_from
        (
            back - Duration::minutes(2),
            vec![web(n, 1).on_eni(2), web(n, 4)],
        ),
        (t(10, 4), vec![web(n, 1).on_eni(2), web(n, 4), web(n, 6)]),
        (
            t(10, 5),
            (1..=(n64 % 4 + 2)).map(|k| web(n, 10 + k)).collect(),
        ),
        (t(10, 6), vec![web(n, 11).on_eni(1)]),
    ]
}

fn prepared(n: u32, at: DateTime<Utc>, pods: &[Pod]) -> PreparedSnapshot {
    let (snapshot, resolution) = node_state(CLUSTER, &node_name(n), at, pods);
    PreparedSnapshot::new(&snapshot, &resolution).expect("prepare the snapshot")
}

/// Every history row, the snapshots and the nodes, without the database's ids: what two ways of
/// writing the same snapshots must agree on.
async fn history(store: &Store) -> Vec<String> {
    let mut all = Vec::new();
    for sql in [
        "SELECT n.name || ' ' || (to_jsonb(h) - 'node_id')::text \
         FROM pod_attachment_history h JOIN nodes n ON n.id = h.node_id",
        "SELECT n.name || ' ' || (to_jsonb(c) - 'node_id')::text \
         FROM current_pod_attachments c JOIN nodes n ON n.id = c.node_id",
        "SELECT n.name || ' ' || (to_jsonb(s) - 'node_id')::text \
         FROM node_ipam_samples s JOIN nodes n ON n.id = s.node_id",
        "SELECT n.name || ' ' || (to_jsonb(e) - 'node_id')::text \
         FROM node_eni_samples e JOIN nodes n ON n.id = e.node_id",
        "SELECT n.name || ' ' || (to_jsonb(s) - 'node_id' - 'id')::text \
         FROM snapshots s JOIN nodes n ON n.id = s.node_id",
        "SELECT (to_jsonb(n) - 'id')::text FROM nodes n",
        "SELECT encode(hash, 'hex') || ' ' || raw_bytes FROM snapshot_blobs",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(store.pool())
            .await
            .expect("read the history");
        all.extend(rows);
    }
    all.sort();
    all
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .expect("count")
}

#[tokio::test]
async fn group_commit_leaves_the_history_one_by_one_leaves() {
    let one_by_one = TestDb::new().await;
    let mut remembered: Vec<Option<CurrentRows>> = vec![None; NODES as usize];
    for step in 0..series(0).len() {
        for n in 0..NODES {
            let (at, pods) = &series(n)[step];
            let prepared = prepared(n, *at, pods);
            let known = remembered[n as usize].take();
            store_ok(
                one_by_one
                    .store
                    .record_prepared_after(&prepared, *at, known.as_ref())
                    .await,
            );
            remembered[n as usize] = Some(prepared.into_current_rows());
        }
    }

    let grouped = TestDb::new().await;
    let writer = GroupCommit::start(grouped.store.clone(), 2);
    let mut remembered: Vec<Option<CurrentRows>> = vec![None; NODES as usize];
    for step in 0..series(0).len() {
        // Every node's next snapshot submitted at once: the writers find them queued together.
        let submitted = (0..NODES).map(|n| {
            let (at, pods) = series(n)[step].clone();
            let known = remembered[n as usize].take();
            let writer = writer.clone();
            async move { writer.record(prepared(n, at, &pods), at, known).await }
        });
        for (n, result) in join_all(submitted).await.into_iter().enumerate() {
            let (outcome, current) = result.expect("group commit");
            store_ok(Ok(outcome));
            remembered[n] = Some(current);
        }
    }

    let expected = history(&one_by_one.store).await;
    assert!(expected.len() > 200, "{} rows", expected.len());
    assert_eq!(history(&grouped.store).await, expected);
}

fn store_ok(result: Result<StoredOutcome, StoreError>) {
    let outcome = result.expect("record the snapshot");
    assert!(
        matches!(outcome, StoredOutcome::Stored { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn stale_remembered_rows_in_a_batch_still_end_right() {
    let db = TestDb::new().await;
    let store = &db.store;
    let writer = GroupCommit::start(store.clone(), 1);
    let mut remembered = Vec::new();
    for n in 0..3 {
        let (at, pods) = &series(n)[0];
        let (_, current) = writer
            .record(prepared(n, *at, pods), *at, None)
            .await
            .expect("first snapshot");
        remembered.push(Some(current));
    }
    // Node 0: another stream stores in between, so its remembered rows are stale.
    let (at, pods) = &series(0)[1];
    store_ok(store.record_prepared(&prepared(0, *at, pods), *at).await);
    let step = |n: u32, remembered: &mut Vec<Option<CurrentRows>>| {
        let (at, pods) = series(n)[2].clone();
        let known = remembered[n as usize].take();
        let writer = writer.clone();
        async move { writer.record(prepared(n, at, &pods), at, known).await }
    };
    let results = join_all((0..3).map(|n| step(n, &mut remembered))).await;
    for result in results {
        store_ok(result.map(|(outcome, _)| outcome));
    }
    // Node 0's web-3 ended at step 1 (the other stream's), not step 2.
    assert_eq!(
        count(
            store,
            "SELECT count(*) FROM pod_attachment_history h JOIN nodes n ON n.id = h.node_id \
             WHERE n.name = 'ip-10-0-0-9' AND h.pod_name = 'web-0-3' AND h.valid_to = '2026-11-20 10:01:00+00'"
        )
        .await,
        1
    );

    // Node 1: its remembered rows have the latest hash, but the database disagrees with them
    // (an open interval the next snapshot closes is not where they say): the batch is rolled
    // back and its snapshots written one by one, node 1's diffed against the database, which
    // closes the odd interval too.
    sqlx::query(
        "UPDATE current_pod_attachments c SET interface = 'eth9' FROM nodes n \
         WHERE n.id = c.node_id AND n.name = 'ip-10-0-1-9' AND c.pod_name = 'web-1-2'",
    )
    .execute(store.pool())
    .await
    .expect("move a row");
    let mut remembered: Vec<Option<CurrentRows>> = vec![None; 3];
    let mut writes = Vec::new();
    for n in 0..3 {
        let (at, pods) = series(n)[2].clone();
        // What each session remembers after step 2 (node 0's write above stored the same).
        remembered[n as usize] = Some(prepared(n, at, &pods).into_current_rows());
        let (at, pods) = series(n)[4].clone();
        writes.push((n, at, pods));
    }
    let results = join_all(writes.into_iter().map(|(n, at, pods)| {
        let known = remembered[n as usize].take();
        let writer = writer.clone();
        async move { writer.record(prepared(n, at, &pods), at, known).await }
    }))
    .await;
    for result in results {
        store_ok(result.map(|(outcome, _)| outcome));
    }
    for n in 0..3 {
        let open: Vec<String> = sqlx::query_scalar(
            "SELECT c.pod_name FROM current_pod_attachments c JOIN nodes n ON n.id = c.node_id \
             WHERE n.name = $1 ORDER BY 1",
        )
        .bind(node_name(n))
        .fetch_all(store.pool())
        .await
        .expect("open rows");
        assert_eq!(
            open,
            [
                format!("web-{n}-1"),
                format!("web-{n}-4"),
                format!("web-{n}-6")
            ]
        );
    }
    assert_eq!(
        count(store, "SELECT count(*) FROM snapshots").await,
        3 + 1 + 3 + 3
    );
}

#[tokio::test]
async fn a_failed_batch_answers_every_submitter_and_writes_nothing() {
    let db = TestDb::new().await;
    let store = &db.store;
    let writer = GroupCommit::start(store.clone(), 1);
    let mut remembered = Vec::new();
    for n in 0..4 {
        let (at, pods) = &series(n)[0];
        let (_, current) = writer
            .record(prepared(n, *at, pods), *at, None)
            .await
            .expect("first snapshot");
        remembered.push(current);
    }
    let before = history(store).await;

    // The batch's second statement fails, after its snapshot rows were written.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
         CREATE TRIGGER refuse BEFORE INSERT ON pod_attachment_history \
           FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .execute(store.pool())
    .await
    .expect("install the trigger");
    let submit = |remembered: &[CurrentRows]| {
        join_all((0..4).map(|n| {
            let (at, pods) = series(n)[1].clone();
            let known = remembered[n as usize].clone();
            let writer = writer.clone();
            async move { writer.record(prepared(n, at, &pods), at, Some(known)).await }
        }))
    };
    for result in submit(&remembered).await {
        let err = result.expect_err("the batch failed");
        assert!(matches!(err, StoreError::Batch(_)), "{err:?}");
        assert!(!err.is_unavailable(), "{err:?}");
    }
    assert_eq!(history(store).await, before, "nothing of the batch written");

    // A closed pool: the database is unavailable for all of them.
    store.close().await;
    for result in submit(&remembered).await {
        let err = result.expect_err("the pool is closed");
        assert!(err.is_unavailable(), "{err:?}");
    }
}
