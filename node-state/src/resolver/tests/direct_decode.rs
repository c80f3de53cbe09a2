//! The nodes of these tests through the server's direct decoder: each one's canonical encoding
//! decodes to the same model as prost and the conversion make of it (`wire::decode_snapshot_directly`;
//! `tests/wire_direct_decode.rs` covers every variant and mutated encodings).

use prost::Message;

use super::branch::{branch_node, vlan_kinds};
use super::builder::Node;
use super::flannel::flannel_node;
use super::kube_router::kube_router_node;
use super::vpc_cni::{VpcNode, vpc_node};
use crate::model::*;
use crate::wire::{canonical_encoding, decode_snapshot_directly, proto};

fn decodes_alike(name: &str, snapshot: &NodeSnapshot) {
    for encoding in [
        canonical_encoding(snapshot),
        proto::NodeSnapshot::from(snapshot).encode_to_vec(),
    ] {
        let through_prost =
            NodeSnapshot::try_from(proto::NodeSnapshot::decode(encoding.as_slice()).unwrap())
                .unwrap();
        let direct = decode_snapshot_directly(&encoding).unwrap();
        assert_eq!(direct, through_prost, "{name}");
    }
}

/// The VPC CNI node with what a collection adds around the wiring: the kernel's answers (a route
/// and a refusal), a failed read, ipamd's checkpoint.
fn busy_vpc_node() -> NodeSnapshot {
    let VpcNode {
        mut node,
        on_eth0,
        on_eth1,
    } = vpc_node();
    let answer = node.kernel_route(2, "eth1", Some("172.31.48.1"));
    node.kernel_says(&on_eth1, "198.51.100.1", Some(0x80), answer);
    node.kernel_says(
        &on_eth0,
        "198.51.100.1",
        None,
        KernelRouteAnswer::Error {
            errno: 101,
            message: "Network is unreachable".into(),
        },
    );
    node.snapshot.errors.push(SourceError {
        source: ErrorSource::CniConfig,
        subject: "etc/cni/net.d".into(),
        message: "no such file or directory".into(),
    });
    node.snapshot.vpc_cni.get_or_insert_default().checkpoint = Some(IpamCheckpoint {
        file: "var/run/aws-node/ipam.json".into(),
        version: "vpc-cni-ipam/1".into(),
        allocations: vec![IpamCheckpointAllocation {
            network_name: "aws-cni".into(),
            container_id: "0123abcd".into(),
            if_name: "eth0".into(),
            ipv4: Some(on_eth0.ip),
            ipv6: None,
            allocation_timestamp: 1_700_000_000_000_000_000,
            pod_namespace: Some("default".into()),
            pod_name: Some(super::vpc_cni::ON_ETH0.into()),
        }],
    });
    node.snapshot.probe_destination = Some("198.51.100.1".parse().unwrap());
    node.snapshot
}

#[test]
fn every_test_node_decodes_alike() {
    decodes_alike("vpc cni", &busy_vpc_node());
    decodes_alike("empty", &Node::new().snapshot);
    decodes_alike("flannel", &flannel_node(None, None).snapshot);
    decodes_alike(
        "flannel pinned",
        &flannel_node(Some("eth0"), Some("10.0.0.11")).snapshot,
    );
    decodes_alike("kube-router", &kube_router_node().snapshot);
    for (name, kind) in vlan_kinds() {
        decodes_alike(name, &branch_node(kind).0.snapshot);
    }
}
