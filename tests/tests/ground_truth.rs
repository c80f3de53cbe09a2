//! The topologies are wired like the real CNIs: for every pod the kernel itself routes traffic to
//! the node's probe through the table and device the builder intended. These tests need no agent.

use anyhow::Context as _;
use std::net::IpAddr;

use podwire_e2e::cmd::ip;
use podwire_e2e::ground_truth::{self, route_get};
use podwire_e2e::netns::ip_in;
use podwire_e2e::topology::flannel::FlannelNode;
use podwire_e2e::topology::kube_router::KubeRouterNode;
use podwire_e2e::topology::vpc_cni::{CONNMARK, VpcCniNode};
use podwire_e2e::topology::{BuiltNode, ExtraPods, PodNetns};
use serde_json::Value;

const BOTH_EXTRAS: ExtraPods = ExtraPods {
    without_cache_entry: true,
    unnamed_netns: true,
};

fn assert_kernel_routes_as_built(node: &BuiltNode) -> anyhow::Result<()> {
    let mismatches = ground_truth::mismatches(node).context("ask the kernel")?;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    Ok(())
}

/// Runs `ip -j …` inside a pod's namespace, named or not.
fn pod_ip_json(netns: &PodNetns, args: &[&str]) -> anyhow::Result<Value> {
    let cmd = match netns {
        PodNetns::Named { name } => ip(name),
        PodNetns::Unnamed { .. } => ip_in(&netns.path()),
    };
    cmd.arg("-j")
        .args(args.iter().copied())
        .run_json()
        .context("ip inside the pod")
}

#[test]
fn vpc_cni_pods_leave_through_their_enis() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(2, 2, 2)
        .extra_pods(BOTH_EXTRAS)
        .build()
        .context("build a VPC CNI node")?;
    assert_eq!(node.pods.len(), 8);
    assert_kernel_routes_as_built(&node)?;

    // The egress devices cover all three kinds of ENI.
    let devices: Vec<&str> = node
        .pods
        .iter()
        .map(|p| p.expected.egress_device.as_str())
        .collect();
    for device in ["eth0", "eth1", "vlan.eth.1", "vlan.eth.2"] {
        assert!(
            devices.contains(&device),
            "no pod leaves through {device}: {devices:?}"
        );
    }
    Ok(())
}

#[test]
fn vpc_cni_pods_reach_the_host_through_the_permanent_169_254_1_1_neighbour() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(1, 1, 1)
        .extra_pods(BOTH_EXTRAS)
        .build()
        .context("build a VPC CNI node")?;
    for pod in &node.pods {
        let route = pod_ip_json(&pod.netns, &["route", "get", &node.probe.to_string()])?;
        assert_eq!(route[0]["dev"], "eth0", "{}: {route}", pod.qualified_name());
        assert_eq!(
            route[0]["gateway"],
            "169.254.1.1",
            "{}: {route}",
            pod.qualified_name()
        );
        let neigh = pod_ip_json(&pod.netns, &["neigh", "show", "169.254.1.1"])?;
        assert_eq!(
            neigh[0]["lladdr"],
            pod.host_veth_mac.as_str(),
            "{}: {neigh}",
            pod.qualified_name()
        );
        assert_eq!(
            neigh[0]["state"][0],
            "PERMANENT",
            "{}: {neigh}",
            pod.qualified_name()
        );
        let addr = pod_ip_json(&pod.netns, &["-4", "address", "show", "dev", "eth0"])?;
        assert_eq!(addr[0]["addr_info"][0]["local"], pod.ip.to_string());
        assert_eq!(addr[0]["addr_info"][0]["prefixlen"], 32);
    }
    Ok(())
}

#[test]
fn vpc_cni_snat_traffic_of_secondary_eni_pods_takes_the_primary_eni() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(0, 2, 0)
        .build()
        .context("build a VPC CNI node")?;
    let internet: IpAddr = "198.51.100.7".parse().context("an address")?;
    for pod in &node.pods {
        let source = IpAddr::V4(pod.ip);
        let plain = route_get(node.node_netns(), internet, source, &pod.host_veth, None)
            .context("route without mark")?;
        assert_eq!(
            (plain.dev.as_str(), plain.table),
            ("eth1", 2),
            "{}",
            pod.qualified_name()
        );
        let marked = route_get(
            node.node_netns(),
            internet,
            source,
            &pod.host_veth,
            Some(CONNMARK),
        )
        .context("route with the connmark")?;
        assert_eq!(
            (marked.dev.as_str(), marked.table),
            ("eth0", 254),
            "{}",
            pod.qualified_name()
        );
    }
    Ok(())
}

