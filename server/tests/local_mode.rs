//! Local mode on the machine's real Postgres binaries: a private cluster in a temporary data
//! directory, migrated, stopped with nothing left running; reused by a second run; a stale
//! `postmaster.pid` and a postmaster left by a killed server handled; and the whole
//! `podwire-server` binary started without DATABASE_URL and stopped by SIGTERM.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use podwire_server::api::{AppState, app};
use podwire_server::local_postgres::{LocalPostgres, LocalPostgresError};
use podwire_server::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

/// A temporary directory that `nobody` can pass through.
fn data_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("test support");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("test support");
    dir
}

/// Running, as opposed to gone or a zombie waiting for its new parent (this container's pid 1)
/// to reap it.
fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')'
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

#[tokio::test]
async fn private_postgres_starts_migrates_stops_and_is_reused() {
    let root = data_root();
    let data = root.path().join("data");

    let pg = LocalPostgres::start(&data)
        .await
        .expect("private Postgres starts");
    let pid = pg.postmaster_pid().expect("postmaster.pid written");
    let socket_dir = pg.socket_dir().to_owned();
    assert!(alive(pid));
    assert!(
        socket_dir.as_os_str().len() < 60,
        "short socket path {}",
        socket_dir.display()
    );
    if nix::unistd::geteuid().is_root() {
        let owner = std::fs::metadata(pg.data_dir()).unwrap().uid();
        assert_eq!(
            Some(owner),
            nix::unistd::User::from_name("nobody")
                .unwrap()
                .map(|u| u.uid.as_raw())
        );
    }
    let store = Store::connect_lazy(pg.connect_options());
    store.migrate().await.unwrap();
    let listen: String = sqlx::query_scalar("SHOW listen_addresses")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(listen, "", "no TCP listener at all");
    sqlx::query("INSERT INTO nodes (cluster, name, boot_id, kernel, agent_version, first_seen_at, last_heartbeat_at) \
                 VALUES ('local', 'kept', 'b', 'k', 'v', now(), now())")
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    pg.stop().await.unwrap();
    assert!(!alive(pid), "postmaster {pid} gone");
    assert!(!socket_dir.exists(), "socket directory removed");

    // second run: same data directory, data still there
    let pg = LocalPostgres::start(&data).await.unwrap();
    let store = Store::connect_lazy(pg.connect_options());
    store.migrate().await.unwrap();
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM nodes WHERE name = 'kept'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(kept, 1);
    store.close().await;
    let pid = pg.postmaster_pid().unwrap();
    pg.stop().await.unwrap();
    assert!(!alive(pid));
}

#[tokio::test]
async fn stale_pid_file_and_orphaned_postmaster_are_handled() {
    let root = data_root();
    let data = root.path().join("data");
    let pg = LocalPostgres::start(&data).await.unwrap();
    let pg_dir = pg.data_dir().to_owned();
    pg.stop().await.unwrap();

    // a postmaster.pid naming a live process that is not Postgres (a recycled pid)
    let mut impostor = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let impostor_pid = i32::try_from(impostor.id()).unwrap();
    std::fs::write(
        pg_dir.join("postmaster.pid"),
        format!("{impostor_pid}\n{}\n", pg_dir.display()),
    )
    .unwrap();
    let pg = LocalPostgres::start(&data)
        .await
        .expect("starts despite the stale pid file");
    assert!(alive(impostor_pid), "the unrelated process is left alone");
    impostor.kill().unwrap();
    impostor.wait().unwrap();

    // a server killed without stopping its Postgres: the next start finds it running
    let orphan_pid = pg.postmaster_pid().unwrap();
    let orphan_socket_dir = pg.socket_dir().to_owned();
    std::mem::forget(pg);
    assert!(alive(orphan_pid));
    let pg = LocalPostgres::start(&data)
        .await
        .expect("starts after stopping the orphan");
    assert!(!alive(orphan_pid), "the orphaned postmaster was stopped");
    assert!(
        !orphan_socket_dir.exists(),
        "and its socket directory removed"
    );
    let pid = pg.postmaster_pid().unwrap();
    pg.stop().await.unwrap();
    assert!(!alive(pid));
}

