//! Content-addressed snapshot blobs.
//!
//! The canonical form of a snapshot is its JSON serialization (serde_json writes struct fields in
//! declaration order and the model holds no maps, so equal snapshots serialize to equal bytes) with
//! the collection's timing zeroed: two collections that saw the same node state share one blob, and
//! the time lives in the `snapshots` row. The blob key is the SHA-256 of that form.
//!
//! Blobs are stored zstd-compressed (level 3). Snapshots are repetitive JSON (the same keys and
//! link names over and over), where zstd gives several times pglz's ratio at a few hundred MB/s, and
//! decompression, on the read path of every "pod path at T" request, runs at over 1 GB/s. JSON
//! rather than protobuf keeps old blobs readable by a newer model through serde's defaults.

use podwire_node_state::NodeSnapshot;
use sha2::{Digest, Sha256};

/// The zstd level: the library's default, a good ratio at a speed far above the ingest rate.
const ZSTD_LEVEL: i32 = 3;

/// A snapshot's canonical bytes, compressed, and their hash.
#[derive(Debug, Clone)]
pub struct SnapshotBlob {
    pub hash: [u8; 32],
    pub raw_len: usize,
    pub compressed: Vec<u8>,
}

/// A blob that cannot be turned back into a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("could not serialize the snapshot")]
    Serialize(#[source] serde_json::Error),
    #[error("could not compress the snapshot")]
    Compress(#[source] std::io::Error),
    #[error("could not decompress the snapshot blob")]
    Decompress(#[source] std::io::Error),
    #[error("the snapshot blob does not hold a snapshot this version can read")]
    Deserialize(#[source] serde_json::Error),
}

/// The snapshot with the fields that change on every collection zeroed.
fn canonical(snapshot: &NodeSnapshot) -> NodeSnapshot {
    let mut canonical = snapshot.clone();
    canonical.node.collected_at_unix_ms = 0;
    canonical.node.collection_duration_us = 0;
    canonical
}

/// The SHA-256 of the canonical form: equal for two collections of an unchanged node.
pub fn content_hash(snapshot: &NodeSnapshot) -> Result<[u8; 32], BlobError> {
    let bytes = serde_json::to_vec(&canonical(snapshot)).map_err(BlobError::Serialize)?;
    Ok(Sha256::digest(&bytes).into())
}

impl SnapshotBlob {
    pub fn of(snapshot: &NodeSnapshot) -> Result<Self, BlobError> {
        let raw = serde_json::to_vec(&canonical(snapshot)).map_err(BlobError::Serialize)?;
        let hash = Sha256::digest(&raw).into();
        let compressed =
            zstd::encode_all(raw.as_slice(), ZSTD_LEVEL).map_err(BlobError::Compress)?;
        Ok(SnapshotBlob {
            hash,
            raw_len: raw.len(),
            compressed,
        })
    }
}

/// Reads a stored blob back. The collection time is not in the blob; the caller sets it from the
/// `snapshots` row when it matters.
pub fn decode(compressed: &[u8]) -> Result<NodeSnapshot, BlobError> {
    let raw = zstd::decode_all(compressed).map_err(BlobError::Decompress)?;
    serde_json::from_slice(&raw).map_err(BlobError::Deserialize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_time_does_not_change_the_hash_but_content_does() {
        let mut a = NodeSnapshot::default();
        a.node.cluster = "c".into();
        a.node.collected_at_unix_ms = 1;
        let mut b = a.clone();
        b.node.collected_at_unix_ms = 2;
        b.node.collection_duration_us = 77;
        assert_eq!(content_hash(&a).unwrap(), content_hash(&b).unwrap());
        b.node.boot_id = "other".into();
        assert_ne!(content_hash(&a).unwrap(), content_hash(&b).unwrap());
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let mut a = NodeSnapshot::default();
        a.node.node_name = "ip-10-0-0-1".into();
        let blob = SnapshotBlob::of(&a).unwrap();
        assert_eq!(blob.hash, content_hash(&a).unwrap());
        assert_eq!(decode(&blob.compressed).unwrap(), a);
        assert!(matches!(decode(b"not zstd"), Err(BlobError::Decompress(_))));
    }
}
