use std::collections::BTreeMap;

use podwire_node_state::model::MacAddr;
use podwire_node_state::resolver::{
    Egress, KernelCheck, LinkRef, NetnsRef, PodInterface, PodPath, Wiring,
};

use super::*;
use crate::cluster::pod_eni::parse_pod_eni;

/// Seed 002's pod: branch ENI eni-09a7a909e06fc4be6 on vlan 1, MAC 02:b0:01:6c:b5:79.
const ANNOTATION: &str = r#"[{"eniId":"eni-09a7a909e06fc4be6","ifAddress":"02:b0:01:6c:b5:79","privateIp":"192.168.26.162","vlanId":1,"subnetCidr":"192.168.0.0/19"}]"#;

fn facts(annotation: Option<&str>) -> PodFacts {
    PodFacts {
        uid: "3c1bb3c2-6f0e-4b8e-9a51-4b3f0b7a9d11".into(),
        namespace: "default".into(),
        name: "aws-cli".into(),
        labels: BTreeMap::new(),
        workload: None,
        node_name: Some("ip-192-168-31-166.eu-west-1.compute.internal".into()),
        pod_ips: vec!["192.168.26.162".parse().unwrap()],
        host_network: false,
        phase: Some("Running".into()),
        pod_eni: annotation.map(|a| parse_pod_eni(a).map_err(|e| e.to_string())),
    }
}

fn link(name: &str, mac: Option<MacAddr>) -> LinkRef {
    LinkRef {
        name: name.into(),
        ifindex: 5,
        kind: "vlan".into(),
        mac,
    }
}

/// The path the resolver gives seed 002's pod: table 101, out of vlan.eth.1 on eth1.
fn branch_path(vlan: u16, mac: &str) -> PodPath {
    let mac: MacAddr = mac.parse().unwrap();
    PodPath {
        namespace: Some("default".into()),
        name: Some("aws-cli".into()),
        container_id: None,
        netns: NetnsRef {
            inode: 4026532512,
            name: None,
            path: "/proc/4242/ns/net".into(),
            nsid: Some(0),
        },
        wiring: Wiring::AwsVpcCniBranch,
        pod_interface: PodInterface {
            name: "eth0".into(),
            ifindex: 3,
            ip: Some("192.168.26.162/32".parse().unwrap()),
            mac: None,
            gateway: None,
            gateway_neighbor: None,
        },
        host_veth: Some(link("vlanafd4c544f81", None)),
        bridge: None,
        rules: Vec::new(),
        egress: Some(Egress {
            label: "to 192.168.0.10".into(),
            destination: "192.168.0.10".parse().unwrap(),
            fwmark: None,
            ingress: link("vlanafd4c544f81", None),
            rule: None,
            table: Some(101),
            route: None,
            egress_device: Some(link("vlan.eth.1", Some(mac))),
            layers: Vec::new(),
            nic: Some(link("eth1", None)),
            stays_on_node: None,
            eni_mac: Some(mac),
            vlan_id: Some(vlan),
            trunk_device: Some("eth1".into()),
            kernel: KernelCheck::Agrees,
        }),
        snat_egress: None,
        problems: Vec::new(),
    }
}

const NODE: &str = "ip-192-168-31-166.eu-west-1.compute.internal";

fn disagreements(checks: &[CrossCheck]) -> Vec<&'static str> {
    checks
        .iter()
        .filter(|c| !c.agrees)
        .map(|c| c.check)
        .collect()
}

#[test]
fn the_seed_pod_agrees_with_its_kernel_path() {
    let checks = cross_check(
        &facts(Some(ANNOTATION)),
        NODE,
        Some(&branch_path(1, "02:b0:01:6c:b5:79")),
    );
    let names: Vec<_> = checks.iter().map(|c| c.check).collect();
    assert_eq!(
        names,
        [
            "node",
            "branch-eni-vlan-id",
            "branch-eni-mac",
            "branch-eni-ip"
        ]
    );
    assert_eq!(disagreements(&checks), Vec::<&str>::new(), "{checks:#?}");
}

