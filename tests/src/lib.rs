//! podwire's end-to-end test kit.
//!
//! Builds real nodes in network namespaces — an Amazon VPC CNI node, a flannel node, a kube-router
//! node — wired the way those CNIs wire real nodes, with the files a node holds beside them
//! ([`topology`]); asks the kernel where each pod's traffic goes ([`ground_truth`]); runs
//! `podwire-agent inspect` inside a node and reads its report ([`agent`]); runs `podwire-agent
//! run` inside a node ([`agent_run`]) against a `podwire-server` process ([`server`]) reached
//! through a relay on the node's loopback ([`relay`]), and asks its REST API ([`api`]); changes a
//! built VPC CNI node as VPC CNI would (`BuiltNode::move_pod_to_eni`, `add_pod`, `remove_pod`); and
//! implements the iproute2 procedure the agent is benchmarked against ([`iproute2`]); and stands in
//! for a Kubernetes API server with recorded objects ([`kube_api`]).
//!
//! Everything here needs root and leaves the machine's own network namespace untouched: every
//! namespace it creates carries the prefix `pw<pid>x<n>-` and is removed when its guard drops.

pub mod agent;
pub mod agent_run;
pub mod api;
pub mod cmd;
pub mod expect;
pub mod ground_truth;
pub mod host_root;
pub mod ids;
pub mod iproute2;
pub mod kube_api;
pub mod moto;
pub mod netns;
pub mod relay;
pub mod server;
pub mod topology;
