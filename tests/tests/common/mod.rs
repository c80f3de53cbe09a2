//! What the `server_*` tests share: a fresh database per test on a real Postgres, the server's
//! answers read into plain types, the comparison of those answers with the nodes as built, the
//! checks every pod's history must pass, and waiting (bounded) for a condition.

#![allow(dead_code)] // each test binary uses its own subset

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use podwire_e2e::agent_run::{AgentRun, RunningAgent};
use podwire_e2e::api::ApiClient;
use podwire_e2e::relay::NetnsRelay;
use podwire_e2e::server::{ServerOptions, ServerProcess};
use podwire_e2e::topology::{BuiltNode, BuiltPod};
use serde::Deserialize;
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

/// The token the servers of these tests accept.
pub const TOKEN: &str = "e2e-7f3a9c51d2b84e06-agent-token";

/// How long any one condition may take to come true. Nothing is timed: this only keeps a broken
/// server or agent from hanging the run.
pub const WAIT: Duration = Duration::from_secs(120);

/// Waits until `probe` returns something, asking again every 100 ms; panics after [`WAIT`] with
/// `what` and the `diagnostics` (logs) of the parts involved.
pub fn wait_until<T>(
    what: &str,
    diagnostics: impl Fn() -> String,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(
            start.elapsed() < WAIT,
            "{what}: not within {WAIT:?}\n{}",
            diagnostics()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The logs of a server and its agents, for a failure message.
pub fn logs(server: &ServerProcess, agents: &[&RunningAgent]) -> String {
    let mut out = format!("--- server log ---\n{}", tail(&server.log()));
    for (i, agent) in agents.iter().enumerate() {
        let _ = write!(out, "\n--- agent {i} log ---\n{}", tail(&agent.log()));
        if let Ok(status) = agent.status() {
            let _ = write!(out, "\n--- agent {i} status ---\n{status:#}");
        }
    }
    out
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(80)..].join("\n")
}

/// A token file holding [`TOKEN`] (or any other token).
pub fn token_file(token: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("a temporary token file");
    std::fs::write(file.path(), format!("{token}\n")).expect("write the token file");
    file
}

/// The Postgres server the tests create their databases on.
pub fn admin_url() -> String {
    std::env::var("PODWIRE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database created for one test on the shared test Postgres, dropped (with any connection
/// still open) when the value is dropped, also when the test fails.
pub struct TestDatabase {
    pub name: String,
    /// `DATABASE_URL` for the server.
    pub url: String,
}

impl TestDatabase {
    pub fn create() -> TestDatabase {
        let name = format!(
            "podwire_e2e_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            Utc::now().timestamp_micros() % 1_000_000
        );
        admin(&format!("CREATE DATABASE {name}"));
        let admin = admin_url();
        let (base, query) = match admin.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (admin.as_str(), String::new()),
        };
        let (server, _) = base
            .rsplit_once('/')
            .expect("PODWIRE_TEST_DATABASE_URL names a database");
        TestDatabase {
            url: format!("{server}/{name}{query}"),
            name,
        }
    }

    /// One number from the test's database (`SELECT count(*) …`).
    pub fn count(&self, sql: &str) -> i64 {
        let url = self.url.clone();
        let sql = sql.to_owned();
        block_on(async move {
            let mut conn = PgConnectOptions::from_str(&url)
                .expect("the test database URL parses")
                .connect()
                .await
                .expect("the test database is reachable");
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut conn)
                .await
                .expect("the query runs");
            conn.close().await.ok();
            n
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

fn admin(sql: &str) {
    let sql = sql.to_owned();
    block_on(async move {
        let mut conn = PgConnectOptions::from_str(&admin_url())
            .expect("PODWIRE_TEST_DATABASE_URL parses")
            .connect()
            .await
            .expect("the test Postgres is reachable (PODWIRE_TEST_DATABASE_URL)");
        conn.execute(sqlx::AssertSqlSafe(sql))
            .await
            .expect("the admin statement runs");
        conn.close().await.ok();
    });
}

/// Runs a future to completion on a runtime of its own, on a thread of its own (so it works
/// from drop handlers and from inside other runtimes alike).
fn block_on<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(work)
    })
    .join()
    .expect("the database thread did not panic")
}

/// A time as the API takes it in `at=`: RFC 3339, UTC, microseconds (the database's precision).
pub fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The smallest step the history stores: "just before" a boundary.
pub fn before(t: DateTime<Utc>) -> DateTime<Utc> {
    t - chrono::Duration::microseconds(1)
}

/// One pod interface over one interval, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Interval {
    pub cluster: String,
    pub node: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub interface: String,
    pub netns_inode: u64,
    pub ip: Option<String>,
    pub mac: Option<String>,
    pub host_veth: Option<String>,
    pub bridge: Option<String>,
    pub route_table: Option<u32>,
    pub egress_device: Option<String>,
    pub eni_mac: Option<String>,
    pub vlan_id: Option<u16>,
    pub wiring: String,
    pub problems: Vec<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
}

impl Interval {
    pub fn label(&self) -> String {
        format!(
            "{}/{} [{} → {}]",
            self.namespace.as_deref().unwrap_or("?"),
            self.name.as_deref().unwrap_or("?"),
            at(self.valid_from),
            self.valid_to.map_or_else(|| "open".to_owned(), at)
        )
    }

    pub fn qualified_name(&self) -> String {
        format!(
            "{}/{}",
            self.namespace.as_deref().unwrap_or("?"),
            self.name.as_deref().unwrap_or("?")
        )
    }
}

/// The stored snapshot an answer was resolved from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SnapshotRef {
    pub id: i64,
    pub valid_from: DateTime<Utc>,
    pub collected_at: DateTime<Utc>,
}

