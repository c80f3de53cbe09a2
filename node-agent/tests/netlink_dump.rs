//! `RouteSocket::dump` on a node built in real namespaces: a host veth into a pod, a bridge with a
//! port, a VXLAN, a macvlan, routes in tables 254, 2, 100 and 1000, policy rules of every kind and
//! a PERMANENT neighbour — each reported exactly as the kernel holds it.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup or lookup step should stop the test"
)]

mod common;

use std::net::IpAddr;

use common::{Netns, unique_prefix};
use ipnet::IpNet;
use podwire_agent::collect::netlink::NetnsDump;
use podwire_node_state::{
    IpFamily, Link, LinkKind, NextHop, OperState, PolicyRule, Route, RouteScope, RouteType,
    RuleAction,
};

const RTPROT_KERNEL: u8 = 2;
const RTPROT_BOOT: u8 = 3;
const RTPROT_STATIC: u8 = 4;

struct Node {
    node: Netns,
    pod: Netns,
}

/// The node: `eth1` (a veth standing in for the NIC, its peer `eth1p` up), `hveth` into the pod,
/// bridge `br0` with port `brport`, `flannel.1`, macvlan `vlan.eth.1` on `eth1`, `ifb0`.
fn build_node() -> Node {
    let prefix = unique_prefix();
    let node = Netns::add(&format!("{prefix}node"));
    let pod = Netns::add(&format!("{prefix}pod"));
    for command in [
        format!("link add hveth type veth peer name eth0 netns {}", pod.name),
        "link add eth1 mtu 9001 type veth peer name eth1p".to_owned(),
        "link add br0 type bridge".to_owned(),
        "link add brport type veth peer name brportp".to_owned(),
        "link set brport master br0".to_owned(),
        "link add flannel.1 type vxlan id 1 local 10.0.0.10 dstport 8472 dev eth1".to_owned(),
        "link add link eth1 name vlan.eth.1 address 02:b8:3c:51:7e:21 type macvlan mode bridge"
            .to_owned(),
        "link add ifb0 type ifb".to_owned(),
        "link set hveth up".to_owned(),
        "link set eth1 up".to_owned(),
        "link set eth1p up".to_owned(),
        "link set vlan.eth.1 up".to_owned(),
        "addr add 10.0.0.10/24 dev eth1".to_owned(),
        "addr add 10.3.0.1 peer 10.3.0.2/32 dev eth1".to_owned(),
        "addr add fd00::10/64 dev eth1 nodad".to_owned(),
        // main
        "route add default via 10.0.0.1 dev eth1".to_owned(),
        "route add 10.1.1.5 dev hveth scope link".to_owned(),
        // table 2: a multipath route and one with a preferred source
        "route add 10.8.0.0/16 table 2 nexthop via 10.0.0.1 dev eth1 weight 1 nexthop via 10.0.0.2 dev eth1 weight 3".to_owned(),
        "route add 10.6.0.0/16 dev eth1 src 10.0.0.10 table 2".to_owned(),
        // table 100: the branch-ENI table
        "route add 10.0.0.1 dev vlan.eth.1 scope link table 100".to_owned(),
        "route add default via 10.0.0.1 dev vlan.eth.1 table 100".to_owned(),
        "route add 10.7.0.0/16 via 192.0.2.1 dev eth1 onlink table 100".to_owned(),
        // table 1000: above 255, only in RTA_TABLE
        "route add 10.9.0.0/16 via 10.0.0.1 dev eth1 metric 50 proto static table 1000".to_owned(),
        "route add unreachable 10.5.0.0/16 table 1000".to_owned(),
        "-6 route add 2001:db8::/64 dev eth1 metric 300 table 1000".to_owned(),
        // rules
        "rule add priority 10 iif vlan.eth.1 lookup 100".to_owned(),
        "rule add priority 20 from 192.168.50.0/24 goto 1536".to_owned(),
        "rule add priority 30 to 203.0.113.0/24 unreachable".to_owned(),
        "rule add priority 40 not from 10.2.0.0/16 lookup 1000".to_owned(),
        "rule add priority 50 lookup main suppress_prefixlength 0".to_owned(),
        "rule add priority 60 ipproto tcp sport 1000-2000 dport 443 lookup 100".to_owned(),
        "rule add priority 70 uidrange 100-200 lookup 100".to_owned(),
        "rule add priority 80 oif eth1 lookup 1000".to_owned(),
        "rule add priority 512 to 10.1.1.5 lookup main".to_owned(),
        "rule add priority 1000 fwmark 0x80/0x80 lookup 2".to_owned(),
        "rule add priority 1536 from 10.1.1.5 lookup 2".to_owned(),
        "-6 rule add priority 90 from fd00::/64 lookup 1000".to_owned(),
        "neigh add 10.0.0.1 lladdr 02:00:00:00:00:01 dev eth1 nud permanent".to_owned(),
    ] {
        node.ip(&command);
    }
    pod.ip("link set eth0 up");
    node.wait_until_up("hveth");
    Node { node, pod }
}

