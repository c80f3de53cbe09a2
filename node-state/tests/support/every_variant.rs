//! A snapshot that holds every variant of every model enum.

use podwire_node_state::*;

use super::every_variant_ipam::{every_variant_cni, every_variant_vpc_cni};
use super::{ip, mac, net};

fn link(ifindex: u32, name: &str, kind: LinkKind, oper_state: OperState) -> Link {
    Link {
        ifindex,
        name: name.into(),
        kind,
        mac: Some(mac(&format!("02:00:00:00:00:{ifindex:02x}"))),
        mtu: 1500,
        admin_up: true,
        oper_state,
        master: None,
        link: None,
        link_netnsid: None,
    }
}

fn route(table: u32, destination: &str, route_type: RouteType, scope: RouteScope) -> Route {
    Route {
        table,
        destination: net(destination),
        route_type,
        protocol: 2,
        scope,
        metric: 0,
        tos: 0,
        pref_src: None,
        source: None,
        oif: Some(2),
        gateway: None,
        onlink: false,
        nexthops: vec![],
    }
}

fn rule(family: IpFamily, priority: u32, action: RuleAction) -> PolicyRule {
    PolicyRule {
        family,
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
        action,
    }
}

/// Every `LinkKind`, `OperState`, `VlanProtocol`, `RouteType`, `RouteScope`, `RuleAction`,
/// `IpFamily`, `ErrorSource` and `KernelRouteAnswer` variant, v4 and v6 addresses, and every
/// optional field both set and unset.
pub fn every_variant_snapshot(shape: IpamdShape) -> NodeSnapshot {
    use LinkKind::*;
    let links = vec![
        link(1, "lo", Loopback, OperState::Unknown),
        Link {
            mac: None,
            link: Some(7),
            link_netnsid: Some(3),
            ..link(2, "eth0", Device, OperState::Up)
        },
        Link {
            master: Some(4),
            link: Some(3),
            link_netnsid: Some(0),
            ..link(3, "veth1", Veth, OperState::LowerLayerDown)
        },
        link(4, "cni0", Bridge, OperState::Down),
        Link {
            link: Some(2),
            ..link(
                5,
                "vlan.eth.1",
                Vlan {
                    id: 4095,
                    protocol: VlanProtocol::Dot1Q,
                },
                OperState::NotPresent,
            )
        },
        link(
            6,
            "qinq",
            Vlan {
                id: 1,
                protocol: VlanProtocol::Dot1Ad,
            },
            OperState::Testing,
        ),
        link(
            7,
            "flannel.1",
            Vxlan {
                vni: 1,
                underlay: Some(2),
                local: Some(ip("10.0.0.5")),
                remote: Some(ip("239.1.1.1")),
                port: Some(8472),
            },
            OperState::Dormant,
        ),
        link(
            8,
            "vx6",
            Vxlan {
                vni: 16_777_215,
                underlay: None,
                local: Some(ip("fd00::5")),
                remote: None,
                port: None,
            },
            OperState::Up,
        ),
        link(
            9,
            "mv0",
            Macvlan {
                mode: "bridge".into(),
            },
            OperState::Up,
        ),
        link(10, "ipv0", Ipvlan { mode: "l3s".into() }, OperState::Up),
        link(11, "dummy0", Dummy, OperState::Up),
        link(
            12,
            "wg0",
            Other {
                name: "wireguard".into(),
            },
            OperState::Up,
        ),
        link(
            13,
            "empty-mode",
            Macvlan {
                mode: String::new(),
            },
            OperState::Up,
        ),
    ];
    let addresses = vec![
        Address {
            ifindex: 1,
            address: net("127.0.0.1/8"),
            peer: None,
            scope: RouteScope::Host,
        },
        Address {
            ifindex: 2,
            address: net("172.31.58.94/20"),
            peer: None,
            scope: RouteScope::Universe,
        },
        Address {
            ifindex: 2,
            address: net("fe80::1/64"),
            peer: None,
            scope: RouteScope::Link,
        },
        Address {
            ifindex: 12,
            address: net("10.9.0.1/32"),
            peer: Some(ip("10.9.0.2")),
            scope: RouteScope::Site,
        },
        Address {
            ifindex: 12,
            address: net("fd00::1/128"),
            peer: Some(ip("fd00::2")),
            scope: RouteScope::Nowhere,
        },
        Address {
            ifindex: 3,
            address: net("10.1.0.1/24"),
            peer: None,
            scope: RouteScope::Other(100),
        },
    ];
    let route_types = [
        RouteType::Unspec,
        RouteType::Unicast,
        RouteType::Local,
        RouteType::Broadcast,
        RouteType::Anycast,
        RouteType::Multicast,
        RouteType::Blackhole,
        RouteType::Unreachable,
        RouteType::Prohibit,
        RouteType::Throw,
        RouteType::Nat,
        RouteType::Other(42),
        // A raw number that happens to name a known type still comes back as `Other`.
        RouteType::Other(1),
    ];
    let scopes = [
        RouteScope::Universe,
        RouteScope::Site,
        RouteScope::Link,
        RouteScope::Host,
        RouteScope::Nowhere,
        RouteScope::Other(17),
    ];
    let mut routes: Vec<Route> = route_types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            route(
                1000 + i as u32,
                &format!("10.{i}.0.0/16"),
                *t,
                scopes[i % scopes.len()],
            )
        })
        .collect();
    routes.push(Route {
        metric: 1024,
        tos: 0x10,
        protocol: 186,
        pref_src: Some(ip("172.31.58.94")),
        gateway: Some(ip("172.31.48.1")),
        onlink: true,
        ..route(254, "0.0.0.0/0", RouteType::Unicast, RouteScope::Universe)
    });
    routes.push(Route {
        source: Some(net("2001:db8:1::/48")),
        oif: None,
        nexthops: vec![
            NextHop {
                oif: 2,
                gateway: Some(ip("fe80::1")),
                weight: 1,
                onlink: false,
            },
            NextHop {
                oif: 5,
                gateway: None,
                weight: 256,
                onlink: true,
            },
            NextHop {
                oif: 7,
                gateway: Some(ip("10.0.0.1")),
                weight: 0,
                onlink: false,
            },
        ],
        ..route(u32::MAX, "::/0", RouteType::Unicast, RouteScope::Universe)
    });
    let rules = vec![
        rule(IpFamily::V4, 0, RuleAction::Lookup { table: 255 }),
        PolicyRule {
            source: Some(net("10.1.0.7/32")),
            destination: Some(net("0.0.0.0/0")),
            iif: Some("eni1".into()),
            oif: Some("eth1".into()),
            fwmark: Some(0x80),
            fwmask: Some(0x80),
            tos: 4,
            ip_proto: Some(6),
            sport: Some((1000, 2000)),
            dport: Some((0, 65535)),
            uid_range: Some((0, u32::MAX)),
            invert: true,
            l3mdev: true,
            suppress_prefixlength: Some(0),
            suppress_ifgroup: Some(7),
            ..rule(IpFamily::V4, 1536, RuleAction::Lookup { table: 2 })
        },
        rule(IpFamily::V4, 10, RuleAction::Goto { priority: 20 }),
        rule(IpFamily::V4, 11, RuleAction::Nop),
        rule(IpFamily::V6, 12, RuleAction::Blackhole),
        rule(IpFamily::V6, 13, RuleAction::Unreachable),
        PolicyRule {
            source: Some(net("fd00::/8")),
            ..rule(IpFamily::V6, 14, RuleAction::Prohibit)
        },
        rule(IpFamily::V6, 15, RuleAction::Other { code: 99 }),
        rule(IpFamily::V4, 16, RuleAction::Other { code: 1 }),
    ];
    let neighbors = vec![
        Neighbor {
            ifindex: 2,
            address: ip("172.31.48.1"),
            lladdr: Some(mac("02:aa:bb:cc:dd:ee")),
            state: vec!["REACHABLE".into()],
        },
        Neighbor {
            ifindex: 2,
            address: ip("fe80::1"),
            lladdr: None,
            state: vec!["FAILED".into()],
        },
        Neighbor {
            ifindex: 3,
            address: ip("169.254.1.1"),
            lladdr: Some(mac("02:00:00:00:00:03")),
            state: vec!["PERMANENT".into()],
        },
        Neighbor {
            ifindex: 4,
            address: ip("10.1.0.9"),
            lladdr: None,
            state: vec![],
        },
        Neighbor {
            ifindex: 4,
            address: ip("10.1.0.10"),
            lladdr: None,
            state: vec!["NOARP".into(), "PROBE".into()],
        },
    ];
    let host = NetnsState {
        inode: 4_026_531_840,
        name: None,
        path: "/proc/1/ns/net".into(),
        nsid: None,
        links,
        addresses,
        routes,
        rules,
        neighbors,
    };
    let pod = NetnsState {
        inode: 4_026_532_999,
        name: Some("cni-1b2c".into()),
        path: "/var/run/netns/cni-1b2c".into(),
        nsid: Some(-1),
        links: vec![Link {
            link: Some(3),
            link_netnsid: Some(0),
            ..link(3, "eth0", Veth, OperState::Up)
        }],
        addresses: vec![Address {
            ifindex: 3,
            address: net("10.1.0.7/32"),
            peer: None,
            scope: RouteScope::Universe,
        }],
        routes: vec![Route {
            gateway: Some(ip("169.254.1.1")),
            ..route(254, "0.0.0.0/0", RouteType::Unicast, RouteScope::Universe)
        }],
        rules: vec![],
        neighbors: vec![Neighbor {
            ifindex: 3,
            address: ip("169.254.1.1"),
            lladdr: Some(mac("02:00:00:00:00:03")),
            state: vec!["PERMANENT".into()],
        }],
    };
    let empty_pod = NetnsState {
        inode: 1,
        path: "/proc/77/ns/net".into(),
        nsid: Some(i32::MAX),
        ..NetnsState::default()
    };

    let cni = every_variant_cni();
    let vpc_cni = every_variant_vpc_cni(shape);

    let kernel_routes = vec![
        KernelRouteDecision {
            query: KernelRouteQuery {
                destination: ip("8.8.8.8"),
                source: ip("10.1.0.7"),
                iif: 3,
                fwmark: Some(0x80),
            },
            answer: KernelRouteAnswer::Route {
                route_type: RouteType::Unicast,
                table: 2,
                oif: Some(2),
                gateway: Some(ip("172.31.48.1")),
                pref_src: Some(ip("172.31.58.94")),
            },
        },
        KernelRouteDecision {
            query: KernelRouteQuery {
                destination: ip("2001:db8::1"),
                source: ip("2001:db8::7"),
                iif: 3,
                fwmark: None,
            },
            answer: KernelRouteAnswer::Route {
                route_type: RouteType::Other(200),
                table: 254,
                oif: None,
                gateway: None,
                pref_src: None,
            },
        },
        KernelRouteDecision {
            query: KernelRouteQuery {
                destination: ip("10.99.0.1"),
                source: ip("10.1.0.7"),
                iif: 3,
                fwmark: None,
            },
            answer: KernelRouteAnswer::Error {
                errno: -101,
                message: "Network is unreachable".into(),
            },
        },
    ];

    let sources = [
        ErrorSource::NetnsDiscovery,
        ErrorSource::Netlink,
        ErrorSource::CniCache,
        ErrorSource::CniConfig,
        ErrorSource::HostLocal,
        ErrorSource::Ipamd,
        ErrorSource::IpamCheckpoint,
        ErrorSource::KernelRoute,
        ErrorSource::NodeIdentity,
    ];
    let errors = sources
        .iter()
        .map(|source| SourceError {
            source: *source,
            subject: format!("{source:?}"),
            message: "it failed".into(),
        })
        .collect();

    NodeSnapshot {
        node: NodeIdentity {
            cluster: "prod-eu".into(),
            node_name: "ip-172-31-58-94.eu-west-1.compute.internal".into(),
            boot_id: "0f3c6e1a-7b1d-4f1e-9f0e-2d7c1b9a8e55".into(),
            kernel: "6.1.112-122.189.amzn2023.x86_64".into(),
            agent_version: "0.1.0".into(),
            collected_at_unix_ms: 1_763_704_800_123,
            collection_duration_us: 41_250,
        },
        probe_destination: Some(ip("2001:4860:4860::8888")),
        host,
        namespaces: vec![pod, empty_pod],
        cni,
        vpc_cni: Some(vpc_cni),
        kernel_routes,
        errors,
    }
}
