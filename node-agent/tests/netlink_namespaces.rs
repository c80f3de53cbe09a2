//! Namespace discovery (netns directory and `/proc`) and reading many namespaces on dedicated
//! threads, including ones deleted or replaced between discovery and read.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup or lookup step should stop the test"
)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{NETNS_DIR, Netns, UnnamedNetns, unique_prefix};
use podwire_agent::collect::netlink::RouteSocket;
use podwire_agent::collect::netns::{
    HostNsid, NetnsCandidate, discover, own_netns_inode, read_namespaces, run_in_namespace,
};
use podwire_node_state::{ErrorSource, SourceError};

fn discover_all() -> Vec<NetnsCandidate> {
    let mut errors = Vec::new();
    let candidates = discover(
        Path::new(NETNS_DIR),
        Path::new("/proc"),
        own_netns_inode().unwrap(),
        &mut errors,
    );
    assert_only_foreign_process_errors(&errors);
    candidates
}

/// Processes this test did not start may be unreadable here (this machine's pid 1 holds
/// capabilities the tests lack): that is recorded as one error about `/proc`, never about the
/// netns directory.
fn assert_only_foreign_process_errors(errors: &[SourceError]) {
    for error in errors {
        assert_eq!(error.source, ErrorSource::NetnsDiscovery);
        assert!(error.subject.starts_with("/proc/"), "{error:#?}");
        assert!(error.message.contains("unreadable"), "{error:#?}");
    }
    assert!(errors.len() <= 1, "{errors:#?}");
}

