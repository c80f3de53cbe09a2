//! The content hash changes exactly when the node's wiring does: not for the collection's clock, not
//! for neighbour entries ageing, not for the order the kernel dumped things in.

#![expect(
    clippy::unwrap_used,
    reason = "helpers of tests: a failed unwrap is a failed test"
)]

mod support;

use podwire_node_state::wire::{ContentHash, content_hash};
use podwire_node_state::*;
use support::{every_variant_snapshot, ip, net, vpc_cni_node};

fn node() -> NodeSnapshot {
    // Pods on two ENIs, so that some have a `from POD lookup N` rule.
    vpc_cni_node(100)
}

fn pod_index(snapshot: &NodeSnapshot, pod_ip: &str) -> usize {
    let pod_ip = net(&format!("{pod_ip}/32"));
    snapshot
        .namespaces
        .iter()
        .position(|ns| ns.addresses.iter().any(|a| a.address == pod_ip))
        .unwrap()
}

type Change = fn(&mut NodeSnapshot);

#[test]
fn what_changes_on_every_collection_leaves_the_hash_alone() {
    let before = node();
    let changes: Vec<(&str, Change)> = vec![
        ("collection start", |s| {
            s.node.collected_at_unix_ms += 30_000
        }),
        ("collection duration", |s| s.node.collection_duration_us = 1),
        ("a pod's ARP entry goes STALE", |s| {
            let n = s
                .host
                .neighbors
                .iter_mut()
                .find(|n| n.state == ["REACHABLE"])
                .unwrap();
            n.state = vec!["STALE".into()];
        }),
        ("a gateway's ARP entry is being probed", |s| {
            s.host.neighbors[0].state = vec!["DELAY".into(), "PROBE".into()];
        }),
        ("a pod's ARP entry loses its state entirely", |s| {
            let n = s
                .host
                .neighbors
                .iter_mut()
                .find(|n| n.state == ["STALE"])
                .unwrap();
            n.state.clear();
        }),
    ];
    for (what, change) in changes {
        let mut after = before.clone();
        change(&mut after);
        assert_ne!(after, before, "{what}: the change did nothing");
        assert_eq!(
            content_hash(&after),
            content_hash(&before),
            "{what} changed the hash"
        );
    }
}

#[test]
fn every_real_change_changes_the_hash() {
    let before = node();
    let changes: Vec<(&str, Change)> = vec![
        ("a route added", |s| {
            let mut route = s.host.routes[0].clone();
            route.destination = net("10.200.0.0/16");
            s.host.routes.push(route);
        }),
        ("a route's metric", |s| s.host.routes[0].metric += 1),
        ("a route's gateway", |s| {
            s.host.routes[0].gateway = Some(ip("172.31.48.2"))
        }),
        ("a route's table", |s| s.host.routes[0].table = 7),
        ("a route removed", |s| _ = s.host.routes.pop()),
        ("a rule's table", |s| {
            let rule = s
                .host
                .rules
                .iter_mut()
                .find(|r| r.priority == 1536)
                .unwrap();
            rule.action = RuleAction::Lookup { table: 9 };
        }),
        ("a rule's priority", |s| {
            s.host.rules.last_mut().unwrap().priority = 1537
        }),
        ("a rule's fwmark", |s| {
            s.host
                .rules
                .iter_mut()
                .find(|r| r.fwmark.is_some())
                .unwrap()
                .fwmask = Some(0xff)
        }),
        ("a pod's IP", |s| {
            let pod = pod_index(s, "172.31.100.5");
            s.namespaces[pod].addresses[1].address = net("172.31.100.200/32");
        }),
        ("a pod's IP in the CNI cache", |s| {
            s.cni.cache[5].ips[0] = net("172.31.100.200/32")
        }),
        ("a pod's name", |s| {
            s.cni.cache[5].pod_name = Some("renamed".into())
        }),
        ("a pod deleted", |s| _ = s.namespaces.pop()),
        ("a link's MTU", |s| s.host.links[1].mtu = 1500),
        ("a link goes down", |s| {
            s.host.links[1].oper_state = OperState::Down
        }),
        ("a veth moves to a bridge", |s| {
            s.host.links[10].master = Some(2)
        }),
        ("a neighbour added", |s| {
            let mut n = s.host.neighbors[0].clone();
            n.address = ip("172.31.48.77");
            s.host.neighbors.push(n);
        }),
        ("a neighbour's MAC", |s| {
            s.host.neighbors[0].lladdr = Some(support::mac("02:00:00:00:00:99"))
        }),
        ("a permanent neighbour becomes dynamic", |s| {
            s.namespaces[0].neighbors[0].state = vec!["REACHABLE".into()]
        }),
        ("an ipamd address released", |s| {
            let address = &mut s
                .vpc_cni
                .as_mut()
                .unwrap()
                .ipamd
                .as_mut()
                .unwrap()
                .network_cards[0]
                .enis[0]
                .cidrs[0]
                .addresses[0];
            address.assigned = false;
        }),
        ("a checkpoint allocation", |s| {
            s.vpc_cni
                .as_mut()
                .unwrap()
                .checkpoint
                .as_mut()
                .unwrap()
                .allocations[3]
                .ipv4 = None
        }),
        ("a kernel decision", |s| {
            s.kernel_routes[3].answer = KernelRouteAnswer::Error {
                errno: -101,
                message: "Network is unreachable".into(),
            };
        }),
        ("an error appears", |s| {
            s.errors.push(SourceError {
                source: ErrorSource::Ipamd,
                subject: "127.0.0.1:61679".into(),
                message: "connection refused".into(),
            });
        }),
        ("the probe destination", |s| {
            s.probe_destination = Some(ip("8.8.8.8"))
        }),
        ("a reboot", |s| s.node.boot_id = "another".into()),
        ("a new agent", |s| s.node.agent_version = "0.2.0".into()),
        ("the CNI configuration order", |s| {
            let mut second = s.cni.configs[0].clone();
            second.file = "etc/cni/net.d/05-other.conflist".into();
            s.cni.configs.insert(0, second);
        }),
        ("the plugin chain order", |s| {
            s.cni.configs[0].plugins.swap(0, 1)
        }),
        ("a CNI result's interface order", |s| {
            s.cni.cache[0].interfaces.swap(0, 1)
        }),
    ];
    let base = content_hash(&before);
    for (what, change) in changes {
        let mut after = before.clone();
        change(&mut after);
        assert_ne!(after, before, "{what}: the change did nothing");
        assert_ne!(content_hash(&after), base, "{what} left the hash unchanged");
    }
}

