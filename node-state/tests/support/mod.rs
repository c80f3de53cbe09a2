//! Snapshots for the wire tests: one that holds every variant of every model enum, and a realistic
//! Amazon VPC CNI node with any number of pods.

// Each test binary uses a different part of this module, so the unused parts differ.
#![allow(dead_code, unused_imports)]
#![expect(
    clippy::unwrap_used,
    reason = "fixtures of tests: a failed unwrap is a failed test"
)]

mod every_variant;
mod every_variant_ipam;
mod vpc_node;

use std::net::IpAddr;

use ipnet::IpNet;
use podwire_node_state::MacAddr;

pub use every_variant::every_variant_snapshot;
pub use vpc_node::vpc_cni_node;

pub fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

pub fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

pub fn mac(text: &str) -> MacAddr {
    text.parse().unwrap()
}