/// Waits until `/proc/PID/ns/net` shows the namespace a just-started `ip netns exec` enters.
fn wait_for_netns_of(pid: u32, inode: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let link = format!("/proc/{pid}/ns/net");
    let expected = format!("net:[{inode}]");
    while std::fs::read_link(&link)
        .ok()
        .is_none_or(|target| target.as_os_str() != expected.as_str())
    {
        assert!(
            Instant::now() < deadline,
            "pid {pid} never entered the namespace"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn discovery_finds_named_and_unnamed_namespaces_once_each() {
    let prefix = unique_prefix();
    let alpha = Netns::add(&format!("{prefix}alpha"));
    let beta = Netns::add(&format!("{prefix}beta"));
    let unnamed = UnnamedNetns::start();
    // A process inside a named namespace must not add a second, unnamed candidate for it.
    let sleeper = alpha.spawn_sleeper();
    wait_for_netns_of(sleeper.pid(), alpha.inode());

    let candidates = discover_all();

    for named in [&alpha, &beta] {
        let found: Vec<_> = candidates
            .iter()
            .filter(|c| c.inode == named.inode())
            .collect();
        assert_eq!(
            found,
            vec![&NetnsCandidate {
                inode: named.inode(),
                name: Some(named.name.clone()),
                path: named.path(),
            }]
        );
    }
    let found: Vec<_> = candidates
        .iter()
        .filter(|c| c.inode == unnamed.inode())
        .collect();
    assert_eq!(
        found,
        vec![&NetnsCandidate {
            inode: unnamed.inode(),
            name: None,
            path: unnamed.path(),
        }]
    );
    let own = own_netns_inode().unwrap();
    assert!(
        candidates.iter().all(|c| c.inode != own),
        "own namespace listed"
    );
    let mut inodes: Vec<_> = candidates.iter().map(|c| c.inode).collect();
    inodes.sort_unstable();
    inodes.dedup();
    assert_eq!(inodes.len(), candidates.len(), "an inode listed twice");
}

#[test]
fn discovery_in_an_empty_netns_dir_and_of_a_namespace_file_without_mount() {
    let dir = std::env::temp_dir().join(format!("{}netns", unique_prefix()));
    std::fs::create_dir(&dir).unwrap();
    // A file as `ip netns add` leaves it before mounting (or after a failed delete).
    std::fs::write(dir.join("stale"), b"").unwrap();
    let mut errors = Vec::new();
    let candidates = discover(
        &dir,
        Path::new("/proc"),
        own_netns_inode().unwrap(),
        &mut errors,
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_only_foreign_process_errors(&errors);
    assert!(
        candidates.iter().all(|c| c.name.is_none()),
        "{candidates:#?}"
    );
}

#[test]
fn unreadable_netns_dir_is_recorded() {
    let file = std::env::temp_dir().join(format!("{}not-a-dir", unique_prefix()));
    std::fs::write(&file, b"").unwrap();
    let mut errors = Vec::new();
    discover(
        &file,
        Path::new("/proc"),
        own_netns_inode().unwrap(),
        &mut errors,
    );
    std::fs::remove_file(&file).unwrap();
    errors.retain(|e| !e.subject.starts_with("/proc/"));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].source, ErrorSource::NetnsDiscovery);
    assert_eq!(errors[0].subject, file.display().to_string());
    assert!(
        errors[0].message.contains("Not a directory"),
        "{}",
        errors[0].message
    );
}

#[test]
fn every_namespace_is_read_and_deleted_or_replaced_ones_are_errors() {
    let prefix = unique_prefix();
    let named: Vec<Netns> = (0..6)
        .map(|i| {
            let netns = Netns::add(&format!("{prefix}n{i}"));
            netns.ip(&format!("link add v{i}a type veth peer name v{i}b"));
            netns.ip(&format!("addr add 10.{i}.0.1/24 dev v{i}a"));
            netns
        })
        .collect();
    let unnamed = UnnamedNetns::start();
    let ours: Vec<u64> = named
        .iter()
        .map(Netns::inode)
        .chain([unnamed.inode()])
        .collect();
    let candidates: Vec<(NetnsCandidate, HostNsid)> = discover_all()
        .into_iter()
        .filter(|c| ours.contains(&c.inode))
        .map(|c| (c, HostNsid::Known(None)))
        .collect();
    assert_eq!(candidates.len(), 7);

    // Between discovery and read: n2 is deleted, n4 deleted and created again under its name.
    named[2].delete();
    named[4].delete();
    let _n4_again = Netns::add(&named[4].name);

    let own_before = own_netns_inode().unwrap();
    let results = read_namespaces(&candidates, 3);
    assert_eq!(
        own_netns_inode().unwrap(),
        own_before,
        "the caller was moved"
    );
    assert_eq!(results.len(), candidates.len());

    for ((candidate, _), result) in candidates.iter().zip(&results) {
        let Some(name) = &candidate.name else {
            let state = result.as_ref().expect("the unnamed namespace is read");
            assert_eq!(state.path, unnamed.path().display().to_string());
            assert_eq!(state.name, None);
            let links: Vec<_> = state.links.iter().map(|l| l.name.as_str()).collect();
            assert_eq!(links, vec!["lo"]);
            continue;
        };
        let i: usize = name
            .strip_prefix(&format!("{prefix}n"))
            .unwrap()
            .parse()
            .unwrap();
        let path = PathBuf::from(NETNS_DIR).join(name).display().to_string();
        match i {
            2 => {
                let error = result.as_ref().expect_err("n2 was deleted");
                assert_eq!(error.source, ErrorSource::Netlink);
                assert_eq!(error.subject, path);
                assert!(
                    error.message.contains("No such file or directory"),
                    "{}",
                    error.message
                );
            }
            4 => {
                let error = result.as_ref().expect_err("n4 was replaced");
                assert_eq!(error.subject, path);
                assert!(
                    error.message.starts_with("namespace replaced"),
                    "{}",
                    error.message
                );
            }
            _ => {
                let state = result.as_ref().unwrap_or_else(|e| panic!("n{i}: {e:?}"));
                assert_eq!(state.inode, candidate.inode);
                assert_eq!(state.name.as_deref(), Some(name.as_str()));
                assert_eq!(state.path, path);
                assert_eq!(state.nsid, None);
                let mut links: Vec<_> = state.links.iter().map(|l| l.name.clone()).collect();
                links.sort();
                assert_eq!(
                    links,
                    vec!["lo".to_owned(), format!("v{i}a"), format!("v{i}b")]
                );
                assert!(
                    state
                        .addresses
                        .iter()
                        .any(|a| a.address.to_string() == format!("10.{i}.0.1/24")),
                    "{:?}",
                    state.addresses
                );
            }
        }
    }
}

#[test]
fn readers_ask_the_id_their_own_namespace_has_for_a_namespace_when_told_to() {
    let prefix = unique_prefix();
    let node = Netns::add(&format!("{prefix}node"));
    let pods: Vec<Netns> = ["a", "b"]
        .iter()
        .map(|name| {
            let pod = Netns::add(&format!("{prefix}pod-{name}"));
            node.ip(&format!(
                "link add hveth-{name} type veth peer name eth0 netns {}",
                pod.name
            ));
            pod
        })
        .collect();
    let candidate = |pod: &Netns| NetnsCandidate {
        inode: pod.inode(),
        name: Some(pod.name.clone()),
        path: pod.path(),
    };
    // Read from the node, as the agent reads from the host.
    let (states, node_dump) = run_in_namespace(&node.path(), || {
        let results = read_namespaces(
            &[
                (candidate(&pods[0]), HostNsid::AskWhenRead),
                (candidate(&pods[1]), HostNsid::Known(Some(99))),
            ],
            2,
        );
        let states: Vec<_> = results.into_iter().map(Result::unwrap).collect();
        (states, RouteSocket::open().unwrap().dump().unwrap())
    })
    .unwrap();
    let veth_a = node_dump
        .links
        .iter()
        .find(|l| l.name == "hveth-a")
        .unwrap();
    assert!(veth_a.link_netnsid.is_some());
    assert_eq!(states[0].nsid, veth_a.link_netnsid, "asked by the reader");
    assert_eq!(states[1].nsid, Some(99), "taken as given");
}

#[test]
fn reader_count_is_bounded_by_the_work() {
    assert!(read_namespaces(&[], 4).is_empty());
    let netns = Netns::add(&format!("{}solo", unique_prefix()));
    let candidate = NetnsCandidate {
        inode: netns.inode(),
        name: Some(netns.name.clone()),
        path: netns.path(),
    };
    // No workers asked for still means one reader.
    let results = read_namespaces(&[(candidate, HostNsid::Known(Some(7)))], 0);
    let state = results[0].as_ref().unwrap();
    assert_eq!(state.nsid, Some(7));
    assert_eq!(state.links.len(), 1);
}

#[test]
fn run_in_namespace_runs_there_and_passes_panics_on() {
    let netns = Netns::add(&format!("{}run", unique_prefix()));
    let inside = run_in_namespace(&netns.path(), || own_netns_inode().unwrap()).unwrap();
    assert_eq!(inside, netns.inode());
    assert_ne!(own_netns_inode().unwrap(), netns.inode());

    let panicked = std::panic::catch_unwind(|| {
        run_in_namespace(&netns.path(), || panic!("inside")).ok();
    });
    assert!(panicked.is_err());

    let missing = run_in_namespace(Path::new("/var/run/netns/podwire-no-such-netns"), || ());
    assert!(missing.is_err());
}
