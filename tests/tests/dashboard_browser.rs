//! The dashboard in headless Chromium (Debian's `chromium`, installed by `deploy/local/install-deps
//! test`), against a server whose store holds REAL snapshots: a VPC CNI node and a flannel node
//! are built in network namespaces, `podwire_agent::collect::collect` runs on a thread inside each
//! node's namespace, and the snapshots are stored through the store with the real resolver. Then
//! a pod is deleted and the node collected again, so that time travel has a before and an after.
//!
//! Chromium runs with `--dump-dom` (the DOM after load) and `--screenshot`; console messages are
//! read from its log (`--enable-logging=stderr`). Screenshots are kept as test artifacts under
//! `$PODWIRE_ARTIFACTS_DIR/dashboard` (default `target/podwire-artifacts/dashboard`).
//!
//! Needs root (namespaces), a Postgres (`PODWIRE_TEST_DATABASE_URL`, default the local one) and
//! `/usr/bin/chromium`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nix::sched::{CloneFlags, setns};
use podwire_agent::collect::{CollectConfig, collect};
use podwire_e2e::topology::BuiltNode;
use podwire_e2e::topology::flannel::FlannelNode;
use podwire_e2e::topology::vpc_cni::VpcCniNode;
use podwire_node_state::NodeSnapshot;
use podwire_server::api::{AppState, app};
use podwire_server::store::{NodeKey, Store};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Reads the node from inside its namespace, on a thread of its own (setns is per thread).
fn collect_node(node: &BuiltNode, cluster: &str, name: &str) -> NodeSnapshot {
    let netns = PathBuf::from("/var/run/netns").join(node.node_netns());
    let config = CollectConfig {
        cluster: cluster.into(),
        node_name: Some(name.into()),
        host_root: node.host_root().path().to_path_buf(),
        netns_dir: node.netns_dir().to_path_buf(),
        proc_dir: PathBuf::from("/proc"),
        ipamd_url: Some("http://127.0.0.1:61679".into()),
        ipamd_timeout: Duration::from_secs(2),
        probe_destination: Some(node.probe),
        workers: 2,
        hold_after_discovery: None,
    };
    std::thread::spawn(move || {
        let file = std::fs::File::open(&netns).expect("node netns");
        setns(file, CloneFlags::CLONE_NEWNET).expect("enter the node's namespace");
        collect(&config)
    })
    .join()
    .expect("collector thread")
}

async fn store_snapshot(store: &Store, snapshot: &NodeSnapshot) {
    let resolution = podwire_node_state::resolver::resolve(snapshot);
    let key = NodeKey {
        cluster: snapshot.node.cluster.clone(),
        name: snapshot.node.node_name.clone(),
    };
    store
        .record_snapshot(&key, snapshot, &resolution)
        .await
        .expect("store the snapshot");
}

/// A fresh database for this test, dropped at the end.
struct Db {
    name: String,
    admin: PgConnectOptions,
    store: Store,
}

impl Db {
    async fn new() -> Db {
        let url = std::env::var("PODWIRE_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let admin = PgConnectOptions::from_str(&url).expect("database URL");
        let name = format!("podwire_browser_{}", std::process::id());
        let mut conn = admin.connect().await.expect("test Postgres reachable");
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
        .expect("drop");
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create");
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(admin.clone().database(&name))
            .await
            .expect("connect");
        let store = Store::new(pool);
        store.migrate().await.expect("migrate");
        Db { name, admin, store }
    }

    async fn drop_now(self) {
        self.store.close().await;
        if let Ok(mut conn) = self.admin.connect().await {
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )))
                .await;
        }
    }
}

/// One Chromium run on a page: its DOM after load, a screenshot, and the console lines it logged.
struct Loaded {
    dom: String,
    console_errors: Vec<String>,
}

fn artifacts_dir() -> PathBuf {
    let base = std::env::var_os("PODWIRE_ARTIFACTS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/podwire-artifacts"),
        PathBuf::from,
    );
    let dir = base.join("dashboard");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

