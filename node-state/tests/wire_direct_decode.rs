//! The direct decoder (`wire::decode_snapshot_directly`) against prost + `NodeSnapshot::try_from`:
//! the same model for every valid encoding, and never a model where the prost path refuses, for
//! valid snapshots, hand-made wire shapes and thousands of mutated encodings.

#![expect(
    clippy::unwrap_used,
    reason = "helpers of tests: a failed unwrap is a failed test"
)]

mod support;

use podwire_node_state::wire::{
    DirectDecodeError, canonical_encoding, decode_snapshot_directly, proto,
};
use podwire_node_state::*;
use prost::Message;
use prost::encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint};
use support::{every_variant_snapshot, vpc_cni_node};

const SHAPES: [IpamdShape; 3] = [
    IpamdShape::Flat,
    IpamdShape::PerNetworkCard,
    IpamdShape::PerNetworkCardScrubbed,
];

/// Today's path: prost, then the conversion.
fn through_prost(encoding: &[u8]) -> Option<NodeSnapshot> {
    let wire = proto::NodeSnapshot::decode(encoding).ok()?;
    NodeSnapshot::try_from(wire).ok()
}

#[derive(Debug, Default)]
struct Tally {
    equal: usize,
    both_refused: usize,
    left_to_prost: usize,
}

/// Decodes both ways and fails the test on any disagreement but a documented fallback.
fn compare(encoding: &[u8], tally: &mut Tally) {
    match (decode_snapshot_directly(encoding), through_prost(encoding)) {
        (Ok(direct), Some(prost)) => {
            assert_eq!(direct, prost, "the two paths decode different models");
            tally.equal += 1;
        }
        (Ok(direct), None) => {
            panic!("the direct path accepted what prost refuses: {direct:?}\n{encoding:?}")
        }
        (Err(DirectDecodeError::LeftToProst), _) => tally.left_to_prost += 1,
        (Err(e), Some(_)) => panic!("the direct path refused a valid snapshot ({e}): {encoding:?}"),
        (Err(_), None) => tally.both_refused += 1,
    }
}

fn agrees(encoding: &[u8]) -> NodeSnapshot {
    let direct = decode_snapshot_directly(encoding).unwrap();
    assert_eq!(Some(&direct), through_prost(encoding).as_ref());
    direct
}

fn valid_snapshots() -> Vec<NodeSnapshot> {
    let mut snapshots: Vec<NodeSnapshot> = SHAPES.into_iter().map(every_variant_snapshot).collect();
    snapshots.push(vpc_cni_node(250));
    snapshots.push(vpc_cni_node(1));
    snapshots.push(NodeSnapshot::default());
    snapshots
}

#[test]
fn valid_snapshots_decode_to_the_same_model() {
    for snapshot in valid_snapshots() {
        let canonical = canonical_encoding(&snapshot);
        let direct = agrees(&canonical);
        // The canonical form sorts lists and zeroes the times; the plain encoding keeps both.
        assert_eq!(direct.node.collected_at_unix_ms, 0);
        let plain = proto::NodeSnapshot::from(&snapshot).encode_to_vec();
        assert_eq!(agrees(&plain), snapshot);
    }
}

/// The top-level fields of an encoding, each with its key, as raw byte ranges.
fn fields_of(encoding: &[u8]) -> Option<Vec<(u32, WireType, Vec<u8>)>> {
    let mut rest = encoding;
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let before = rest;
        let (tag, wire_type) = decode_key(&mut rest).ok()?;
        prost::encoding::skip_field(wire_type, tag, &mut rest, Default::default()).ok()?;
        let len = before.len() - rest.len();
        fields.push((tag, wire_type, before[..len].to_vec()));
    }
    Some(fields)
}

/// A length-delimited field's payload, given the field's bytes (key included).
fn payload(field: &[u8]) -> &[u8] {
    let mut rest = field;
    decode_key(&mut rest).unwrap();
    decode_varint(&mut rest).unwrap();
    rest
}

