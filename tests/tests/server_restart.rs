//! `podwire-server` killed with SIGKILL while an agent streams to it, and started again on the
//! same ports and database: the agent (a separate process in a VPC CNI node) notices, keeps
//! collecting, reconnects — its status endpoint says so — and delivers the latest state. What
//! changed while the server was down is dated by its collection time, not by its arrival; a
//! change whose upload the kill may have cut off arrives exactly once; no pod's history holds a
//! repeated, overlapping or broken interval.

mod common;

use chrono::Utc;
use common::{
    StreamingNode, TestDatabase, assert_no_faults, caught_up, differences, logs, node_differences,
    nodes, pods, quiet_ipv6, status_of, timeline, timeline_faults, wait_until,
};
use podwire_e2e::topology::vpc_cni::{EniSlot, VpcCniNode};

const CLUSTER: &str = "e2e";
const NODE: &str = "ip-192-168-31-166";

#[test]
fn a_killed_and_restarted_server_gets_the_latest_state_and_no_interval_twice() {
    let mut node = VpcCniNode::new()
        .pods(2, 2, 1)
        .build()
        .expect("build a VPC CNI node");
    quiet_ipv6(&node);
    let db = TestDatabase::create();
    let streaming = StreamingNode::start(&node, db.url.clone(), CLUSTER, NODE);
    let first = streaming.first_listing(&node, CLUSTER, NODE);
    let StreamingNode {
        agent,
        relay: _relay,
        mut server,
        tokens: _tokens,
    } = streaming;
    let api = server.api();

    let t0 = first[0].valid_from;
    let status = wait_until(
        "the agent connected and caught up",
        || logs(&server, &[&agent]),
        || status_of(&agent).filter(caught_up),
    );
    let sessions = status["sessions"].as_u64().expect("sessions");

    // 1. Killed while the stream is open; the node changes while no server runs.
    server.kill().expect("SIGKILL the server");
    let status = wait_until(
        "the agent noticing the server is gone",
        || logs(&server, &[&agent]),
        || {
            status_of(&agent).filter(|s| {
                s["connection"]["state"] != "connected" && s["last_error"]["kind"] == "transient"
            })
        },
    );
    let acked = status["last_acked_hash"].clone();
    let moved = node
        .pods
        .iter()
        .find(|p| p.expected.egress_device == "eth0")
        .expect("a pod on the primary ENI")
        .qualified_name();
    let changed = Utc::now();
    node.move_pod_to_eni(&moved, EniSlot::Secondary)
        .expect("move the pod to eth1");
    let collected = wait_until(
        "the agent collecting the move while disconnected",
        || logs(&server, &[&agent]),
        || {
            status_of(&agent).filter(|s| {
                s["last_collection"]["content_hash"] != acked
                    && s["connection"]["state"] != "connected"
            })
        },
    );
    assert_eq!(collected["last_acked_hash"], acked, "nothing delivered yet");
    let restarted = Utc::now();
    server.restart().expect("start the server again");
    let status = wait_until(
        "the agent reconnected and caught up",
        || logs(&server, &[&agent]),
        || status_of(&agent).filter(caught_up),
    );
    assert!(
        status["sessions"].as_u64() > Some(sessions),
        "a new session: {status:#}"
    );
    assert!(
        status["failures"]["transient"].as_u64() >= Some(1),
        "{status:#}"
    );
    let current = pods(&api, CLUSTER, NODE, None);
    assert_no_faults(
        "the listing after the restart",
        &node_differences(&current, &node),
    );
    let history = timeline(&api, &moved);
    assert_eq!(history.len(), 2, "{history:#?}");
    let t1 = history[1].valid_from;
    assert!(
        changed <= t1 && t1 <= restarted,
        "dated by its collection while the server was down: t1 {t1} outside [{changed}, {restarted}]"
    );
    assert_eq!((history[0].valid_from, history[0].valid_to), (t0, Some(t1)));

    // 2. Killed the moment the agent has collected a change: its upload is on its way, may be
    // cut off, or may be stored already.
    let acked = status["last_acked_hash"].clone();
    let added = node.add_pod(EniSlot::Primary).expect("add a pod");
    wait_until(
        "the agent collecting the added pod",
        || logs(&server, &[&agent]),
        || status_of(&agent).filter(|s| s["last_collection"]["content_hash"] != acked),
    );
    server.kill().expect("SIGKILL the server");
    server.restart().expect("start the server again");
    let listed = wait_until(
        "the added pod listed after the second restart",
        || logs(&server, &[&agent]),
        || {
            pods(&api, CLUSTER, NODE, None)
                .into_iter()
                .find(|i| i.qualified_name() == added.qualified_name())
        },
    );
    assert_no_faults("the added pod", &differences(&listed, &added));
    wait_until(
        "the agent caught up after the second restart",
        || logs(&server, &[&agent]),
        || status_of(&agent).filter(caught_up),
    );

    // The latest state, once; every pod's history whole.
    assert_no_faults(
        "the listing at the end",
        &node_differences(&pods(&api, CLUSTER, NODE, None), &node),
    );
    for pod in &node.pods {
        let qualified = pod.qualified_name();
        let history = timeline(&api, &qualified);
        assert_no_faults(&qualified, &timeline_faults(&api, CLUSTER, NODE, &history));
        let expected = if qualified == moved { 2 } else { 1 };
        assert_eq!(history.len(), expected, "{qualified}: {history:#?}");
        assert_eq!(
            history.iter().filter(|i| i.valid_to.is_none()).count(),
            1,
            "{qualified}: one open interval"
        );
        if qualified != moved && qualified != added.qualified_name() {
            assert_eq!((history[0].valid_from, history[0].valid_to), (t0, None));
        }
    }
    let known = nodes(&api);
    assert_eq!(known.len(), 1, "one node, not one per session: {known:#?}");
    assert_eq!(known[0]["stale"], false);
}
