//! `podwire-server --local-agent` with no token set up by hand: the server binary (a copy, beside
//! a stand-in `podwire-agent` that records how it was started) draws a token, hands it to the agent
//! as `--token-file`, and accepts exactly that token on its gRPC ingest.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::fixtures::{node_snapshot, pod, t};
use common::ingest::{AgentStream, ack};
use podwire_node_state::wire::proto::AckOutcome;
use tonic::Code;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        !matches!(state, Some('Z' | 'X') | None)
    })
}

/// Waits (bounded) for a file the stand-in agent writes.
async fn wait_for_file(path: &Path, server: &mut tokio::process::Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        assert!(
            server.try_wait().expect("server status").is_none(),
            "server exited early"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_local_agent_gets_a_token_of_its_own_and_nobody_else_does() {
    // `nobody` (the private Postgres) must pass through the data directory's parents
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = root.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let server_binary = bin.join("podwire-server");
    std::fs::copy(env!("CARGO_BIN_EXE_podwire-server"), &server_binary).unwrap();
    let record = root.path().join("agent-args");
    let agent = bin.join("podwire-agent");
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\n\
             [ \"$2\" = --help ] && {{ echo 'Usage: podwire-agent run --server <URL> --cluster <NAME>'; exit 0; }}\n\
             echo \"$$ $*\" > {}\n\
             exec sleep 600\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();

    let grpc_port = free_port();
    let mut server = tokio::process::Command::new(&server_binary)
        .args(["--local-agent", "--http-listen"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--grpc-listen")
        .arg(format!("127.0.0.1:{grpc_port}"))
        .arg("--data-dir")
        .arg(root.path().join("data"))
        .env_remove("DATABASE_URL")
        .env_remove("PODWIRE_AGENT_TOKEN_FILE")
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let started = wait_for_file(&record, &mut server).await;
    let words: Vec<&str> = started.split_whitespace().collect();
    let agent_pid: i32 = words[0].parse().unwrap();
    assert_eq!(
        &words[1..6],
        [
            "run",
            "--server",
            &format!("http://127.0.0.1:{grpc_port}"),
            "--cluster",
            "local"
        ]
    );
    assert_eq!(words[6], "--token-file");
    let token_file = Path::new(words[7]);
    assert_eq!(token_file, root.path().join("data/local-agent.token"));
    let mode = std::fs::metadata(token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(token_file).unwrap();
    let token = token.trim();

    // the agent's token opens a stream that stores; any other is refused
    let grpc = format!("127.0.0.1:{grpc_port}").parse().unwrap();
    let mut stream = AgentStream::open(grpc, Some(token), true).await.unwrap();
    stream.hello("local", "laptop").await.unwrap();
    let snapshot = node_snapshot(
        "local",
        "laptop",
        t(9, 0),
        &[pod("default", "nginx", 4026532100, "10.0.0.5")],
    );
    assert_eq!(ack(stream.upload(1, &snapshot).await).0, AckOutcome::Stored);
    let refused = AgentStream::open(grpc, Some("not-the-token"), true)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.code(), Code::Unauthenticated);
    let refused = AgentStream::open(grpc, None, true)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.code(), Code::Unauthenticated);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(server.id().unwrap()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = server.wait().await.unwrap();
    assert!(status.success(), "{status}");
    assert!(
        !running(agent_pid),
        "the local agent stopped with the server"
    );
    assert_eq!(
        stream.next().await.unwrap_err().code(),
        Code::Unavailable,
        "the open stream was ended, not left hanging"
    );
}
