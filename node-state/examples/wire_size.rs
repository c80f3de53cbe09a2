//! Measures the wire size of a realistic 250-pod VPC CNI node snapshot, encoded and compressed with
//! each codec tonic offers, at the levels tonic 0.14 uses (gzip 6, zstd 3), and how long each takes.
//!
//! `cargo run --release -p podwire-node-state --example wire_size [PODS]`

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use podwire_node_state::NodeSnapshot;
use podwire_node_state::wire::{content_hash, proto};
use prost::Message;

const ROUNDS: u32 = 200;

fn time(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..ROUNDS {
        f();
    }
    start.elapsed() / ROUNDS
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn main() {
    let pods: u32 = std::env::args()
        .nth(1)
        .map_or(250, |a| a.parse().expect("a pod count"));
    let snapshot = support::vpc_cni_node(pods);
    let message = proto::AgentMessage {
        message: Some(proto::agent_message::Message::Snapshot(
            proto::SnapshotUpload {
                sequence: 1,
                content_hash: content_hash(&snapshot).to_wire(),
                body: Some(proto::snapshot_upload::Body::Snapshot((&snapshot).into())),
            },
        )),
    };
    let encoded = message.encode_to_vec();
    let json = serde_json::to_vec(&snapshot).expect("the model serialises");
    let gz = gzip(&encoded);
    let zs = zstd::encode_all(encoded.as_slice(), 3).expect("zstd in memory");

    println!("{pods}-pod VPC CNI snapshot");
    println!("  model as JSON        {:>9} bytes", json.len());
    println!(
        "  protobuf             {:>9} bytes ({} per pod)",
        encoded.len(),
        encoded.len() / pods.max(1) as usize
    );
    println!(
        "  protobuf + gzip(6)   {:>9} bytes ({} per pod)",
        gz.len(),
        gz.len() / pods.max(1) as usize
    );
    println!(
        "  protobuf + zstd(3)   {:>9} bytes ({} per pod)",
        zs.len(),
        zs.len() / pods.max(1) as usize
    );
    println!("per message, mean of {ROUNDS}:");
    println!(
        "  model -> protobuf bytes   {:?}",
        time(|| drop(proto::NodeSnapshot::from(&snapshot).encode_to_vec()))
    );
    println!(
        "  protobuf bytes -> wire    {:?}",
        // From a shared buffer, as tonic decodes: `bytes` fields can then point into it.
        time(|| drop(
            proto::AgentMessage::decode(prost::bytes::Bytes::from(encoded.clone())).expect("valid")
        ))
    );
    let wire = proto::NodeSnapshot::from(&snapshot);
    println!(
        "  wire -> model             {:?}",
        time(|| drop(NodeSnapshot::try_from(wire.clone()).expect("valid")))
    );
    println!(
        "  wire clone (subtract)     {:?}",
        time(|| drop(wire.clone()))
    );
    println!(
        "  content_hash              {:?}",
        time(|| _ = content_hash(&snapshot))
    );
    println!(
        "  gzip(6) compress          {:?}",
        time(|| drop(gzip(&encoded)))
    );
    println!(
        "  gzip decompress           {:?}",
        time(|| drop(gunzip(&gz)))
    );
    println!(
        "  zstd(3) compress          {:?}",
        time(|| drop(zstd::encode_all(encoded.as_slice(), 3)))
    );
    println!(
        "  zstd decompress           {:?}",
        time(|| drop(zstd::decode_all(zs.as_slice())))
    );
}
