//! The latest collection, in the form the connection sends it: the snapshot already encoded
//! canonically, hashed and compressed (`CanonicalSnapshot`), on the collector's blocking thread, so
//! that the connection side only clones and sends. The server stores that frame as it comes
//! instead of encoding and compressing every node's snapshots itself.

use std::time::{Duration, SystemTime};

use podwire_node_state::wire::{CanonicalFrame, ContentHash, content_hash, proto};
use podwire_node_state::{NodeSnapshot, resolver};
use prost::Message as _;

/// What started a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CollectionTrigger {
    /// The first collection after start.
    Startup,
    /// A netlink notification or a file change (debounced).
    Change,
    /// The periodic full resync.
    Resync,
}

impl CollectionTrigger {
    pub const ALL: [CollectionTrigger; 3] = [Self::Startup, Self::Change, Self::Resync];

    pub fn as_str(self) -> &'static str {
        match self {
            CollectionTrigger::Startup => "startup",
            CollectionTrigger::Change => "change",
            CollectionTrigger::Resync => "resync",
        }
    }
}

/// What the status endpoint says about a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionSummary {
    pub trigger: CollectionTrigger,
    pub finished_at: SystemTime,
    pub duration: Duration,
    /// Pod interfaces the resolver found.
    pub pods: usize,
    /// Pod interfaces with at least one problem (a disagreement with the kernel, a missing path).
    pub pods_with_problems: usize,
    /// Sources that could not be read (recorded in the snapshot, never fatal).
    pub source_errors: usize,
    /// The snapshot's encoded size, before compression.
    pub wire_bytes: usize,
    /// What the upload carries, compressed.
    pub upload_bytes: usize,
}

/// One collection, ready to send.
#[derive(Debug, Clone)]
pub struct LatestSnapshot {
    pub hash: ContentHash,
    /// The body of an upload of this snapshot: its canonical frame (or, should compressing fail,
    /// the plain message, which every server accepts too).
    pub body: proto::snapshot_upload::Body,
    /// Who this node is, as `Hello` says it.
    pub identity: NodeIdentityFields,
    pub summary: CollectionSummary,
    /// host-local data directories the CNI configurations name (beside the default one): the
    /// file watcher follows them.
    pub host_local_data_dirs: Vec<String>,
}

/// The identity fields `Hello` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentityFields {
    pub cluster: String,
    pub node: String,
    pub boot_id: String,
    pub agent_version: String,
}

impl LatestSnapshot {
    /// Hashes, summarises and converts a finished collection. CPU work: run it on the blocking
    /// thread that collected.
    pub fn prepare(snapshot: NodeSnapshot, trigger: CollectionTrigger) -> Self {
        let resolution = resolver::resolve(&snapshot);
        let (hash, body, wire_bytes, upload_bytes) = match CanonicalFrame::of(&snapshot) {
            Ok(frame) => {
                let len = frame.zstd_frame.len();
                let body = proto::snapshot_upload::Body::Canonical(proto::CanonicalSnapshot {
                    zstd_frame: frame.zstd_frame.into(),
                    collected_at_unix_ms: snapshot.node.collected_at_unix_ms,
                    collection_duration_us: snapshot.node.collection_duration_us,
                });
                (frame.hash, body, frame.raw_len, len)
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not compress the snapshot; sending it as a plain message");
                let wire = proto::NodeSnapshot::from(&snapshot);
                let len = wire.encoded_len();
                (
                    content_hash(&snapshot),
                    proto::snapshot_upload::Body::Snapshot(wire),
                    len,
                    len,
                )
            }
        };
        let summary = CollectionSummary {
            trigger,
            finished_at: SystemTime::now(),
            duration: Duration::from_micros(snapshot.node.collection_duration_us),
            pods: resolution.pods.len(),
            pods_with_problems: resolution
                .pods
                .iter()
                .filter(|p| !p.problems.is_empty())
                .count(),
            source_errors: snapshot.errors.len(),
            wire_bytes,
            upload_bytes,
        };
        let host_local_data_dirs = snapshot
            .cni
            .configs
            .iter()
            .flat_map(|config| &config.plugins)
            .filter_map(|plugin| plugin.ipam.as_ref())
            .filter(|ipam| ipam.ipam_type == "host-local")
            .filter_map(|ipam| ipam.data_dir.clone())
            .collect();
        let node = snapshot.node;
        LatestSnapshot {
            hash,
            body,
            identity: NodeIdentityFields {
                cluster: node.cluster,
                node: node.node_name,
                boot_id: node.boot_id,
                agent_version: node.agent_version,
            },
            summary,
            host_local_data_dirs,
        }
    }

    /// The first message of every stream.
    pub fn hello(&self) -> proto::Hello {
        proto::Hello {
            cluster: self.identity.cluster.clone(),
            node: self.identity.node.clone(),
            agent_version: self.identity.agent_version.clone(),
            boot_id: self.identity.boot_id.clone(),
            capabilities: Vec::new(),
        }
    }
}
