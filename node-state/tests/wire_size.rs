//! The wire stays compact: the server ingests hundreds of changed 250-pod snapshots a second and
//! thousands of heartbeats. Figures print with `--nocapture`; timings are in
//! `examples/wire_size.rs`, not here.

#![expect(
    clippy::unwrap_used,
    reason = "helpers of tests: a failed unwrap is a failed test"
)]

mod support;

use std::io::Write;

use podwire_node_state::wire::{content_hash, proto};
use prost::Message;

fn gzip(bytes: &[u8]) -> usize {
    // tonic 0.14 compresses gzip at level 6 and zstd at zstd's default, 3.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap().len()
}

fn zstd(bytes: &[u8]) -> usize {
    zstd::encode_all(bytes, 3).unwrap().len()
}

#[test]
fn a_250_pod_snapshot_is_compact_and_zstd_is_the_smaller_codec() {
    let snapshot = support::vpc_cni_node(250);
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
    let json = serde_json::to_vec(&snapshot).unwrap().len();
    let (gzip, zstd) = (gzip(&encoded), zstd(&encoded));
    println!(
        "250 pods: JSON {json} B, protobuf {} B, gzip {gzip} B, zstd {zstd} B",
        encoded.len()
    );

    assert!(
        encoded.len() * 4 < json,
        "protobuf {} B is not a quarter of JSON {json} B",
        encoded.len()
    );
    // `wire::COMPRESSION` is zstd because of this.
    assert!(
        zstd < gzip,
        "zstd {zstd} B is not smaller than gzip {gzip} B"
    );
    assert!(
        zstd < 250 * 400,
        "{zstd} B on the wire is more than 400 B per pod"
    );
}

#[test]
fn a_heartbeat_is_a_few_dozen_bytes() {
    let beat = proto::AgentMessage {
        message: Some(proto::agent_message::Message::Heartbeat(proto::Heartbeat {
            sequence: 1_000_000,
            content_hash: content_hash(&support::vpc_cni_node(250)).to_wire(),
        })),
    };
    let size = beat.encode_to_vec().len();
    println!("heartbeat: {size} B");
    assert!(size <= 48, "a heartbeat takes {size} B");
}
