//! What `deploy/local/run` starts: `podwire-server --local-agent` with no `DATABASE_URL`. The
//! server creates and starts a private Postgres in its data directory, runs `podwire-agent run`
//! for this machine (cluster `local`, named by the hostname) with a token of its own, and this
//! machine appears in `GET /api/v1/nodes` with its agent connected. This machine's own namespace
//! holds no pods, and none are expected; the node must be there, alive, with a stored snapshot.
//! SIGTERM stops the server, the agent and the private Postgres; a server killed outright
//! (SIGKILL, no chance to stop anything) still leaves no agent behind.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{TestDatabase, caught_up, nodes, wait_until};
use podwire_e2e::server::{ServerOptions, ServerProcess, free_port};
use serde_json::Value;

/// `GET /status` of the local agent, which listens in this machine's namespace.
fn agent_status(port: u16) -> Option<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    serde_json::from_str(response.split_once("\r\n\r\n")?.1).ok()
}

/// Running, as opposed to gone or a zombie waiting to be reaped.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        !matches!(state, Some('Z' | 'X') | None)
    })
}

#[test]
fn local_mode_with_its_local_agent_shows_this_machine_as_a_live_node() {
    // `nobody` (the private Postgres) must pass through the data directory's parents.
    let root = tempfile::tempdir().expect("a temporary directory");
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755))
        .expect("open the directory to nobody");
    let data_dir = root.path().join("data");
    // The agent --local-agent starts inherits the server's environment: its status endpoint
    // goes to a free port rather than the default one something else may hold.
    let status_port = free_port().expect("a free port");
    let mut server = ServerProcess::start(ServerOptions {
        database_url: None,
        data_dir: Some(data_dir.clone()),
        local_agent: true,
        env: vec![(
            "PODWIRE_STATUS_LISTEN".to_owned(),
            format!("127.0.0.1:{status_port}"),
        )],
        ..ServerOptions::default()
    })
    .expect("start podwire-server --local-agent in local mode");
    let api = server.api();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("this machine's hostname")
        .trim()
        .to_owned();

    let node = wait_until(
        "this machine listed as a node",
        || format!("--- server log ---\n{}", server.log()),
        || {
            nodes(&api)
                .into_iter()
                .find(|n| n["cluster"] == "local" && n["name"] == hostname.as_str())
        },
    );
    assert_eq!(node["stale"], false, "{node:#}");
    assert!(node["last_snapshot_at"].is_string(), "{node:#}");
    assert_eq!(node["agent_version"], env!("CARGO_PKG_VERSION"), "{node:#}");
    let detail = api
        .json(&format!("/api/v1/nodes/local/{hostname}"))
        .expect("GET the node");
    assert_eq!(detail["identity"]["node_name"], hostname.as_str());
    assert!(
        detail["links"].as_array().is_some_and(|l| !l.is_empty()),
        "this machine's links were read: {detail:#}"
    );
    let status = wait_until(
        "the local agent connected and caught up",
        || format!("--- server log ---\n{}", server.log()),
        || agent_status(status_port).filter(caught_up),
    );
    assert_eq!(status["cluster"], "local");
    assert_eq!(status["node"], hostname.as_str());

    // No DATABASE_URL: the Postgres is the server's own, in its data directory.
    let postmaster: i32 = std::fs::read_to_string(data_dir.join("postgres/postmaster.pid"))
        .expect("the private Postgres's pid file")
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .expect("a pid");
    assert!(alive(postmaster));
    assert!(data_dir.join("local-agent.token").is_file());

    let exit = server.terminate().expect("SIGTERM the server");
    assert!(exit.success(), "{exit}\n{}", server.log());
    assert!(
        agent_status(status_port).is_none(),
        "the local agent stopped with the server"
    );
    let start = Instant::now();
    while alive(postmaster) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !alive(postmaster),
        "the private Postgres stopped with the server"
    );
}

/// The `podwire-agent` processes whose parent is `parent`.
fn agent_children(parent: u32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                let Some((head, rest)) = stat.rsplit_once(')') else {
                    return false;
                };
                let ppid = rest.split_whitespace().nth(1);
                head.ends_with("(podwire-agent") && ppid == Some(parent.to_string().as_str())
            })
        })
        .collect()
}

#[test]
fn a_killed_server_leaves_no_local_agent_behind() {
    let db = TestDatabase::create();
    let status_port = free_port().expect("a free port");
    let mut server = ServerProcess::start(ServerOptions {
        database_url: Some(db.url.clone()),
        local_agent: true,
        env: vec![(
            "PODWIRE_STATUS_LISTEN".to_owned(),
            format!("127.0.0.1:{status_port}"),
        )],
        ..ServerOptions::default()
    })
    .expect("start podwire-server --local-agent");
    wait_until(
        "the local agent connected and caught up",
        || format!("--- server log ---\n{}", server.log()),
        || agent_status(status_port).filter(caught_up),
    );
    let server_pid = server.pid().expect("the server's pid");
    let agents = agent_children(server_pid);
    assert_eq!(agents.len(), 1, "one local agent, a child of the server");
    let agent = agents[0];

    server.kill().expect("SIGKILL the server");
    // Nobody told the agent: it notices its parent is gone and stops by itself.
    wait_until(
        "the orphaned local agent stopped",
        || format!("--- server log ---\n{}", server.log()),
        || (!alive(agent)).then_some(()),
    );
    assert!(
        agent_status(status_port).is_none(),
        "its status endpoint is closed"
    );
}
