use std::io::Write;
use std::process::{Command, Stdio};

use nix::sched::{CloneFlags, unshare};

/// Runs `work` on a thread in a new, empty network namespace of its own, gone with the
/// thread. Commands started from that thread run in it too.
fn in_fresh_namespace<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                unshare(CloneFlags::CLONE_NEWNET).expect("unshare a network namespace");
                work()
            })
            .join()
            .expect("the namespace thread")
    })
}

/// Adds `pairs` veth pairs to the calling thread's namespace.
fn add_veth_pairs(pairs: usize) {
    let mut ip = Command::new("ip")
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut batch = String::new();
    for i in 0..pairs {
        batch.push_str(&format!("link add big{i}a type veth peer name big{i}b\n"));
    }
    ip.stdin
        .take()
        .unwrap()
        .write_all(batch.as_bytes())
        .unwrap();
    assert!(ip.wait().unwrap().success());
}

#[test]
fn a_malformed_message_fails_the_dump_but_leaves_the_socket_usable() {
    let (failed, links) = in_fresh_namespace(|| {
        add_veth_pairs(100);
        let mut socket = super::RouteSocket::open().unwrap();
        let failed = socket.dump_objects(
            super::Request::Links,
            super::super::link_dump_request(),
            |_| Err::<Option<()>, _>(super::MessageError::LinkWithoutName { ifindex: 1 }),
        );
        // The failed dump was read to its end, so the socket takes a new one (no EBUSY).
        (failed, socket.dump().unwrap().links)
    });
    assert!(
        matches!(
            failed,
            Err(super::NetlinkError::Malformed {
                source: super::MessageError::LinkWithoutName { ifindex: 1 },
                ..
            })
        ),
        "{failed:?}"
    );
    assert_eq!(links.len(), 201);
}

#[test]
fn replies_larger_than_the_receive_buffer_are_read_whole_after_growing_it() {
    let (links, capacity) = in_fresh_namespace(|| {
        let mut ip = Command::new("ip")
            .args(["-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut batch = String::new();
        for i in 0..150 {
            batch.push_str(&format!("link add big{i}a type veth peer name big{i}b\n"));
        }
        ip.stdin
            .take()
            .unwrap()
            .write_all(batch.as_bytes())
            .unwrap();
        assert!(ip.wait().unwrap().success());

        let mut socket = super::RouteSocket::with_receive_buffer(512).unwrap();
        let dump = socket.dump().unwrap();
        (dump.links, socket.receive_buffer.capacity())
    });
    assert_eq!(links.len(), 301, "lo and 150 veth pairs");
    assert!(links.iter().any(|l| l.name == "big149b"));
    assert!(capacity > 512, "the buffer grew to {capacity}");
}

#[test]
fn a_tiny_dump_whose_only_datagram_did_not_fit_is_repeated() {
    // Only `lo`, whose message alone is larger than the buffer.
    let links = in_fresh_namespace(|| {
        let mut socket = super::RouteSocket::with_receive_buffer(256).unwrap();
        socket.dump().unwrap().links
    });
    let names: Vec<_> = links.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, vec!["lo"]);
}
