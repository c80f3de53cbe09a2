//! A kube-router node, as in shared/seeds/003: `eth0` on the nodes' network with the BGP-learned
//! routes to the other nodes' pod CIDRs (`10.233.65.0/24 via 192.168.50.52 dev eth0 proto 17`),
//! `kube-bridge` holding the node's pod CIDR gateway, `kube-dummy-if` holding service IPs (an
//! `ifb` link stands in for the dummy link this kernel lacks), pods on kube-bridge with host-local
//! IPAM. Files: kube-router's rewritten `etc/cni/net.d/10-kuberouter.conflist`, host-local's
//! `var/lib/cni/networks/mynet/`, libcni's cache for network `mynet`.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::cmd::{Batch, Cmd};
use crate::ids::Mac;
use crate::topology::bridged::{self, BridgedNetwork};
use crate::topology::{BuiltNode, ExpectedPath, ExtraPods, NodeKind, NodeParts, TopologyError};

pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 50);
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 1);
/// A pod on node 192.168.50.52, whose pod CIDR 10.233.65.0/24 this node learned over BGP.
pub const PROBE: Ipv4Addr = Ipv4Addr::new(10, 233, 65, 9);
/// The route protocol number kube-router's GoBGP routes carry in the write-up.
pub const BGP_ROUTE_PROTO: u8 = 17;

/// The conflist as kube-router rewrites it after inserting the node's pod CIDR (Go's
/// `json.Marshal` of a map: compact, keys sorted).
const CONFLIST: &str = r#"{"cniVersion":"0.3.0","name":"mynet","plugins":[{"bridge":"kube-bridge","hairpinMode":true,"ipam":{"ranges":[[{"subnet":"10.233.64.0/24"}]],"type":"host-local"},"isDefaultGateway":true,"mtu":1500,"name":"kubernetes","type":"bridge"},{"capabilities":{"portMappings":true,"snat":true},"type":"portmap"}]}"#;

/// A kube-router node to build.
#[derive(Debug, Clone)]
pub struct KubeRouterNode {
    pods: usize,
    extra: ExtraPods,
}

impl Default for KubeRouterNode {
    fn default() -> Self {
        KubeRouterNode {
            pods: 3,
            extra: ExtraPods::default(),
        }
    }
}

impl KubeRouterNode {
    pub fn new() -> Self {
        KubeRouterNode::default()
    }

    pub fn pods(mut self, count: usize) -> Self {
        self.pods = count;
        self
    }

    pub fn extra_pods(mut self, extra: ExtraPods) -> Self {
        self.extra = extra;
        self
    }

    pub fn build(self) -> Result<BuiltNode, TopologyError> {
        let mut parts = NodeParts::new()?;
        let underlay = parts.add_peer("underlay")?;
        let seed = parts.prefix.as_str().to_owned();
        // The write-up's node1 NIC.
        let eth0_mac = Mac([0x52, 0x54, 0x00, 0x34, 0xd1, 0x8a]);
        let bridge_mac = Mac::local(&format!("{seed}kube-bridge"));

        let mut node = Batch::new();
        node.push("link set lo up");
        node.push(format!(
            "link add eth0 address {eth0_mac} type veth peer name uplink netns {underlay}"
        ));
        node.push("link set eth0 up");
        node.push(format!("address add {NODE_IP}/24 dev eth0"));
        node.push(format!(
            "route add default via {GATEWAY} dev eth0 proto dhcp metric 100"
        ));
        // Learned from the other nodes' BGP announcements.
        node.push(format!(
            "route add 10.233.65.0/24 via 192.168.50.52 dev eth0 proto {BGP_ROUTE_PROTO}"
        ));
        node.push(format!(
            "route add 10.233.66.0/24 via 192.168.50.51 dev eth0 proto {BGP_ROUTE_PROTO}"
        ));
        node.push(format!(
            "link add kube-bridge address {bridge_mac} type bridge"
        ));
        node.push("link set kube-bridge up");
        node.push("address add 10.233.64.1/24 dev kube-bridge");
        // Stand-in for `link add kube-dummy-if type dummy`.
        node.push("link add kube-dummy-if type ifb");
        node.push("link set kube-dummy-if up");
        node.push("address add 10.233.0.1/32 dev kube-dummy-if scope link");
        node.push("address add 10.233.0.3/32 dev kube-dummy-if scope link");
        node.run_ip(parts.node.name())?;

        let mut under = Batch::new();
        under.push("link set lo up");
        under.push("link set uplink up");
        for host in [1, 51, 52] {
            under.push(format!("address add 192.168.50.{host}/24 dev uplink"));
        }
        under.run_ip(&underlay)?;
        Cmd::new("ip")
            .args(["netns", "exec", parts.node.name(), "sysctl", "-q", "-w"])
            .arg("net.ipv4.ip_forward=1")
            .run()?;

        parts
            .host_root
            .write("etc/cni/net.d/10-kuberouter.conflist", CONFLIST)?;
        let network = BridgedNetwork {
            network_name: "mynet",
            cni_version: "0.3.0",
            conflist: CONFLIST.as_bytes(),
            bridge: "kube-bridge",
            bridge_mac,
            gateway: Ipv4Addr::new(10, 233, 64, 1),
            subnet: Ipv4Addr::new(10, 233, 64, 0),
            prefix_len: 24,
            mtu: 1500,
            extra_pod_routes: &[],
            result_routes: json!([{"dst": "0.0.0.0/0", "gw": "10.233.64.1"}]),
            expected: ExpectedPath {
                table: 254,
                egress_device: "eth0".to_owned(),
                eni_mac: eth0_mac.to_string(),
                vlan_id: None,
                trunk_device: None,
                wiring: "kube-router",
            },
        };
        bridged::add_pods(&mut parts, &network, self.pods, self.extra)?;
        Ok(parts.finish(NodeKind::KubeRouter, IpAddr::V4(PROBE), None))
    }
}