/// Reverses and rotates every list the kernel, a directory listing or ipamd's JSON map could hand
/// over in another order.
fn redumped(snapshot: &NodeSnapshot) -> NodeSnapshot {
    fn shuffle<T>(items: &mut [T]) {
        items.reverse();
        if !items.is_empty() {
            items.rotate_left(items.len() / 3);
        }
    }
    fn shuffle_netns(ns: &mut NetnsState) {
        shuffle(&mut ns.links);
        shuffle(&mut ns.addresses);
        // Rules and routes with equal keys keep their relative order: the kernel applies them in it.
        ns.routes
            .sort_by_key(|r| std::cmp::Reverse((r.table, r.destination, r.metric)));
        ns.rules.sort_by_key(|r| std::cmp::Reverse(r.priority));
        shuffle(&mut ns.neighbors);
    }
    let mut s = snapshot.clone();
    shuffle_netns(&mut s.host);
    s.namespaces.iter_mut().for_each(shuffle_netns);
    shuffle(&mut s.namespaces);
    shuffle(&mut s.cni.cache);
    shuffle(&mut s.cni.host_local);
    for network in &mut s.cni.host_local {
        shuffle(&mut network.allocations);
    }
    if let Some(vpc_cni) = &mut s.vpc_cni {
        if let Some(ipamd) = &mut vpc_cni.ipamd {
            shuffle(&mut ipamd.network_cards);
            for card in &mut ipamd.network_cards {
                shuffle(&mut card.enis);
                for eni in &mut card.enis {
                    shuffle(&mut eni.cidrs);
                    for cidr in &mut eni.cidrs {
                        shuffle(&mut cidr.addresses);
                    }
                }
            }
        }
        if let Some(checkpoint) = &mut vpc_cni.checkpoint {
            shuffle(&mut checkpoint.allocations);
        }
    }
    shuffle(&mut s.kernel_routes);
    shuffle(&mut s.errors);
    s
}

#[test]
fn dump_order_does_not_change_the_hash() {
    for snapshot in [
        node(),
        every_variant_snapshot(IpamdShape::PerNetworkCardScrubbed),
    ] {
        let shuffled = redumped(&snapshot);
        assert_ne!(shuffled, snapshot, "the shuffle did nothing");
        assert_eq!(content_hash(&shuffled), content_hash(&snapshot));
    }
}

#[test]
fn the_kernel_order_of_rules_that_tie_is_part_of_the_wiring() {
    // Two rules at one priority are tried in the order the kernel lists them.
    let mut before = node();
    let mut extra = before
        .host
        .rules
        .iter()
        .find(|r| r.priority == 1536)
        .unwrap()
        .clone();
    extra.action = RuleAction::Lookup { table: 42 };
    before.host.rules.push(extra);
    let ties: Vec<usize> = before
        .host
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.priority == 1536)
        .map(|(i, _)| i)
        .collect();
    let mut after = before.clone();
    after.host.rules.swap(ties[0], ties[ties.len() - 1]);
    assert_ne!(content_hash(&after), content_hash(&before));
}

#[test]
fn the_hash_prints_and_travels_as_32_bytes() {
    let hash = content_hash(&node());
    assert_eq!(hash.to_string().len(), 64);
    assert!(
        hash.to_string()
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(ContentHash::from_wire(&hash.to_wire()), Ok(hash));
    assert_eq!(ContentHash::from_wire(&[0; 31]).unwrap_err().len, 31);
    assert_ne!(
        content_hash(&node()),
        content_hash(&NodeSnapshot::default())
    );
}
