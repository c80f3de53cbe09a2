use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use netlink_packet_route::AddressFamily;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
use netlink_packet_route::route::RouteMessage;
use nix::sched::{CloneFlags, unshare};

use super::*;

fn neighbour(
    family: AddressFamily,
    state: NeighbourState,
    mac: Option<[u8; 6]>,
) -> NeighbourMessage {
    let mut message = NeighbourMessage::default();
    message.header.family = family;
    message.header.ifindex = 7;
    message.header.state = state;
    if family != AddressFamily::Bridge {
        message
            .attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                Ipv4Addr::new(169, 254, 1, 1),
            )));
    }
    if let Some(mac) = mac {
        message
            .attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    }
    message
}

const MAC_A: [u8; 6] = [0x02, 0xd1, 0x7d, 0xe3, 0x9c, 0xca];
const MAC_B: [u8; 6] = [0x02, 0xd1, 0x7d, 0xe3, 0x9c, 0xcb];

/// The neighbour notifications of one entry's life, in order, and whether each changes what a
/// snapshot says.
#[test]
fn neighbour_notifications_that_change_a_snapshot() {
    use NeighbourState::*;
    let inet = AddressFamily::Inet;
    let table: [(&str, RouteNetlinkMessage, bool); 9] = [
        (
            "first sight",
            RouteNetlinkMessage::NewNeighbour(neighbour(inet, Reachable, Some(MAC_A))),
            true,
        ),
        (
            "ages to STALE",
            RouteNetlinkMessage::NewNeighbour(neighbour(inet, Stale, Some(MAC_A))),
            false,
        ),
        (
            "probed",
            RouteNetlinkMessage::NewNeighbour(neighbour(inet, Delay, Some(MAC_A))),
            false,
        ),
        (
            "answers from another MAC",
            RouteNetlinkMessage::NewNeighbour(neighbour(inet, Reachable, Some(MAC_B))),
            true,
        ),
        (
            "pinned by the CNI",
            RouteNetlinkMessage::NewNeighbour(neighbour(inet, Permanent, Some(MAC_B))),
            true,
        ),
        (
            "pinned again",
            RouteNetlinkMessage::NewNeighbour(neighbour(inet, Permanent, Some(MAC_B))),
            false,
        ),
        (
            "deleted",
            RouteNetlinkMessage::DelNeighbour(neighbour(inet, Permanent, Some(MAC_B))),
            true,
        ),
        (
            "bridge fdb learned",
            RouteNetlinkMessage::NewNeighbour(neighbour(
                AddressFamily::Bridge,
                Reachable,
                Some(MAC_A),
            )),
            false,
        ),
        (
            "bridge fdb aged out",
            RouteNetlinkMessage::DelNeighbour(neighbour(
                AddressFamily::Bridge,
                Reachable,
                Some(MAC_A),
            )),
            false,
        ),
    ];
    let mut filter = NeighborFilter::default();
    for (step, message, changes) in table {
        assert_eq!(classify(&message, &mut filter).is_some(), changes, "{step}");
    }
}

#[test]
fn cached_routes_are_not_changes() {
    let mut filter = NeighborFilter::default();
    let table_route = RouteMessage::default();
    let mut cloned = RouteMessage::default();
    cloned.header.flags = RouteFlags::Cloned;
    assert_eq!(
        classify(
            &RouteNetlinkMessage::NewRoute(table_route.clone()),
            &mut filter
        ),
        Some(KernelObject::Route)
    );
    assert_eq!(
        classify(&RouteNetlinkMessage::DelRoute(table_route), &mut filter),
        Some(KernelObject::Route)
    );
    assert_eq!(
        classify(&RouteNetlinkMessage::NewRoute(cloned), &mut filter),
        None
    );
    assert_eq!(
        classify(
            &RouteNetlinkMessage::DelLink(LinkMessage::default()),
            &mut filter
        ),
        Some(KernelObject::Link)
    );
}

#[test]
fn a_truncated_datagram_counts_as_a_change() {
    let mut changes = KernelChanges::default();
    classify_datagram(
        &[0x40, 0, 0, 0, 0x10, 0],
        &mut NeighborFilter::default(),
        &mut changes,
    );
    assert!(changes.contains(KernelObject::Undecodable));
    assert_eq!(changes.to_string(), "undecodable");
}

fn ip(args: &str) {
    let status = Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .expect("run ip");
    assert!(status.success(), "ip {args}");
}

/// Real notifications from a namespace of the test's own: each kind of change the agent must
/// react to is reported as that kind.
#[test]
fn the_kernel_reports_links_routes_rules_and_addresses() {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                unshare(CloneFlags::CLONE_NEWNET).expect("unshare a network namespace");
                let mut events = KernelEvents::from_socket(open_socket().unwrap()).unwrap();
                let mut next = |expected: KernelObject| {
                    // Read batches until the expected kind shows up (a veth also brings address
                    // and route notifications of its own).
                    loop {
                        let changes = events
                            .next_batch(Some(Duration::from_secs(10)))
                            .unwrap()
                            .unwrap_or_else(|| panic!("no {expected:?} notification within 10 s"));
                        if changes.contains(expected) {
                            return changes;
                        }
                    }
                };
                ip("link add pw-a type veth peer name pw-b");
                next(KernelObject::Link);
                ip("link set pw-a up");
                ip("address add 10.9.0.1/24 dev pw-a");
                next(KernelObject::Address);
                ip("route add 10.77.0.0/16 via 10.9.0.2 dev pw-a onlink table 2");
                next(KernelObject::Route);
                ip("rule add from 10.9.0.1 lookup 2 priority 1536");
                next(KernelObject::Rule);
                ip("neighbor add 10.9.0.3 lladdr 02:00:00:00:00:03 dev pw-a nud permanent");
                next(KernelObject::Neighbor);
            })
            .join()
            .expect("the namespace thread");
    });
}
