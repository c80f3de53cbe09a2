//! `podwire-agent run` as the DaemonSet runs it, against a scripted stand-in for the server's
//! ingest listening inside the node's network namespace: the agent says Hello and sends the node
//! in full, then heartbeats while nothing changes, uploads each change the kernel or the CNI
//! files report, reconnects after a dropped stream and resends what the server lacks, logs a
//! refusal as an error and retries with a rotated token, and refuses a bad configuration with
//! exit status 2.

#![expect(
    clippy::unwrap_used,
    reason = "helpers of tests: a failed unwrap is a failed test"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::agent::{AGENT_BIN, RunningAgent};
use common::ingest::{IngestDouble, IngestLog, Plan, Received};
use common::{Netns, unique_prefix};
use podwire_e2e::topology::vpc_cni::VpcCniNode;
use podwire_node_state::resolver;
use podwire_node_state::wire::ContentHash;
use tonic::Code;

/// How long any one expectation may take before the test fails (nothing here is timed; this
/// only stops a broken agent from hanging the run).
const WAIT: Duration = Duration::from_secs(60);

fn wait(
    double: &IngestDouble,
    agent: &RunningAgent,
    what: &str,
    done: impl FnMut(&IngestLog) -> bool,
) -> IngestLog {
    double.wait_until(WAIT, done).unwrap_or_else(|log| {
        panic!(
            "{what}: not within {WAIT:?}\n{}\nagent log:\n{}",
            log.summary(),
            agent.log()
        )
    })
}

fn args(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(flag, value)| [(*flag).to_owned(), (*value).to_owned()])
        .collect()
}

fn netns_path(name: &str) -> PathBuf {
    Path::new("/var/run/netns").join(name)
}

fn upload_hash(received: &Received) -> Option<ContentHash> {
    match received {
        Received::Upload { hash, .. } => Some(*hash),
        _ => None,
    }
}