fn chromium(url: &str, screenshot: &str) -> Loaded {
    let home = tempfile::tempdir().expect("temp HOME");
    let profile = tempfile::tempdir().expect("temp profile");
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1400,1000",
    ];
    let run = |extra: &[String]| {
        Command::new(CHROMIUM)
            .args(base)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(url)
            .env("HOME", home.path())
            .output()
            .expect("run chromium")
    };
    let dumped = run(&["--dump-dom".to_owned()]);
    assert!(dumped.status.success(), "chromium failed on {url}");
    let path = artifacts_dir().join(screenshot);
    let shot = run(&[format!("--screenshot={}", path.display())]);
    assert!(
        shot.status.success() && path.exists(),
        "no screenshot of {url}"
    );
    let log = String::from_utf8_lossy(&dumped.stderr).into_owned()
        + &String::from_utf8_lossy(&shot.stderr);
    Loaded {
        dom: String::from_utf8_lossy(&dumped.stdout).into_owned(),
        // Chromium logs page console messages as "CONSOLE(line)"; failed loads as "Failed to load".
        console_errors: log
            .lines()
            .filter(|l| {
                l.contains(":CONSOLE")
                    || l.contains("Failed to load resource")
                    || l.contains("Uncaught")
            })
            .map(str::to_owned)
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_browser_over_real_snapshots() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "install chromium: deploy/local/install-deps test"
    );
    let db = Db::new().await;

    let mut vpc = VpcCniNode::new()
        .pods(2, 2, 1)
        .build()
        .expect("VPC CNI node");
    let flannel = FlannelNode::new().pods(3).build().expect("flannel node");
    let first = collect_node(&vpc, "prod", "ip-192-168-1-10");
    store_snapshot(&db.store, &first).await;
    store_snapshot(&db.store, &collect_node(&flannel, "lab", "flannel-1")).await;
    let before: DateTime<Utc> = Utc::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // A pod goes away: its namespace is deleted and the node collected again.
    let gone = vpc.pods[0].clone();
    let gone_netns = gone.netns.name().expect("named netns").to_owned();
    vpc.delete_pod_netns(&gone_netns).expect("delete the pod");
    let second = collect_node(&vpc, "prod", "ip-192-168-1-10");
    store_snapshot(&db.store, &second).await;

    let state = AppState::new(db.store.clone(), chrono::Duration::seconds(90));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app(state)).await });
    let base = format!("http://{addr}");
    let at_before = before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let vpc_pod = &vpc.pods[1];
    let eni_id = first
        .vpc_cni
        .as_ref()
        .and_then(|v| v.ipamd.as_ref())
        .and_then(|i| i.network_cards.first())
        .and_then(|c| c.enis.first())
        .map(|e| e.id.clone())
        .expect("ipamd reported ENIs");
    let subnet = first
        .vpc_cni
        .as_ref()
        .and_then(|v| v.ipamd.as_ref())
        .and_then(|i| i.network_cards.first())
        .and_then(|c| c.enis.iter().find_map(|e| e.subnet_id.clone()))
        .expect("ipamd reported a subnet");

    let pages = [
        ("overview", "/".to_owned()),
        ("nodes", "/nodes".to_owned()),
        ("node-vpc-cni", "/nodes/prod/ip-192-168-1-10".to_owned()),
        ("node-flannel", "/nodes/lab/flannel-1".to_owned()),
        (
            "pod",
            format!("/pods/{}/{}", vpc_pod.namespace, vpc_pod.name),
        ),
        ("eni", format!("/enis/{eni_id}")),
        ("subnets", "/subnets".to_owned()),
        ("subnet", format!("/subnets/{subnet}")),
        ("search-ip", format!("/search?q={}", vpc_pod.ip)),
        (
            "node-before",
            format!("/nodes/prod/ip-192-168-1-10?at={at_before}"),
        ),
        (
            "diff",
            format!("/nodes/prod/ip-192-168-1-10/diff?from={at_before}"),
        ),
        ("api-docs", "/api/docs/".to_owned()),
    ];
    let mut loaded = std::collections::HashMap::new();
    for (name, path) in &pages {
        let url = format!("{base}{path}");
        let page = tokio::task::spawn_blocking({
            let name = name.to_string();
            move || chromium(&url, &format!("{name}.png"))
        })
        .await
        .expect("chromium thread");
        assert!(
            page.console_errors.is_empty(),
            "{path}: console errors {:?}",
            page.console_errors
        );
        assert!(
            !page.dom.contains("<h1>404") && !page.dom.contains("<h1>500"),
            "{path}: {}",
            page.dom
        );
        loaded.insert(*name, page.dom);
    }

    // Search finds the pod by its IP.
    assert!(
        loaded["search-ip"].contains(&format!("{}/{}", vpc_pod.namespace, vpc_pod.name)),
        "{}",
        loaded["search-ip"]
    );
    // The diagram shows every pod of the node, on both CNIs.
    for pod in vpc.pods.iter().skip(1) {
        let key = format!(r#"data-pod="{}/{}""#, pod.namespace, pod.name);
        assert!(
            loaded["node-vpc-cni"].contains(&key),
            "VPC CNI diagram lacks {key}"
        );
    }
    for pod in &flannel.pods {
        let key = format!(r#"data-pod="{}/{}""#, pod.namespace, pod.name);
        assert!(
            loaded["node-flannel"].contains(&key),
            "flannel diagram lacks {key}"
        );
    }
    // Time travel: the deleted pod is on the node as it was before, not now.
    let gone_key = format!(r#"data-pod="{}/{}""#, gone.namespace, gone.name);
    assert!(
        loaded["node-before"].contains(&gone_key),
        "the earlier node lacks {gone_key}"
    );
    assert!(
        !loaded["node-vpc-cni"].contains(&gone_key),
        "the deleted pod is still shown now"
    );
    assert!(
        loaded["diff"].contains(&format!("{}/{}", gone.namespace, gone.name)),
        "the diff does not name the deleted pod"
    );
    // The Swagger UI rendered the API (it is the one page with scripts).
    assert!(loaded["api-docs"].contains("swagger"), "docs page");

    server.abort();
    drop(vpc);
    drop(flannel);
    db.drop_now().await;
}
