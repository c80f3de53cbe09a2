//! A flannel (VXLAN backend) node, as in shared/seeds/001: `eth0` on the underlay network with the
//! default route; `flannel.1` (VXLAN id 1, local = eth0's address, dev eth0, dstport 8472,
//! nolearning) holding `10.244.0.0/32`, with flanneld's `10.244.N.0/24 via 10.244.N.0 dev
//! flannel.1 onlink` route, PERMANENT neighbour and fdb entry per remote node; the `cni0` bridge
//! with 10.244.0.1/24; pods on cni0 from host-local. Files: `run/flannel/subnet.env`,
//! `etc/cni/net.d/10-flannel.conflist`, host-local's `var/lib/cni/networks/cbr0/`, libcni's
//! cache for network `cbr0`.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::cmd::{Batch, Cmd};
use crate::ids::Mac;
use crate::topology::bridged::{self, BridgedNetwork};
use crate::topology::{BuiltNode, ExpectedPath, ExtraPods, NodeKind, NodeParts, TopologyError};

/// This node's address on the underlay, and its gateway.
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 60, 10);
pub const UNDERLAY_GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 168, 60, 1);
/// A pod on the node holding 10.244.1.0/24: reached through flannel.1.
pub const PROBE: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 7);
const MTU: u32 = 1450;

/// `10-flannel.conflist` from kube-flannel.yml.
const CONFLIST: &str = r#"{
  "name": "cbr0",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "flannel",
      "delegate": {
        "hairpinMode": true,
        "isDefaultGateway": true
      }
    },
    {
      "type": "portmap",
      "capabilities": {
        "portMappings": true
      }
    }
  ]
}
"#;

const SUBNET_ENV: &str = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.0.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";

/// A flannel node to build.
#[derive(Debug, Clone)]
pub struct FlannelNode {
    pods: usize,
    extra: ExtraPods,
}

impl Default for FlannelNode {
    fn default() -> Self {
        FlannelNode {
            pods: 3,
            extra: ExtraPods::default(),
        }
    }
}

impl FlannelNode {
    pub fn new() -> Self {
        FlannelNode::default()
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
        let eth0_mac = Mac::eni(&format!("{seed}eth0"));
        let vtep_mac = Mac::local(&format!("{seed}flannel.1"));
        let bridge_mac = Mac::local(&format!("{seed}cni0"));
        // The other nodes of the cluster: their lease and their VTEP.
        let remotes: Vec<(u8, Ipv4Addr, Mac)> = (1..=2u8)
            .map(|n| {
                (
                    n,
                    Ipv4Addr::new(192, 168, 60, 10 + n),
                    Mac::local(&format!("{seed}vtep{n}")),
                )
            })
            .collect();

        let mut node = Batch::new();
        node.push("link set lo up");
        node.push(format!(
            "link add eth0 address {eth0_mac} type veth peer name uplink netns {underlay}"
        ));
        node.push("link set eth0 up");
        node.push(format!("address add {NODE_IP}/24 dev eth0"));
        node.push(format!("route add default via {UNDERLAY_GATEWAY} dev eth0"));
        node.push(format!(
            "link add flannel.1 address {vtep_mac} mtu {MTU} type vxlan id 1 local {NODE_IP} dev eth0 dstport 8472 nolearning"
        ));
        node.push("link set flannel.1 up");
        node.push("address add 10.244.0.0/32 dev flannel.1");
        for (n, _, mac) in &remotes {
            node.push(format!(
                "route add 10.244.{n}.0/24 via 10.244.{n}.0 dev flannel.1 onlink"
            ));
            node.push(format!(
                "neigh add 10.244.{n}.0 dev flannel.1 lladdr {mac} nud permanent"
            ));
        }
        node.push(format!(
            "link add cni0 address {bridge_mac} mtu {MTU} type bridge"
        ));
        node.push("link set cni0 up");
        node.push("address add 10.244.0.1/24 dev cni0");
        node.run_ip(parts.node.name())?;

        let mut fdb = Batch::new();
        for (_, ip, mac) in &remotes {
            fdb.push(format!(
                "fdb append {mac} dev flannel.1 dst {ip} self permanent"
            ));
        }
        fdb.run_bridge(parts.node.name())?;

        let mut under = Batch::new();
        under.push("link set lo up");
        under.push("link set uplink up");
        under.push(format!("address add {UNDERLAY_GATEWAY}/24 dev uplink"));
        for (_, ip, _) in &remotes {
            under.push(format!("address add {ip}/24 dev uplink"));
        }
        under.run_ip(&underlay)?;
        Cmd::new("ip")
            .args(["netns", "exec", parts.node.name(), "sysctl", "-q", "-w"])
            .arg("net.ipv4.ip_forward=1")
            .run()?;

        parts
            .host_root
            .write("etc/cni/net.d/10-flannel.conflist", CONFLIST)?;
        parts
            .host_root
            .write("run/flannel/subnet.env", SUBNET_ENV)?;
        let network = BridgedNetwork {
            network_name: "cbr0",
            cni_version: "0.3.1",
            conflist: CONFLIST.as_bytes(),
            bridge: "cni0",
            bridge_mac,
            gateway: Ipv4Addr::new(10, 244, 0, 1),
            subnet: Ipv4Addr::new(10, 244, 0, 0),
            prefix_len: 24,
            mtu: MTU,
            extra_pod_routes: &["10.244.0.0/16 via 10.244.0.1"],
            result_routes: json!([
                {"dst": "10.244.0.0/16"},
                {"dst": "0.0.0.0/0", "gw": "10.244.0.1"}
            ]),
            expected: ExpectedPath {
                table: 254,
                egress_device: "flannel.1".to_owned(),
                // VXLAN → its underlay device eth0, which carries the traffic off the node.
                eni_mac: eth0_mac.to_string(),
                vlan_id: None,
                trunk_device: None,
                wiring: "flannel",
            },
        };
        bridged::add_pods(&mut parts, &network, self.pods, self.extra)?;
        Ok(parts.finish(NodeKind::Flannel, IpAddr::V4(PROBE), None))
    }
}