#[test]
fn the_node_is_sent_once_then_heartbeats_and_each_change_is_uploaded() {
    let node = VpcCniNode::new().pods(2, 2, 1).build().unwrap();
    // Fresh links chatter over IPv6 for seconds (router solicitations, multicast neighbours),
    // and each of those notifications is a change too. Quieted, every notification below is the
    // test's own.
    for setting in [
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
    ] {
        let quieted = Command::new("ip")
            .args(["netns", "exec", node.node_netns(), "sysctl", "-qw", setting])
            .status()
            .unwrap();
        assert!(quieted.success());
    }
    let double = IngestDouble::start_in(&netns_path(node.node_netns()), vec![]);
    let host_root = node.host_root().path().to_str().unwrap().to_owned();
    let probe = node.probe.to_string();
    let mut agent = RunningAgent::start(
        node.node_netns(),
        &args(&[
            ("--server", &double.url()),
            ("--cluster", "prod-eu-west-1"),
            ("--node", "ip-192-168-0-10"),
            ("--host-root", &host_root),
            ("--netns-dir", node.netns_dir().to_str().unwrap()),
            ("--probe-dst", &probe),
            // No resync within the test: every later upload comes from a notification.
            ("--resync-interval", "1h"),
            ("--debounce", "100ms"),
            ("--debounce-max", "1s"),
        ]),
    );

    // Hello, then the node in full.
    let log = wait(&double, &agent, "Hello and the node in full", |log| {
        log.connections
            .first()
            .is_some_and(|c| c.received.len() >= 2)
    });
    let first = &log.connections[0];
    let Received::Hello(hello) = &first.received[0] else {
        panic!("the stream does not start with Hello: {:?}", first.shorts())
    };
    assert_eq!(
        (
            hello.cluster.as_str(),
            hello.node.as_str(),
            hello.agent_version.as_str()
        ),
        (
            "prod-eu-west-1",
            "ip-192-168-0-10",
            env!("CARGO_PKG_VERSION")
        )
    );
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_eq!(hello.boot_id, boot_id.trim());
    let Received::Upload {
        sequence,
        hash: first_hash,
        hash_matches,
        snapshot,
    } = &first.received[1]
    else {
        panic!("no full snapshot after Hello: {:?}", first.shorts())
    };
    assert_eq!(*sequence, 1);
    assert!(hash_matches, "the content hash is the snapshot's");
    let resolution = resolver::resolve(snapshot);
    for pod in &node.pods {
        let resolved = resolution
            .pods
            .iter()
            .find(|p| p.ip() == Some(pod.ip.into()))
            .unwrap_or_else(|| panic!("{} is not in the upload", pod.qualified_name()));
        assert_eq!(resolved.name.as_deref(), Some(pod.name.as_str()));
        assert_eq!(resolved.table(), Some(pod.expected.table), "{}", pod.name);
    }
    let first_hash = *first_hash;

    // Nothing changes: heartbeats naming that snapshot, and no second upload.
    let log = wait(&double, &agent, "three heartbeats", |log| {
        log.connections[0].heartbeats() >= 3
    });
    let stream = &log.connections[0];
    assert_eq!(stream.uploads().count(), 1, "{:?}", stream.shorts());
    for received in &stream.received[2..] {
        assert!(
            matches!(received, Received::Heartbeat { hash, .. } if *hash == first_hash),
            "{:?}",
            stream.shorts()
        );
    }

    // The status endpoint says the same.
    let status = agent.status();
    assert_eq!(status["connection"]["state"], "connected", "{status:#}");
    assert_eq!(status["connection"]["server_version"], "ingest-double");
    assert_eq!(
        status["connection"]["heartbeat_interval_ms"], 300,
        "Welcome's"
    );
    assert!(
        status["server"]
            .as_str()
            .unwrap()
            .starts_with(&double.url())
    );
    assert_eq!(
        status["last_collection"]["content_hash"],
        first_hash.to_string()
    );
    assert_eq!(status["last_collection"]["pods"], node.pods.len());
    assert_eq!(status["uploads"]["sent"], 1);
    assert_eq!(status["uploads"]["acked"], 1);
    assert!(
        status["heartbeats"]["acked"].as_u64().unwrap() >= 2,
        "{status:#}"
    );
    assert_eq!(status["last_acked_hash"], first_hash.to_string());
    assert_eq!(status["change_sources"]["kernel"], "running");
    assert_eq!(status["change_sources"]["files"], "running");
    assert_eq!(status["last_error"], serde_json::Value::Null);
    let (code, metrics) = agent.get("/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("\npodwire_agent_connected 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("\npodwire_agent_pods {}\n", node.pods.len())),
        "{metrics}"
    );
    assert!(metrics.contains("\npodwire_agent_uploads_total{outcome=\"acked\"} 1\n"));
    assert_eq!(agent.get("/nothing-here").0, 404);

    // The kernel reports a route added on the node: the next upload carries it.
    let blackhole: ipnet::IpNet = "10.123.0.0/16".parse().unwrap();
    let status = Command::new("ip")
        .args(["-n", node.node_netns(), "route", "add", "blackhole"])
        .args([&blackhole.to_string(), "table", "77"])
        .status()
        .unwrap();
    assert!(status.success());
    let log = wait(&double, &agent, "an upload with the new route", |log| {
        log.uploads().iter().any(|u| match u {
            Received::Upload { snapshot, .. } => snapshot
                .host
                .routes
                .iter()
                .any(|r| r.destination == blackhole && r.table == 77),
            _ => false,
        })
    });
    let second = log.uploads().last().copied().unwrap().clone();
    let Received::Upload {
        hash, hash_matches, ..
    } = &second
    else {
        unreachable!()
    };
    assert_ne!(*hash, first_hash);
    assert!(hash_matches);

    // A CNI configuration written on the node: the next upload carries it.
    node.host_root()
        .write(
            "etc/cni/net.d/20-extra.conflist",
            r#"{"cniVersion":"1.0.0","name":"extra","plugins":[{"type":"bridge","bridge":"br-extra"}]}"#,
        )
        .unwrap();
    wait(
        &double,
        &agent,
        "an upload with the new configuration",
        |log| {
            log.uploads().iter().any(|u| match u {
                Received::Upload { snapshot, .. } => snapshot
                    .cni
                    .configs
                    .iter()
                    .any(|c| c.file.ends_with("20-extra.conflist")),
                _ => false,
            })
        },
    );

    let status = agent.status();
    assert_eq!(status["collections"]["startup"], 1, "{status:#}");
    assert!(
        status["collections"]["change"].as_u64().unwrap() >= 2,
        "{status:#}"
    );
    assert_eq!(status["collections"]["resync"], 0, "{status:#}");
    let stream = &double.log().connections;
    assert_eq!(stream.len(), 1, "one stream throughout");

    // SIGTERM: the agent ends its stream and exits cleanly.
    let exit = agent.stop();
    assert!(exit.success(), "{exit}\n{}", agent.log());
    assert!(agent.log().contains("podwire agent stopped"));
}

