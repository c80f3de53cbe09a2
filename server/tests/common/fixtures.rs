//! Node snapshots and their resolutions, built by hand the way the write-ups describe a VPC CNI
//! node: pods on routed veths, secondary-ENI pods looking up table 2 towards eth1.

use chrono::{DateTime, TimeZone, Utc};
use podwire_node_state::resolver::{
    Egress, KernelCheck, LinkRef, NetnsRef, NodeResolution, PodInterface, PodPath, Probe, Problem,
    ProblemCode, Wiring,
};
use podwire_node_state::{Address, MacAddr, NetnsState, NodeIdentity, NodeSnapshot, RouteScope};

pub const ENI0: &str = "02:d1:7d:e3:9c:01";
pub const ENI1: &str = "02:d1:7d:e3:9c:02";

/// One pod as a fixture describes it.
#[derive(Debug, Clone)]
pub struct Pod {
    pub namespace: &'static str,
    pub name: &'static str,
    pub inode: u64,
    pub ip: &'static str,
    /// 254 (main, eth0, primary ENI) or N+1 for secondary ENI N.
    pub table: u32,
    pub problems: Vec<ProblemCode>,
}

pub fn pod(namespace: &'static str, name: &'static str, inode: u64, ip: &'static str) -> Pod {
    Pod {
        namespace,
        name,
        inode,
        ip,
        table: 254,
        problems: vec![],
    }
}

impl Pod {
    /// The same pod, moved to secondary ENI 1's table (table 2, eth1).
    pub fn on_eni1(mut self) -> Pod {
        self.table = 2;
        self
    }

    pub fn with_ip(mut self, ip: &'static str) -> Pod {
        self.ip = ip;
        self
    }
}

pub fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, h, m, 0)
        .single()
        .expect("valid fixture time")
}

pub fn mac(s: &str) -> MacAddr {
    s.parse().expect("fixture MAC")
}

/// A snapshot holding one namespace per pod (with the pod's address, so that content changes
/// with the pods) and the matching resolution.
pub fn node_state(
    cluster: &str,
    node: &str,
    collected_at: DateTime<Utc>,
    pods: &[Pod],
) -> (NodeSnapshot, NodeResolution) {
    let snapshot = NodeSnapshot {
        node: NodeIdentity {
            cluster: cluster.into(),
            node_name: node.into(),
            boot_id: "9f1e0c2a-boot".into(),
            kernel: "6.1.0-test".into(),
            agent_version: "0.1.0".into(),
            collected_at_unix_ms: collected_at.timestamp_millis(),
            collection_duration_us: 1234,
        },
        namespaces: pods
            .iter()
            .map(|p| NetnsState {
                inode: p.inode,
                name: None,
                path: format!("/proc/{}/ns/net", p.inode % 100_000),
                nsid: None,
                addresses: vec![Address {
                    ifindex: 3,
                    address: format!("{}/32", p.ip).parse().expect("fixture IP"),
                    peer: None,
                    scope: RouteScope::Universe,
                }],
                // table and problems only show in the resolution; keep them in the content too
                links: vec![],
                routes: vec![],
                rules: vec![],
                neighbors: vec![],
            })
            .collect(),
        errors: pods
            .iter()
            .map(|p| podwire_node_state::SourceError {
                source: podwire_node_state::ErrorSource::KernelRoute,
                subject: format!("{} table {} problems {:?}", p.inode, p.table, p.problems),
                message: "fixture marker".into(),
            })
            .collect(),
        ..NodeSnapshot::default()
    };
    let resolution = NodeResolution {
        probe: Probe {
            destination: "172.31.0.2".parse().expect("ip"),
            reason: "fixture".into(),
            destination_v6: "2001:db8::1".parse().expect("ip"),
            reason_v6: "fixture".into(),
        },
        pods: pods.iter().map(pod_path).collect(),
    };
    (snapshot, resolution)
}

pub fn pod_path(p: &Pod) -> PodPath {
    let (device, eni) = if p.table == 254 {
        ("eth0", ENI0)
    } else {
        ("eth1", ENI1)
    };
    let host_veth = LinkRef {
        name: format!("eni{:x}", p.inode),
        ifindex: 10,
        kind: "veth".into(),
        mac: None,
    };
    PodPath {
        namespace: Some(p.namespace.into()),
        name: Some(p.name.into()),
        container_id: Some(format!("c{}", p.inode)),
        netns: NetnsRef {
            inode: p.inode,
            name: None,
            path: format!("/proc/{}/ns/net", p.inode % 100_000),
            nsid: None,
        },
        wiring: Wiring::AwsVpcCni,
        pod_interface: PodInterface {
            name: "eth0".into(),
            ifindex: 3,
            ip: Some(format!("{}/32", p.ip).parse().expect("fixture IP")),
            mac: Some(mac("0a:58:00:00:00:01")),
            gateway: Some("169.254.1.1".parse().expect("ip")),
            gateway_neighbor: None,
        },
        host_veth: Some(host_veth.clone()),
        bridge: None,
        rules: vec![],
        egress: Some(Egress {
            label: "to 172.31.0.2".into(),
            destination: "172.31.0.2".parse().expect("ip"),
            fwmark: None,
            ingress: host_veth,
            rule: None,
            table: Some(p.table),
            route: None,
            egress_device: Some(LinkRef {
                name: device.into(),
                ifindex: 2,
                kind: "device".into(),
                mac: Some(mac(eni)),
            }),
            layers: vec![],
            nic: None,
            eni_mac: Some(mac(eni)),
            vlan_id: None,
            trunk_device: None,
            stays_on_node: None,
            kernel: KernelCheck::Agrees,
        }),
        snat_egress: None,
        problems: p
            .problems
            .iter()
            .map(|code| Problem {
                code: *code,
                message: "fixture".into(),
            })
            .collect(),
    }
}
