//! What one upload of a 250-pod node costs the server, step by step, and what its blob costs the
//! database: `cargo run --release -p podwire-server --example ingest_cost`.
//!
//! The whole ingest, gRPC and database included (heartbeats too), is measured by `bench-ingest`.
//!
//! The node is the tests' VPC CNI node builder (`tests/common/vpc_node.rs`): 250 pods over three
//! ENIs, each with its namespace, veth, routes, rules, CNI cache entry, ipamd address, checkpoint
//! allocation and kernel route decision.

#[path = "../tests/common/vpc_node.rs"]
#[allow(dead_code, reason = "the example uses part of the tests' builder")]
mod vpc_node;

#[path = "../src/bin/bench-ingest/cpu.rs"]
#[allow(dead_code, reason = "the example reads only its own thread's time")]
mod cpu;

use std::hint::black_box;
use std::time::Duration;

use podwire_node_state::NodeSnapshot;
use podwire_node_state::resolver::{resolve, resolve_facts};
use podwire_node_state::wire::{canonical_encoding, content_hash, proto};
use podwire_server::ingest::SnapshotLimits;
use podwire_server::ingest::limits::check_snapshot;
use podwire_server::ingest::upload::prepare_upload;
use podwire_server::store::blob::{self, BlobEncoding, SnapshotBlob};
use podwire_server::store::{NodeKey, PreparedSnapshot};
use prost::Message;