fn parse<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> T {
    serde_json::from_value(value).unwrap_or_else(|err| panic!("{what}: unexpected shape: {err}"))
}

/// `GET /api/v1/pods?cluster=&node=[&at=]`: the node's pod interfaces then.
pub fn pods(
    api: &ApiClient,
    cluster: &str,
    node: &str,
    when: Option<DateTime<Utc>>,
) -> Vec<Interval> {
    let mut path = format!("/api/v1/pods?cluster={cluster}&node={node}");
    if let Some(t) = when {
        path.push_str(&format!("&at={}", at(t)));
    }
    let page = api.json(&path).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(page["truncated"], false, "one page holds the node");
    parse(page["pods"].clone(), &path)
}

/// `GET /api/v1/pods/{namespace}/{name}/timeline`: every interval of the pod, oldest first;
/// empty when the server never saw it.
pub fn timeline(api: &ApiClient, qualified_name: &str) -> Vec<Interval> {
    let path = format!("/api/v1/pods/{qualified_name}/timeline");
    let response = api.get(&path).unwrap_or_else(|err| panic!("{err}"));
    match response.status {
        404 => Vec::new(),
        200 => parse(
            response.json(&path).unwrap_or_else(|err| panic!("{err}"))["intervals"].clone(),
            &path,
        ),
        other => panic!("GET {path} answered {other}: {}", response.body),
    }
}

/// `GET /api/v1/ips/{ip}?at=`: who held the address then.
pub fn ip_holders(api: &ApiClient, ip: &str, when: DateTime<Utc>) -> Vec<Interval> {
    let path = format!("/api/v1/ips/{ip}?at={}", at(when));
    let answer = api.json(&path).unwrap_or_else(|err| panic!("{err}"));
    parse(answer["holders"].clone(), &path)
}

/// `GET /api/v1/pods/{namespace}/{name}[?at=]`: the pod's path, or `None` on 404.
pub fn pod_path(
    api: &ApiClient,
    qualified_name: &str,
    when: Option<DateTime<Utc>>,
) -> Option<Value> {
    let mut path = format!("/api/v1/pods/{qualified_name}");
    if let Some(t) = when {
        path.push_str(&format!("?at={}", at(t)));
    }
    let response = api.get(&path).unwrap_or_else(|err| panic!("{err}"));
    match response.status {
        404 => None,
        200 => Some(response.json(&path).unwrap_or_else(|err| panic!("{err}"))),
        other => panic!("GET {path} answered {other}: {}", response.body),
    }
}

/// `GET /api/v1/nodes/{cluster}/{node}?at=`: the snapshot valid then (`None` before the first).
pub fn snapshot_at(
    api: &ApiClient,
    cluster: &str,
    node: &str,
    when: DateTime<Utc>,
) -> Option<SnapshotRef> {
    let path = format!("/api/v1/nodes/{cluster}/{node}?at={}", at(when));
    let answer = api.json(&path).unwrap_or_else(|err| panic!("{err}"));
    (!answer["snapshot"].is_null()).then(|| parse(answer["snapshot"].clone(), &path))
}

/// `GET /api/v1/nodes`: every node the server knows.
pub fn nodes(api: &ApiClient) -> Vec<Value> {
    let answer = api
        .json("/api/v1/nodes")
        .unwrap_or_else(|err| panic!("{err}"));
    answer["nodes"]
        .as_array()
        .cloned()
        .expect("`nodes` is a list")
}