/// A namespace with nothing in it but `lo`, and empty node files: the smallest node.
struct EmptyNode {
    netns: Netns,
    host_root: tempfile::TempDir,
    netns_dir: tempfile::TempDir,
}

impl EmptyNode {
    fn new() -> EmptyNode {
        EmptyNode {
            netns: Netns::add(&format!("{}run", unique_prefix())),
            host_root: tempfile::tempdir().unwrap(),
            netns_dir: tempfile::tempdir().unwrap(),
        }
    }

    fn start_agent(&self, double: &IngestDouble, extra: &[(&str, &str)]) -> RunningAgent {
        let mut pairs = vec![
            ("--server", double.url()),
            ("--cluster", "test".to_owned()),
            ("--node", "node-a".to_owned()),
            ("--host-root", self.host_root.path().display().to_string()),
            ("--netns-dir", self.netns_dir.path().display().to_string()),
            ("--ipamd-url", "none".to_owned()),
            ("--resync-interval", "1h".to_owned()),
            ("--backoff-min", "100ms".to_owned()),
            ("--backoff-max", "500ms".to_owned()),
        ];
        pairs.extend(extra.iter().map(|(f, v)| (*f, (*v).to_owned())));
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(f, v)| (*f, v.as_str())).collect();
        RunningAgent::start(&self.netns.name, &args(&pairs))
    }
}

#[test]
fn after_a_dropped_stream_the_agent_reconnects_and_resends_what_the_server_lacks() {
    let node = EmptyNode::new();
    let double = IngestDouble::start_in(
        &node.netns.path(),
        vec![
            // Stores the snapshot, then drops the stream (a server restarting).
            Plan {
                end_after_uploads: Some(1),
                ..Plan::default()
            },
            // Came back without its data: Welcome names nothing, so it gets the node in full.
            Plan {
                forget: true,
                end_after_uploads: Some(1),
                ..Plan::default()
            },
            // Holds it: Welcome names it, so a heartbeat comes first; the server answers it
            // with Resend anyway, and gets it in full.
            Plan {
                resend_heartbeats: 1,
                ..Plan::default()
            },
        ],
    );
    let agent = node.start_agent(&double, &[]);

    let log = wait(&double, &agent, "three streams", |log| {
        log.connections.len() >= 3 && log.connections[2].heartbeats() >= 2
    });
    let hash = upload_hash(&log.connections[0].received[1]).expect("an upload on the first stream");
    let short = |kind: char| format!("{kind}{}", &hash.to_string()[..6]);
    let (h, u, b) = ("H".to_owned(), short('U'), short('B'));
    assert_eq!(log.connections[0].shorts(), [h.clone(), u.clone()]);
    assert_eq!(
        log.connections[1].shorts(),
        [h.clone(), u.clone()],
        "the same snapshot, in full, to the server that lost it"
    );
    assert_eq!(
        log.connections[2].shorts()[..4],
        [h, b.clone(), u, b],
        "a heartbeat to the server that holds it; in full when it asks again"
    );

    let status = agent.status();
    assert_eq!(status["connection"]["state"], "connected", "{status:#}");
    assert!(
        status["failures"]["transient"].as_u64().unwrap() >= 2,
        "{status:#}"
    );
    assert_eq!(status["failures"]["rejected"], 0);
    assert!(status["sessions"].as_u64().unwrap() >= 3);
    assert_eq!(status["resends_received"], 1);
    assert_eq!(
        status["collections"]["startup"], 1,
        "reconnecting does not collect"
    );
    let logged = agent.log();
    assert!(
        logged.contains("WARN") && logged.contains("lost the connection to the server"),
        "{logged}"
    );
    assert!(logged.contains("Unavailable"), "{logged}");
}

