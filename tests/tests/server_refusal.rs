//! An agent with the wrong token, end to end: `podwire-agent run` inside a flannel node presents a
//! token the server's `--agent-token-file` does not hold. The server refuses it UNAUTHENTICATED,
//! the agent logs that at ERROR (an operator must act) and shows it in its status, and nothing
//! about its node is stored — until its token file holds the right token, when the same agent is
//! accepted and its node stored (so the refusal, not a silent agent, kept the node out).
//! Malformed, oversized and unauthenticated messages at the wire level are the server crate's
//! `ingest_refusals` tests.

mod common;

use common::{
    TOKEN, TestDatabase, logs, netns_path, node_differences, nodes, pods, status_of, timeline,
    token_file, wait_until,
};
use podwire_e2e::agent_run::AgentRun;
use podwire_e2e::relay::NetnsRelay;
use podwire_e2e::server::{ServerOptions, ServerProcess};
use podwire_e2e::topology::flannel::FlannelNode;

const CLUSTER: &str = "e2e";
const NODE: &str = "flannel-refused";

#[test]
fn an_agent_with_a_wrong_token_is_refused_logs_an_error_and_nothing_of_its_node_is_stored() {
    let node = FlannelNode::new()
        .pods(2)
        .build()
        .expect("build a flannel node");
    let db = TestDatabase::create();
    let accepted = token_file(TOKEN);
    let server = ServerProcess::start(ServerOptions {
        database_url: Some(db.url.clone()),
        token_file: Some(accepted.path().to_owned()),
        ..ServerOptions::default()
    })
    .expect("start podwire-server");
    let relay = NetnsRelay::start(&netns_path(&node), server.grpc_addr()).expect("relay");
    let agents_token = token_file("not-the-token-the-server-holds");
    let agent = AgentRun::on(&node, &relay.url(), CLUSTER, NODE)
        .token_file(agents_token.path())
        // long enough to look at the refused state before the next attempt
        .arg("--rejected-backoff", "3s")
        .start()
        .expect("start podwire-agent run");
    let api = server.api();

    let status = wait_until(
        "the agent refused",
        || logs(&server, &[&agent]),
        || status_of(&agent).filter(|s| s["failures"]["rejected"].as_u64() >= Some(1)),
    );
    assert_eq!(status["last_error"]["kind"], "rejected", "{status:#}");
    let message = status["last_error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("(Unauthenticated)")
            && message.contains("missing or invalid agent credentials"),
        "{status:#}"
    );
    assert_eq!(status["uploads"]["acked"], 0, "{status:#}");
    assert!(status["last_acked_hash"].is_null(), "{status:#}");

    let agent_log = agent.log();
    let refusal = agent_log
        .lines()
        .find(|l| l.contains("the server refused this agent"))
        .unwrap_or_else(|| panic!("the agent did not log the refusal:\n{agent_log}"));
    assert!(refusal.contains("ERROR"), "logged at ERROR: {refusal}");
    assert!(refusal.contains("Unauthenticated"), "{refusal}");
    let server_log = server.log();
    assert!(
        server_log
            .lines()
            .any(|l| l.contains("WARN") && l.contains("agent refused")),
        "the server notes the refusal:\n{server_log}"
    );

    // Nothing about the node: not through the API, not in the database.
    assert_eq!(nodes(&api), Vec::<serde_json::Value>::new());
    assert!(pods(&api, CLUSTER, NODE, None).is_empty());
    for pod in &node.pods {
        assert!(timeline(&api, &pod.qualified_name()).is_empty());
    }
    for table in [
        "nodes",
        "snapshots",
        "snapshot_blobs",
        "current_pod_attachments",
        "pod_attachment_history",
    ] {
        assert_eq!(
            db.count(&format!("SELECT count(*) FROM {table}")),
            0,
            "{table} holds rows of a refused agent"
        );
    }

    // The same agent with the right token: accepted, and its node stored.
    std::fs::write(agents_token.path(), format!("{TOKEN}\n")).expect("rotate the token");
    let listed = wait_until(
        "the node stored once the token is right",
        || logs(&server, &[&agent]),
        || {
            let listed = pods(&api, CLUSTER, NODE, None);
            (listed.len() >= node.pods.len()).then_some(listed)
        },
    );
    let differences = node_differences(&listed, &node);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert_eq!(db.count("SELECT count(*) FROM nodes"), 1);
}
