//! The CPU half of a snapshot upload: bounds, identity, conversion to the model, content hash,
//! resolution and the prepared rows, on a blocking thread.
//!
//! Agents send the snapshot in its canonical form (`CanonicalSnapshot`): the canonical encoding
//! the content hash digests, already zstd-compressed by the agent, which encoded it for the hash
//! anyway. The server decompresses it (bounded by `--max-message-bytes`), checks the hash over
//! the decompressed bytes, decodes, bounds, converts and resolves it, and stores the agent's frame
//! as the snapshot's blob without encoding or compressing anything again. The plain message form
//! of the first agents is still accepted; for it the server makes the blob itself.
//!
//! The resolution is [`resolve_facts`]: the history keeps only each pod's attachment facts (IP,
//! MAC, veth, table, egress device, ENI MAC, wiring, problem codes), and the full path with its
//! display texts (rules naming the pod, labels, rule and route descriptions) is re-resolved from
//! the blob when someone reads it. Same walk, same facts (the resolver's tests check each case).
//!
//! What a 250-pod upload costs here (the `ingest_cost` example, CPU time of one thread on a busy
//! 2-core box, with mimalloc and the resolver's rule index): in the canonical form 1.4–1.5 ms in
//! all, 2.0–2.15 ms before the direct decoder (two runs each, load average about 4). The
//! canonical form is decoded straight into the model ([`decode_snapshot_directly`]) and bounded
//! there ([`within_limits`]); only an upload that fails anything is decoded again by prost, checked
//! on the wire message and converted, which names what is wrong. Counted in instructions
//! (callgrind, `INGEST_COST_ROUNDS=2`, inclusive, per canonical upload): the direct decode 6.1
//! million where prost's decode, the wire bounds check, the conversion and dropping the message
//! took about 13.8 million (8.5 + 1.9 + 2.4 + 1.0); `prepare_upload` over the example's 7 plain
//! and 7 canonical uploads 498.6 million instead of 547.3 million, 7.0 million less per
//! canonical upload. The rest of a canonical upload: opening the frame 2.2 million, resolving the
//! facts 3.8 million (8.6 before this stop's resolver work), SHA-256 left out (valgrind runs without the CPU's SHA instructions). The
//! plain form takes 3.0–3.4 ms, the canonical encoding and compression included. `bench-ingest`
//! measures the whole ingest, database included: see the README.
//!
//! That is too long for an async worker, so it runs under `spawn_blocking`, and at most one
//! upload per core at a time (a semaphore): a burst of uploads queues for the CPU instead of
//! starving the heartbeats and the HTTP API of runtime threads. Measured with
//! `bench-ingest --upload-workers N --history-rows 10000 --lookups 10 --heartbeat-time 1s` on the
//! 2-core box, alternating, one run each: 1 permit 336 and 409 changed snapshots/s, 2 permits 557
//! and 519/s, 3 permits 571 and 626/s. A third permit fills gaps while a core waits, but then
//! uploads compete with heartbeats and the HTTP API for the cores; one per core stays the default.
//! Nothing here touches the database.

use std::sync::Arc;

use podwire_node_state::NodeSnapshot;
use podwire_node_state::resolver::resolve_facts;
use podwire_node_state::wire::proto::snapshot_upload::Body;
use podwire_node_state::wire::{
    ContentHash, FrameError, decode_snapshot_directly, open_frame, proto,
};
use prost::Message;
use tokio::sync::Semaphore;

use super::errors::{IngestError, MessageKind};
use super::limits::{SnapshotLimits, check_snapshot};
use super::model_limits::within_limits;
use super::validation::{
    FieldProblem, FieldViolation, FrameProblem, Violation, check_hash, check_identity,
};
use crate::store::blob::SnapshotBlob;
use crate::store::{NodeKey, PreparedSnapshot};

/// Runs uploads' CPU work on blocking threads, as many at once as there are permits.
#[derive(Debug, Clone)]
pub struct UploadWorkers {
    permits: Arc<Semaphore>,
    limits: SnapshotLimits,
}

impl UploadWorkers {
    /// `concurrency` uploads prepared at once: the number of cores is right for CPU-bound work.
    pub fn new(concurrency: usize, limits: SnapshotLimits) -> Self {
        UploadWorkers {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            limits,
        }
    }

    /// One worker per core the process may use.
    pub fn per_core(limits: SnapshotLimits) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self::new(cores, limits)
    }

    /// Checks and prepares one upload of the node `node` for the store; a canonical frame may
    /// hold at most `max_encoding_bytes` once decompressed.
    pub async fn prepare(
        &self,
        node: &NodeKey,
        upload: proto::SnapshotUpload,
        max_encoding_bytes: usize,
    ) -> Result<PreparedSnapshot, IngestError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|closed| IngestError::Internal(Box::new(closed)))?;
        let node = node.clone();
        let limits = self.limits;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            prepare_upload(&node, upload, &limits, max_encoding_bytes)
        })
        .await
        .map_err(|join| IngestError::Internal(Box::new(join)))?
    }
}

