//! Naming pods: the CNI result cache, and when it names no pod, the raw facts and what IPAM says.

use super::builder::*;
use super::vpc_cni::{VpcNode, vpc_node};
use crate::model::{
    HostLocalAllocation, HostLocalNetwork, IpamCheckpoint, IpamCheckpointAllocation, VpcCniState,
};
use crate::resolver::{ProblemCode, Wiring};

/// The VPC node with one more pod whose cache entry is missing.
fn with_uncached_pod() -> (Node, PodHandle) {
    let VpcNode { mut node, .. } = vpc_node();
    let mut pod = Pod::vpc("ghost", "172.31.50.3", "eni0c3f9a1d2e7").uncached();
    pod.pod_mac = "7a:2c:91:04:5e:10".into();
    let handle = node.pod(pod);
    node.routes("172.31.50.3 dev eni0c3f9a1d2e7 scope link");
    node.rules("512: from all to 172.31.50.3 lookup main");
    (node, handle)
}

#[test]
fn a_pod_without_cache_entry_is_reported_with_its_raw_facts() {
    let (mut node, handle) = with_uncached_pod();
    node.snapshot.vpc_cni = None;
    let path = node.path_of(&handle);
    assert_eq!(
        (path.namespace.as_deref(), path.name.as_deref()),
        (None, None)
    );
    let problem = path
        .problems
        .iter()
        .find(|p| p.code == ProblemCode::NoCniCacheEntry)
        .unwrap();
    let ns = &node.snapshot.namespaces[handle.ns_index];
    assert_eq!(
        problem.message,
        format!(
            "no CNI result cache entry names netns {} (path {}, inode {}) with interface eth0 (ifindex 3, MAC 7a:2c:91:04:5e:10, IP 172.31.50.3/32)",
            ns.name.as_deref().unwrap(),
            ns.path,
            ns.inode
        )
    );
    // Everything else is still resolved, and the kernel objects still say how it is wired.
    assert_eq!(path.wiring, Wiring::AwsVpcCni);
    assert_eq!(path.egress_device().unwrap().name, "eth0");
    assert_eq!(path.rules.len(), 1);
}

#[test]
fn ipamd_names_a_pod_the_cache_does_not() {
    let (mut node, handle) = with_uncached_pod();
    node.ipamd_names("172.31.50.3", "payments", "ledger-0");
    let path = node.path_of(&handle);
    assert_eq!(
        (path.namespace.as_deref(), path.name.as_deref()),
        (Some("payments"), Some("ledger-0"))
    );
    assert_eq!(path.container_id.as_deref(), Some("9a8b7c6d5e4f"));
    let problem = path
        .problems
        .iter()
        .find(|p| p.code == ProblemCode::NoCniCacheEntry)
        .unwrap();
    assert!(
        problem.message.ends_with(
            "; namespace and name from ipamd, which assigns 172.31.50.3 to payments/ledger-0"
        ),
        "{}",
        problem.message
    );
}

#[test]
fn the_ipamd_checkpoint_names_a_pod_when_ipamd_is_down() {
    let (mut node, handle) = with_uncached_pod();
    node.snapshot.vpc_cni = Some(VpcCniState {
        ipamd: None,
        checkpoint: Some(IpamCheckpoint {
            file: "var/run/aws-node/ipam.json".into(),
            version: "vpc-cni-ipam/1".into(),
            allocations: vec![IpamCheckpointAllocation {
                network_name: "aws-cni".into(),
                container_id: "5d41402abc4b".into(),
                if_name: "eth0".into(),
                ipv4: Some("172.31.50.3".parse().unwrap()),
                ipv6: None,
                allocation_timestamp: 1_700_000_000,
                pod_namespace: Some("payments".into()),
                pod_name: Some("ledger-0".into()),
            }],
        }),
    });
    let path = node.path_of(&handle);
    assert_eq!(path.name.as_deref(), Some("ledger-0"));
    assert_eq!(path.container_id.as_deref(), Some("5d41402abc4b"));
    let problem = path
        .problems
        .iter()
        .find(|p| p.code == ProblemCode::NoCniCacheEntry)
        .unwrap();
    assert!(
        problem
            .message
            .contains("from the ipamd checkpoint var/run/aws-node/ipam.json"),
        "{}",
        problem.message
    );
    assert!(
        !path.has_problem(ProblemCode::IpamMismatch),
        "ipamd was not read: nothing to compare"
    );
}