#[test]
fn a_refused_agent_logs_an_error_and_retries_with_the_rotated_token() {
    let node = EmptyNode::new();
    let token = node.host_root.path().join("token");
    std::fs::write(&token, "first-token\n").unwrap();
    let double = IngestDouble::start_in(
        &node.netns.path(),
        vec![Plan {
            refuse: Some(Code::Unauthenticated),
            ..Plan::default()
        }],
    );
    let agent = node.start_agent(
        &double,
        &[
            ("--token-file", token.to_str().unwrap()),
            ("--rejected-backoff", "2s"),
        ],
    );

    wait(&double, &agent, "a first, refused stream", |log| {
        !log.connections.is_empty()
    });
    // The token is rotated while the agent waits out its (long) delay, which the status shows.
    std::fs::write(&token, "second-token\n").unwrap();
    let waiting = agent.wait_for_status(|status| status["connection"]["state"] == "disconnected");
    assert_eq!(waiting["connection"]["attempt"], 2, "{waiting:#}");
    assert!(waiting["connection"]["retry_at"].is_string(), "{waiting:#}");
    assert_eq!(waiting["last_error"]["kind"], "rejected", "{waiting:#}");
    let log = wait(&double, &agent, "a second stream with the node", |log| {
        log.connections.len() >= 2 && log.connections[1].uploads().count() == 1
    });
    assert_eq!(log.connections[0].refused, Some(Code::Unauthenticated));
    assert_eq!(
        log.connections[0].authorization.as_deref(),
        Some("Bearer first-token")
    );
    assert_eq!(
        log.connections[1].authorization.as_deref(),
        Some("Bearer second-token"),
        "the token file is read again before each connection"
    );

    let logged = agent.log();
    let refusal = logged
        .lines()
        .find(|line| line.contains("the server refused this agent"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{logged}"));
    assert!(refusal.contains("ERROR"), "{refusal}");
    assert!(refusal.contains("Unauthenticated"), "{refusal}");
    let status = agent.status();
    assert_eq!(status["failures"]["rejected"], 1, "{status:#}");
    assert_eq!(status["last_error"]["kind"], "rejected");
    assert_eq!(status["connection"]["state"], "connected");
}

#[test]
fn a_server_that_stops_acknowledging_is_given_up_and_reconnected() {
    let node = EmptyNode::new();
    let double = IngestDouble::start_in(
        &node.netns.path(),
        vec![Plan {
            silent: true,
            ..Plan::default()
        }],
    );
    let agent = node.start_agent(&double, &[("--ack-timeout", "1s")]);
    let log = wait(&double, &agent, "a second stream, acknowledged", |log| {
        log.connections.len() >= 2 && log.connections[1].heartbeats() >= 1
    });
    assert_eq!(
        log.connections[1].shorts()[..2],
        [
            "H".to_owned(),
            log.connections[0].shorts()[1].replace('U', "B")
        ],
        "the server stored the upload it never acknowledged: Welcome names it"
    );
    let logged = agent.log();
    assert!(
        logged.contains("upload 1 was not acknowledged within"),
        "{logged}"
    );
}

#[test]
fn a_bad_configuration_exits_2_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let empty_token = dir.path().join("empty-token");
    std::fs::write(&empty_token, "\n").unwrap();
    let empty_token = empty_token.to_str().unwrap();
    let root = dir.path().to_str().unwrap();
    let table: [(&[&str], &str); 7] = [
        (
            &["--token-file", "/nonexistent/podwire-token"],
            "cannot read the token file /nonexistent/podwire-token: No such file or directory",
        ),
        (&["--token-file", empty_token], "is empty"),
        (&["--debounce", "0s"], "--debounce must be longer than zero"),
        (
            &["--host-root", "/nonexistent/host"],
            "--host-root /nonexistent/host is not a directory",
        ),
        (
            &["--server", "https://podwire.example:443"],
            "only http:// is supported",
        ),
        (&["--heartbeat-interval", "soon"], "invalid value 'soon'"),
        (&["--cluster", ""], "--cluster is empty"),
    ];
    for (extra, message) in table {
        let mut args = vec!["run"];
        for (flag, default) in [
            ("--server", "http://127.0.0.1:9"),
            ("--cluster", "test"),
            ("--node", "node-a"),
            ("--host-root", root),
            ("--status-listen", "none"),
        ] {
            if !extra.contains(&flag) {
                args.extend([flag, default]);
            }
        }
        args.extend(extra);
        let output = Command::new(AGENT_BIN).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
