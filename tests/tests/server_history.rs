//! A VPC CNI node changes under a running agent, the way VPC CNI changes a real node, and the
//! server's history follows exactly: a pod moved to the secondary ENI (rule 1536, table 2), a pod
//! added, a pod removed. Each change closes and opens intervals at the collection time of the
//! snapshot that first showed it — after the change was made, no later than it was seen — with
//! nothing overlapping or repeated, and `GET /api/v1/ips/{ip}?at=` names the right holder just
//! before and at each change. The agent and the server are separate processes; Postgres is real.

mod common;

use chrono::Utc;
use common::{
    Interval, StreamingNode, TestDatabase, assert_no_faults, before, caught_up, differences,
    ip_holders, logs, node_differences, pod_path, pods, quiet_ipv6, settle, snapshot_at, timeline,
    timeline_faults, wait_until,
};
use podwire_e2e::topology::vpc_cni::{EniSlot, VpcCniNode};

const CLUSTER: &str = "e2e";
const NODE: &str = "ip-192-168-31-166";

#[test]
fn moving_adding_and_removing_pods_closes_and_opens_intervals_at_the_collection_times() {
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
        server,
        tokens: _tokens,
    } = streaming;
    let api = server.api();
    let diagnostics = || logs(&server, &[&agent]);

    // The node as first collected: every pod open from the first snapshot's collection time.
    let t0 = first[0].valid_from;
    assert!(
        first
            .iter()
            .all(|i| i.valid_from == t0 && i.valid_to.is_none())
    );
    let snapshot = snapshot_at(&api, CLUSTER, NODE, t0).expect("the first snapshot");
    assert_eq!((snapshot.valid_from, snapshot.collected_at), (t0, t0));
    assert_eq!(snapshot_at(&api, CLUSTER, NODE, before(t0)), None);
    assert!(pods(&api, CLUSTER, NODE, Some(before(t0))).is_empty());
    let untouched: Vec<String> = node.pods.iter().map(|p| p.qualified_name()).collect();

    // 1. A pod of the primary ENI moves to the secondary ENI: rule 1536 sends it to table 2.
    let moved = node
        .pods
        .iter()
        .find(|p| p.expected.egress_device == "eth0")
        .expect("a pod on the primary ENI")
        .clone();
    let name = moved.qualified_name();
    let changed = Utc::now();
    node.move_pod_to_eni(&name, EniSlot::Secondary)
        .expect("move the pod's address to eth1");
    let done = Utc::now();
    let now_moved = node.pod(&name).expect("still on the node").clone();
    assert_eq!(
        (
            now_moved.expected.table,
            now_moved.expected.egress_device.as_str()
        ),
        (2, "eth1")
    );
    let current = wait_until("the moved pod on table 2", diagnostics, || {
        pods(&api, CLUSTER, NODE, None)
            .into_iter()
            .find(|i| i.qualified_name() == name && i.route_table == Some(2))
    });
    settle(&agent, done, diagnostics);
    let seen = Utc::now();
    let t1 = current.valid_from;
    assert!(
        changed <= t1 && t1 <= seen,
        "t1 {t1} outside [{changed}, {seen}]"
    );
    assert_no_faults("the moved pod now", &differences(&current, &now_moved));
    let history = timeline(&api, &name);
    assert_eq!(history.len(), 2, "{history:#?}");
    assert_no_faults("the moved pod before", &differences(&history[0], &moved));
    assert_eq!((history[0].valid_from, history[0].valid_to), (t0, Some(t1)));
    assert_eq!((history[1].valid_from, history[1].valid_to), (t1, None));
    assert_eq!(history[1], current);
    // who held its address, just before and at the move
    let ip = moved.ip.to_string();
    assert_eq!(ip_holders(&api, &ip, before(t1)), [history[0].clone()]);
    assert_eq!(ip_holders(&api, &ip, t1), std::slice::from_ref(&current));
    // t1 is the collection time of the snapshot that first showed the move
    let snapshot = snapshot_at(&api, CLUSTER, NODE, t1).expect("a snapshot at t1");
    assert_eq!((snapshot.valid_from, snapshot.collected_at), (t1, t1));
    // the path then and now: main through rule 32766, table 2 through rule 1536
    let then = pod_path(&api, &name, Some(before(t1))).expect("the pod before the move");
    let egress = &then["interfaces"][0]["path"]["egress"];
    assert_eq!(
        (
            egress["table"].as_u64(),
            egress["rule"]["priority"].as_u64()
        ),
        (Some(254), Some(32766)),
        "{egress:#}"
    );
    let now = pod_path(&api, &name, None).expect("the pod now");
    let egress = &now["interfaces"][0]["path"]["egress"];
    assert_eq!(
        (
            egress["table"].as_u64(),
            egress["rule"]["priority"].as_u64()
        ),
        (Some(2), Some(1536)),
        "{egress:#}"
    );
    assert_eq!(egress["egress_device"]["name"], "eth1");

    // 2. A pod is added on the secondary ENI.
    let changed = Utc::now();
    let added = node.add_pod(EniSlot::Secondary).expect("add a pod");
    let done = Utc::now();
    let added_name = added.qualified_name();
    let current = wait_until("the added pod listed", diagnostics, || {
        pods(&api, CLUSTER, NODE, None)
            .into_iter()
            .find(|i| i.qualified_name() == added_name)
    });
    settle(&agent, done, diagnostics);
    let seen = Utc::now();
    let t2 = current.valid_from;
    assert!(
        changed <= t2 && t2 <= seen,
        "t2 {t2} outside [{changed}, {seen}]"
    );
    assert!(t1 < t2);
    assert_no_faults("the added pod", &differences(&current, &added));
    assert_eq!(timeline(&api, &added_name), std::slice::from_ref(&current));
    let ip = added.ip.to_string();
    assert_eq!(ip_holders(&api, &ip, before(t2)), Vec::<Interval>::new());
    assert_eq!(ip_holders(&api, &ip, t2), std::slice::from_ref(&current));
    let listed_then = pods(&api, CLUSTER, NODE, Some(before(t2)));
    assert!(!listed_then.iter().any(|i| i.qualified_name() == added_name));
    assert_eq!(listed_then.len(), node.pods.len() - 1);

    // 3. A pod of the secondary ENI is removed.
    let victim = node
        .pods
        .iter()
        .find(|p| {
            p.expected.egress_device == "eth1"
                && p.qualified_name() != name
                && p.qualified_name() != added_name
        })
        .expect("an original pod of the secondary ENI")
        .qualified_name();
    let changed = Utc::now();
    let removed = node.remove_pod(&victim).expect("remove the pod");
    let done = Utc::now();
    wait_until("the removed pod gone from the list", diagnostics, || {
        (!pods(&api, CLUSTER, NODE, None)
            .iter()
            .any(|i| i.qualified_name() == victim))
        .then_some(())
    });
    settle(&agent, done, diagnostics);
    let seen = Utc::now();
    let history = timeline(&api, &victim);
    assert_eq!(history.len(), 1, "{history:#?}");
    let t3 = history[0]
        .valid_to
        .expect("the removed pod's interval is closed");
    assert!(
        changed <= t3 && t3 <= seen,
        "t3 {t3} outside [{changed}, {seen}]"
    );
    assert!(t2 < t3);
    assert_eq!(history[0].valid_from, t0);
    assert_no_faults(
        "the removed pod, while it lived",
        &differences(&history[0], &removed),
    );
    let ip = removed.ip.to_string();
    assert_eq!(ip_holders(&api, &ip, before(t3)), [history[0].clone()]);
    assert_eq!(ip_holders(&api, &ip, t3), Vec::<Interval>::new());
    assert!(pod_path(&api, &victim, None).is_none(), "gone now");
    assert!(
        pod_path(&api, &victim, Some(before(t3))).is_some(),
        "there before"
    );

    // The node now, and every pod's history.
    assert_no_faults(
        "the listing after the changes",
        &node_differences(&pods(&api, CLUSTER, NODE, None), &node),
    );
    for qualified in untouched.iter().chain([&added_name]) {
        let history = timeline(&api, qualified);
        assert_no_faults(qualified, &timeline_faults(&api, CLUSTER, NODE, &history));
        let expected_intervals = if *qualified == name { 2 } else { 1 };
        assert_eq!(
            history.len(),
            expected_intervals,
            "{qualified}: {history:#?}"
        );
        if *qualified != name && *qualified != victim && *qualified != added_name {
            assert_eq!(
                (history[0].valid_from, history[0].valid_to),
                (t0, None),
                "{qualified} was never touched"
            );
        }
    }
    let status = agent.status().expect("the agent's status");
    assert!(caught_up(&status), "{status:#}");
    assert_eq!(status["sessions"], 1, "one stream throughout: {status:#}");
}
