//! The kernel's own routing decisions (`RouteSocket::route_get`) compared with what
//! `ip route get DST from POD iif HOST_VETH` prints in the same namespace, and nsids compared with
//! the host veths' `link-netnsid`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup or lookup step should stop the test"
)]

mod common;

use std::fs::File;
use std::net::IpAddr;
use std::process::Command;

use common::{Netns, unique_prefix};
use podwire_agent::collect::netlink::{NetlinkError, RouteSocket};
use podwire_agent::collect::netns::run_in_namespace;
use podwire_node_state::{KernelRouteAnswer, KernelRouteQuery, RouteType};

const PROBE: &str = "8.8.8.8";

/// A node with three pods: `pod-a` (10.1.1.5) routed by table 100, `pod-b` (10.1.1.6) by table
/// 1000, `pod-c` (10.1.1.7) refused by an `unreachable` rule; and `fwmark 0x80` sending anything
/// to table 2.
struct Node {
    node: Netns,
    pods: Vec<Netns>,
}

fn build_node() -> Node {
    let prefix = unique_prefix();
    let node = Netns::add(&format!("{prefix}node"));
    let pods: Vec<Netns> = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let pod = Netns::add(&format!("{prefix}pod-{name}"));
            let ip = format!("10.1.1.{}", 5 + i);
            node.ip(&format!(
                "link add hveth-{name} type veth peer name eth0 netns {}",
                pod.name
            ));
            node.ip(&format!("link set hveth-{name} up"));
            node.ip(&format!("route add {ip} dev hveth-{name} scope link"));
            pod.ip("link set eth0 up");
            pod.ip(&format!("addr add {ip}/32 dev eth0"));
            pod
        })
        .collect();
    for command in [
        "link add eth1 type veth peer name eth1p",
        "link set eth1 up",
        "link set eth1p up",
        "addr add 10.0.0.10/24 dev eth1",
        "route add default via 10.0.0.1 dev eth1",
        "route add default via 10.0.0.2 dev eth1 table 100",
        "route add default via 10.0.0.3 dev eth1 table 1000",
        "route add default via 10.0.0.4 dev eth1 table 2",
        "rule add priority 1000 fwmark 0x80/0x80 lookup 2",
        "rule add priority 1536 from 10.1.1.5 lookup 100",
        "rule add priority 1537 from 10.1.1.6 lookup 1000",
        "rule add priority 1538 from 10.1.1.7 unreachable",
    ] {
        node.ip(command);
    }
    node.sysctl("net.ipv4.ip_forward=1");
    Node { node, pods }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Asks every query from a thread inside `netns`, through one socket.