fn link<'a>(dump: &'a NetnsDump, name: &str) -> &'a Link {
    dump.links
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no link {name} in {:#?}", dump.links))
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn routes_of(dump: &NetnsDump, table: u32) -> Vec<&Route> {
    dump.routes.iter().filter(|r| r.table == table).collect()
}

fn route<'a>(dump: &'a NetnsDump, table: u32, destination: &str) -> &'a Route {
    dump.routes
        .iter()
        .find(|r| r.table == table && r.destination == net(destination))
        .unwrap_or_else(|| {
            panic!(
                "no route {destination} in table {table}: {:#?}",
                dump.routes
            )
        })
}

fn rule(dump: &NetnsDump, family: IpFamily, priority: u32) -> &PolicyRule {
    let found: Vec<_> = dump
        .rules
        .iter()
        .filter(|r| r.family == family && r.priority == priority)
        .collect();
    assert_eq!(found.len(), 1, "rules at priority {priority}: {found:#?}");
    found[0]
}

/// A lookup rule with no selector, to build the expected rules from.
fn plain_rule(priority: u32, table: u32) -> PolicyRule {
    PolicyRule {
        family: IpFamily::V4,
        priority,
        invert: false,
        source: None,
        destination: None,
        iif: None,
        oif: None,
        fwmark: None,
        fwmask: None,
        tos: 0,
        ip_proto: None,
        sport: None,
        dport: None,
        uid_range: None,
        l3mdev: false,
        suppress_prefixlength: None,
        suppress_ifgroup: None,
        action: RuleAction::Lookup { table },
    }
}

