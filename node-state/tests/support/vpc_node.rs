//! A realistic Amazon VPC CNI node (prefix delegation, four ENIs) with `pods` pods, the way the
//! agent would collect it: every pod's namespace, host veth, /32 route, policy rules, neighbour
//! entries, CNI cache entry, ipamd address, checkpoint allocation and kernel route decision.

use std::net::{IpAddr, Ipv4Addr};

use podwire_node_state::*;

use super::{ip, net};

const ENIS: u32 = 4;
const PREFIXES_PER_ENI: u32 = 4;
const POD_NAMESPACES: [&str; 6] = [
    "default",
    "kube-system",
    "payments",
    "checkout",
    "search",
    "observability",
];
const APPS: [&str; 8] = [
    "checkout",
    "cart",
    "ledger",
    "indexer",
    "frontend",
    "coredns",
    "otel-collector",
    "worker",
];

/// A deterministic stand-in for the random parts of names (splitmix64).
fn noise(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hex(seed: u64, len: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    while out.len() < len {
        out.push_str(&format!("{:016x}", noise(seed * 31 + n)));
        n += 1;
    }
    out.truncate(len);
    out
}

fn mac_from(seed: u64) -> MacAddr {
    let b = noise(seed).to_be_bytes();
    MacAddr([0x02, b[1], b[2], b[3], b[4], b[5]])
}

struct Pod {
    namespace: &'static str,
    name: String,
    uid: String,
    container_id: String,
    netns: String,
    ip: Ipv4Addr,
    eni: u32,
    host_veth: String,
    host_ifindex: u32,
    host_mac: MacAddr,
    pod_mac: MacAddr,
}

fn pod(i: u32) -> Pod {
    let seed = u64::from(i);
    let eni = i / (PREFIXES_PER_ENI * 16);
    let slot = i % (PREFIXES_PER_ENI * 16);
    let app = APPS[(i as usize) % APPS.len()];
    Pod {
        namespace: POD_NAMESPACES[(i as usize) % POD_NAMESPACES.len()],
        name: format!("{app}-{}-{}", hex(seed + 1000, 10), hex(seed + 2000, 5)),
        uid: format!(
            "{}-{}-{}-{}-{}",
            hex(seed + 3000, 8),
            hex(seed + 3001, 4),
            hex(seed + 3002, 4),
            hex(seed + 3003, 4),
            hex(seed + 3004, 12)
        ),
        container_id: hex(seed + 4000, 64),
        netns: format!(
            "/var/run/netns/cni-{}-{}-{}-{}-{}",
            hex(seed + 5000, 8),
            hex(seed + 5001, 4),
            hex(seed + 5002, 4),
            hex(seed + 5003, 4),
            hex(seed + 5004, 12)
        ),
        ip: Ipv4Addr::new(172, 31, 100 + eni as u8, slot as u8),
        eni,
        host_veth: format!("eni{}", hex(seed + 6000, 11)),
        host_ifindex: 10 + i,
        host_mac: mac_from(seed + 7000),
        pod_mac: mac_from(seed + 8000),
    }
}

fn plain_link(ifindex: u32, name: &str, kind: LinkKind, mac: Option<MacAddr>, mtu: u32) -> Link {
    Link {
        ifindex,
        name: name.into(),
        kind,
        mac,
        mtu,
        admin_up: true,
        oper_state: OperState::Up,
        master: None,
        link: None,
        link_netnsid: None,
    }
}

fn route(table: u32, destination: &str, oif: u32) -> Route {
    Route {
        table,
        destination: net(destination),
        route_type: RouteType::Unicast,
        protocol: 3,
        scope: RouteScope::Universe,
        metric: 0,
        tos: 0,
        pref_src: None,
        source: None,
        oif: Some(oif),
        gateway: None,
        onlink: false,
        nexthops: vec![],
    }
}

fn local_route(destination: &str, route_type: RouteType, oif: u32, pref_src: &str) -> Route {
    Route {
        protocol: 2,
        scope: if route_type == RouteType::Local {
            RouteScope::Host
        } else {
            RouteScope::Link
        },
        route_type,
        pref_src: Some(ip(pref_src)),
        ..route(table::LOCAL, destination, oif)
    }
}

fn rule(priority: u32, action: RuleAction) -> PolicyRule {
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
        action,
    }
}

