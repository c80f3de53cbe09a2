//! Builds node snapshots in code the way the write-ups describe nodes: links by name, routes and
//! rules as `ip route show table all` and `ip rule` print them, pods as a veth into a namespace.

use std::net::IpAddr;

use ipnet::IpNet;

use super::ip_text::{net, parse_route, parse_rule};
use crate::model::*;
use crate::resolver::{self, NodeResolution, PodFacts, PodPath};

pub struct Node {
    pub snapshot: NodeSnapshot,
    next_ifindex: u32,
    next_nsid: i32,
}

/// The rules every Linux namespace starts with.
const DEFAULT_RULES: &str =
    "0: from all lookup local\n32766: from all lookup main\n32767: from all lookup default";

impl Node {
    /// A host namespace with `lo` and the kernel's default rules.
    pub fn new() -> Self {
        let mut node = Node {
            snapshot: NodeSnapshot::default(),
            next_ifindex: 1,
            next_nsid: 0,
        };
        node.snapshot.host.path = "/proc/1/ns/net".into();
        node.snapshot.host.inode = 4026531840;
        node.add(link("lo", LinkKind::Loopback, None));
        node.rules(DEFAULT_RULES);
        node
    }

    fn add(&mut self, mut link: Link) -> u32 {
        link.ifindex = self.next_ifindex;
        self.next_ifindex += 1;
        let ifindex = link.ifindex;
        self.snapshot.host.links.push(link);
        ifindex
    }

    pub fn ifindex(&self, name: &str) -> u32 {
        if let Some(raw) = name.strip_prefix('#') {
            return raw.parse().unwrap();
        }
        self.snapshot
            .host
            .link_by_name(name)
            .unwrap_or_else(|| panic!("no host link {name}"))
            .ifindex
    }

    pub fn link_mut(&mut self, name: &str) -> &mut Link {
        self.snapshot
            .host
            .links
            .iter_mut()
            .find(|l| l.name == name)
            .unwrap()
    }

    /// A NIC (an ENI on EC2).
    pub fn device(&mut self, name: &str, mac: &str) -> u32 {
        self.add(link(name, LinkKind::Device, Some(mac)))
    }

    pub fn bridge(&mut self, name: &str, mac: &str) -> u32 {
        self.add(link(name, LinkKind::Bridge, Some(mac)))
    }

    /// A link of `kind` on `parent` (vlan, macvlan, ipvlan).
    pub fn stacked(&mut self, name: &str, kind: LinkKind, mac: &str, parent: &str) -> u32 {
        let parent = self.ifindex(parent);
        let mut l = link(name, kind, Some(mac));
        l.link = Some(parent);
        self.add(l)
    }

    pub fn vxlan(
        &mut self,
        name: &str,
        mac: &str,
        vni: u32,
        dev: Option<&str>,
        local: Option<&str>,
    ) -> u32 {
        let underlay = dev.map(|d| self.ifindex(d));
        let kind = LinkKind::Vxlan {
            vni,
            underlay,
            local: local.map(|l| l.parse().unwrap()),
            remote: None,
            port: Some(8472),
        };
        self.add(link(name, kind, Some(mac)))
    }

    pub fn other(&mut self, name: &str, kind: LinkKind) -> u32 {
        self.add(link(name, kind, None))
    }

    pub fn enslave(&mut self, port: &str, master: &str) {
        let master = self.ifindex(master);
        self.link_mut(port).master = Some(master);
    }

    /// `ip addr add CIDR dev NAME` (scope global).
    pub fn addr(&mut self, dev: &str, cidr: &str) {
        let ifindex = self.ifindex(dev);
        self.snapshot.host.addresses.push(Address {
            ifindex,
            address: cidr.parse().unwrap(),
            peer: None,
            scope: RouteScope::Universe,
        });
    }