#[test]
fn links_carry_their_kind_details() {
    let Node { node, pod } = build_node();
    let dump = node.dump();
    let eth1 = node.ifindex("eth1");

    let hveth = link(&dump, "hveth");
    let link_netnsid = node.ip_json("link show dev hveth")[0]["link_netnsid"]
        .as_i64()
        .expect("ip shows the veth's link-netnsid") as i32;
    assert_eq!(
        *hveth,
        Link {
            ifindex: node.ifindex("hveth"),
            name: "hveth".into(),
            kind: LinkKind::Veth,
            mac: Some(node.mac("hveth").parse().unwrap()),
            mtu: 1500,
            admin_up: true,
            oper_state: OperState::Up,
            master: None,
            link: Some(pod.ifindex("eth0")),
            link_netnsid: Some(link_netnsid),
        }
    );

    let brport = link(&dump, "brport");
    assert_eq!(brport.master, Some(node.ifindex("br0")));
    assert_eq!(brport.kind, LinkKind::Veth);
    assert!(!brport.admin_up);
    assert_eq!(brport.oper_state, OperState::Down);
    assert_eq!(
        brport.link,
        Some(node.ifindex("brportp")),
        "peer in the same namespace"
    );
    assert_eq!(brport.link_netnsid, None);
    assert_eq!(link(&dump, "br0").kind, LinkKind::Bridge);

    assert_eq!(
        link(&dump, "flannel.1").kind,
        LinkKind::Vxlan {
            vni: 1,
            underlay: Some(eth1),
            local: Some(ip("10.0.0.10")),
            remote: None,
            port: Some(8472),
        }
    );

    let macvlan = link(&dump, "vlan.eth.1");
    assert_eq!(
        macvlan.kind,
        LinkKind::Macvlan {
            mode: "bridge".into()
        }
    );
    assert_eq!(macvlan.link, Some(eth1));
    assert_eq!(macvlan.mac, Some("02:b8:3c:51:7e:21".parse().unwrap()));
    assert_eq!(macvlan.mtu, 9001, "inherited from eth1");

    assert_eq!(link(&dump, "lo").kind, LinkKind::Loopback);
    assert_eq!(
        link(&dump, "ifb0").kind,
        LinkKind::Other { name: "ifb".into() }
    );
    assert_eq!(link(&dump, "eth1").mtu, 9001);

    // Exactly the links `ip link` lists.
    let mut ours: Vec<_> = dump
        .links
        .iter()
        .map(|l| (l.ifindex, l.name.clone()))
        .collect();
    let mut theirs: Vec<_> = node
        .ip_json("link show")
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["ifindex"].as_u64().unwrap() as u32,
                l["ifname"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
}

#[test]
fn addresses_of_both_families_with_peers() {
    let Node { node, pod: _pod } = build_node();
    let dump = node.dump();
    let eth1 = node.ifindex("eth1");
    let on_eth1: Vec<_> = dump
        .addresses
        .iter()
        .filter(|a| a.ifindex == eth1)
        .collect();

    let plain = on_eth1
        .iter()
        .find(|a| a.address == net("10.0.0.10/24"))
        .expect("10.0.0.10/24");
    assert_eq!(plain.peer, None);
    assert_eq!(plain.scope, RouteScope::Universe);

    let p2p = on_eth1
        .iter()
        .find(|a| a.address == net("10.3.0.1/32"))
        .expect("10.3.0.1 peer 10.3.0.2");
    assert_eq!(p2p.peer, Some(ip("10.3.0.2")));

    assert!(on_eth1.iter().any(|a| a.address == net("fd00::10/64")));
    let lo = node.ifindex("lo");
    assert!(dump.addresses.iter().any(|a| a.ifindex == lo
        && a.address == net("127.0.0.1/8")
        && a.scope == RouteScope::Host));
}

#[test]
fn routes_of_every_table_are_exact() {
    let Node { node, pod: _pod } = build_node();
    let dump = node.dump();
    let eth1 = node.ifindex("eth1");
    let unicast = |table, destination: &str| Route {
        table,
        destination: net(destination),
        route_type: RouteType::Unicast,
        protocol: RTPROT_BOOT,
        scope: RouteScope::Universe,
        metric: 0,
        tos: 0,
        pref_src: None,
        source: None,
        oif: Some(eth1),
        gateway: None,
        onlink: false,
        nexthops: vec![],
    };

    assert_eq!(
        *route(&dump, 254, "0.0.0.0/0"),
        Route {
            gateway: Some(ip("10.0.0.1")),
            ..unicast(254, "0.0.0.0/0")
        }
    );
    assert_eq!(
        *route(&dump, 254, "10.1.1.5/32"),
        Route {
            scope: RouteScope::Link,
            oif: Some(node.ifindex("hveth")),
            ..unicast(254, "10.1.1.5/32")
        }
    );
    assert_eq!(
        *route(&dump, 254, "10.0.0.0/24"),
        Route {
            protocol: RTPROT_KERNEL,
            scope: RouteScope::Link,
            pref_src: Some(ip("10.0.0.10")),
            ..unicast(254, "10.0.0.0/24")
        }
    );

    assert_eq!(
        *route(&dump, 2, "10.8.0.0/16"),
        Route {
            oif: None,
            nexthops: vec![
                NextHop {
                    oif: eth1,
                    gateway: Some(ip("10.0.0.1")),
                    weight: 1,
                    onlink: false
                },
                NextHop {
                    oif: eth1,
                    gateway: Some(ip("10.0.0.2")),
                    weight: 3,
                    onlink: false
                },
            ],
            ..unicast(2, "10.8.0.0/16")
        }
    );
    assert_eq!(
        *route(&dump, 2, "10.6.0.0/16"),
        Route {
            scope: RouteScope::Link,
            pref_src: Some(ip("10.0.0.10")),
            ..unicast(2, "10.6.0.0/16")
        }
    );

    assert_eq!(
        *route(&dump, 100, "0.0.0.0/0"),
        Route {
            oif: Some(node.ifindex("vlan.eth.1")),
            gateway: Some(ip("10.0.0.1")),
            ..unicast(100, "0.0.0.0/0")
        }
    );
    assert_eq!(
        *route(&dump, 100, "10.7.0.0/16"),
        Route {
            gateway: Some(ip("192.0.2.1")),
            onlink: true,
            ..unicast(100, "10.7.0.0/16")
        }
    );

    assert_eq!(
        *route(&dump, 1000, "10.9.0.0/16"),
        Route {
            protocol: RTPROT_STATIC,
            metric: 50,
            gateway: Some(ip("10.0.0.1")),
            ..unicast(1000, "10.9.0.0/16")
        }
    );
    assert_eq!(
        *route(&dump, 1000, "10.5.0.0/16"),
        Route {
            route_type: RouteType::Unreachable,
            oif: None,
            ..unicast(1000, "10.5.0.0/16")
        }
    );
    assert_eq!(
        *route(&dump, 1000, "2001:db8::/64"),
        Route {
            metric: 300,
            ..unicast(1000, "2001:db8::/64")
        }
    );
    assert_eq!(
        routes_of(&dump, 1000).len(),
        3,
        "{:#?}",
        routes_of(&dump, 1000)
    );

    // One dump of every family returns IPv4 routes first, then IPv6 ones, as the model says.
    let first_v6 = dump
        .routes
        .iter()
        .position(|r| r.destination.addr().is_ipv6())
        .unwrap();
    assert!(
        dump.routes[first_v6..]
            .iter()
            .all(|r| r.destination.addr().is_ipv6()),
        "{:#?}",
        dump.routes
    );

    let local = route(&dump, 255, "10.0.0.10/32");
    assert_eq!(local.route_type, RouteType::Local);
    assert_eq!(local.scope, RouteScope::Host);

    // Every IPv4 route `ip route show table all` lists, and no other.
    let mut ours: Vec<(u32, String)> = dump
        .routes
        .iter()
        .filter(|r| r.destination.addr().is_ipv4())
        .map(|r| (r.table, r.destination.to_string()))
        .collect();
    let mut theirs: Vec<(u32, String)> = node
        .ip_json("-4 route show table all")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let table = match r["table"].as_str() {
                None | Some("main") => 254,
                Some("local") => 255,
                Some("default") => 253,
                Some(id) => id.parse().unwrap(),
            };
            let destination = match r["dst"].as_str().unwrap() {
                "default" => "0.0.0.0/0".to_owned(),
                d if d.contains('/') => d.to_owned(),
                d => format!("{d}/32"),
            };
            (table, destination)
        })
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
}

