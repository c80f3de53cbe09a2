//! podwire's wire format: the protobuf messages and the gRPC service an agent streams its node
//! snapshots over, the conversion between them and the model, the snapshot content hash and the
//! stream's compression codec.
//!
//! The `.proto` files live in `node-state/proto/podwire/agent/v1/`: `snapshot.proto`, `netns.proto`,
//! `cni.proto`, `vpc_cni.proto` and `net.proto` mirror the model type for type and field for field;
//! `ingest.proto` holds the `AgentIngest` service and documents the conversation. The Rust code
//! generated from them is checked in under `src/wire/generated/` so that no build needs protoc or
//! protox; the test `tests/wire_codegen.rs` regenerates it and fails when it has drifted. After
//! changing a `.proto` file, refresh it with
//! `PODWIRE_REGENERATE=1 cargo test -p podwire-node-state --test wire_codegen` and commit the
//! result (regenerate before adapting the conversion code: the test links the crate).
//!
//! Protobuf types stop at the edges: the agent converts its [`NodeSnapshot`](crate::NodeSnapshot)
//! with `proto::NodeSnapshot::from(&snapshot)` just before sending, and the server converts back with
//! `NodeSnapshot::try_from(wire)` right after receiving, which fails with a [`FromWireError`] that
//! names the offending field.

/// The generated messages, and the `agent_ingest_client` / `agent_ingest_server` stubs of the
/// `AgentIngest` service (without tonic's `transport`: the binaries bring their own).
#[allow(
    clippy::all,
    reason = "generated code: which lints fire depends on the generator, and it is not edited by hand"
)]
pub mod proto {
    include!("generated/podwire.agent.v1.rs");
}

mod canonical_frame;
mod content_hash;
mod convert;
mod direct_decode;

pub use canonical_frame::{CANONICAL_ZSTD_LEVEL, CanonicalFrame, FrameError, open_frame};
pub use content_hash::{ContentHash, ContentHashLengthError, canonical_encoding, content_hash};
pub use convert::{FromWireError, WireProblem};
pub use direct_decode::{DirectDecodeError, decode_snapshot_directly};

/// The codec of the `AgentIngest` stream: the server's service `accept_compressed(COMPRESSION)`
/// and the agent's client `accept_compressed(COMPRESSION)`. Current agents send uncompressed
/// streams, since their uploads carry the snapshot in its own zstd frame ([`CanonicalFrame`]);
/// the first agents sent the plain snapshot message on a stream compressed with this codec, and
/// servers still accept that. The server answers uncompressed: its answers are a few dozen bytes, and tonic sets up a new
/// zstd context for every message it compresses (measured: 4–7k heartbeats/s through the ingest
/// with compressed answers, 10–24k/s without).
///
/// zstd rather than gzip, measured on a realistic 250-pod Amazon VPC CNI node (352 KB of protobuf;
/// `cargo run --release -p podwire-node-state --example wire_size`) at the levels tonic 0.14 uses:
/// zstd (level 3) sends 57 KB where gzip (level 6) sends 96 KB, compresses in about 0.8 ms instead
/// of 10 ms and decompresses in about 0.3 ms instead of 0.9 ms. Decompression is what the server
/// pays for every upload. The price is a C build of libzstd (`zstd-sys`), which needs a C compiler.
pub const COMPRESSION: tonic::codec::CompressionEncoding = tonic::codec::CompressionEncoding::Zstd;
