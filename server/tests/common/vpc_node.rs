//! A node wired the way Amazon VPC CNI wires one (secondary IPs, one route table per secondary
//! ENI), built over the model with exactly the pods a test asks for, and the kernel's answers to
//! the resolver's questions as this wiring gives them: what the agent would collect from such a
//! node, for the real resolver to resolve.
//!
//! Per pod: a namespace holding `eth0` (a veth whose peer is the host's `eni…` veth) with the
//! pod's /32 and the `169.254.1.1` gateway (a permanent neighbour entry), a host `/32` route to
//! the pod in `main`, the rule `to POD lookup main` (512) and, for a secondary ENI's pod,
//! `from POD lookup N+1` (1536); a CNI cache entry naming the pod; the address in ipamd and in the
//! checkpoint. The host has `eth0`, `eth1`, … (one per ENI, MAC = the ENI's MAC), the VPC
//! subnet `172.31.48.0/20`, table N+1 with a default route out of ENI N, and VPC CNI's SNAT rule
//! (`fwmark 0x80/0x80 lookup main`, 1024).

use std::net::{IpAddr, Ipv4Addr};

use podwire_node_state::resolver::{choose_probe, kernel_queries};
use podwire_node_state::*;

/// The MAC of ENI `n` (and of the host's `eth{n}`) of a node built with the default ENI seed:
/// ENI 0 is `02:d1:7d:e3:9c:01`.
pub fn eni_mac(n: u32) -> MacAddr {
    eni_mac_of(0, n)
}

/// The MAC of ENI `n` of a node whose ENIs are numbered from `seed` ([`VpcNode::eni_seed`]).
pub fn eni_mac_of(seed: u32, n: u32) -> MacAddr {
    let s = seed.to_be_bytes();
    MacAddr([
        0x02,
        0xd1 ^ s[1],
        0x7d ^ s[2],
        0xe3 ^ s[3],
        0x9c,
        (n + 1) as u8,
    ])
}

const GATEWAY: &str = "172.31.48.1";
const HOST_NETNS_INODE: u64 = 4_026_531_840;

/// One pod on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcPod {
    pub namespace: String,
    pub name: String,
    /// Inode of its network namespace: with the interface name, what identifies it on the node.
    pub inode: u64,
    pub ip: Ipv4Addr,
    /// 0: the primary ENI (table main); N: secondary ENI N (table N+1, `ethN`).
    pub eni: u32,
}

/// A node and its pods.
#[derive(Debug, Clone)]
pub struct VpcNode {
    pub cluster: String,
    pub node: String,
    pub collected_at_unix_ms: i64,
    /// ENIs attached (at least one more than the highest `eni` of a pod).
    pub enis: u32,
    /// Makes the ENIs' MACs and ids this node's own: 0 (the default) for the MACs of [`eni_mac`];
    /// simulated fleets give each node another.
    pub eni_seed: u32,
    pub pods: Vec<VpcPod>,
}