fn delimited(tag: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(tag, WireType::LengthDelimited, &mut out);
    encode_varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

fn varint_field(tag: u32, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(tag, WireType::Varint, &mut out);
    encode_varint(value, &mut out);
    out
}

/// The host namespace of the every-variant snapshot sent as two occurrences of field 3, its
/// fields shared between them; the same for the CNI state and each route's destination split into
/// its address and its prefix length.
#[test]
fn a_message_sent_in_parts_is_merged() {
    let snapshot = every_variant_snapshot(IpamdShape::PerNetworkCard);
    let encoding = proto::NodeSnapshot::from(&snapshot).encode_to_vec();
    let mut split = Vec::new();
    for (tag, _, field) in fields_of(&encoding).unwrap() {
        if tag == 3 || tag == 5 || tag == 6 {
            let inner = fields_of(payload(&field)).unwrap();
            let half = inner.len() / 2;
            let part = |range: &[(u32, WireType, Vec<u8>)]| -> Vec<u8> {
                range.iter().flat_map(|(_, _, f)| f.clone()).collect()
            };
            split.extend(delimited(tag, &part(&inner[..half])));
            split.extend(varint_field(99, 7)); // an unknown field between the parts
            split.extend(delimited(tag, &part(&inner[half..])));
        } else {
            split.extend(field);
        }
    }
    assert_ne!(split, encoding);
    assert_eq!(agrees(&split), snapshot);

    // A route whose destination comes in two parts: the address, then the prefix length.
    let mut wire = proto::NodeSnapshot::from(&snapshot);
    let route = &mut wire.host.as_mut().unwrap().routes[0];
    let destination = route.destination.take().unwrap();
    let mut route_bytes = route.encode_to_vec();
    route_bytes.extend(delimited(2, &delimited(1, &destination.address)));
    route_bytes.extend(delimited(
        2,
        &varint_field(2, destination.prefix_len.into()),
    ));
    let mut host = wire.host.take().unwrap();
    host.routes.remove(0);
    let mut host_bytes = host.encode_to_vec();
    host_bytes.extend(delimited(7, &route_bytes));
    let mut bytes = wire.encode_to_vec();
    bytes.extend(delimited(3, &host_bytes));
    let decoded = agrees(&bytes);
    assert_eq!(
        decoded.host.routes.last(),
        Some(&snapshot.host.routes[0]),
        "the merged route comes last, where it was sent"
    );
}

/// Fields out of order, a scalar sent twice (the last wins), unknown fields of every wire type.
#[test]
fn field_order_repeated_scalars_and_unknown_fields_follow_prost() {
    let snapshot = every_variant_snapshot(IpamdShape::Flat);
    let encoding = proto::NodeSnapshot::from(&snapshot).encode_to_vec();
    let mut fields = fields_of(&encoding).unwrap();
    fields.reverse();
    let reversed: Vec<u8> = fields.iter().flat_map(|(_, _, f)| f.clone()).collect();
    let decoded = agrees(&reversed);
    assert_eq!(decoded.node, snapshot.node);
    assert_eq!(decoded.host, snapshot.host);

    // Each namespace's inode sent first as a wrong value, then again; each link's name twice;
    // unknown fields of every wire type appended to every namespace.
    let mut out = Vec::new();
    for (tag, _, field) in fields_of(&encoding).unwrap() {
        if tag != 4 {
            out.extend(field);
            continue;
        }
        let mut ns = varint_field(1, 12345);
        for (inner_tag, _, inner) in fields_of(payload(&field)).unwrap() {
            if inner_tag == 5 {
                let mut link = delimited(2, b"first-name");
                link.extend(payload(&inner));
                ns.extend(delimited(5, &link));
            } else {
                ns.extend(inner);
            }
        }
        ns.extend(varint_field(1000, u64::MAX));
        ns.extend([0x5d, 1, 2, 3, 4]); // field 11, 32-bit
        ns.extend([0x61, 1, 2, 3, 4, 5, 6, 7, 8]); // field 12, 64-bit
        ns.extend(delimited(5000, b"opaque"));
        out.extend(delimited(4, &ns));
    }
    let decoded = agrees(&out);
    assert_eq!(decoded.namespaces.len(), snapshot.namespaces.len());
    for (decoded, sent) in decoded.namespaces.iter().zip(&snapshot.namespaces) {
        // The inode was sent after the wrong one, so it wins; the names came last as well.
        assert_eq!(decoded, sent);
    }

    // A oneof whose scalar variant is replaced by another: the last one wins.
    let mut wire = proto::NodeSnapshot::from(&snapshot);
    let host = wire.host.as_mut().unwrap();
    let mut rule_bytes = varint_field(18, 100); // lookup 100, replaced below
    rule_bytes.extend(host.rules[0].encode_to_vec());
    host.rules.remove(0);
    let mut host_bytes = wire.host.take().unwrap().encode_to_vec();
    host_bytes.extend(delimited(8, &rule_bytes));
    let mut bytes = wire.encode_to_vec();
    bytes.extend(delimited(3, &host_bytes));
    assert_eq!(
        agrees(&bytes).host.rules.last(),
        Some(&snapshot.host.rules[0])
    );
}

/// The schema has no repeated numbers, so packed encodings only ever reach non-repeated scalars,
/// which prost refuses in that form; so does the direct path. Groups are left to prost.
#[test]
fn packed_scalars_and_groups() {
    let snapshot = every_variant_snapshot(IpamdShape::Flat);
    let mut bytes = proto::NodeSnapshot::from(&snapshot).encode_to_vec();
    let mut host = Vec::new();
    host.extend(delimited(1, &[1, 2])); // the inode, "packed"
    bytes.extend(delimited(3, &host));
    assert!(through_prost(&bytes).is_none());
    assert_eq!(
        decode_snapshot_directly(&bytes),
        Err(DirectDecodeError::Malformed)
    );

    let mut bytes = proto::NodeSnapshot::from(&snapshot).encode_to_vec();
    bytes.extend([0xa3, 0x06, 0x08, 0x01, 0xa4, 0x06]); // group 100 holding field 1 = 1
    assert_eq!(through_prost(&bytes).as_ref(), Some(&snapshot));
    assert_eq!(
        decode_snapshot_directly(&bytes),
        Err(DirectDecodeError::LeftToProst)
    );
}

/// xorshift64*: deterministic, and enough to scatter mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Mutates raw bytes: a bit, a byte, a cut, a deletion, an insertion or a duplicated range.
fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut Rng) {
    let len = bytes.len();
    match rng.below(7) {
        0 if len > 0 => bytes[rng.below(len)] ^= 1 << rng.below(8),
        1 if len > 0 => bytes[rng.below(len)] = rng.next() as u8,
        2 => bytes.truncate(rng.below(len + 1)),
        3 if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(8)).min(len);
            bytes.drain(at..end);
        }
        4 => {
            let at = rng.below(len + 1);
            let extra: Vec<u8> = (0..1 + rng.below(4)).map(|_| rng.next() as u8).collect();
            bytes.splice(at..at, extra);
        }
        5 if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(16)).min(len);
            let copy = bytes[at..end].to_vec();
            let to = rng.below(len + 1);
            bytes.splice(to..to, copy);
        }
        _ => {
            // A varint-sized value somewhere: large numbers where small ones were.
            if len > 0 {
                let at = rng.below(len);
                bytes[at] = 0x80 | rng.next() as u8;
            }
        }
    }
}

