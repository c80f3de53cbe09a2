//! The server's Postgres stops for 30 seconds while a node changes under a streaming agent. The
//! Postgres is a private one this test runs (the server crate's local-mode cluster, as `nobody`,
//! on a unix socket only): the machine's own Postgres is never stopped. The server process stays
//! up and healthy (not ready), answers the agent's upload UNAVAILABLE, the agent says so in its
//! status and keeps retrying, and once Postgres is back the change arrives, dated by its
//! collection time during the outage.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{
    StreamingNode, assert_no_faults, caught_up, logs, node_differences, pods, quiet_ipv6,
    status_of, timeline, timeline_faults, wait_until,
};
use podwire_e2e::topology::vpc_cni::{EniSlot, VpcCniNode};
use podwire_server::local_postgres::LocalPostgres;

const CLUSTER: &str = "e2e";
const NODE: &str = "ip-192-168-31-166";
/// How long Postgres stays away: the scenario, not a measurement.
const OUTAGE: Duration = Duration::from_secs(30);

#[test]
fn postgres_away_for_30_seconds_the_server_stays_up_and_the_state_catches_up() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the Postgres controls");
    // `nobody` (the private Postgres) must pass through the data directory's parents.
    let root = tempfile::tempdir().expect("a temporary directory");
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755))
        .expect("open the directory to nobody");
    let mut postgres = runtime
        .block_on(LocalPostgres::start(&root.path().join("data")))
        .expect("start a private Postgres");
    let options = postgres.connect_options();
    let url = format!(
        "postgresql://{}@localhost:{}/{}?host={}",
        options.get_username(),
        options.get_port(),
        options.get_database().unwrap_or("podwire"),
        postgres.socket_dir().display()
    );

    let mut node = VpcCniNode::new()
        .pods(2, 2, 0)
        .build()
        .expect("build a VPC CNI node");
    quiet_ipv6(&node);
    let streaming = StreamingNode::start(&node, url, CLUSTER, NODE);
    let first = streaming.first_listing(&node, CLUSTER, NODE);
    let StreamingNode {
        agent,
        relay: _relay,
        mut server,
        tokens: _tokens,
    } = streaming;
    let api = server.api();

    let t0 = first[0].valid_from;
    wait_until(
        "the agent caught up",
        || logs(&server, &[&agent]),
        || status_of(&agent).filter(caught_up),
    );

    // Postgres goes away; the node changes.
    let outage = Instant::now();
    runtime
        .block_on(postgres.stop_server())
        .expect("stop the private Postgres");
    let moved = node
        .pods
        .iter()
        .find(|p| p.expected.egress_device == "eth0")
        .expect("a pod on the primary ENI")
        .qualified_name();
    let changed = Utc::now();
    node.move_pod_to_eni(&moved, EniSlot::Secondary)
        .expect("move the pod to eth1");

    // The upload is answered UNAVAILABLE: the agent's status says so, and it keeps trying.
    let refused = wait_until(
        "the agent told the database is unavailable",
        || logs(&server, &[&agent]),
        || {
            status_of(&agent).filter(|s| {
                s["last_error"]["kind"] == "transient"
                    && s["last_error"]["message"].as_str().is_some_and(|m| {
                        m.contains("(Unavailable)") && m.contains("the database is unavailable")
                    })
            })
        },
    );
    assert!(!caught_up(&refused), "{refused:#}");
    let failures = refused["failures"]["transient"].as_u64().expect("failures");
    wait_until(
        "the agent retrying",
        || logs(&server, &[&agent]),
        || status_of(&agent).filter(|s| s["failures"]["transient"].as_u64() >= Some(failures + 2)),
    );
    let log = server.log();
    assert!(
        log.lines().any(|l| l.contains("agent stream ended")
            && l.contains("Unavailable")
            && l.contains("the database is unavailable")),
        "the server logs why it refused:\n{log}"
    );
    // The server stays up: alive, healthy, not ready, and says why it cannot answer.
    assert!(server.is_running(), "the server died with its database");
    assert_eq!(api.get("/healthz").expect("GET /healthz").status, 200);
    assert_eq!(api.get("/readyz").expect("GET /readyz").status, 503);
    assert_eq!(
        api.get(&format!("/api/v1/pods?cluster={CLUSTER}"))
            .expect("GET /api/v1/pods")
            .status,
        503
    );
    while outage.elapsed() < OUTAGE {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(server.is_running(), "the server died during the outage");
    let back = Utc::now();
    runtime
        .block_on(postgres.start_server())
        .expect("start the private Postgres again");

    // The state catches up.
    let current = wait_until(
        "the moved pod on table 2 once Postgres is back",
        || logs(&server, &[&agent]),
        || {
            pods(&api, CLUSTER, NODE, None)
                .into_iter()
                .find(|i| i.qualified_name() == moved && i.route_table == Some(2))
        },
    );
    let t1 = current.valid_from;
    assert!(
        changed <= t1 && t1 <= back,
        "dated by its collection during the outage: t1 {t1} outside [{changed}, {back}]"
    );
    let status = wait_until(
        "the agent caught up",
        || logs(&server, &[&agent]),
        || status_of(&agent).filter(caught_up),
    );
    assert_eq!(status["last_collection"]["pods"], node.pods.len());
    assert_eq!(api.get("/readyz").expect("GET /readyz").status, 200);
    assert_no_faults(
        "the listing after the outage",
        &node_differences(&pods(&api, CLUSTER, NODE, None), &node),
    );
    for pod in &node.pods {
        let qualified = pod.qualified_name();
        let history = timeline(&api, &qualified);
        assert_no_faults(&qualified, &timeline_faults(&api, CLUSTER, NODE, &history));
        if qualified == moved {
            assert_eq!(
                history
                    .iter()
                    .map(|i| (i.valid_from, i.valid_to, i.route_table))
                    .collect::<Vec<_>>(),
                [(t0, Some(t1), Some(254)), (t1, None, Some(2))],
                "no interval lost or doubled by the outage"
            );
        } else {
            assert_eq!(history.len(), 1, "{qualified}: {history:#?}");
        }
    }
    server.terminate().expect("stop the server");
    drop(agent);
    runtime
        .block_on(postgres.stop())
        .expect("stop the private Postgres");
}