#[tokio::test]
async fn data_dir_nobody_cannot_reach_is_refused_clearly() {
    if !nix::unistd::geteuid().is_root() {
        return; // only root hands Postgres to nobody
    }
    let closed = tempfile::tempdir().unwrap();
    std::fs::set_permissions(closed.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = LocalPostgres::start(&closed.path().join("data"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LocalPostgresError::NotTraversable(_)),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("not reachable by user nobody"),
        "{err}"
    );
}

#[tokio::test]
async fn readiness_follows_the_database_away_and_back() {
    let root = data_root();
    let mut pg = LocalPostgres::start(&root.path().join("data"))
        .await
        .unwrap();
    let store = Store::connect_lazy(pg.connect_options());
    store.migrate().await.unwrap();
    let state = AppState::new(store.clone(), chrono::Duration::seconds(90));
    let status = |state: AppState, uri: &'static str| async move {
        let request = axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        app(state).oneshot(request).await.unwrap().status().as_u16()
    };
    assert_eq!(status(state.clone(), "/readyz").await, 200);
    pg.stop_server().await.unwrap();
    assert_eq!(status(state.clone(), "/readyz").await, 503);
    assert_eq!(status(state.clone(), "/api/v1/nodes").await, 503);
    assert_eq!(status(state.clone(), "/healthz").await, 200);
    pg.start_server().await.unwrap();
    assert_eq!(
        status(state.clone(), "/readyz").await,
        200,
        "ready again once Postgres is back"
    );
    store.close().await;
    pg.stop().await.unwrap();
}

/// The binary end to end: no DATABASE_URL → private Postgres; SIGTERM → API, then Postgres, stop.
#[tokio::test]
async fn server_binary_runs_local_mode_and_stops_cleanly_on_sigterm() {
    let root = data_root();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let grpc_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_podwire-server"))
        .args([
            "--http-listen",
            &format!("127.0.0.1:{port}"),
            "--grpc-listen",
            &format!("127.0.0.1:{grpc_port}"),
        ])
        .arg("--data-dir")
        .arg(root.path().join("data"))
        .env_remove("DATABASE_URL")
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(90);
    let ready = loop {
        if let Some(response) = http_get(port, "/readyz").await {
            break response;
        }
        assert!(Instant::now() < deadline, "server never answered");
        assert!(server.try_wait().unwrap().is_none(), "server exited early");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    let pg_dir = root.path().join("data/postgres");
    let postmaster: i32 = std::fs::read_to_string(pg_dir.join("postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(alive(postmaster));

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(server.id().unwrap()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = server.wait().await.unwrap();
    assert!(status.success(), "{status}");
    // `pg_ctl stop -w` returns once the postmaster has removed its pid file, which it does just
    // before it exits: give the exit itself a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(postmaster) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !alive(postmaster),
        "private Postgres stopped with the server"
    );
    assert!(!pg_dir.join("postmaster.pid").exists());
}

#[test]
fn bad_config_exits_before_anything_starts() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_podwire-server"))
        .args([
            "--http-listen",
            "127.0.0.1:18080",
            "--grpc-listen",
            "127.0.0.1:18080",
        ])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "podwire-server: invalid configuration: --http-listen and --grpc-listen are both 127.0.0.1:18080; give them different ports"
    );
    // a copy of the server alone in a directory: no podwire-agent beside it
    let lonely = tempfile::tempdir().expect("temp dir");
    let server = lonely.path().join("podwire-server");
    std::fs::copy(env!("CARGO_BIN_EXE_podwire-server"), &server).expect("copy the server binary");
    let output = std::process::Command::new(&server)
        .args(["--local-agent", "--data-dir", "/nonexistent/never-created"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run podwire-server");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        format!(
            "podwire-server: invalid configuration: --local-agent cannot start the agent: {} not found: \
             build or install podwire-agent next to podwire-server",
            lonely.path().join("podwire-agent").display()
        )
    );
    assert!(!Path::new("/nonexistent/never-created").exists());
}

/// One HTTP/1.1 GET over a plain socket; `None` while nothing listens.
async fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    Some(response)
}