#[test]
fn every_disagreement_is_flagged() {
    /// What, the pod's facts, the node that found it, its path, the disagreements expected.
    type Case<'a> = (&'a str, PodFacts, &'a str, Option<PodPath>, &'a [&'a str]);
    let cases: [Case<'_>; 6] = [
        (
            "another vlan",
            facts(Some(ANNOTATION)),
            NODE,
            Some(branch_path(2, "02:b0:01:6c:b5:79")),
            &["branch-eni-vlan-id"],
        ),
        (
            "another MAC",
            facts(Some(ANNOTATION)),
            NODE,
            Some(branch_path(1, "02:b0:01:6c:b5:7a")),
            &["branch-eni-mac"],
        ),
        (
            "another node",
            facts(Some(ANNOTATION)),
            "ip-192-168-9-59.eu-west-1.compute.internal",
            Some(branch_path(1, "02:b0:01:6c:b5:79")),
            &["node"],
        ),
        (
            "a branch path without the annotation",
            facts(None),
            NODE,
            Some(branch_path(1, "02:b0:01:6c:b5:79")),
            &["branch-eni-wiring"],
        ),
        (
            "an unreadable annotation",
            facts(Some("[{\"eniId\":")),
            NODE,
            Some(branch_path(1, "02:b0:01:6c:b5:79")),
            &["pod-eni-annotation"],
        ),
        (
            "an annotation on a pod wired to a node ENI",
            facts(Some(ANNOTATION)),
            NODE,
            Some(PodPath {
                wiring: Wiring::AwsVpcCni,
                egress: None,
                ..branch_path(1, "02:b0:01:6c:b5:79")
            }),
            &["branch-eni-wiring", "branch-eni-vlan-id", "branch-eni-mac"],
        ),
    ];
    for (what, facts, node, path, want) in cases {
        let checks = cross_check(&facts, node, path.as_ref());
        assert_eq!(disagreements(&checks), want, "{what}: {checks:#?}");
    }
}

#[test]
fn without_a_path_only_the_node_is_compared() {
    let checks = cross_check(&facts(Some(ANNOTATION)), NODE, None);
    assert_eq!(checks.len(), 1);
    assert!(checks[0].agrees);
}

#[test]
fn the_annotated_branch_eni_id_is_checked_against_ec2s_eni_joined_by_mac() {
    let path = branch_path(1, "02:b0:01:6c:b5:79");
    /// What, the annotation, EC2's id for the path's MAC, the outcome (`None`: no check).
    type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<bool>);
    let cases: [Case<'_>; 5] = [
        (
            "the same ENI",
            Some(ANNOTATION),
            Some("eni-09a7a909e06fc4be6"),
            Some(true),
        ),
        (
            "EC2 knows the MAC as another ENI",
            Some(ANNOTATION),
            Some("eni-0aaaaaaaaaaaaaaaa"),
            Some(false),
        ),
        ("not described by EC2 yet", Some(ANNOTATION), None, None),
        ("no annotation", None, Some("eni-09a7a909e06fc4be6"), None),
        (
            "an unreadable annotation (flagged by the kernel checks already)",
            Some("[{\"eniId\":"),
            Some("eni-09a7a909e06fc4be6"),
            None,
        ),
    ];
    for (what, annotation, ec2_id, want) in cases {
        let check = cross_check_ec2(&facts(annotation), Some(&path), ec2_id);
        assert_eq!(check.as_ref().map(|c| c.agrees), want, "{what}: {check:#?}");
        if let Some(check) = check {
            assert_eq!(check.check, "branch-eni-id");
            assert_eq!(check.kubernetes.as_deref(), Some("eni-09a7a909e06fc4be6"));
            assert_eq!(check.kernel.as_deref(), ec2_id, "{what}");
        }
    }
    assert_eq!(
        cross_check_ec2(
            &facts(Some(ANNOTATION)),
            None,
            Some("eni-09a7a909e06fc4be6")
        ),
        None,
        "no path: nothing tells which annotated ENI is this interface's"
    );
}
