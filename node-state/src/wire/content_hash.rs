//! The content hash of a snapshot: what the agent compares to decide between a full upload and a
//! heartbeat, and what the server keys stored snapshots by.
//!
//! It is SHA-256 over a canonical form of the snapshot, encoded in the wire format (prost encodes a
//! message deterministically: fields in tag order, no maps). The canonical form leaves out what
//! changes on every collection without changing the node's wiring, and puts every list whose order
//! is the kernel's or a directory's dump order into a defined order, so that the same wiring always
//! hashes the same. A change of the wire schema changes every hash once; that costs one full upload
//! per node, nothing more.

use std::fmt;

use prost::Message;
use sha2::{Digest, Sha256};

use super::proto;
use crate::model::{CniState, NetnsState, NodeSnapshot, SourceError, VpcCniState};

/// SHA-256 of a snapshot's canonical encoding; see [`content_hash`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// The 32 bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads a hash from a wire `content_hash` field.
    pub fn from_wire(bytes: &[u8]) -> Result<Self, ContentHashLengthError> {
        <[u8; 32]>::try_from(bytes)
            .map(ContentHash)
            .map_err(|_| ContentHashLengthError { len: bytes.len() })
    }

    /// The hash of bytes from [`canonical_encoding`]; hashing anything else gives a hash no agent
    /// computes.
    pub fn of_canonical_encoding(encoded: &[u8]) -> Self {
        ContentHash(Sha256::digest(encoded).into())
    }

    /// The form of a wire `content_hash` field.
    pub fn to_wire(&self) -> prost::bytes::Bytes {
        prost::bytes::Bytes::copy_from_slice(&self.0)
    }
}

/// Lower-case hex, as `sha256sum` prints it.
impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

/// A wire `content_hash` that is not 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a content hash is 32 bytes of SHA-256, not {len} bytes")]
pub struct ContentHashLengthError {
    pub len: usize,
}

/// Hashes what a snapshot says about the node's wiring.
///
/// Left out: the collection's start time and duration, and the NUD state of neighbours that are
/// neither `PERMANENT` nor `NOARP` (ARP and NDP entries cycle through `REACHABLE`, `STALE` and
/// `DELAY` by themselves). Put in order: namespaces by inode; links by ifindex; addresses by
/// (ifindex, address); routes by (table, family, destination, metric, tos); rules by (family,
/// priority); neighbours by (ifindex, address); CNI cache entries by file; host-local networks by
/// (network, directory) and their allocations by IP; ipamd network cards by index, ENIs by (device
/// number, id), CIDRs and addresses by IP; checkpoint allocations by (container, interface,
/// network); kernel route decisions by their question; errors by (source, subject, message).
///
/// Routes and rules that tie on their keys keep their relative order, because there the kernel's
/// order is the order it applies them in. Lists whose order carries meaning in their source keep it
/// too: CNI configurations (load order), plugins (chain order), a CNI result's IPs, gateways and
/// interfaces (indexed by position), IPAM ranges, and multipath next hops.
pub fn content_hash(snapshot: &NodeSnapshot) -> ContentHash {
    ContentHash::of_canonical_encoding(&canonical_encoding(snapshot))
}

/// The bytes [`content_hash`] digests: the canonical form of the snapshot in the wire encoding.
/// It decodes as a `proto::NodeSnapshot` like any other, so a store can keep exactly these bytes
/// and key them by their hash.
pub fn canonical_encoding(snapshot: &NodeSnapshot) -> Vec<u8> {
    proto::NodeSnapshot::from(&canonical(snapshot)).encode_to_vec()
}

fn canonical(snapshot: &NodeSnapshot) -> NodeSnapshot {
    let mut canonical = snapshot.clone();
    canonical.node.collected_at_unix_ms = 0;
    canonical.node.collection_duration_us = 0;
    canonical_netns(&mut canonical.host);
    canonical.namespaces.iter_mut().for_each(canonical_netns);
    canonical.namespaces.sort_by_key(|ns| ns.inode);
    canonical_cni(&mut canonical.cni);
    if let Some(vpc_cni) = &mut canonical.vpc_cni {
        canonical_vpc_cni(vpc_cni);
    }
    canonical.kernel_routes.sort_by_key(|d| {
        (
            d.query.destination,
            d.query.source,
            d.query.iif,
            d.query.fwmark,
        )
    });
    canonical
        .errors
        .sort_by(|a, b| error_key(a).cmp(&error_key(b)));
    canonical
}

fn error_key(error: &SourceError) -> (i32, &str, &str) {
    (
        proto::ErrorSource::from(error.source).into(),
        &error.subject,
        &error.message,
    )
}

fn canonical_netns(ns: &mut NetnsState) {
    ns.links.sort_by_key(|link| link.ifindex);
    ns.addresses.sort_by_key(|a| (a.ifindex, a.address));
    // Stable sorts: routes and rules that tie keep the kernel's order, which is the order it tries
    // them in.
    ns.routes.sort_by_key(|r| {
        (
            r.table,
            r.destination.addr().is_ipv6(),
            r.destination,
            r.metric,
            r.tos,
        )
    });
    ns.rules
        .sort_by_key(|r| (i32::from(proto::IpFamily::from(r.family)), r.priority));
    // Dynamic ARP/NDP entries age through REACHABLE, STALE, DELAY and PROBE on their own; only
    // entries someone pinned (VPC CNI's gateway entry in every pod) say something about wiring.
    for neighbor in &mut ns.neighbors {
        let pinned = neighbor
            .state
            .iter()
            .any(|s| s == "PERMANENT" || s == "NOARP");
        if !pinned {
            neighbor.state.clear();
        }
    }
    ns.neighbors.sort_by_key(|n| (n.ifindex, n.address));
}

fn canonical_cni(cni: &mut CniState) {
    cni.cache.sort_by(|a, b| a.file.cmp(&b.file));
    cni.host_local
        .sort_by(|a, b| (&a.network, &a.dir).cmp(&(&b.network, &b.dir)));
    for network in &mut cni.host_local {
        network.allocations.sort_by(|a, b| {
            (a.ip, &a.container_id, &a.if_name).cmp(&(b.ip, &b.container_id, &b.if_name))
        });
    }
}

fn canonical_vpc_cni(vpc_cni: &mut VpcCniState) {
    if let Some(ipamd) = &mut vpc_cni.ipamd {
        ipamd.network_cards.sort_by_key(|card| card.index);
        for card in &mut ipamd.network_cards {
            card.enis
                .sort_by(|a, b| (a.device_number, &a.id).cmp(&(b.device_number, &b.id)));
            for eni in &mut card.enis {
                eni.cidrs.sort_by_key(|cidr| cidr.cidr);
                for cidr in &mut eni.cidrs {
                    cidr.addresses.sort_by_key(|address| address.ip);
                }
            }
        }
    }
    if let Some(checkpoint) = &mut vpc_cni.checkpoint {
        checkpoint.allocations.sort_by(|a, b| {
            (&a.container_id, &a.if_name, &a.network_name).cmp(&(
                &b.container_id,
                &b.if_name,
                &b.network_name,
            ))
        });
    }
}