#[test]
fn rules_keep_every_selector_and_action() {
    let Node { node, pod: _pod } = build_node();
    let dump = node.dump();

    // The built-in rules: priority 0 has no FRA_PRIORITY attribute.
    assert_eq!(*rule(&dump, IpFamily::V4, 0), plain_rule(0, 255));
    assert_eq!(*rule(&dump, IpFamily::V4, 32766), plain_rule(32766, 254));
    assert_eq!(*rule(&dump, IpFamily::V4, 32767), plain_rule(32767, 253));

    assert_eq!(
        *rule(&dump, IpFamily::V4, 10),
        PolicyRule {
            iif: Some("vlan.eth.1".into()),
            ..plain_rule(10, 100)
        }
    );
    assert_eq!(
        *rule(&dump, IpFamily::V4, 20),
        PolicyRule {
            source: Some(net("192.168.50.0/24")),
            action: RuleAction::Goto { priority: 1536 },
            ..plain_rule(20, 0)
        }
    );
    assert_eq!(
        *rule(&dump, IpFamily::V4, 30),
        PolicyRule {
            destination: Some(net("203.0.113.0/24")),
            action: RuleAction::Unreachable,
            ..plain_rule(30, 0)
        }
    );
    assert_eq!(
        *rule(&dump, IpFamily::V4, 40),
        PolicyRule {
            invert: true,
            source: Some(net("10.2.0.0/16")),
            ..plain_rule(40, 1000)
        }
    );
    assert_eq!(
        *rule(&dump, IpFamily::V4, 50),
        PolicyRule {
            suppress_prefixlength: Some(0),
            ..plain_rule(50, 254)
        }
    );
    assert_eq!(
        *rule(&dump, IpFamily::V4, 60),
        PolicyRule {
            ip_proto: Some(6),
            sport: Some((1000, 2000)),
            dport: Some((443, 443)),
            ..plain_rule(60, 100)
        }
    );
    assert_eq!(
        *rule(&dump, IpFamily::V4, 70),
        PolicyRule {
            uid_range: Some((100, 200)),
            ..plain_rule(70, 100)
        }
    );
    assert_eq!(
        *rule(&dump, IpFamily::V4, 80),
        PolicyRule {
            oif: Some("eth1".into()),
            ..plain_rule(80, 1000)
        }
    );
    assert_eq!(
        *rule(&dump, IpFamily::V4, 512),
        PolicyRule {
            destination: Some(net("10.1.1.5/32")),
            ..plain_rule(512, 254)
        }
    );
    assert_eq!(
        *rule(&dump, IpFamily::V4, 1000),
        PolicyRule {
            fwmark: Some(0x80),
            fwmask: Some(0x80),
            ..plain_rule(1000, 2)
        }
    );
    assert_eq!(
        *rule(&dump, IpFamily::V4, 1536),
        PolicyRule {
            source: Some(net("10.1.1.5/32")),
            ..plain_rule(1536, 2)
        }
    );
    assert_eq!(
        *rule(&dump, IpFamily::V6, 90),
        PolicyRule {
            family: IpFamily::V6,
            source: Some(net("fd00::/64")),
            ..plain_rule(90, 1000)
        }
    );
    // IPv4: 3 built-in + 11 added; IPv6: 2 built-in (local, main) + 1 added.
    let count = |family| dump.rules.iter().filter(|r| r.family == family).count();
    assert_eq!((count(IpFamily::V4), count(IpFamily::V6)), (14, 3));
}

#[test]
fn permanent_neighbor_is_reported_with_its_state() {
    let Node { node, pod: _pod } = build_node();
    let dump = node.dump();
    let gateway = dump
        .neighbors
        .iter()
        .find(|n| n.address == ip("10.0.0.1"))
        .expect("the gateway neighbour");
    assert_eq!(gateway.ifindex, node.ifindex("eth1"));
    assert_eq!(gateway.lladdr, Some("02:00:00:00:00:01".parse().unwrap()));
    assert_eq!(gateway.state, vec!["PERMANENT".to_owned()]);
    assert!(gateway.is_permanent());
}
