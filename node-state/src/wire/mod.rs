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

mod content_hash;
mod convert;

pub use content_hash::{ContentHash, ContentHashLengthError, content_hash};
pub use convert::{FromWireError, WireProblem};

/// The codec of the `AgentIngest` stream, in both directions: the agent's client and the server's
/// service both call `send_compressed(COMPRESSION)` and `accept_compressed(COMPRESSION)`.
///
/// zstd rather than gzip, measured on a realistic 250-pod Amazon VPC CNI node (352 KB of protobuf;
/// `cargo run --release -p podwire-node-state --example wire_size`) at the levels tonic 0.14 uses:
/// zstd (level 3) sends 57 KB where gzip (level 6) sends 96 KB, compresses in 0.8 ms instead of
/// 9.8 ms and decompresses in 0.25 ms instead of 0.9 ms. Decompression is what the server pays for
/// every upload. The price is a C build of libzstd (`zstd-sys`), which needs a C compiler.
pub const COMPRESSION: tonic::codec::CompressionEncoding = tonic::codec::CompressionEncoding::Zstd;
