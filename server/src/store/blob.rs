//! Content-addressed snapshot blobs.
//!
//! A blob holds a snapshot's canonical encoding ([`canonical_encoding`]): the wire encoding of the
//! snapshot with the collection's timing zeroed, dynamic neighbour states cleared and every list
//! in a defined order. Those are exactly the bytes the agent's content hash digests, so the blob
//! key is the SHA-256 of the blob's own (decompressed) content, two collections that saw the same
//! node state share one blob whichever arrived first, and the time lives in the `snapshots` row.
//!
//! Protobuf rather than JSON, measured on a 250-pod Amazon VPC CNI node
//! (`cargo run --release -p podwire-server --example ingest_cost`, CPU time on a busy 2-core box):
//! 258 KB raw and 43.1 KB stored instead of 1.17 MB and 47.8 KB; 3.1 ms instead of 4.1 ms to
//! make (encode, hash, compress); 2.1 ms instead of 4.9 ms to read back. It is also the form the
//! content hash is defined on, so ingest encodes once for both, where JSON would need a second
//! canonical form next to the one the agent's hash covers. Old blobs stay readable: protobuf skips fields it
//! does not know and defaults fields it does not find, and the wire conversion checks the rest.
//! Blobs written before migration 0002 hold canonical JSON and are still read
//! ([`BlobEncoding::Json`]).
//!
//! Agents upload exactly such a blob (`CanonicalSnapshot`, made by
//! [`podwire_node_state::wire::CanonicalFrame`]): ingest checks that its content hashes to the
//! claimed hash and stores the agent's frame as it came. [`SnapshotBlob::of`] makes the blob on the
//! server for the plain form of the first agents and for callers that hold only the model.
//!
//! Blobs are zstd-compressed (level 3): snapshots repeat themselves (the same link names, routes
//! and rules per pod), and decompression, on the read path of every "pod path at T" request, runs
//! at over 1 GB/s.

use podwire_node_state::NodeSnapshot;
use podwire_node_state::wire::{ContentHash, FromWireError, canonical_encoding, proto};
use prost::Message;

/// The zstd level: the library's default, a good ratio at a speed far above the ingest rate.
const ZSTD_LEVEL: i32 = 3;

/// How a stored blob's content is encoded (the `snapshot_blobs.encoding` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobEncoding {
    /// The canonical wire encoding of `podwire.agent.v1.NodeSnapshot`: what is written now.
    Protobuf,
    /// The canonical JSON of the model, written before migration 0002; only read.
    Json,
}

impl BlobEncoding {
    /// The column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            BlobEncoding::Protobuf => "protobuf",
            BlobEncoding::Json => "json",
        }
    }

    /// Reads the column's value.
    pub fn parse(text: &str) -> Result<Self, BlobError> {
        match text {
            "protobuf" => Ok(BlobEncoding::Protobuf),
            "json" => Ok(BlobEncoding::Json),
            other => Err(BlobError::UnknownEncoding(other.to_owned())),
        }
    }
}

/// A snapshot's canonical encoding, compressed, and its content hash.
#[derive(Debug, Clone)]
pub struct SnapshotBlob {
    pub hash: ContentHash,
    /// Length of the canonical encoding before compression.
    pub raw_len: usize,
    pub compressed: Vec<u8>,
}

/// A blob that cannot be made, or turned back into a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("could not compress the snapshot")]
    Compress(#[source] std::io::Error),
    #[error("could not decompress the snapshot blob")]
    Decompress(#[source] std::io::Error),
    #[error("the snapshot blob is not a protobuf NodeSnapshot")]
    Decode(#[source] prost::DecodeError),
    #[error("the snapshot blob does not hold a snapshot this version can read")]
    FromWire(#[source] FromWireError),
    #[error("the JSON snapshot blob does not hold a snapshot this version can read")]
    Json(#[source] serde_json::Error),
    #[error("unknown snapshot blob encoding {0:?}")]
    UnknownEncoding(String),
}

impl SnapshotBlob {
    /// Encodes, hashes and compresses a snapshot: the hash is the one
    /// [`podwire_node_state::wire::content_hash`] gives, computed from the same bytes.
    pub fn of(snapshot: &NodeSnapshot) -> Result<Self, BlobError> {
        let raw = canonical_encoding(snapshot);
        let compressed =
            zstd::encode_all(raw.as_slice(), ZSTD_LEVEL).map_err(BlobError::Compress)?;
        Ok(SnapshotBlob {
            hash: ContentHash::of_canonical_encoding(&raw),
            raw_len: raw.len(),
            compressed,
        })
    }
}

/// Reads a stored blob back. The collection time is not in the blob; the caller sets it from the
/// `snapshots` row when it matters.
pub fn decode(encoding: BlobEncoding, compressed: &[u8]) -> Result<NodeSnapshot, BlobError> {
    let raw = zstd::decode_all(compressed).map_err(BlobError::Decompress)?;
    match encoding {
        BlobEncoding::Protobuf => {
            let wire = proto::NodeSnapshot::decode(raw.as_slice()).map_err(BlobError::Decode)?;
            NodeSnapshot::try_from(wire).map_err(BlobError::FromWire)
        }
        BlobEncoding::Json => serde_json::from_slice(&raw).map_err(BlobError::Json),
    }
}

#[cfg(test)]
mod tests {
    use podwire_node_state::wire::content_hash;

    use super::*;

    #[test]
    fn blob_key_is_the_agents_content_hash_and_ignores_collection_time() {
        let mut a = NodeSnapshot::default();
        a.node.cluster = "c".into();
        a.node.collected_at_unix_ms = 1;
        let mut b = a.clone();
        b.node.collected_at_unix_ms = 2;
        b.node.collection_duration_us = 77;
        let blob = SnapshotBlob::of(&a).unwrap();
        assert_eq!(blob.hash, content_hash(&a));
        assert_eq!(blob.hash, SnapshotBlob::of(&b).unwrap().hash);
        b.node.boot_id = "other".into();
        assert_ne!(blob.hash, SnapshotBlob::of(&b).unwrap().hash);
    }

    #[test]
    fn round_trips_without_the_timing_and_rejects_garbage() {
        let mut a = NodeSnapshot::default();
        a.node.node_name = "ip-10-0-0-1".into();
        a.node.collected_at_unix_ms = 1_763_704_800_123;
        let blob = SnapshotBlob::of(&a).unwrap();
        let back = decode(BlobEncoding::Protobuf, &blob.compressed).unwrap();
        a.node.collected_at_unix_ms = 0;
        assert_eq!(back, a);
        assert!(matches!(
            decode(BlobEncoding::Protobuf, b"not zstd"),
            Err(BlobError::Decompress(_))
        ));
        let not_protobuf = zstd::encode_all(&[0xff_u8, 0xff, 0xff][..], 3).unwrap();
        assert!(matches!(
            decode(BlobEncoding::Protobuf, &not_protobuf),
            Err(BlobError::Decode(_))
        ));
    }

    #[test]
    fn json_blobs_of_the_first_schema_are_still_read() {
        let mut a = NodeSnapshot::default();
        a.node.node_name = "ip-10-0-0-2".into();
        let json = zstd::encode_all(serde_json::to_vec(&a).unwrap().as_slice(), 3).unwrap();
        assert_eq!(decode(BlobEncoding::Json, &json).unwrap(), a);
        assert_eq!(
            BlobEncoding::parse("json").unwrap(),
            BlobEncoding::Json,
            "the value migration 0002 gives existing rows"
        );
        assert!(matches!(
            BlobEncoding::parse("xml"),
            Err(BlobError::UnknownEncoding(_))
        ));
    }
}