/// Everything an upload must pass before it is stored, cheapest first: the hash's form, the
/// frame and the hash itself (canonical form), the bounds, the identity, the conversion, the hash
/// (plain form), and only then the resolution.
pub fn prepare_upload(
    node: &NodeKey,
    upload: proto::SnapshotUpload,
    limits: &SnapshotLimits,
    max_encoding_bytes: usize,
) -> Result<PreparedSnapshot, IngestError> {
    let kind = MessageKind::SnapshotUpload {
        sequence: upload.sequence,
    };
    let invalid = |violation: Violation| IngestError::Invalid { kind, violation };
    let claimed = check_hash(&upload.content_hash).map_err(|v| invalid(v.into()))?;
    let checked = |wire: &proto::NodeSnapshot| -> Result<(), IngestError> {
        check_snapshot(wire, limits).map_err(|v| invalid(v.into()))?;
        let identity = wire.node.as_ref().ok_or_else(|| {
            invalid(FieldViolation::new("snapshot.node".into(), FieldProblem::Missing).into())
        })?;
        check_identity(node, identity).map_err(invalid)
    };
    let (snapshot, blob) = match upload.body {
        None => {
            return Err(invalid(
                FieldViolation::new("snapshot".into(), FieldProblem::Missing).into(),
            ));
        }
        Some(Body::Snapshot(wire)) => {
            checked(&wire)?;
            let snapshot = NodeSnapshot::try_from(wire).map_err(|e| invalid(Violation::Wire(e)))?;
            let blob =
                SnapshotBlob::of(&snapshot).map_err(|e| IngestError::Internal(Box::new(e)))?;
            (snapshot, blob)
        }
        Some(Body::Canonical(canonical)) => {
            let frame = |problem| invalid(Violation::Frame(problem));
            let raw = open_frame(&canonical.zstd_frame, max_encoding_bytes).map_err(|e| {
                frame(match e {
                    FrameError::TooLarge { max } => FrameProblem::TooLarge { max },
                    FrameError::Compress(_) | FrameError::Decompress(_) => FrameProblem::NotZstd,
                })
            })?;
            let computed = ContentHash::of_canonical_encoding(&raw);
            if computed != claimed {
                return Err(invalid(Violation::HashMismatch { claimed, computed }));
            }
            let raw_len = raw.len();
            let snapshot = match decode_directly(&raw, node, &canonical, limits) {
                Some(snapshot) => snapshot,
                // Whatever is wrong, the prost path finds it again and names it.
                None => {
                    // Decoded from `Bytes`, the snapshot's addresses and MACs (bytes fields) are
                    // views of the buffer instead of thousands of small copies.
                    let mut wire = proto::NodeSnapshot::decode(prost::bytes::Bytes::from(raw))
                        .map_err(|_| frame(FrameProblem::NotASnapshot))?;
                    if let Some(identity) = wire.node.as_mut() {
                        if identity.collected_at_unix_ms != 0
                            || identity.collection_duration_us != 0
                        {
                            return Err(frame(FrameProblem::NotCanonical));
                        }
                        identity.collected_at_unix_ms = canonical.collected_at_unix_ms;
                        identity.collection_duration_us = canonical.collection_duration_us;
                    }
                    checked(&wire)?;
                    NodeSnapshot::try_from(wire).map_err(|e| invalid(Violation::Wire(e)))?
                }
            };
            let blob = SnapshotBlob {
                hash: computed,
                raw_len,
                compressed: canonical.zstd_frame.into(),
            };
            (snapshot, blob)
        }
    };
    if blob.hash != claimed {
        return Err(invalid(Violation::HashMismatch {
            claimed,
            computed: blob.hash,
        }));
    }
    let pods = resolve_facts(&snapshot);
    PreparedSnapshot::with_blob(&snapshot, blob, pods).map_err(IngestError::Store)
}

/// The fast path of a canonical upload: the encoding decoded straight into the model, then the
/// same rules as the prost path (canonical times, bounds, identity). `None` whenever anything is
/// wrong, for the prost path to refuse the upload with an error that names the field; it takes
/// that path too for the rare shapes the direct decoder leaves to prost.
fn decode_directly(
    raw: &[u8],
    node: &NodeKey,
    canonical: &proto::CanonicalSnapshot,
    limits: &SnapshotLimits,
) -> Option<NodeSnapshot> {
    let mut snapshot = decode_snapshot_directly(raw).ok()?;
    let identity = &mut snapshot.node;
    // The blob keeps no time: the canonical encoding has it zeroed, and the upload says it
    // beside the frame.
    if identity.collected_at_unix_ms != 0 || identity.collection_duration_us != 0 {
        return None;
    }
    identity.collected_at_unix_ms = canonical.collected_at_unix_ms;
    identity.collection_duration_us = canonical.collection_duration_us;
    let ours = identity.cluster == node.cluster && identity.node_name == node.name;
    (ours && within_limits(&snapshot, limits)).then_some(snapshot)
}