fn base_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            0,
            RuleAction::Lookup {
                table: table::LOCAL,
            },
        ),
        rule(32766, RuleAction::Lookup { table: table::MAIN }),
        rule(
            32767,
            RuleAction::Lookup {
                table: table::DEFAULT,
            },
        ),
        PolicyRule {
            family: IpFamily::V6,
            ..rule(
                0,
                RuleAction::Lookup {
                    table: table::LOCAL,
                },
            )
        },
        PolicyRule {
            family: IpFamily::V6,
            ..rule(32766, RuleAction::Lookup { table: table::MAIN })
        },
    ]
}

fn eni_ip(eni: u32) -> String {
    format!("172.31.{}.{}", 48 + eni, 94 + eni)
}

fn host_namespace(pods: &[Pod]) -> NetnsState {
    let mut links = vec![plain_link(
        1,
        "lo",
        LinkKind::Loopback,
        Some(MacAddr([0; 6])),
        65536,
    )];
    let mut addresses = vec![Address {
        ifindex: 1,
        address: net("127.0.0.1/8"),
        peer: None,
        scope: RouteScope::Host,
    }];
    let mut routes = vec![
        Route {
            gateway: Some(ip("172.31.48.1")),
            protocol: 16,
            metric: 1024,
            ..route(table::MAIN, "0.0.0.0/0", 2)
        },
        Route {
            protocol: 2,
            scope: RouteScope::Link,
            pref_src: Some(ip(&eni_ip(0))),
            ..route(table::MAIN, "172.31.48.0/20", 2)
        },
        Route {
            protocol: 16,
            scope: RouteScope::Link,
            metric: 1024,
            ..route(table::MAIN, "172.31.48.1/32", 2)
        },
        local_route("127.0.0.0/8", RouteType::Local, 1, "127.0.0.1"),
        local_route("127.0.0.1/32", RouteType::Local, 1, "127.0.0.1"),
        local_route("127.255.255.255/32", RouteType::Broadcast, 1, "127.0.0.1"),
    ];
    let mut rules = base_rules();
    rules.push(PolicyRule {
        fwmark: Some(0x80),
        fwmask: Some(0x80),
        ..rule(1024, RuleAction::Lookup { table: table::MAIN })
    });
    let mut neighbors = vec![];
    for eni in 0..ENIS {
        let ifindex = 2 + eni;
        let own = eni_ip(eni);
        links.push(plain_link(
            ifindex,
            &format!("eth{eni}"),
            LinkKind::Device,
            Some(mac_from(u64::from(eni) + 9000)),
            9001,
        ));
        addresses.push(Address {
            ifindex,
            address: net(&format!("{own}/20")),
            peer: None,
            scope: RouteScope::Universe,
        });
        routes.push(local_route(
            &format!("{own}/32"),
            RouteType::Local,
            ifindex,
            &own,
        ));
        routes.push(local_route(
            "172.31.63.255/32",
            RouteType::Broadcast,
            ifindex,
            &own,
        ));
        if eni > 0 {
            let table = eni + 1;
            routes.push(Route {
                gateway: Some(ip("172.31.48.1")),
                ..route(table, "0.0.0.0/0", ifindex)
            });
            routes.push(Route {
                scope: RouteScope::Link,
                ..route(table, "172.31.48.1/32", ifindex)
            });
        }
        neighbors.push(Neighbor {
            ifindex,
            address: ip("172.31.48.1"),
            lladdr: Some(mac_from(9999)),
            state: vec!["REACHABLE".into()],
        });
    }
    for (i, pod) in pods.iter().enumerate() {
        links.push(Link {
            link: Some(3),
            link_netnsid: Some(i as i32),
            ..plain_link(
                pod.host_ifindex,
                &pod.host_veth,
                LinkKind::Veth,
                Some(pod.host_mac),
                9001,
            )
        });
        addresses.push(Address {
            ifindex: pod.host_ifindex,
            address: net(&format!(
                "fe80::{:x}:{:x}ff:fe{:x}:{:x}/64",
                pod.host_mac.0[0] ^ 2,
                pod.host_mac.0[2],
                pod.host_mac.0[3],
                pod.host_mac.0[5]
            )),
            peer: None,
            scope: RouteScope::Link,
        });
        routes.push(Route {
            scope: RouteScope::Link,
            ..route(table::MAIN, &format!("{}/32", pod.ip), pod.host_ifindex)
        });
        rules.push(PolicyRule {
            destination: Some(net(&format!("{}/32", pod.ip))),
            ..rule(512, RuleAction::Lookup { table: table::MAIN })
        });
        if pod.eni > 0 {
            rules.push(PolicyRule {
                source: Some(net(&format!("{}/32", pod.ip))),
                ..rule(1536, RuleAction::Lookup { table: pod.eni + 1 })
            });
        }
        neighbors.push(Neighbor {
            ifindex: pod.host_ifindex,
            address: IpAddr::V4(pod.ip),
            lladdr: Some(pod.pod_mac),
            state: vec![if i % 3 == 0 { "STALE" } else { "REACHABLE" }.into()],
        });
    }
    NetnsState {
        inode: 4_026_531_840,
        name: None,
        path: "/proc/1/ns/net".into(),
        nsid: None,
        links,
        addresses,
        routes,
        rules,
        neighbors,
    }
}

