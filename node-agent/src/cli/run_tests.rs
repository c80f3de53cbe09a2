use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct TestCli {
    #[command(flatten)]
    run: RunArgs,
}

/// A fake procfs with a hostname, and a host root.
fn dirs(hostname: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("proc/sys/kernel")).unwrap();
    std::fs::write(dir.path().join("proc/sys/kernel/hostname"), hostname).unwrap();
    std::fs::create_dir_all(dir.path().join("host")).unwrap();
    dir
}

fn validate(dir: &tempfile::TempDir, extra: &[&str]) -> Result<RunConfig, ConfigError> {
    let proc_dir = dir.path().join("proc");
    let host_root = dir.path().join("host");
    let mut args = vec![
        "run",
        "--server",
        "http://127.0.0.1:50051",
        "--cluster",
        "prod",
        "--proc-dir",
        proc_dir.to_str().unwrap(),
        "--host-root",
        host_root.to_str().unwrap(),
    ];
    args.extend(extra);
    TestCli::try_parse_from(args).unwrap().run.validate()
}

#[test]
fn defaults() {
    let dir = dirs("ip-172-31-55-30\n");
    let config = validate(&dir, &[]).unwrap();
    assert_eq!(
        config.collect.node_name.as_deref(),
        Some("ip-172-31-55-30"),
        "the hostname, read before anything starts"
    );
    assert_eq!(
        config.collect.ipamd_url.as_deref(),
        Some("http://127.0.0.1:61679")
    );
    assert_eq!(
        config.changes,
        ChangeTiming {
            quiet: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
            resync_interval: Duration::from_secs(60),
        }
    );
    assert_eq!(
        config.connection.heartbeat_interval,
        Duration::from_secs(10)
    );
    assert_eq!(config.connection.token_file, None);
    assert_eq!(
        config.status_listen,
        Some("127.0.0.1:9102".parse().unwrap())
    );
}

#[test]
fn flags_that_are_refused() {
    let dir = dirs("node-a");
    let empty_token = dir.path().join("empty-token");
    std::fs::write(&empty_token, "\n").unwrap();
    let table: [(&[&str], &str); 8] = [
        (
            &["--token-file", "/nonexistent/token"],
            "cannot read the token file /nonexistent/token",
        ),
        (&["--token-file", empty_token.to_str().unwrap()], "is empty"),
        (
            &["--debounce", "3s"],
            "--debounce-max (2s) must not be shorter than --debounce (3s)",
        ),
        (
            &["--resync-interval", "1s"],
            "--resync-interval (1s) must not be shorter than --debounce-max (2s)",
        ),
        (
            &["--heartbeat-interval", "0s"],
            "--heartbeat-interval must be longer than zero",
        ),
        (
            &["--backoff-min", "2m", "--backoff-max", "1m"],
            "--backoff-max (60s) must not be shorter than --backoff-min (120s)",
        ),
        (
            &["--status-listen", "localhost"],
            "--status-listen \"localhost\" is neither ADDRESS:PORT nor `none`",
        ),
        (
            &["--node", "my node"],
            "--node \"my node\" contains whitespace",
        ),
    ];
    for (extra, message) in table {
        let err = validate(&dir, extra).unwrap_err();
        assert!(
            error_chain(&err).contains(message),
            "{extra:?}: {}",
            error_chain(&err)
        );
    }
}

#[test]
fn an_empty_hostname_needs_node() {
    let dir = dirs("");
    assert!(matches!(
        validate(&dir, &[]),
        Err(ConfigError::EmptyHostname { .. })
    ));
    assert!(validate(&dir, &["--node", "node-a"]).is_ok());
}

#[test]
fn status_endpoint_and_ipamd_can_be_disabled() {
    let dir = dirs("node-a");
    let config = validate(&dir, &["--status-listen", "none", "--ipamd-url", "none"]).unwrap();
    assert_eq!(config.status_listen, None);
    assert_eq!(config.collect.ipamd_url, None);
}