    /// Routes, one per line, as `ip route show table all` prints them.
    pub fn routes(&mut self, text: &str) {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let route = parse_route(line, |name| self.ifindex(name));
            self.snapshot.host.routes.push(route);
        }
    }

    /// Rules, one per line, as `ip rule` prints them.
    pub fn rules(&mut self, text: &str) {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            self.snapshot
                .host
                .rules
                .push(parse_rule(line, IpFamily::V4));
        }
    }

    /// Rules, one per line, as `ip -6 rule` prints them.
    pub fn rules6(&mut self, text: &str) {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            self.snapshot
                .host
                .rules
                .push(parse_rule(line, IpFamily::V6));
        }
    }

    /// Removes every host rule (to test a node whose rules were flushed).
    pub fn clear_rules(&mut self) {
        self.snapshot.host.rules.clear();
    }

    pub fn probe(&mut self, ip: &str) {
        self.snapshot.probe_destination = Some(ip.parse().unwrap());
    }

    /// Adds a pod: a namespace with `lo` and `eth0`, the host end of its veth, and (when the pod
    /// names CNI plugins) its CNI cache entry.
    pub fn pod(&mut self, pod: Pod) -> PodHandle {
        let nsid = self.next_nsid;
        self.next_nsid += 1;
        let host_ifindex = self.next_ifindex;
        let mut host_veth = link(&pod.veth, LinkKind::Veth, Some(&pod.host_mac));
        host_veth.link = Some(3);
        host_veth.link_netnsid = Some(nsid);
        host_veth.master = pod.master.as_deref().map(|m| self.ifindex(m));
        self.add(host_veth);

        let netns_name = format!("cni-{:08x}-{nsid}", 0x5eed_0000u32 + nsid as u32);
        let mut ns = NetnsState {
            inode: 4026532000 + nsid as u64,
            name: Some(netns_name.clone()),
            path: format!("/var/run/netns/{netns_name}"),
            nsid: Some(nsid),
            ..NetnsState::default()
        };
        let mut lo = link("lo", LinkKind::Loopback, None);
        lo.ifindex = 1;
        let mut eth0 = link("eth0", LinkKind::Veth, Some(&pod.pod_mac));
        eth0.ifindex = 3;
        eth0.link = Some(host_ifindex);
        eth0.link_netnsid = Some(0);
        ns.links = vec![lo, eth0];
        let ip: IpNet = pod.ip.parse().unwrap();
        ns.addresses.push(Address {
            ifindex: 3,
            address: ip,
            peer: None,
            scope: RouteScope::Universe,
        });
        if let Some(gw) = &pod.gateway {
            let gw: IpAddr = gw.parse().unwrap();
            let any: IpNet = if gw.is_ipv4() {
                "0.0.0.0/0".parse().unwrap()
            } else {
                "::/0".parse().unwrap()
            };
            let mut default = route(any);
            default.gateway = Some(gw);
            default.oif = Some(3);
            ns.routes.push(default);
            ns.neighbors.push(Neighbor {
                ifindex: 3,
                address: gw,
                lladdr: Some(pod.host_mac.parse().unwrap()),
                state: vec!["PERMANENT".into()],
            });
        }
        if !pod.plugins.is_empty() {
            let container_id = format!("c0ffee{nsid:02}");
            self.snapshot.cni.cache.push(CniCacheEntry {
                file: format!("var/lib/cni/results/{}-{container_id}-eth0", pod.network),
                network_name: pod.network.clone(),
                container_id,
                if_name: "eth0".into(),
                pod_namespace: Some(pod.namespace.clone()),
                pod_name: Some(pod.name.clone()),
                pod_uid: None,
                netns_path: Some(ns.path.clone()),
                ips: vec![ip],
                gateways: pod.gateway.iter().map(|g| g.parse().unwrap()).collect(),
                interfaces: Vec::new(),
                plugin_types: pod.plugins.clone(),
                cni_version: Some("1.0.0".into()),
            });
        }
        self.snapshot.namespaces.push(ns);
        PodHandle {
            ip: ip.addr(),
            host_veth: host_ifindex,
            ns_index: self.snapshot.namespaces.len() - 1,
        }
    }

    /// Records the kernel's answer for a pod's egress question.
    pub fn kernel_says(
        &mut self,
        pod: &PodHandle,
        destination: &str,
        fwmark: Option<u32>,
        answer: KernelRouteAnswer,
    ) {
        let iif = self.ingress_of(pod);
        self.snapshot.kernel_routes.push(KernelRouteDecision {
            query: KernelRouteQuery {
                destination: destination.parse().unwrap(),
                source: pod.ip,
                iif,
                fwmark,
            },
            answer,
        });
    }

    /// `table T dev D [via G]` as the kernel answers it.
    pub fn kernel_route(&self, table: u32, dev: &str, via: Option<&str>) -> KernelRouteAnswer {
        KernelRouteAnswer::Route {
            route_type: RouteType::Unicast,
            table,
            oif: Some(self.ifindex(dev)),
            gateway: via.map(|v| v.parse().unwrap()),
            pref_src: None,
        }
    }

    fn ingress_of(&self, pod: &PodHandle) -> u32 {
        let veth = self.snapshot.host.link(pod.host_veth).unwrap();
        veth.master.unwrap_or(veth.ifindex)
    }

    pub fn namespace_mut(&mut self, pod: &PodHandle) -> &mut NetnsState {
        &mut self.snapshot.namespaces[pod.ns_index]
    }

    /// The full resolution; every test that resolves also checks that [`resolver::resolve_facts`]
    /// gives exactly the facts of these paths.
    pub fn resolve(&self) -> NodeResolution {
        let resolution = resolver::resolve(&self.snapshot);
        let facts: Vec<PodFacts> = resolution.pods.iter().map(PodFacts::of).collect();
        assert_eq!(resolver::resolve_facts(&self.snapshot), facts);
        resolution
    }

    /// The resolved path of the pod named `name`.
    pub fn path(&self, name: &str) -> PodPath {
        let resolution = self.resolve();
        resolution
            .pods
            .into_iter()
            .find(|p| p.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no pod {name}"))
    }

    /// The resolved path of the pod behind a handle, named or not.
    pub fn path_of(&self, pod: &PodHandle) -> PodPath {
        self.resolve()
            .pods
            .into_iter()
            .find(|p| p.host_veth.as_ref().map(|v| v.ifindex) == Some(pod.host_veth))
            .unwrap()
    }
}