/// Mutates an encoding at some depth, keeping the lengths of the messages around the mutation
/// right, so that mutations reach the inner messages instead of only breaking the outer ones.
/// At a level it may also duplicate, drop or swap whole fields.
fn mutate(encoding: &[u8], rng: &mut Rng, depth: u32) -> Vec<u8> {
    let Some(mut fields) = fields_of(encoding).filter(|f| !f.is_empty()) else {
        let mut bytes = encoding.to_vec();
        mutate_bytes(&mut bytes, rng);
        return bytes;
    };
    let i = rng.below(fields.len());
    match rng.below(10) {
        0 => {
            let copy = fields[i].clone();
            let to = rng.below(fields.len() + 1);
            fields.insert(to, copy);
        }
        1 => {
            fields.remove(i);
        }
        2 => {
            let j = rng.below(fields.len());
            fields.swap(i, j);
        }
        3 => {
            let mut bytes = fields[i].2.clone();
            mutate_bytes(&mut bytes, rng);
            fields[i].2 = bytes;
        }
        _ if fields[i].1 == WireType::LengthDelimited && depth < 12 => {
            let (tag, _, field) = &fields[i];
            let inner = mutate(payload(field), rng, depth + 1);
            fields[i].2 = delimited(*tag, &inner);
        }
        _ => {
            let mut bytes = fields[i].2.clone();
            mutate_bytes(&mut bytes, rng);
            fields[i].2 = bytes;
        }
    }
    fields.into_iter().flat_map(|(_, _, f)| f).collect()
}

#[test]
fn mutated_encodings_never_decode_differently() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut tally = Tally::default();
    let seeds: Vec<Vec<u8>> = SHAPES
        .into_iter()
        .map(|shape| canonical_encoding(&every_variant_snapshot(shape)))
        .chain([canonical_encoding(&vpc_cni_node(3))])
        .collect();
    for round in 0..6000 {
        let seed = &seeds[round % seeds.len()];
        let mut bytes = mutate(seed, &mut rng, 0);
        for _ in 0..rng.below(3) {
            bytes = mutate(&bytes, &mut rng, 0);
        }
        compare(&bytes, &mut tally);
    }
    // Raw cuts of a whole encoding, at every length of a small one.
    let small = canonical_encoding(&vpc_cni_node(1));
    for len in 0..small.len() {
        compare(&small[..len], &mut tally);
    }
    eprintln!("{tally:?}");
    // Enough of the mutations must leave a valid snapshot for the comparison to mean something.
    assert!(tally.equal > 1000, "{tally:?}");
    assert!(tally.both_refused > 1000, "{tally:?}");
}