#[test]
fn host_local_ipam_gives_the_container_of_an_unnamed_pod() {
    let mut node = super::flannel::flannel_node(Some("eth0"), None);
    let handle =
        node.pod(Pod::bridged("x", "10.244.0.9/24", "veth9", "cni0", "10.244.0.1").uncached());
    node.snapshot.cni.host_local.push(HostLocalNetwork {
        network: "cbr0".into(),
        dir: "var/lib/cni/networks/cbr0".into(),
        allocations: vec![HostLocalAllocation {
            ip: "10.244.0.9".parse().unwrap(),
            container_id: "e3b0c44298fc".into(),
            if_name: Some("eth0".into()),
        }],
        last_reserved: vec![],
        ranges: vec![],
    });
    let path = node.path_of(&handle);
    assert_eq!(path.name, None);
    assert_eq!(path.container_id.as_deref(), Some("e3b0c44298fc"));
    assert_eq!(
        path.wiring,
        Wiring::Flannel,
        "from the node's first CNI configuration"
    );
    let problem = path
        .problems
        .iter()
        .find(|p| p.code == ProblemCode::NoCniCacheEntry)
        .unwrap();
    assert!(
        problem
            .message
            .contains("host-local network cbr0 allocated 10.244.0.9 to container e3b0c44298fc")
    );
}

#[test]
fn a_cache_entry_is_found_by_ip_when_its_netns_path_differs() {
    let VpcNode { mut node, .. } = vpc_node();
    for entry in &mut node.snapshot.cni.cache {
        entry.netns_path = Some("/proc/4242/ns/net".into());
    }
    let path = node.path(super::vpc_cni::ON_ETH1);
    assert_eq!(path.namespace.as_deref(), Some("default"));
    assert!(!path.has_problem(ProblemCode::NoCniCacheEntry));
}

#[test]
fn a_namespace_the_cache_names_without_a_host_veth_is_reported() {
    let VpcNode {
        mut node, on_eth1, ..
    } = vpc_node();
    // The host end of the pod's veth is gone (deleted between the two reads).
    node.snapshot
        .host
        .links
        .retain(|l| l.ifindex != on_eth1.host_veth);
    let path = node.path(super::vpc_cni::ON_ETH1);
    assert!(
        path.has_problem(ProblemCode::NoHostVeth),
        "{:?}",
        path.problems
    );
    assert_eq!(path.pod_interface.name, "eth0");
    assert_eq!(
        path.pod_interface.ip.unwrap().to_string(),
        "172.31.55.218/32"
    );
    assert_eq!(path.host_veth, None);
    assert_eq!(path.egress, None);
    assert_eq!(path.wiring, Wiring::AwsVpcCni);
}

#[test]
fn collection_errors_against_a_namespace_are_carried_to_its_pods() {
    let VpcNode {
        mut node, on_eth1, ..
    } = vpc_node();
    let path = node.snapshot.namespaces[on_eth1.ns_index].path.clone();
    node.snapshot.errors.push(crate::model::SourceError {
        source: crate::model::ErrorSource::Netlink,
        subject: path.clone(),
        message: "dumping neighbours: No such file or directory".into(),
    });
    let pod = node.path(super::vpc_cni::ON_ETH1);
    let problem = pod
        .problems
        .iter()
        .find(|p| p.code == ProblemCode::IncompleteNamespace)
        .unwrap();
    assert_eq!(
        problem.message,
        format!("reading {path}: dumping neighbours: No such file or directory")
    );
    assert!(
        !node
            .path(super::vpc_cni::ON_ETH0)
            .has_problem(ProblemCode::IncompleteNamespace)
    );
}
