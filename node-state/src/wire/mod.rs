//! podwire's wire format: the protobuf messages and the gRPC service an agent streams its node
//! snapshots over, and the conversion between them and the model.
//!
//! The `.proto` files live in `node-state/proto/podwire/agent/v1/`. The Rust code generated from
//! them is checked in under `src/wire/generated/` so that no build needs protoc; the test
//! `tests/wire_codegen.rs` regenerates it and fails when it has drifted. After changing a `.proto`
//! file, refresh it with
//! `PODWIRE_REGENERATE=1 cargo test -p podwire-node-state --test wire_codegen`.
//!
//! Protobuf types stop at the edges: the agent converts its [`NodeSnapshot`](crate::NodeSnapshot)
//! just before sending, the server converts back right after receiving, both through the `From` /
//! `TryFrom` pairs in `convert`.

/// The generated messages, and the `agent_ingest_client` / `agent_ingest_server` stubs of the
/// `AgentIngest` service (without tonic's `transport`: the binaries bring their own).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    include!("generated/podwire.agent.v1.rs");
}

mod convert;

pub use convert::{FromWireError, WireProblem};