/// A deterministic stand-in for the random parts of names and MACs (splitmix64).
fn noise(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn mac_of(seed: u64) -> MacAddr {
    let b = noise(seed).to_be_bytes();
    MacAddr([0x02, b[1], b[2], b[3], b[4], b[5]])
}

fn net(text: &str) -> ipnet::IpNet {
    text.parse().expect("a prefix written by the builder")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an address written by the builder")
}

fn link(ifindex: u32, name: &str, kind: LinkKind, mac: Option<MacAddr>, mtu: u32) -> Link {
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

fn local(destination: &str, oif: u32, pref_src: &str) -> Route {
    Route {
        route_type: RouteType::Local,
        protocol: 2,
        scope: RouteScope::Host,
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

fn lookup(table: u32) -> RuleAction {
    RuleAction::Lookup { table }
}

fn eni_table(eni: u32) -> u32 {
    if eni == 0 { table::MAIN } else { eni + 1 }
}

impl VpcPod {
    /// The same pod, its address moved to secondary ENI `eni` (so its traffic to table eni+1).
    pub fn on_eni(mut self, eni: u32) -> Self {
        self.eni = eni;
        self
    }

    /// The same pod (same namespace) with another address.
    pub fn with_ip(mut self, ip: &str) -> Self {
        self.ip = ip.parse().expect("an IPv4 address");
        self
    }

    fn host_veth(&self) -> String {
        format!("eni{:011x}", noise(self.inode) >> 20)
    }

    fn container_id(&self) -> String {
        format!(
            "{:016x}{:016x}",
            noise(self.inode + 1),
            noise(self.inode + 2)
        )
    }

    fn netns_name(&self) -> String {
        format!(
            "cni-{:08x}-{:04x}",
            noise(self.inode + 3) as u32,
            self.inode % 0x10000
        )
    }

    fn pod_mac(&self) -> MacAddr {
        mac_of(self.inode + 4)
    }

    fn host_mac(&self) -> MacAddr {
        mac_of(self.inode + 5)
    }
}

impl VpcNode {
    pub fn new(cluster: &str, node: &str, collected_at_unix_ms: i64, pods: Vec<VpcPod>) -> Self {
        let enis = pods.iter().map(|p| p.eni + 1).max().unwrap_or(1).max(2);
        VpcNode {
            cluster: cluster.into(),
            node: node.into(),
            collected_at_unix_ms,
            enis,
            eni_seed: 0,
            pods,
        }
    }

    /// The node's snapshot, with the kernel's answers to every question the resolver asks.
    pub fn snapshot(&self) -> NodeSnapshot {
        let mut snapshot = NodeSnapshot {
            node: NodeIdentity {
                cluster: self.cluster.clone(),
                node_name: self.node.clone(),
                boot_id: "0f3c6e1a-7b1d-4f1e-9f0e-2d7c1b9a8e55".into(),
                kernel: "6.1.112-122.189.amzn2023.x86_64".into(),
                agent_version: "0.1.0".into(),
                collected_at_unix_ms: self.collected_at_unix_ms,
                collection_duration_us: 38_411,
            },
            probe_destination: None,
            host: self.host(),
            namespaces: self
                .pods
                .iter()
                .enumerate()
                .map(|(i, pod)| self.pod_namespace(i, pod))
                .collect(),
            cni: CniState {
                cache: self.pods.iter().map(cache_entry).collect(),
                configs: vec![CniNetworkConfig {
                    file: "etc/cni/net.d/10-aws.conflist".into(),
                    name: "aws-cni".into(),
                    cni_version: Some("1.0.0".into()),
                    plugins: ["aws-cni", "egress-cni", "portmap"]
                        .map(|plugin_type| CniPluginConfig {
                            plugin_type: plugin_type.into(),
                            bridge: None,
                            ipam: None,
                            delegate_type: None,
                        })
                        .to_vec(),
                }],
                host_local: vec![],
                flannel: None,
            },
            vpc_cni: Some(VpcCniState {
                ipamd: Some(self.ipamd()),
                checkpoint: Some(self.checkpoint()),
            }),
            kernel_routes: vec![],
            errors: vec![],
        };
        snapshot.kernel_routes = self.kernel_answers(&snapshot);
        snapshot
    }

    fn host_veth_ifindex(i: usize) -> u32 {
        100 + i as u32
    }

    fn host(&self) -> NetnsState {
        let mut links = vec![link(
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
                gateway: Some(ip(GATEWAY)),
                ..route(table::MAIN, "0.0.0.0/0", 2)
            },
            Route {
                scope: RouteScope::Link,
                protocol: 2,
                pref_src: Some(ip("172.31.48.94")),
                ..route(table::MAIN, "172.31.48.0/20", 2)
            },
            local("127.0.0.1/32", 1, "127.0.0.1"),
        ];
        let mut rules = vec![
            rule(0, lookup(table::LOCAL)),
            PolicyRule {
                fwmark: Some(0x80),
                fwmask: Some(0x80),
                ..rule(1024, lookup(table::MAIN))
            },
            rule(32766, lookup(table::MAIN)),
            rule(32767, lookup(table::DEFAULT)),
        ];
        for eni in 0..self.enis {
            let ifindex = 2 + eni;
            let own = format!("172.31.48.{}", 94 + eni);
            links.push(link(
                ifindex,
                &format!("eth{eni}"),
                LinkKind::Device,
                Some(eni_mac_of(self.eni_seed, eni)),
                9001,
            ));
            addresses.push(Address {
                ifindex,
                address: net(&format!("{own}/20")),
                peer: None,
                scope: RouteScope::Universe,
            });
            routes.push(local(&format!("{own}/32"), ifindex, &own));
            if eni > 0 {
                routes.push(Route {
                    gateway: Some(ip(GATEWAY)),
                    ..route(eni + 1, "0.0.0.0/0", ifindex)
                });
                routes.push(Route {
                    scope: RouteScope::Link,
                    ..route(eni + 1, &format!("{GATEWAY}/32"), ifindex)
                });
            }
        }
        let mut neighbors = vec![];
        for (i, pod) in self.pods.iter().enumerate() {
            let ifindex = Self::host_veth_ifindex(i);
            links.push(Link {
                link: Some(3),
                link_netnsid: Some(i as i32),
                ..link(
                    ifindex,
                    &pod.host_veth(),
                    LinkKind::Veth,
                    Some(pod.host_mac()),
                    9001,
                )
            });
            routes.push(Route {
                scope: RouteScope::Link,
                ..route(table::MAIN, &format!("{}/32", pod.ip), ifindex)
            });
            rules.push(PolicyRule {
                destination: Some(net(&format!("{}/32", pod.ip))),
                ..rule(512, lookup(table::MAIN))
            });
            if pod.eni > 0 {
                rules.push(PolicyRule {
                    source: Some(net(&format!("{}/32", pod.ip))),
                    ..rule(1536, lookup(eni_table(pod.eni)))
                });
            }
            neighbors.push(Neighbor {
                ifindex,
                address: IpAddr::V4(pod.ip),
                lladdr: Some(pod.pod_mac()),
                state: vec!["REACHABLE".into()],
            });
        }
        rules.sort_by_key(|r| r.priority);
        NetnsState {
            inode: HOST_NETNS_INODE,
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

    fn pod_namespace(&self, i: usize, pod: &VpcPod) -> NetnsState {
        let pod_ip = pod.ip.to_string();
        NetnsState {
            inode: pod.inode,
            name: Some(pod.netns_name()),
            path: format!("/var/run/netns/{}", pod.netns_name()),
            nsid: Some(i as i32),
            links: vec![
                link(1, "lo", LinkKind::Loopback, Some(MacAddr([0; 6])), 65536),
                Link {
                    link: Some(Self::host_veth_ifindex(i)),
                    link_netnsid: Some(0),
                    ..link(3, "eth0", LinkKind::Veth, Some(pod.pod_mac()), 9001)
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
                    ..route(table::MAIN, "0.0.0.0/0", 3)
                },
                Route {
                    scope: RouteScope::Link,
                    ..route(table::MAIN, "169.254.1.1/32", 3)
                },
                local(&format!("{pod_ip}/32"), 3, &pod_ip),
            ],
            rules: vec![
                rule(0, lookup(table::LOCAL)),
                rule(32766, lookup(table::MAIN)),
                rule(32767, lookup(table::DEFAULT)),
            ],
            neighbors: vec![Neighbor {
                ifindex: 3,
                address: ip("169.254.1.1"),
                lladdr: Some(pod.host_mac()),
                state: vec!["PERMANENT".into()],
            }],
        }
    }

    fn ipamd(&self) -> IpamdEnis {
        let enis = (0..self.enis)
            .map(|eni| IpamdEni {
                id: format!(
                    "eni-0{:016x}",
                    noise(u64::from(eni) + 9100 + (u64::from(self.eni_seed) << 32))
                ),
                is_primary: eni == 0,
                is_trunk: false,
                is_efa: false,
                device_number: eni,
                route_table_id: Some(eni_table(eni)),
                subnet_id: Some("subnet-0a1b2c3d4e5f60718".into()),
                excluded_for_pod_ips: false,
                // secondary-IP mode: one /32 per address the ENI holds
                cidrs: self
                    .pods
                    .iter()
                    .filter(|pod| pod.eni == eni)
                    .map(|pod| IpamdCidr {
                        cidr: net(&format!("{}/32", pod.ip)),
                        is_prefix: false,
                        addresses: vec![IpamdAddress {
                            ip: IpAddr::V4(pod.ip),
                            assigned: true,
                            container_id: Some(pod.container_id()),
                            pod_namespace: Some(pod.namespace.clone()),
                            pod_name: Some(pod.name.clone()),
                            assigned_time: Some("2026-11-20T11:58:07.482913Z".into()),
                            unassigned_time: None,
                        }],
                    })
                    .collect(),
            })
            .collect();
        IpamdEnis {
            shape: IpamdShape::PerNetworkCard,
            network_cards: vec![IpamdNetworkCard {
                index: 0,
                total_ips: self.enis * 29,
                assigned_ips: self.pods.len() as u32,
                enis,
            }],
        }
    }

    fn checkpoint(&self) -> IpamCheckpoint {
        IpamCheckpoint {
            file: "var/run/aws-node/ipam.json".into(),
            version: "vpc-cni-ipam/1".into(),
            allocations: self
                .pods
                .iter()
                .map(|pod| IpamCheckpointAllocation {
                    network_name: "aws-cni".into(),
                    container_id: pod.container_id(),
                    if_name: "eth0".into(),
                    ipv4: Some(IpAddr::V4(pod.ip)),
                    ipv6: None,
                    allocation_timestamp: 1_763_639_887_482_913_000,
                    pod_namespace: Some(pod.namespace.clone()),
                    pod_name: Some(pod.name.clone()),
                })
                .collect(),
        }
    }

    /// What this node's kernel answers to the resolver's questions: a pod's traffic leaves
    /// through its ENI's table and device; marked (SNAT) traffic through `main` and `eth0`.
    fn kernel_answers(&self, snapshot: &NodeSnapshot) -> Vec<KernelRouteDecision> {
        kernel_queries(snapshot, &choose_probe(snapshot))
            .into_iter()
            .map(|query| {
                let eni = self
                    .pods
                    .iter()
                    .find(|pod| IpAddr::V4(pod.ip) == query.source)
                    .map_or(0, |pod| pod.eni);
                let eni = if query.fwmark.is_some() { 0 } else { eni };
                KernelRouteDecision {
                    answer: KernelRouteAnswer::Route {
                        route_type: RouteType::Unicast,
                        table: eni_table(eni),
                        oif: Some(2 + eni),
                        gateway: Some(ip(GATEWAY)),
                        pref_src: None,
                    },
                    query,
                }
            })
            .collect()
    }
}

fn cache_entry(pod: &VpcPod) -> CniCacheEntry {
    let netns_path = format!("/var/run/netns/{}", pod.netns_name());
    CniCacheEntry {
        file: format!("var/lib/cni/results/aws-cni-{}-eth0", pod.container_id()),
        network_name: "aws-cni".into(),
        container_id: pod.container_id(),
        if_name: "eth0".into(),
        pod_namespace: Some(pod.namespace.clone()),
        pod_name: Some(pod.name.clone()),
        pod_uid: Some(format!("{:016x}", noise(pod.inode + 6))),
        netns_path: Some(netns_path.clone()),
        ips: vec![net(&format!("{}/32", pod.ip))],
        gateways: vec![],
        interfaces: vec![
            CniInterface {
                name: pod.host_veth(),
                mac: Some(pod.host_mac()),
                sandbox: None,
            },
            CniInterface {
                name: "eth0".into(),
                mac: Some(pod.pod_mac()),
                sandbox: Some(netns_path),
            },
        ],
        plugin_types: vec!["aws-cni".into(), "egress-cni".into(), "portmap".into()],
        cni_version: Some("1.0.0".into()),
    }
}

/// A node of `count` pods spread over three ENIs the way ipamd fills them (a third on each),
/// with realistic names: what the benchmarks and the size figures use.
pub fn busy_node(cluster: &str, node: &str, collected_at_unix_ms: i64, count: u32) -> VpcNode {
    const APPS: [&str; 6] = [
        "checkout", "cart", "ledger", "frontend", "coredns", "worker",
    ];
    const NAMESPACES: [&str; 4] = ["shop", "payments", "kube-system", "observability"];
    let pods = (0..count)
        .map(|i| numbered_pod(i, APPS[i as usize % APPS.len()], NAMESPACES[i as usize % 4]))
        .collect();
    VpcNode::new(cluster, node, collected_at_unix_ms, pods)
}

/// Pod number `i` of a busy node: its own namespace inode and address, on ENI `i % 3`.
pub fn numbered_pod(i: u32, app: &str, namespace: &str) -> VpcPod {
    VpcPod {
        namespace: namespace.into(),
        name: format!("{app}-{:08x}-{:05x}", noise(u64::from(i)) as u32, i),
        inode: 4_026_532_000 + u64::from(i),
        ip: Ipv4Addr::new(172, 31, 64 + (i / 250) as u8, (i % 250 + 1) as u8),
        eni: i % 3,
    }
}
