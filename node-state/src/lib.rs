//! podwire's shared crate: the node-state model an agent collects, its wire form, and the pure
//! resolver that turns a node's state into one [`PodPath`](resolver::PodPath) per pod.
//!
//! Both binaries depend on this crate: the agent fills a [`NodeSnapshot`] and resolves it locally for
//! `inspect`, and streams it to the server in the [`wire`] format; the server stores snapshots and
//! re-resolves them whenever the resolver improves. The resolver therefore does no I/O and reads no
//! clock: everything it needs is in the snapshot.

pub mod ec2;
pub mod model;
pub mod resolver;
pub mod wire;

pub use model::*;