fn pod_namespace(i: u32, pod: &Pod) -> NetnsState {
    let pod_ip = pod.ip.to_string();
    NetnsState {
        inode: 4_026_533_000 + u64::from(i),
        name: Some(pod.netns.trim_start_matches("/var/run/netns/").into()),
        path: pod.netns.clone(),
        nsid: Some(i as i32),
        links: vec![
            plain_link(1, "lo", LinkKind::Loopback, Some(MacAddr([0; 6])), 65536),
            Link {
                link: Some(pod.host_ifindex),
                link_netnsid: Some(0),
                ..plain_link(3, "eth0", LinkKind::Veth, Some(pod.pod_mac), 9001)
            },
        ],
        addresses: vec![
            Address {
                ifindex: 1,
                address: net("127.0.0.1/8"),
                peer: None,
                scope: RouteScope::Host,
            },
            Address {
                ifindex: 3,
                address: net(&format!("{pod_ip}/32")),
                peer: None,
                scope: RouteScope::Universe,
            },
        ],
        routes: vec![
            Route {
                gateway: Some(ip("169.254.1.1")),
                protocol: 3,
                ..route(table::MAIN, "0.0.0.0/0", 3)
            },
            Route {
                scope: RouteScope::Link,
                ..route(table::MAIN, "169.254.1.1/32", 3)
            },
            local_route("127.0.0.0/8", RouteType::Local, 1, "127.0.0.1"),
            local_route("127.0.0.1/32", RouteType::Local, 1, "127.0.0.1"),
            local_route("127.255.255.255/32", RouteType::Broadcast, 1, "127.0.0.1"),
            local_route(&format!("{pod_ip}/32"), RouteType::Local, 3, &pod_ip),
        ],
        rules: base_rules(),
        neighbors: vec![Neighbor {
            ifindex: 3,
            address: ip("169.254.1.1"),
            lladdr: Some(pod.host_mac),
            state: vec!["PERMANENT".into()],
        }],
    }
}

fn cache_entry(pod: &Pod) -> CniCacheEntry {
    CniCacheEntry {
        file: format!("var/lib/cni/results/aws-cni-{}-eth0", pod.container_id),
        network_name: "aws-cni".into(),
        container_id: pod.container_id.clone(),
        if_name: "eth0".into(),
        pod_namespace: Some(pod.namespace.into()),
        pod_name: Some(pod.name.clone()),
        pod_uid: Some(pod.uid.clone()),
        netns_path: Some(pod.netns.clone()),
        ips: vec![net(&format!("{}/32", pod.ip))],
        gateways: vec![],
        interfaces: vec![
            CniInterface {
                name: pod.host_veth.clone(),
                mac: Some(pod.host_mac),
                sandbox: None,
            },
            CniInterface {
                name: "eth0".into(),
                mac: Some(pod.pod_mac),
                sandbox: Some(pod.netns.clone()),
            },
            CniInterface {
                name: "dummy".into(),
                mac: None,
                sandbox: Some("0".into()),
            },
        ],
        plugin_types: vec!["aws-cni".into(), "egress-cni".into(), "portmap".into()],
        cni_version: Some("1.0.0".into()),
    }
}