pub struct PodHandle {
    pub ip: IpAddr,
    pub host_veth: u32,
    pub ns_index: usize,
}

/// A pod to add to a [`Node`].
#[derive(Clone)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub ip: String,
    pub veth: String,
    pub host_mac: String,
    pub pod_mac: String,
    pub gateway: Option<String>,
    pub master: Option<String>,
    pub network: String,
    pub plugins: Vec<String>,
}

impl Pod {
    /// A VPC CNI pod: /32, routed veth, gateway 169.254.1.1, cached by `aws-cni`.
    pub fn vpc(name: &str, ip: &str, veth: &str) -> Self {
        Pod {
            namespace: "default".into(),
            name: name.into(),
            ip: format!("{ip}/32"),
            veth: veth.into(),
            host_mac: "36:06:dc:85:42:a4".into(),
            pod_mac: "66:3a:fb:f2:00:b2".into(),
            gateway: Some("169.254.1.1".into()),
            master: None,
            network: "aws-cni".into(),
            plugins: vec!["aws-cni".into(), "egress-cni".into(), "portmap".into()],
        }
    }

    /// A pod on a bridge (`cni0`, `kube-bridge`), with the bridge's address as gateway.
    pub fn bridged(name: &str, cidr: &str, veth: &str, bridge: &str, gateway: &str) -> Self {
        Pod {
            namespace: "default".into(),
            name: name.into(),
            ip: cidr.into(),
            veth: veth.into(),
            host_mac: "b2:1c:7a:10:00:01".into(),
            pod_mac: "0a:58:0a:f4:00:05".into(),
            gateway: Some(gateway.into()),
            master: Some(bridge.into()),
            network: "cbr0".into(),
            plugins: vec!["bridge".into(), "portmap".into()],
        }
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.into();
        self
    }

    pub fn plugins(mut self, network: &str, plugins: &[&str]) -> Self {
        self.network = network.into();
        self.plugins = plugins.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// No CNI cache entry names this pod.
    pub fn uncached(mut self) -> Self {
        self.plugins.clear();
        self
    }
}

pub fn link(name: &str, kind: LinkKind, mac: Option<&str>) -> Link {
    Link {
        ifindex: 0,
        name: name.into(),
        kind,
        mac: mac.map(|m| m.parse().unwrap()),
        mtu: 9001,
        admin_up: true,
        oper_state: OperState::Up,
        master: None,
        link: None,
        link_netnsid: None,
    }
}

pub fn route(destination: IpNet) -> Route {
    Route {
        table: table::MAIN,
        destination,
        route_type: RouteType::Unicast,
        protocol: 3,
        scope: RouteScope::Universe,
        metric: 0,
        tos: 0,
        pref_src: None,
        source: None,
        oif: None,
        gateway: None,
        onlink: false,
        nexthops: Vec::new(),
    }
}

/// An ENI as ipamd lists it, holding each IP as an assigned secondary IP (/32). Device 0 is the
/// primary ENI.
pub fn eni(id: &str, device_number: u32, ips: &[&str]) -> IpamdEni {
    IpamdEni {
        id: id.into(),
        is_primary: device_number == 0,
        is_trunk: false,
        is_efa: false,
        device_number,
        route_table_id: None,
        subnet_id: Some("subnet-0e863f9fbcda592a3".into()),
        excluded_for_pod_ips: false,
        cidrs: ips
            .iter()
            .map(|ip| IpamdCidr {
                cidr: net(ip, false),
                is_prefix: false,
                addresses: vec![IpamdAddress {
                    ip: net(ip, false).addr(),
                    assigned: true,
                    container_id: None,
                    pod_namespace: None,
                    pod_name: None,
                    assigned_time: None,
                    unassigned_time: None,
                }],
            })
            .collect(),
    }
}

impl Node {
    /// ipamd's `/v1/enis` answer (v1.20+ shape, one network card).
    pub fn ipamd(&mut self, enis: Vec<IpamdEni>) {
        let card = IpamdNetworkCard {
            index: 0,
            total_ips: 0,
            assigned_ips: 0,
            enis,
        };
        let vpc = self
            .snapshot
            .vpc_cni
            .get_or_insert_with(VpcCniState::default);
        vpc.ipamd = Some(IpamdEnis {
            shape: IpamdShape::PerNetworkCard,
            network_cards: vec![card],
        });
    }

    /// Names the pod ipamd assigned `ip` to.
    pub fn ipamd_names(&mut self, ip: &str, namespace: &str, name: &str) {
        let ip: IpAddr = ip.parse().unwrap();
        let ipamd = self
            .snapshot
            .vpc_cni
            .as_mut()
            .and_then(|v| v.ipamd.as_mut())
            .unwrap();
        for card in &mut ipamd.network_cards {
            for eni in &mut card.enis {
                for cidr in &mut eni.cidrs {
                    for address in cidr.addresses.iter_mut().filter(|a| a.ip == ip) {
                        address.pod_namespace = Some(namespace.into());
                        address.pod_name = Some(name.into());
                        address.container_id = Some("9a8b7c6d5e4f".into());
                    }
                }
            }
        }
    }
}
