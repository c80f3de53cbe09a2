//! podwire's end-to-end test kit.
//!
//! Builds real nodes in network namespaces — an Amazon VPC CNI node, a flannel node, a kube-router
//! node — wired the way those CNIs wire real nodes, with the files a node holds beside them
//! ([`topology`]); asks the kernel where each pod's traffic goes ([`ground_truth`]); runs
//! `podwire-agent inspect` inside a node and reads its report ([`agent`]); and implements the
//! iproute2 procedure the agent is benchmarked against ([`iproute2`]).
//!
//! Everything here needs root and leaves the machine's own network namespace untouched: every
//! namespace it creates carries the prefix `pw<pid>x<n>-` and is removed when its guard drops.

pub mod agent;
pub mod cmd;
pub mod expect;
pub mod ground_truth;
pub mod host_root;
pub mod ids;
pub mod iproute2;
pub mod netns;
pub mod topology;