/// Every difference between a pod interval the API answered and the pod as built: identity,
/// address, MAC, host veth, bridge, table, egress device, ENI MAC, vlan, wiring, no problems.
pub fn differences(got: &Interval, built: &BuiltPod) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |field: &str, got: Option<String>, want: Option<String>| {
        if got != want {
            out.push(format!("{field}: API {got:?}, built {want:?}"));
        }
    };
    let want = &built.expected;
    check(
        "namespace",
        got.namespace.clone(),
        Some(built.namespace.clone()),
    );
    check("name", got.name.clone(), Some(built.name.clone()));
    check(
        "interface",
        Some(got.interface.clone()),
        Some("eth0".to_owned()),
    );
    check("ip", got.ip.clone(), Some(built.ip.to_string()));
    check(
        "mac",
        got.mac.as_ref().map(|m| m.to_ascii_lowercase()),
        Some(built.mac.clone()),
    );
    check(
        "host_veth",
        got.host_veth.clone(),
        Some(built.host_veth.clone()),
    );
    check("bridge", got.bridge.clone(), built.bridge.clone());
    check(
        "route_table",
        got.route_table.map(|t| t.to_string()),
        Some(want.table.to_string()),
    );
    check(
        "egress_device",
        got.egress_device.clone(),
        Some(want.egress_device.clone()),
    );
    check(
        "eni_mac",
        got.eni_mac.as_ref().map(|m| m.to_ascii_lowercase()),
        Some(want.eni_mac.clone()),
    );
    check(
        "vlan_id",
        got.vlan_id.map(|v| v.to_string()),
        want.vlan_id.map(|v| v.to_string()),
    );
    check(
        "wiring",
        Some(got.wiring.clone()),
        Some(want.wiring.to_owned()),
    );
    if !got.problems.is_empty() {
        out.push(format!("problems: {:?}", got.problems));
    }
    out
}

/// Every difference between the node's pods the API lists and the pods as built: each built pod
/// exactly once and as built, nothing else.
pub fn node_differences(listed: &[Interval], node: &BuiltNode) -> Vec<String> {
    let mut out = Vec::new();
    for built in &node.pods {
        let matching: Vec<&Interval> = listed
            .iter()
            .filter(|i| i.qualified_name() == built.qualified_name())
            .collect();
        match matching.as_slice() {
            [one] => out.extend(
                differences(one, built)
                    .into_iter()
                    .map(|d| format!("{}: {d}", built.qualified_name())),
            ),
            [] => out.push(format!("{}: not listed", built.qualified_name())),
            many => out.push(format!(
                "{}: listed {} times",
                built.qualified_name(),
                many.len()
            )),
        }
    }
    for interval in listed {
        if node.pod(&interval.qualified_name()).is_err() {
            out.push(format!("{}: listed, but not on the node", interval.label()));
        }
    }
    out
}

/// Checks a pod's timeline as a person reading it would: oldest first, every interval a real
/// stretch of time, none overlapping the next, none repeated, at most one still open (the last),
/// and every boundary a time at which the node's snapshot changed (a collection time the server
/// stored). Returns one line per fault.
pub fn timeline_faults(
    api: &ApiClient,
    cluster: &str,
    node: &str,
    intervals: &[Interval],
) -> Vec<String> {
    let mut out = Vec::new();
    for pair in intervals.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a == b {
            out.push(format!("{} repeated", a.label()));
        }
        match a.valid_to {
            None => out.push(format!("{} is open, yet {} follows", a.label(), b.label())),
            Some(end) if end > b.valid_from => {
                out.push(format!("{} overlaps {}", a.label(), b.label()));
            }
            Some(_) => {}
        }
    }
    for interval in intervals {
        if interval
            .valid_to
            .is_some_and(|end| end <= interval.valid_from)
        {
            out.push(format!("{} is empty or reversed", interval.label()));
        }
        let boundaries = std::iter::once(interval.valid_from).chain(interval.valid_to);
        for boundary in boundaries {
            match snapshot_at(api, cluster, node, boundary) {
                Some(s) if s.valid_from == boundary => {}
                other => out.push(format!(
                    "{}: no snapshot of the node begins at {} (the one valid then: {other:?})",
                    interval.label(),
                    at(boundary)
                )),
            }
        }
    }
    out
}

