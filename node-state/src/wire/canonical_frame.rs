//! The canonical form of an upload (`CanonicalSnapshot`): the snapshot's canonical encoding in one
//! zstd frame. The agent makes it once per changed collection, since it encodes canonically for
//! the content hash anyway; the server opens it to check the hash and to read the snapshot, and
//! stores the frame as it came, as the snapshot's content-addressed blob. Encoding, hashing and
//! compressing a 250-pod node costs about 2 ms of CPU: this way it is spent on each node for its
//! own snapshots, not on the server for all of them.

use std::io::Read;

use super::{ContentHash, canonical_encoding, proto};
use crate::NodeSnapshot;
use crate::model::NodeIdentity;

/// zstd's default level: a 250-pod node's 258 KB encode to 43 KB in about 0.4 ms.
pub const CANONICAL_ZSTD_LEVEL: i32 = 3;

/// A snapshot's canonical encoding, compressed, with its content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalFrame {
    /// SHA-256 of the canonical encoding: the snapshot's [`content_hash`](super::content_hash).
    pub hash: ContentHash,
    /// Length of the canonical encoding.
    pub raw_len: usize,
    /// One zstd frame holding the canonical encoding, its length in the frame header.
    pub zstd_frame: Vec<u8>,
}

/// A frame that cannot be made or opened.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("could not compress the canonical encoding")]
    Compress(#[source] std::io::Error),
    #[error("not a zstd frame, or a damaged one")]
    Decompress(#[source] std::io::Error),
    #[error("the frame holds more than {max} bytes")]
    TooLarge { max: usize },
}

impl CanonicalFrame {
    /// Encodes, hashes and compresses a snapshot, from one canonical encoding.
    pub fn of(snapshot: &NodeSnapshot) -> Result<Self, FrameError> {
        Self::of_encoding(&canonical_encoding(snapshot))
    }

    /// The frame of bytes [`canonical_encoding`] gave.
    pub fn of_encoding(raw: &[u8]) -> Result<Self, FrameError> {
        // Single-shot compression writes the content size into the frame header, which lets the
        // server size its buffer before decompressing.
        let zstd_frame =
            zstd::bulk::compress(raw, CANONICAL_ZSTD_LEVEL).map_err(FrameError::Compress)?;
        Ok(CanonicalFrame {
            hash: ContentHash::of_canonical_encoding(raw),
            raw_len: raw.len(),
            zstd_frame,
        })
    }
}

impl CanonicalFrame {
    /// The upload's body for this frame, with the collection time and duration that the
    /// canonical encoding leaves out taken from `identity` (the snapshot's).
    pub fn canonical_snapshot(&self, identity: &NodeIdentity) -> proto::CanonicalSnapshot {
        proto::CanonicalSnapshot {
            zstd_frame: self.zstd_frame.clone().into(),
            collected_at_unix_ms: identity.collected_at_unix_ms,
            collection_duration_us: identity.collection_duration_us,
        }
    }

    /// The upload of this frame as the stream's message number `sequence`.
    pub fn upload(&self, sequence: u64, identity: &NodeIdentity) -> proto::SnapshotUpload {
        proto::SnapshotUpload {
            sequence,
            content_hash: self.hash.to_wire(),
            body: Some(proto::snapshot_upload::Body::Canonical(
                self.canonical_snapshot(identity),
            )),
        }
    }
}

/// Decompresses a frame into at most `max` bytes: a frame that holds more is refused before or
/// while it is decompressed, so a small frame cannot make the server allocate without bound.
pub fn open_frame(frame: &[u8], max: usize) -> Result<Vec<u8>, FrameError> {
    let declared = zstd::zstd_safe::get_frame_content_size(frame)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok());
    if declared.is_some_and(|n| n > max) {
        return Err(FrameError::TooLarge { max });
    }
    if let Some(size) = declared {
        // One-shot into a buffer of the declared size: no window copies, no context kept. A frame
        // that does not hold what it declares fails here and gets the streaming path's verdict.
        let mut raw = Vec::with_capacity(size);
        // (The Decompressor's method, not the free function: for a Vec it fills the capacity.)
        let opened = zstd::bulk::Decompressor::new()
            .and_then(|mut d| d.decompress_to_buffer(frame, &mut raw));
        if opened.is_ok_and(|n| n == size) {
            return Ok(raw);
        }
    }
    let mut raw = Vec::with_capacity(declared.unwrap_or(0).min(max));
    let decoder =
        zstd::stream::read::Decoder::with_buffer(frame).map_err(FrameError::Decompress)?;
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    decoder
        .take(limit)
        .read_to_end(&mut raw)
        .map_err(FrameError::Decompress)?;
    if raw.len() > max {
        return Err(FrameError::TooLarge { max });
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::content_hash;

    #[test]
    fn a_frame_opens_to_the_encoding_its_hash_digests() {
        let mut snapshot = NodeSnapshot::default();
        snapshot.node.node_name = "ip-10-0-0-1".into();
        snapshot.node.collected_at_unix_ms = 1_763_704_800_123;
        let frame = CanonicalFrame::of(&snapshot).unwrap();
        assert_eq!(frame.hash, content_hash(&snapshot));
        let raw = open_frame(&frame.zstd_frame, 1 << 20).unwrap();
        assert_eq!(raw, canonical_encoding(&snapshot));
        assert_eq!(raw.len(), frame.raw_len);
    }

    #[test]
    fn frames_beyond_the_limit_or_damaged_are_refused() {
        let big = vec![7_u8; 100_000];
        let declared = CanonicalFrame::of_encoding(&big).unwrap().zstd_frame;
        assert!(matches!(
            open_frame(&declared, 99_999),
            Err(FrameError::TooLarge { max: 99_999 })
        ));
        // a streamed frame does not declare its size: refused while decompressing
        let streamed = zstd::encode_all(big.as_slice(), 3).unwrap();
        assert!(matches!(
            open_frame(&streamed, 50_000),
            Err(FrameError::TooLarge { .. })
        ));
        assert_eq!(open_frame(&streamed, 100_000).unwrap(), big);
        assert!(matches!(
            open_frame(b"not zstd at all", 1000),
            Err(FrameError::Decompress(_))
        ));
    }
}
