//! A canonical upload takes the direct decoder's fast path when it is valid, and prost's path
//! when it is not: the same prepared rows as prost would give, and the same refusals, word for
//! word, as the plain form of the same snapshot gets. No database: `prepare_upload` touches none.

mod common;

use common::fixtures::t;
use common::vpc_node::busy_node;
use podwire_node_state::NodeSnapshot;
use podwire_node_state::resolver::resolve_facts;
use podwire_node_state::wire::{CanonicalFrame, ContentHash, canonical_encoding, proto};
use podwire_server::ingest::SnapshotLimits;
use podwire_server::ingest::upload::prepare_upload;
use podwire_server::store::blob::SnapshotBlob;
use podwire_server::store::{NodeKey, PreparedSnapshot};
use prost::Message as _;

const MAX_ENCODING: usize = 16 << 20;

fn prod_n1() -> NodeKey {
    NodeKey {
        cluster: "prod".into(),
        name: "n1".into(),
    }
}

fn busy(pods: u32) -> NodeSnapshot {
    busy_node("prod", "n1", t(12, 0).timestamp_millis(), pods).snapshot()
}

fn canonical_upload(frame: &CanonicalFrame, node: &NodeSnapshot) -> proto::SnapshotUpload {
    frame.upload(1, &node.node)
}

fn plain_upload(wire: proto::NodeSnapshot, hash: ContentHash) -> proto::SnapshotUpload {
    proto::SnapshotUpload {
        sequence: 1,
        content_hash: hash.to_wire(),
        body: Some(proto::snapshot_upload::Body::Snapshot(wire)),
    }
}

#[test]
fn a_valid_canonical_upload_prepares_what_prost_would() {
    for pods in [0, 3, 250] {
        let node = busy(pods);
        let frame = CanonicalFrame::of(&node).unwrap();
        let prepared = prepare_upload(
            &prod_n1(),
            canonical_upload(&frame, &node),
            &SnapshotLimits::default(),
            MAX_ENCODING,
        )
        .unwrap();

        // prost's path, by hand
        let raw = canonical_encoding(&node);
        let mut through_prost =
            NodeSnapshot::try_from(proto::NodeSnapshot::decode(raw.as_slice()).unwrap()).unwrap();
        through_prost.node.collected_at_unix_ms = node.node.collected_at_unix_ms;
        through_prost.node.collection_duration_us = node.node.collection_duration_us;
        let blob = SnapshotBlob {
            hash: frame.hash,
            raw_len: raw.len(),
            compressed: frame.zstd_frame.clone(),
        };
        let pods_facts = resolve_facts(&through_prost);
        let expected = PreparedSnapshot::with_blob(&through_prost, blob, pods_facts).unwrap();
        assert_eq!(
            format!("{prepared:?}"),
            format!("{expected:?}"),
            "{pods} pods"
        );
    }
}

/// Each broken snapshot is refused in the canonical form with the error its plain form gets.
#[test]
fn refusals_are_the_prost_paths() {
    let limits = SnapshotLimits {
        links: 64,
        ..SnapshotLimits::default()
    };
    let mut breakages: Vec<(&str, proto::NodeSnapshot)> = Vec::new();
    let node = busy(3);

    let mut long_name = node.clone();
    long_name.namespaces[1].links[0].name = "x".repeat(300);
    breakages.push(("a long link name", (&long_name).into()));

    let mut other_node = node.clone();
    other_node.node.node_name = "n2".into();
    breakages.push(("another node", (&other_node).into()));

    let mut many_links = node.clone();
    let link = many_links.host.links[0].clone();
    many_links.host.links.resize(65, link);
    breakages.push(("too many links", (&many_links).into()));

    let mut bad_address: proto::NodeSnapshot = (&node).into();
    bad_address.host.as_mut().unwrap().routes[0].gateway = Some(vec![10, 0, 0, 1, 9].into());
    breakages.push(("a 5-byte gateway", bad_address));

    let mut no_host: proto::NodeSnapshot = (&node).into();
    no_host.host = None;
    breakages.push(("no host namespace", no_host));

    for (case, wire) in breakages {
        let mut canonical_wire = wire.clone();
        let identity = canonical_wire.node.as_mut().unwrap();
        identity.collected_at_unix_ms = 0;
        identity.collection_duration_us = 0;
        let frame = CanonicalFrame::of_encoding(&canonical_wire.encode_to_vec()).unwrap();
        let canonical = prepare_upload(
            &prod_n1(),
            canonical_upload(&frame, &node),
            &limits,
            MAX_ENCODING,
        )
        .unwrap_err();
        let plain = prepare_upload(
            &prod_n1(),
            plain_upload(wire, frame.hash),
            &limits,
            MAX_ENCODING,
        )
        .unwrap_err();
        let why = |e: &dyn std::error::Error| e.source().map(ToString::to_string);
        assert!(why(&canonical).is_some(), "{case}: {canonical:?}");
        assert_eq!(why(&canonical), why(&plain), "{case}");
    }
}