/// Turns IPv6 off in the node's namespace (new links included) before its agent starts. Fresh
/// links chatter over IPv6 for seconds (router solicitations, duplicate address detection), and
/// each of those notifications makes the agent collect; quieted, every collection after the
/// first is one a test caused, and the agent is idle between changes.
pub fn quiet_ipv6(node: &BuiltNode) {
    for setting in [
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
    ] {
        podwire_e2e::cmd::Cmd::new("ip")
            .args(["netns", "exec", node.node_netns(), "sysctl", "-qw", setting])
            .run()
            .expect("sysctl in the node's namespace");
    }
}

/// `/var/run/netns/NAME` of the node's namespace: where its relay listens.
pub fn netns_path(node: &BuiltNode) -> std::path::PathBuf {
    std::path::Path::new(podwire_e2e::netns::NETNS_RUN_DIR).join(node.node_netns())
}

/// The agent's `GET /status`; `None` while its endpoint does not answer yet. An agent that
/// exited fails the test at once, with its log.
pub fn status_of(agent: &RunningAgent) -> Option<Value> {
    match agent.status() {
        Ok(status) => Some(status),
        Err(err @ podwire_e2e::agent_run::AgentRunError::Exited { .. }) => panic!("{err}"),
        Err(_) => None,
    }
}

/// Whether the agent has delivered its latest collection: the server acknowledged storing the
/// snapshot with the content hash of the agent's last collection.
pub fn caught_up(status: &Value) -> bool {
    status["connection"]["state"] == "connected"
        && !status["last_acked_hash"].is_null()
        && status["last_acked_hash"] == status["last_collection"]["content_hash"]
}

/// When the agent's last collection started: its `finished_at` less its duration.
pub fn last_collection_started(status: &Value) -> Option<DateTime<Utc>> {
    let collection = &status["last_collection"];
    let finished = DateTime::parse_from_rfc3339(collection["finished_at"].as_str()?).ok()?;
    let took =
        chrono::Duration::microseconds((collection["duration_ms"].as_f64()? * 1000.0) as i64);
    Some(finished.with_timezone(&Utc) - took)
}

/// Waits until the agent has started a collection after `since` and the server acknowledged
/// what it collected. Every change made before `since` then has reached the server, and, when
/// nothing changes after `since`, the agent is idle: the next change's collection is its own.
pub fn settle(
    agent: &RunningAgent,
    since: DateTime<Utc>,
    diagnostics: impl Fn() -> String,
) -> Value {
    wait_until(
        "the agent collecting after the change, caught up",
        diagnostics,
        || {
            status_of(agent).filter(|s| {
                caught_up(s) && last_collection_started(s).is_some_and(|started| started >= since)
            })
        },
    )
}

/// Fails with every difference listed.
pub fn assert_no_faults(what: &str, faults: &[String]) {
    assert!(faults.is_empty(), "{what}:\n{}", faults.join("\n"));
}

/// A built node streaming to a server, as the history tests set it up: `podwire-server` on
/// `database_url` accepting [`TOKEN`], a relay from the node's namespace to its gRPC port, and
/// `podwire-agent run` inside the node. Fields drop in order: agent, relay, server, token file.
pub struct StreamingNode {
    pub agent: RunningAgent,
    pub relay: NetnsRelay,
    pub server: ServerProcess,
    pub tokens: tempfile::NamedTempFile,
}

impl StreamingNode {
    /// Starts the three, the agent reporting as `cluster`/`name`.
    pub fn start(node: &BuiltNode, database_url: String, cluster: &str, name: &str) -> Self {
        let tokens = token_file(TOKEN);
        let server = ServerProcess::start(ServerOptions {
            database_url: Some(database_url),
            token_file: Some(tokens.path().to_owned()),
            ..ServerOptions::default()
        })
        .expect("start podwire-server");
        let relay = NetnsRelay::start(&netns_path(node), server.grpc_addr()).expect("relay");
        let agent = AgentRun::on(node, &relay.url(), cluster, name)
            .token_file(tokens.path())
            .start()
            .expect("start podwire-agent run");
        StreamingNode {
            agent,
            relay,
            server,
            tokens,
        }
    }

    /// Waits until the server lists every pod of `node`, checks each against the node as built
    /// and returns the listing.
    pub fn first_listing(&self, node: &BuiltNode, cluster: &str, name: &str) -> Vec<Interval> {
        let api = self.server.api();
        let first = wait_until(
            "every pod listed",
            || logs(&self.server, &[&self.agent]),
            || {
                let listed = pods(&api, cluster, name, None);
                (listed.len() >= node.pods.len()).then_some(listed)
            },
        );
        assert_no_faults("the first listing", &node_differences(&first, node));
        first
    }
}
