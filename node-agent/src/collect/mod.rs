//! One collection of a node's state: every collector run, every failure recorded, nothing fatal.

pub mod files;
pub mod netlink;
pub mod netns;
pub mod vpc_cni;