#[test]
fn flannel_pods_reach_other_nodes_through_flannel_1() -> anyhow::Result<()> {
    let node = FlannelNode::new()
        .pods(3)
        .extra_pods(BOTH_EXTRAS)
        .build()
        .context("build a flannel node")?;
    assert_eq!(node.pods.len(), 5);
    assert_kernel_routes_as_built(&node)?;
    let vxlan: Value = ip(node.node_netns())
        .args(["-j", "-d", "link", "show", "flannel.1"])
        .run_json()
        .context("flannel.1")?;
    let info = &vxlan[0]["linkinfo"]["info_data"];
    assert_eq!(info["id"], 1, "{vxlan}");
    assert_eq!(info["port"], 8472, "{vxlan}");
    assert_eq!(info["local"], "192.168.60.10", "{vxlan}");
    assert_eq!(info["link"], "eth0", "{vxlan}");
    Ok(())
}

#[test]
fn kube_router_pods_reach_other_nodes_over_bgp_learned_routes() -> anyhow::Result<()> {
    let node = KubeRouterNode::new()
        .pods(3)
        .extra_pods(BOTH_EXTRAS)
        .build()
        .context("build a kube-router node")?;
    assert_eq!(node.pods.len(), 5);
    assert_kernel_routes_as_built(&node)?;
    for pod in &node.pods {
        let route = ground_truth::pod_route(&node, pod).context("kernel route")?;
        assert_eq!(
            route.gateway.as_deref(),
            Some("192.168.50.52"),
            "{}",
            pod.qualified_name()
        );
    }
    Ok(())
}

#[test]
fn unnamed_pod_namespaces_have_no_name_but_are_wired() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(1, 0, 0)
        .extra_pods(ExtraPods {
            without_cache_entry: false,
            unnamed_netns: true,
        })
        .build()
        .context("build a VPC CNI node")?;
    let unnamed: Vec<_> = node
        .pods
        .iter()
        .filter(|p| matches!(p.netns, PodNetns::Unnamed { .. }))
        .collect();
    assert_eq!(unnamed.len(), 1);
    let listed = podwire_e2e::cmd::Cmd::new("ip")
        .args(["netns", "list"])
        .run()
        .context("ip netns list")?;
    for pod in &node.pods {
        match &pod.netns {
            PodNetns::Named { name } => assert!(listed.contains(name.as_str())),
            PodNetns::Unnamed { pid } => assert!(!listed.contains(&pid.to_string())),
        }
    }
    assert_kernel_routes_as_built(&node)?;
    Ok(())
}

/// The benchmark's baseline is only fair if it really resolves the pods: the iproute2 dumps,
/// joined, must give every pod its built host veth, table, egress device and ENI MAC.
#[test]
fn the_iproute2_procedure_resolves_every_vpc_cni_pod() -> anyhow::Result<()> {
    use podwire_e2e::iproute2;
    let node = VpcCniNode::new()
        .pods(3, 3, 2)
        .build()
        .context("build a VPC CNI node")?;
    let host = iproute2::dump(node.node_netns()).context("dump the node")?;
    let pods: Vec<_> = node
        .pods
        .iter()
        .map(|p| {
            Ok(iproute2::dump(
                p.netns.name().context("named pod namespace")?,
            )?)
        })
        .collect::<anyhow::Result<_>>()
        .context("dump the pods")?;
    let IpAddr::V4(probe) = node.probe else {
        panic!("an IPv4 probe");
    };
    let joined = iproute2::join(&host, &pods, probe);
    assert_eq!(joined.len(), node.pods.len());
    for (built, got) in node.pods.iter().zip(&joined) {
        let want = &built.expected;
        assert_eq!(got.ip, Some(built.ip), "{}", built.qualified_name());
        assert_eq!(
            got.host_veth.as_deref(),
            Some(built.host_veth.as_str()),
            "{}",
            built.qualified_name()
        );
        assert_eq!(got.table, Some(want.table), "{}", built.qualified_name());
        assert_eq!(
            got.egress_device.as_deref(),
            Some(want.egress_device.as_str()),
            "{}",
            built.qualified_name()
        );
        assert_eq!(
            got.eni_mac.as_deref(),
            Some(want.eni_mac.as_str()),
            "{}",
            built.qualified_name()
        );
        // Every pod is named by at least one rule: 512 `to POD`, or 10 `iif vlan…` for branch pods.
        assert!(
            !got.rules.is_empty(),
            "{}: no rules",
            built.qualified_name()
        );
    }
    Ok(())
}
