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

/// RTM_GETROUTE questions the kernel of an empty namespace answers without any routes set up:
/// about an input device that does not exist (even-numbered, `ENODEV`) and about packets
/// entering on `lo` (odd-numbered, refused some other way: nothing is routed).
fn questions(count: usize) -> Vec<netlink_packet_route::RouteNetlinkMessage> {
    (0..count)
        .map(|i| {
            let query = podwire_node_state::KernelRouteQuery {
                destination: "192.0.2.1".parse().unwrap(),
                source: format!("10.0.{}.{}", i / 250, i % 250 + 1).parse().unwrap(),
                iif: if i % 2 == 0 { 9999 } else { 1 },
                fwmark: None,
            };
            netlink_packet_route::RouteNetlinkMessage::GetRoute(
                super::super::route_get_message(&query).unwrap(),
            )
        })
        .collect()
}

#[test]
fn batch_size_follows_the_receive_buffer() {
    assert_eq!(super::batch::batch_for_buffer(0), 1);
    assert_eq!(super::batch::batch_for_buffer(4096), 2);
    assert_eq!(
        super::batch::batch_for_buffer(212_992),
        super::batch::MAX_BATCH
    );
}

#[test]
fn batched_questions_are_all_answered_in_order_across_batches() {
    let answers = in_fresh_namespace(|| {
        let mut socket = super::RouteSocket::open().unwrap();
        let answers = socket
            .ask_all(
                super::Request::RouteGet,
                &questions(2 * super::batch::MAX_BATCH + 7),
            )
            .unwrap();
        assert_eq!(
            socket.batch,
            Some(super::batch::MAX_BATCH),
            "the default buffer allows full batches"
        );
        answers
    });
    assert_eq!(answers.len(), 2 * super::batch::MAX_BATCH + 7);
    assert_alternating_refusals(&answers);
}

/// Each answer is the one to its own question (see [`questions`]).
fn assert_alternating_refusals(answers: &[Result<netlink_packet_route::RouteNetlinkMessage, i32>]) {
    let enodev = nix::errno::Errno::ENODEV as i32;
    let Err(on_lo) = answers[1] else {
        panic!("a packet entering on lo is refused: {:?}", answers[1]);
    };
    assert_ne!(on_lo, enodev);
    for (i, answer) in answers.iter().enumerate() {
        let expected = if i % 2 == 0 { enodev } else { on_lo };
        assert_eq!(*answer, Err(expected), "answer {i}");
    }
}

#[test]
fn answers_lost_to_a_full_receive_buffer_are_asked_again() {
    let (lost, answers, links) = in_fresh_namespace(|| {
        let mut socket = super::RouteSocket::open().unwrap();
        // The smallest buffer the kernel allows holds a few answers, not a batch of 64.
        socket.socket.set_rx_buf_sz(0).unwrap();
        assert!(socket.socket.get_rx_buf_sz().unwrap() < 8 * 1024);
        socket.batch = Some(super::batch::MAX_BATCH);
        let questions = questions(super::batch::MAX_BATCH);

        // One batch on its own: the kernel drops what does not fit and says so (ENOBUFS).
        let first = socket
            .send_batch(super::Request::RouteGet, &questions)
            .unwrap();
        let received = socket
            .receive_batch(super::Request::RouteGet, first, questions.len())
            .unwrap();
        let lost = received.iter().filter(|a| a.is_none()).count();

        // The whole call asks the lost ones again, and the socket stays usable.
        let answers = socket
            .ask_all(super::Request::RouteGet, &questions)
            .unwrap();
        (lost, answers, socket.dump().unwrap().links)
    });
    assert!(lost > 0, "the buffer overran");
    assert_eq!(answers.len(), super::batch::MAX_BATCH);
    assert_alternating_refusals(&answers);
    assert_eq!(links.len(), 1, "lo");
}

#[test]
fn links_decoded_with_only_the_read_attributes_convert_as_fully_decoded_ones() {
    use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkPayload};
    use netlink_packet_route::RouteNetlinkMessage;

    let messages: Vec<Vec<u8>> = in_fresh_namespace(|| {
        let mut ip = Command::new("ip")
            .args(["-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        ip.stdin
            .take()
            .unwrap()
            .write_all(
                b"link add br0 type bridge\n\
                  link add v0 type veth peer name v1\n\
                  link set v0 master br0\n\
                  link add mv0 link v1 type macvlan mode bridge\n\
                  link add vx0 type vxlan id 42 local 10.0.0.1 dstport 4789 dev v1\n\
                  link set v1 mtu 9001\n\
                  link set br0 up\n\
                  link set v0 up\n",
            )
            .unwrap();
        assert!(ip.wait().unwrap().success());

        // The raw datagrams of a link dump, cut into messages.
        let mut socket = super::RouteSocket::open().unwrap();
        let request = super::Request::Links;
        let sequence = socket
            .send(
                request,
                &super::super::link_dump_request(),
                NLM_F_REQUEST | NLM_F_DUMP,
            )
            .unwrap();
        let mut messages = Vec::new();
        loop {
            let super::Received::Whole(length) = socket.receive(request, 0).unwrap() else {
                panic!("a datagram did not fit");
            };
            let mut bytes = &socket.receive_buffer[..length];
            while !bytes.is_empty() {
                let buffer = NetlinkBuffer::new_checked(bytes).unwrap();
                assert_eq!(buffer.sequence_number(), sequence);
                if buffer.message_type() == 3 {
                    return messages;
                }
                let message_length = buffer.length() as usize;
                messages.push(bytes[..message_length].to_vec());
                bytes = &bytes[message_length.next_multiple_of(4).min(bytes.len())..];
            }
        }
    });
    assert_eq!(messages.len(), 6, "lo, br0, v0, v1, mv0, vx0");

    let mut kinds = Vec::new();
    for bytes in &messages {
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(full)) =
            super::decode_message(bytes).unwrap().payload
        else {
            panic!("not a link message");
        };
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(lean)) =
            super::decode_reply(bytes).unwrap().payload
        else {
            panic!("not a link message");
        };
        assert!(lean.attributes.len() < full.attributes.len());
        let link = super::super::link_from_message(&lean).unwrap();
        assert_eq!(link, super::super::link_from_message(&full).unwrap());
        kinds.push(link.kind.name().to_owned());
    }
    kinds.sort();
    assert_eq!(
        kinds,
        ["bridge", "loopback", "macvlan", "veth", "veth", "vxlan"]
    );
}

#[test]
fn a_socket_for_small_dumps_reads_a_large_one_whole_in_more_datagrams() {
    let (links, capacity) = in_fresh_namespace(|| {
        add_veth_pairs(60);
        let mut socket = super::RouteSocket::open_for_small_dumps().unwrap();
        let links = socket.dump().unwrap().links;
        (links, socket.receive_buffer.capacity())
    });
    assert_eq!(links.len(), 121, "lo and 60 veth pairs");
    assert_eq!(
        capacity,
        super::SMALL_RECEIVE_BUFFER_BYTES,
        "no datagram was larger"
    );
}