/// mimalloc, as in `podwire-server` (why: `server/Cargo.toml`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs per measurement; `INGEST_COST_ROUNDS` lowers it for a run under valgrind, which counts
/// instructions instead (`--toggle-collect='*prepare_upload*'`).
fn rounds() -> u32 {
    std::env::var("INGEST_COST_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

/// Mean CPU time of `f` over [`rounds`] runs, in microseconds: this thread's user + system time,
/// so that other work on the machine does not count (a wall clock would, on a shared 2-core box).
fn micros<T>(mut f: impl FnMut() -> T) -> f64 {
    for _ in 0..5 {
        black_box(f());
    }
    let rounds = rounds();
    let started = thread_cpu_time();
    for _ in 0..rounds {
        black_box(f());
    }
    (thread_cpu_time() - started).as_secs_f64() * 1e6 / f64::from(rounds)
}

/// utime + stime of the calling thread (clock ticks of 10 ms: the rounds above last seconds, so
/// the resolution is well under 1%).
fn thread_cpu_time() -> Duration {
    cpu::cpu_time("/proc/thread-self/stat")
}

fn main() -> anyhow::Result<()> {
    let node = vpc_node::busy_node(
        "prod-eu-west-1",
        "ip-172-31-48-94.eu-west-1.compute.internal",
        1_763_704_800_123,
        250,
    );
    let snapshot = node.snapshot();
    let key = NodeKey {
        cluster: snapshot.node.cluster.clone(),
        name: snapshot.node.node_name.clone(),
    };
    let wire = proto::NodeSnapshot::from(&snapshot);
    let wire_bytes = wire.encode_to_vec();
    let on_the_wire = zstd::encode_all(wire_bytes.as_slice(), 3)?;
    let upload = proto::SnapshotUpload {
        sequence: 1,
        content_hash: content_hash(&snapshot).to_wire(),
        body: Some(proto::snapshot_upload::Body::Snapshot(wire.clone())),
    };
    let resolution = resolve(&snapshot);
    assert_eq!(resolution.pods.len(), 250);
    assert!(resolution.pods.iter().all(|p| p.problems.is_empty()));

    println!(
        "250-pod VPC CNI node, mean CPU time of {} runs, one thread",
        rounds()
    );
    println!(
        "  wire: {} B protobuf, {} B zstd-3 on the stream",
        wire_bytes.len(),
        on_the_wire.len()
    );
    println!("server CPU per upload (µs):");
    let unzstd = micros(|| zstd::decode_all(on_the_wire.as_slice()));
    let decode = micros(|| proto::NodeSnapshot::decode(wire_bytes.as_slice()));
    println!("  zstd decompress (tonic, async worker)   {unzstd:8.0}");
    println!("  protobuf decode (tonic, async worker)   {decode:8.0}");
    let limits = SnapshotLimits::default();
    let bounds = micros(|| check_snapshot(&wire, &limits));
    let convert = micros(|| NodeSnapshot::try_from(wire.clone()));
    let blob_time = micros(|| SnapshotBlob::of(&snapshot));
    let canonical_time = micros(|| canonical_encoding(&snapshot));
    let encoded = canonical_encoding(&snapshot);
    let sha_time = micros(|| <sha2::Sha256 as sha2::Digest>::digest(&encoded));
    let zstd_time = micros(|| zstd::encode_all(encoded.as_slice(), 3));
    let zstd1_time = micros(|| zstd::encode_all(encoded.as_slice(), 1));
    let zstd1_len = zstd::encode_all(encoded.as_slice(), 1)?.len();
    let resolve_time = micros(|| resolve(&snapshot));
    let facts_time = micros(|| resolve_facts(&snapshot));
    let facts = resolve_facts(&snapshot);
    let rows = micros(|| PreparedSnapshot::with_blob(&snapshot, blob_placeholder(), facts.clone()));
    println!("  bounds check                            {bounds:8.0}");
    println!("  wire -> model (incl. clone)             {convert:8.0}");
    println!("  canonical encoding + SHA-256 + zstd-3   {blob_time:8.0}");
    println!("    of which canonical encoding           {canonical_time:8.0}");
    println!(
        "      of which a clone of the model       {:8.0}",
        micros(|| snapshot.clone())
    );
    println!("    of which SHA-256                      {sha_time:8.0}");
    println!(
        "    of which zstd-3                       {zstd_time:8.0}  (zstd-1: {zstd1_time:.0} µs, {zstd1_len} B)"
    );
    println!("  resolve 250 pods                        {resolve_time:8.0}");
    println!("  resolve_facts (what ingest resolves)    {facts_time:8.0}");
    println!("  history rows                            {rows:8.0}");
    let max = 16 << 20;
    let whole = micros(|| prepare_upload(&key, upload.clone(), &limits, max));
    println!("  prepare_upload, all of the above but tonic's part: {whole:.0}");
    println!(
        "  total with tonic's part: {:.0} µs -> {:.0} uploads/s per core",
        whole + unzstd + decode,
        1e6 / (whole + unzstd + decode)
    );
    let frame = podwire_node_state::wire::CanonicalFrame::of(&snapshot)?;
    let canonical_upload = frame.upload(1, &snapshot.node);
    let canonical_message = canonical_upload.encode_to_vec();
    let tonic_part = micros(|| proto::SnapshotUpload::decode(canonical_message.as_slice()));
    let open = micros(|| podwire_node_state::wire::open_frame(&frame.zstd_frame, max));
    let whole_canonical = micros(|| prepare_upload(&key, canonical_upload.clone(), &limits, max));
    println!(
        "canonical form (agent-compressed, {} B, stream uncompressed):",
        frame.zstd_frame.len()
    );
    println!("  message decode (tonic, async worker)    {tonic_part:8.0}");
    println!("  of prepare_upload: open the frame       {open:8.0}");
    println!(
        "  prepare_upload {whole_canonical:.0} µs, total {:.0} µs -> {:.0} uploads/s per core",
        whole_canonical + tonic_part,
        1e6 / (whole_canonical + tonic_part)
    );

    println!("blob per stored snapshot:");
    let canonical = canonical_encoding(&snapshot);
    let protobuf_blob = SnapshotBlob::of(&snapshot)?;
    let mut timeless = snapshot.clone();
    timeless.node.collected_at_unix_ms = 0;
    timeless.node.collection_duration_us = 0;
    let json = serde_json::to_vec(&timeless)?;
    let json_zstd = zstd::encode_all(json.as_slice(), 3)?;
    println!(
        "  protobuf (stored): {} B raw, {} B zstd-3",
        canonical.len(),
        protobuf_blob.compressed.len()
    );
    println!(
        "  JSON (before):     {} B raw, {} B zstd-3",
        json.len(),
        json_zstd.len()
    );
    let json_make = micros(|| {
        let raw = serde_json::to_vec(&timeless).map_err(|e| e.to_string())?;
        let hash = <sha2::Sha256 as sha2::Digest>::digest(&raw);
        zstd::encode_all(raw.as_slice(), 3)
            .map(|z| (z, hash))
            .map_err(|e| e.to_string())
    });
    let pb_read = micros(|| blob::decode(BlobEncoding::Protobuf, &protobuf_blob.compressed));
    let json_read = micros(|| blob::decode(BlobEncoding::Json, &json_zstd));
    println!(
        "  make (encode + SHA-256 + zstd): protobuf {blob_time:.0} µs, JSON {json_make:.0} µs"
    );
    println!("  read back (zstd + decode): protobuf {pb_read:.0} µs, JSON {json_read:.0} µs");
    Ok(())
}

/// A blob already made, so that "history rows" times only the rows.
fn blob_placeholder() -> SnapshotBlob {
    SnapshotBlob {
        hash: podwire_node_state::wire::ContentHash([0; 32]),
        raw_len: 0,
        compressed: Vec::new(),
    }
}
