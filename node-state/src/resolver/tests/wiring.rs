//! Detecting which CNI wired a pod.

use super::builder::*;
use crate::model::{CniNetworkConfig, CniPluginConfig, VpcCniState};
use crate::resolver::Wiring;

fn plugin(plugin_type: &str, bridge: Option<&str>) -> CniPluginConfig {
    CniPluginConfig {
        plugin_type: plugin_type.into(),
        bridge: bridge.map(Into::into),
        ipam: None,
        delegate_type: None,
    }
}

fn config(name: &str, plugins: Vec<CniPluginConfig>) -> CniNetworkConfig {
    CniNetworkConfig {
        file: format!("etc/cni/net.d/10-{name}.conflist"),
        name: name.into(),
        cni_version: None,
        plugins,
    }
}

/// A node with eth0, a cni0 bridge and a kube-bridge; the pod is added by each case.
fn bare_node(flannel_vxlan: bool) -> Node {
    let mut node = Node::new();
    node.device("eth0", "02:00:00:00:00:01");
    node.addr("eth0", "10.0.0.11/24");
    node.bridge("cni0", "02:00:00:00:00:02");
    node.bridge("kube-bridge", "02:00:00:00:00:03");
    if flannel_vxlan {
        node.vxlan("flannel.1", "02:00:00:00:00:04", 1, Some("eth0"), None);
    }
    node.routes("default via 10.0.0.1 dev eth0");
    node
}

struct Case {
    what: &'static str,
    pod: Pod,
    configs: Vec<CniNetworkConfig>,
    flannel_vxlan: bool,
    vpc_cni: bool,
    expect: Wiring,
}

#[test]
fn wiring_is_detected_from_cache_then_config_then_kernel_objects() {
    let vpc = || Pod::vpc("p", "10.0.0.50", "eni1a2b3c4d5e6");
    let on = |bridge: &str| Pod::bridged("p", "10.244.0.5/24", "veth1", bridge, "10.244.0.1");
    let cases = [
        Case {
            what: "cache: aws-cni",
            pod: vpc(),
            configs: vec![],
            flannel_vxlan: false,
            vpc_cni: false,
            expect: Wiring::AwsVpcCni,
        },
        Case {
            what: "cache: flannel",
            pod: on("cni0").plugins("cbr0", &["flannel", "portmap"]),
            configs: vec![],
            flannel_vxlan: false,
            vpc_cni: false,
            expect: Wiring::Flannel,
        },
        Case {
            what: "cache: bridge on kube-bridge",
            pod: on("kube-bridge"),
            configs: vec![],
            flannel_vxlan: false,
            vpc_cni: false,
            expect: Wiring::KubeRouter,
        },
        Case {
            what: "cache: bridge whose config names kube-bridge",
            pod: on("cni0").plugins("mynet", &["bridge"]),
            configs: vec![config("mynet", vec![plugin("bridge", Some("kube-bridge"))])],
            flannel_vxlan: false,
            vpc_cni: false,
            expect: Wiring::KubeRouter,
        },
        Case {
            what: "cache: bridge",
            pod: on("cni0"),
            configs: vec![],
            flannel_vxlan: false,
            vpc_cni: false,
            expect: Wiring::Bridge,
        },
        Case {
            what: "cache: bridge beside a flannel vxlan",
            pod: on("cni0"),
            configs: vec![],
            flannel_vxlan: true,
            vpc_cni: false,
            expect: Wiring::Flannel,
        },
        Case {
            what: "cache: a CNI podwire does not know",
            pod: vpc().plugins("k8s-pod-network", &["calico", "bandwidth"]),
            configs: vec![],
            flannel_vxlan: false,
            vpc_cni: true,
            expect: Wiring::Unknown,
        },
        Case {
            what: "no cache, first config: aws-cni",
            pod: on("cni0").uncached(),
            configs: vec![
                config("aws-cni", vec![plugin("aws-cni", None)]),
                config("cbr0", vec![plugin("bridge", Some("cni0"))]),
            ],
            flannel_vxlan: false,
            vpc_cni: false,
            expect: Wiring::AwsVpcCni,
        },
        Case {
            what: "no cache, first config: bridge",
            pod: on("cni0").uncached(),
            configs: vec![config("cbr0", vec![plugin("bridge", Some("cni0"))])],
            flannel_vxlan: false,
            vpc_cni: false,
            expect: Wiring::Bridge,
        },
        Case {
            what: "kernel: routed eni veth, /32, 169.254.1.1",
            pod: vpc().uncached(),
            configs: vec![],
            flannel_vxlan: false,
            vpc_cni: false,
            expect: Wiring::AwsVpcCni,
        },
        Case {
            what: "kernel: routed veth of another name, /32, 169.254.1.1 (Calico looks the same)",
            pod: {
                let mut p = vpc().uncached();
                p.veth = "cali12ab34cd56e".into();
                p
            },
            configs: vec![],
            flannel_vxlan: false,
            vpc_cni: false,
            expect: Wiring::Unknown,
        },
        Case {
            what: "kernel: routed veth of another name on a node running VPC CNI",
            pod: {
                let mut p = vpc().uncached();
                p.veth = "veth12ab34cd56e".into();
                p
            },
            configs: vec![],
            flannel_vxlan: false,
            vpc_cni: true,
            expect: Wiring::AwsVpcCni,
        },
        Case {
            what: "kernel: cni0 and flannel.1",
            pod: on("cni0").uncached(),
            configs: vec![],
            flannel_vxlan: true,
            vpc_cni: false,
            expect: Wiring::Flannel,
        },
        Case {
            what: "kernel: kube-bridge",
            pod: on("kube-bridge").uncached(),
            configs: vec![],
            flannel_vxlan: false,
            vpc_cni: false,
            expect: Wiring::KubeRouter,
        },
        Case {
            what: "kernel: some bridge",
            pod: on("cni0").uncached(),
            configs: vec![],
            flannel_vxlan: false,
            vpc_cni: false,
            expect: Wiring::Bridge,
        },
        Case {
            what: "kernel: nothing recognisable",
            pod: {
                let mut p = vpc().uncached();
                p.gateway = Some("10.0.0.1".into());
                p
            },
            configs: vec![],
            flannel_vxlan: false,
            vpc_cni: false,
            expect: Wiring::Unknown,
        },
    ];
    for case in cases {
        let mut node = bare_node(case.flannel_vxlan);
        node.snapshot.cni.configs = case.configs;
        if case.vpc_cni {
            node.snapshot.vpc_cni = Some(VpcCniState::default());
        }
        let handle = node.pod(case.pod);
        assert_eq!(node.path_of(&handle).wiring, case.expect, "{}", case.what);
    }
}
