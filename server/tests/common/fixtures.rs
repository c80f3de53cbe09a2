//! Node snapshots for the store and API tests: a VPC CNI node holding exactly the pods a test
//! names ([`super::vpc_node`]), resolved by the real resolver.

use chrono::{DateTime, TimeZone, Utc};
use podwire_node_state::resolver::{NodeResolution, resolve};
use podwire_node_state::{MacAddr, NodeSnapshot};

pub use super::vpc_node::{VpcNode, VpcPod as Pod};

/// The primary ENI's MAC (the host's eth0).
pub const ENI0: &str = "02:d1:7d:e3:9c:01";
/// Secondary ENI 1's MAC (the host's eth1, route table 2).
pub const ENI1: &str = "02:d1:7d:e3:9c:02";

/// A pod on the primary ENI.
pub fn pod(namespace: &str, name: &str, inode: u64, ip: &str) -> Pod {
    Pod {
        namespace: namespace.into(),
        name: name.into(),
        inode,
        ip: ip.parse().expect("fixture IPv4 address"),
        eni: 0,
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

/// The node's snapshot at `collected_at`, and its resolution by the shared resolver.
pub fn node_state(
    cluster: &str,
    node: &str,
    collected_at: DateTime<Utc>,
    pods: &[Pod],
) -> (NodeSnapshot, NodeResolution) {
    let snapshot = node_snapshot(cluster, node, collected_at, pods);
    let resolution = resolve(&snapshot);
    (snapshot, resolution)
}

/// The node's snapshot at `collected_at`.
pub fn node_snapshot(
    cluster: &str,
    node: &str,
    collected_at: DateTime<Utc>,
    pods: &[Pod],
) -> NodeSnapshot {
    VpcNode::new(
        cluster,
        node,
        collected_at.timestamp_millis(),
        pods.to_vec(),
    )
    .snapshot()
}