fn ask(netns: &Netns, queries: &[KernelRouteQuery]) -> Vec<KernelRouteAnswer> {
    run_in_namespace(&netns.path(), || {
        let mut socket = RouteSocket::open()?;
        queries
            .iter()
            .map(|q| socket.route_get(q))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap()
    .unwrap()
}

/// What `ip -n NODE -j route get …` answers: `(dev, gateway, table)`, or its error text.
fn ip_route_get(
    node: &Netns,
    from: &str,
    iif: &str,
    mark: Option<u32>,
) -> Result<(String, Option<String>, String), String> {
    let mut args = vec![
        "-n".to_owned(),
        node.name.clone(),
        "-j".into(),
        "route".into(),
        "get".into(),
        PROBE.into(),
        "from".into(),
        from.into(),
        "iif".into(),
        iif.into(),
    ];
    if let Some(mark) = mark {
        args.extend(["mark".into(), format!("{mark:#x}")]);
    }
    let output = Command::new("ip").args(&args).output().unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let answer = &json[0];
    Ok((
        answer["dev"].as_str().unwrap().to_owned(),
        answer["gateway"].as_str().map(str::to_owned),
        answer["table"].as_str().unwrap_or("main").to_owned(),
    ))
}

fn table_name(id: u32) -> String {
    podwire_node_state::table::name(id)
}

#[test]
fn kernel_decisions_match_ip_route_get() {
    let Node { node, pods: _pods } = build_node();
    let eth1 = node.ifindex("eth1");
    let cases = [
        ("10.1.1.5", "hveth-a", None, "10.0.0.2", 100),
        ("10.1.1.6", "hveth-b", None, "10.0.0.3", 1000),
        ("10.1.1.5", "hveth-a", Some(0x80), "10.0.0.4", 2),
    ];
    let queries: Vec<_> = cases
        .iter()
        .map(|(from, iif, mark, _, _)| KernelRouteQuery {
            destination: ip(PROBE),
            source: ip(from),
            iif: node.ifindex(iif),
            fwmark: *mark,
        })
        .collect();
    let answers = ask(&node, &queries);

    for ((from, iif, mark, gateway, table), answer) in cases.iter().zip(&answers) {
        assert_eq!(
            *answer,
            KernelRouteAnswer::Route {
                route_type: RouteType::Unicast,
                table: *table,
                oif: Some(eth1),
                gateway: Some(ip(gateway)),
                pref_src: None,
            },
            "from {from} iif {iif} mark {mark:?}"
        );
        let (dev, ip_gateway, ip_table) = ip_route_get(&node, from, iif, *mark).unwrap();
        assert_eq!(dev, "eth1");
        assert_eq!(ip_gateway.as_deref(), Some(*gateway));
        assert_eq!(ip_table, table_name(*table));
    }
}

#[test]
fn kernel_refusals_are_answers() {
    let Node { node, pods: _pods } = build_node();
    let refused = KernelRouteQuery {
        destination: ip(PROBE),
        source: ip("10.1.1.7"),
        iif: node.ifindex("hveth-c"),
        fwmark: None,
    };
    let no_device = KernelRouteQuery {
        iif: 9999,
        ..refused.clone()
    };
    let answers = ask(&node, &[refused, no_device]);
    assert_eq!(
        answers[0],
        KernelRouteAnswer::Error {
            errno: 101,
            message: "Network is unreachable".into()
        }
    );
    assert_eq!(
        ip_route_get(&node, "10.1.1.7", "hveth-c", None),
        Err("RTNETLINK answers: Network is unreachable".into())
    );
    assert_eq!(
        answers[1],
        KernelRouteAnswer::Error {
            errno: 19,
            message: "No such device".into()
        }
    );
}

#[test]
fn nsids_match_the_host_veths_link_netnsid() {
    let Node { node, pods } = build_node();
    let stranger = Netns::add(&format!("{}stranger", unique_prefix()));
    let files: Vec<File> = pods
        .iter()
        .chain([&stranger])
        .map(|p| File::open(p.path()).unwrap())
        .collect();
    let (nsids, dump) = run_in_namespace(&node.path(), || {
        let mut socket = RouteSocket::open()?;
        let nsids = files
            .iter()
            .map(|f| socket.nsid_of(f))
            .collect::<Result<Vec<_>, _>>()?;
        let together = socket
            .nsids_of(&files)?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        assert_eq!(together, nsids, "asked together or one by one");
        Ok::<_, NetlinkError>((nsids, socket.dump()?))
    })
    .unwrap()
    .unwrap();

    for (pod, (name, nsid)) in pods.iter().zip(["a", "b", "c"].iter().zip(&nsids)) {
        let veth = dump
            .links
            .iter()
            .find(|l| l.name == format!("hveth-{name}"))
            .unwrap();
        assert!(nsid.is_some(), "{} has an id in the node", pod.name);
        assert_eq!(veth.link_netnsid, *nsid, "{}", pod.name);
    }
    let distinct: std::collections::HashSet<_> = nsids[..3].iter().collect();
    assert_eq!(distinct.len(), 3);
    // No veth leads to the stranger, so the node has no id for it, and asking assigned none.
    assert_eq!(nsids[3], None);
    let listed = node.ip("netns list-id");
    assert!(!listed.contains(&stranger.name), "{listed}");
}

#[test]
fn a_socket_keeps_its_namespace_after_its_thread_moves() {
    let Node { node, pods: _pods } = build_node();
    let query = KernelRouteQuery {
        destination: ip(PROBE),
        source: ip("10.1.1.6"),
        iif: node.ifindex("hveth-b"),
        fwmark: None,
    };
    // Opened in the node, used from the test's own thread.
    let mut socket = run_in_namespace(&node.path(), RouteSocket::open)
        .unwrap()
        .unwrap();
    assert!(matches!(
        socket.route_get(&query).unwrap(),
        KernelRouteAnswer::Route { table: 1000, .. }
    ));
}

#[test]
fn mixed_family_query_is_an_error() {
    let Node { node, pods: _pods } = build_node();
    let query = KernelRouteQuery {
        destination: ip("2001:db8::1"),
        source: ip("10.1.1.5"),
        iif: node.ifindex("hveth-a"),
        fwmark: None,
    };
    let result = run_in_namespace(&node.path(), || RouteSocket::open()?.route_get(&query)).unwrap();
    assert!(result.is_err());
}