fn ipamd(pods: &[Pod]) -> IpamdEnis {
    let enis = (0..ENIS)
        .map(|eni| IpamdEni {
            id: format!("eni-0{}", hex(u64::from(eni) + 9100, 16)),
            is_primary: eni == 0,
            is_trunk: false,
            is_efa: false,
            device_number: eni,
            route_table_id: Some(if eni == 0 { table::MAIN } else { eni + 1 }),
            subnet_id: Some("subnet-0a1b2c3d4e5f60718".into()),
            excluded_for_pod_ips: false,
            cidrs: (0..PREFIXES_PER_ENI)
                .map(|p| IpamdCidr {
                    cidr: net(&format!("172.31.{}.{}/28", 100 + eni, p * 16)),
                    is_prefix: true,
                    addresses: pods
                        .iter()
                        .filter(|pod| pod.eni == eni && u32::from(pod.ip.octets()[3]) / 16 == p)
                        .map(|pod| IpamdAddress {
                            ip: IpAddr::V4(pod.ip),
                            assigned: true,
                            container_id: Some(pod.container_id.clone()),
                            pod_namespace: Some(pod.namespace.into()),
                            pod_name: Some(pod.name.clone()),
                            assigned_time: Some("2026-11-20T23:14:07.482913Z".into()),
                            unassigned_time: None,
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    IpamdEnis {
        shape: IpamdShape::PerNetworkCard,
        network_cards: vec![IpamdNetworkCard {
            index: 0,
            total_ips: ENIS * PREFIXES_PER_ENI * 16,
            assigned_ips: pods.len() as u32,
            enis,
        }],
    }
}

/// A VPC CNI node running `pods` pods (at most 256: four ENIs with four /28 prefixes each).
pub fn vpc_cni_node(pods: u32) -> NodeSnapshot {
    assert!(
        pods <= ENIS * PREFIXES_PER_ENI * 16,
        "the node has room for 256 pods"
    );
    let all: Vec<Pod> = (0..pods).map(pod).collect();
    let checkpoint = IpamCheckpoint {
        file: "var/run/aws-node/ipam.json".into(),
        version: "vpc-cni-ipam/1".into(),
        allocations: all
            .iter()
            .enumerate()
            .map(|(i, pod)| IpamCheckpointAllocation {
                network_name: "aws-cni".into(),
                container_id: pod.container_id.clone(),
                if_name: "eth0".into(),
                ipv4: Some(IpAddr::V4(pod.ip)),
                ipv6: None,
                allocation_timestamp: 1_763_680_447_482_913_000 + i as i64 * 1_000_000_007,
                pod_namespace: Some(pod.namespace.into()),
                pod_name: Some(pod.name.clone()),
            })
            .collect(),
    };
    let kernel_routes = all
        .iter()
        .map(|pod| KernelRouteDecision {
            query: KernelRouteQuery {
                destination: ip("172.31.0.10"),
                source: IpAddr::V4(pod.ip),
                iif: pod.host_ifindex,
                fwmark: None,
            },
            answer: KernelRouteAnswer::Route {
                route_type: RouteType::Unicast,
                table: if pod.eni == 0 {
                    table::MAIN
                } else {
                    pod.eni + 1
                },
                oif: Some(2 + pod.eni),
                gateway: Some(ip("172.31.48.1")),
                pref_src: None,
            },
        })
        .collect();
    NodeSnapshot {
        node: NodeIdentity {
            cluster: "prod-eu-west-1".into(),
            node_name: "ip-172-31-48-94.eu-west-1.compute.internal".into(),
            boot_id: "0f3c6e1a-7b1d-4f1e-9f0e-2d7c1b9a8e55".into(),
            kernel: "6.1.112-122.189.amzn2023.x86_64".into(),
            agent_version: "0.1.0".into(),
            collected_at_unix_ms: 1_763_704_800_123,
            collection_duration_us: 38_411,
        },
        probe_destination: None,
        host: host_namespace(&all),
        namespaces: all
            .iter()
            .enumerate()
            .map(|(i, pod)| pod_namespace(i as u32, pod))
            .collect(),
        cni: CniState {
            cache: all.iter().map(cache_entry).collect(),
            configs: vec![CniNetworkConfig {
                file: "etc/cni/net.d/10-aws.conflist".into(),
                name: "aws-cni".into(),
                cni_version: Some("1.0.0".into()),
                plugins: vec![
                    CniPluginConfig {
                        plugin_type: "aws-cni".into(),
                        bridge: None,
                        ipam: None,
                        delegate_type: None,
                    },
                    CniPluginConfig {
                        plugin_type: "egress-cni".into(),
                        bridge: None,
                        ipam: Some(CniIpamConfig {
                            ipam_type: "host-local".into(),
                            subnets: vec![net("fd00::ac:00/118")],
                            data_dir: Some("/run/cni/v6pd/egress-v6-ipam".into()),
                        }),
                        delegate_type: None,
                    },
                    CniPluginConfig {
                        plugin_type: "portmap".into(),
                        bridge: None,
                        ipam: None,
                        delegate_type: None,
                    },
                ],
            }],
            host_local: vec![],
            flannel: None,
        },
        vpc_cni: Some(VpcCniState {
            ipamd: Some(ipamd(&all)),
            checkpoint: Some(checkpoint),
        }),
        kernel_routes,
        errors: vec![],
    }
}
