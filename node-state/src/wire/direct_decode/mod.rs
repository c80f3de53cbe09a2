//! The server's fast path from a canonical encoding to the model: the protobuf bytes of a
//! `NodeSnapshot` decoded straight into a [`NodeSnapshot`](crate::NodeSnapshot), without building
//! the `proto` messages first.
//!
//! Decoding with prost and then converting allocates every string twice (once for the message,
//! once for the model), grows every list twice and builds a message tree only to take it apart;
//! for a 250-pod node that is most of the CPU an upload costs the server. This decoder reads
//! each field once, keeps strings and bytes as views of the buffer until the message that holds
//! them is complete, and applies the conversions of [`super::convert`] through its own helper
//! functions, so that the two paths cannot disagree on what a field means.
//!
//! It follows prost's reading of the wire exactly on every input it accepts: the last value of
//! a scalar wins, repeated fields accumulate, a non-repeated message that appears twice is merged,
//! a missing field takes its default, unknown fields are skipped. What it refuses it refuses
//! without saying why precisely ([`DirectDecodeError`]): the caller decodes such an input again
//! with prost and converts it with `NodeSnapshot::try_from`, whose errors name the field. It also
//! gives up, rather than guess, on two shapes no agent sends: groups (a proto2 feature) among
//! unknown fields, and a oneof whose message variant is replaced by another variant (prost would
//! have decoded, and could have refused, the replaced message).
//!
//! `node-state/proto/podwire/agent/v1/*.proto` is the field map; the field numbers below are its.

mod cni;
mod netns;
mod vpc_cni;

use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};

use super::convert::{
    FromWireError, error_source_from_wire, ip_from_wire, named_route_type, prefix_from_wire, to_u8,
};
use crate::model::{
    KernelRouteAnswer, KernelRouteDecision, KernelRouteQuery, NodeIdentity, NodeSnapshot,
    RouteType, SourceError,
};

/// Why [`decode_snapshot_directly`] gave up. It does not say where: decode the same bytes with
/// prost and convert them with `NodeSnapshot::try_from` for an error that names the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DirectDecodeError {
    /// Not a protobuf encoding of a `NodeSnapshot`: prost refuses it too.
    #[error("the bytes are not a protobuf NodeSnapshot")]
    Malformed,
    /// A well-formed message that describes no model value (a 5-byte address, an unknown enum
    /// value, a missing required part): the conversion refuses it too.
    #[error("the snapshot holds a value the model cannot hold")]
    NotAModelValue,
    /// A shape this decoder leaves to prost (groups, a oneof message variant replaced).
    #[error("the encoding has a shape only the prost path decodes")]
    LeftToProst,
}

impl From<prost::DecodeError> for DirectDecodeError {
    fn from(_: prost::DecodeError) -> Self {
        DirectDecodeError::Malformed
    }
}

impl From<FromWireError> for DirectDecodeError {
    fn from(_: FromWireError) -> Self {
        DirectDecodeError::NotAModelValue
    }
}

type Decoded<T> = Result<T, DirectDecodeError>;

/// Decodes a `NodeSnapshot` encoding (a canonical encoding, or any other) into the model. On
/// success the result equals `NodeSnapshot::try_from(proto::NodeSnapshot::decode(encoding)?)`;
/// whenever that fails, this fails too.
pub fn decode_snapshot_directly(encoding: &[u8]) -> Result<NodeSnapshot, DirectDecodeError> {
    let mut node = MessageField::default();
    let mut probe_destination = None;
    let mut host = MessageField::default();
    let mut namespaces = Vec::new();
    let mut cni = MessageField::default();
    let mut vpc_cni = MessageField::default();
    let mut kernel_routes = Vec::new();
    let mut errors = Vec::new();
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => node.merge(fields.delimited(wire_type)?)?,
            2 => probe_destination = Some(fields.delimited(wire_type)?),
            3 => host.merge(fields.delimited(wire_type)?)?,
            4 => namespaces.push(netns::netns(fields.delimited(wire_type)?)?),
            5 => cni.merge(fields.delimited(wire_type)?)?,
            6 => vpc_cni.merge(fields.delimited(wire_type)?)?,
            7 => kernel_routes.push(kernel_route_decision(fields.delimited(wire_type)?)?),
            8 => errors.push(source_error(fields.delimited(wire_type)?)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(NodeSnapshot {
        node: node.required(node_identity)?,
        probe_destination: optional_ip(probe_destination)?,
        host: host.required(netns::netns)?,
        namespaces,
        cni: cni.required(cni::cni_state)?,
        vpc_cni: vpc_cni.optional(vpc_cni::vpc_cni_state)?,
        kernel_routes,
        errors,
    })
}

fn node_identity(encoding: &[u8]) -> Decoded<NodeIdentity> {
    let (mut cluster, mut node_name, mut boot_id, mut kernel, mut agent_version) =
        ("", "", "", "", "");
    let mut node = NodeIdentity::default();
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => cluster = fields.text(wire_type)?,
            2 => node_name = fields.text(wire_type)?,
            3 => boot_id = fields.text(wire_type)?,
            4 => kernel = fields.text(wire_type)?,
            5 => agent_version = fields.text(wire_type)?,
            6 => node.collected_at_unix_ms = fields.int64(wire_type)?,
            7 => node.collection_duration_us = fields.varint(wire_type)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    node.cluster = cluster.to_owned();
    node.node_name = node_name.to_owned();
    node.boot_id = boot_id.to_owned();
    node.kernel = kernel.to_owned();
    node.agent_version = agent_version.to_owned();
    Ok(node)
}

fn source_error(encoding: &[u8]) -> Decoded<SourceError> {
    let (mut source, mut subject, mut message) = (0, "", "");
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => source = fields.int32(wire_type)?,
            2 => subject = fields.text(wire_type)?,
            3 => message = fields.text(wire_type)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(SourceError {
        source: error_source_from_wire(source)?,
        subject: subject.to_owned(),
        message: message.to_owned(),
    })
}

fn kernel_route_decision(encoding: &[u8]) -> Decoded<KernelRouteDecision> {
    let (mut query, mut answer) = (MessageField::default(), MessageField::default());
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => query.merge(fields.delimited(wire_type)?)?,
            2 => answer.merge(fields.delimited(wire_type)?)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(KernelRouteDecision {
        query: query.required(kernel_route_query)?,
        answer: answer.required(kernel_route_answer)?,
    })
}

fn kernel_route_query(encoding: &[u8]) -> Decoded<KernelRouteQuery> {
    let (mut destination, mut source): (&[u8], &[u8]) = (&[], &[]);
    let (mut iif, mut fwmark) = (0, None);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => destination = fields.delimited(wire_type)?,
            2 => source = fields.delimited(wire_type)?,
            3 => iif = fields.uint32(wire_type)?,
            4 => fwmark = Some(fields.uint32(wire_type)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(KernelRouteQuery {
        destination: ip_from_wire(destination, "destination")?,
        source: ip_from_wire(source, "source")?,
        iif,
        fwmark,
    })
}

fn kernel_route_answer(encoding: &[u8]) -> Decoded<KernelRouteAnswer> {
    let mut answer = Oneof::default();
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 | 2 => answer.merge_message(tag, fields.delimited(wire_type)?)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    match answer {
        Oneof::Message(1, route) => kernel_route(route.encoding()),
        Oneof::Message(2, error) => kernel_route_error(error.encoding()),
        _ => Err(DirectDecodeError::NotAModelValue),
    }
}

fn kernel_route(encoding: &[u8]) -> Decoded<KernelRouteAnswer> {
    let mut route_type = Oneof::default();
    let (mut table, mut oif, mut gateway, mut pref_src) = (0, None, None, None);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 | 2 => route_type.set_varint(tag, fields.varint(wire_type)?)?,
            3 => table = fields.uint32(wire_type)?,
            4 => oif = Some(fields.uint32(wire_type)?),
            5 => gateway = Some(fields.delimited(wire_type)?),
            6 => pref_src = Some(fields.delimited(wire_type)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(KernelRouteAnswer::Route {
        route_type: route_type_of(&route_type, 1, 2)?,
        table,
        oif,
        gateway: optional_ip(gateway)?,
        pref_src: optional_ip(pref_src)?,
    })
}

fn kernel_route_error(encoding: &[u8]) -> Decoded<KernelRouteAnswer> {
    let (mut errno, mut message) = (0, "");
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => errno = fields.int32(wire_type)?,
            2 => message = fields.text(wire_type)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(KernelRouteAnswer::Error {
        errno,
        message: message.to_owned(),
    })
}

/// A `route_type` oneof (`KernelRoute`, `Route`): a named type under `known`, a raw number
/// under `other`.
fn route_type_of(oneof: &Oneof<'_>, known: u32, other: u32) -> Decoded<RouteType> {
    match *oneof {
        Oneof::Varint(tag, value) if tag == known => Ok(named_route_type(value as i32, "")?),
        Oneof::Varint(tag, value) if tag == other => Ok(RouteType::Other(to_u8(value as u32, "")?)),
        _ => Err(DirectDecodeError::NotAModelValue),
    }
}

/// An `IpPrefix`.
fn ip_prefix(encoding: &[u8]) -> Decoded<ipnet::IpNet> {
    let (mut address, mut prefix_len): (&[u8], u32) = (&[], 0);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => address = fields.delimited(wire_type)?,
            2 => prefix_len = fields.uint32(wire_type)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(prefix_from_wire(address, prefix_len)?)
}

/// A `PortRange` or a `UidRange`: both ends, as sent.
fn range(encoding: &[u8]) -> Decoded<(u32, u32)> {
    let (mut start, mut end) = (0, 0);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => start = fields.uint32(wire_type)?,
            2 => end = fields.uint32(wire_type)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok((start, end))
}

fn optional_ip(bytes: Option<&[u8]>) -> Decoded<Option<std::net::IpAddr>> {
    Ok(bytes.map(|b| ip_from_wire(b, "")).transpose()?)
}

fn ips(values: Vec<&[u8]>) -> Decoded<Vec<std::net::IpAddr>> {
    values
        .into_iter()
        .map(|b| Ok(ip_from_wire(b, "")?))
        .collect()
}

fn owned(text: Option<&str>) -> Option<String> {
    text.map(str::to_owned)
}

/// The fields of one message's encoding, read in wire order. Each read checks the wire type
/// against the field's type, as prost's generated code does.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(encoding: &'a [u8]) -> Self {
        Fields { rest: encoding }
    }

    /// The next field's number and wire type; `None` at the end of the message. Inlined into
    /// every message's loop: called out of line, the call costs as much as the work.
    #[inline(always)]
    fn next_key(&mut self) -> Decoded<Option<(u32, WireType)>> {
        match self.rest.first() {
            None => Ok(None),
            // A one-byte key (fields 1 to 15) read here; prost's `decode_key` does the same
            // checks out of line.
            Some(&byte) if byte < 0x80 => {
                self.rest = &self.rest[1..];
                let wire_type = WireType::try_from(u64::from(byte & 0x07))?;
                match u32::from(byte >> 3) {
                    0 => Err(DirectDecodeError::Malformed),
                    tag => Ok(Some((tag, wire_type))),
                }
            }
            Some(_) => Ok(Some(decode_key(&mut self.rest)?)),
        }
    }

    /// A varint: one byte read here (most are), longer ones by prost's `decode_varint`.
    #[inline(always)]
    fn raw_varint(&mut self) -> Decoded<u64> {
        match self.rest.first() {
            Some(&byte) if byte < 0x80 => {
                self.rest = &self.rest[1..];
                Ok(u64::from(byte))
            }
            _ => Ok(decode_varint(&mut self.rest)?),
        }
    }

    fn varint(&mut self, wire_type: WireType) -> Decoded<u64> {
        if wire_type != WireType::Varint {
            return Err(DirectDecodeError::Malformed);
        }
        self.raw_varint()
    }

    // The narrowing casts below are protobuf's own: a uint32 or int32 sent as a wider varint
    // keeps its low bits, as prost keeps them.
    fn uint32(&mut self, wire_type: WireType) -> Decoded<u32> {
        Ok(self.varint(wire_type)? as u32)
    }

    /// An `int32` or an enum.
    fn int32(&mut self, wire_type: WireType) -> Decoded<i32> {
        Ok(self.varint(wire_type)? as i32)
    }

    fn int64(&mut self, wire_type: WireType) -> Decoded<i64> {
        Ok(self.varint(wire_type)? as i64)
    }

    fn bool(&mut self, wire_type: WireType) -> Decoded<bool> {
        Ok(self.varint(wire_type)? != 0)
    }

    /// A `bytes` field or a message's encoding, as a view of the buffer.
    fn delimited(&mut self, wire_type: WireType) -> Decoded<&'a [u8]> {
        if wire_type != WireType::LengthDelimited {
            return Err(DirectDecodeError::Malformed);
        }
        let len = self.raw_varint()?;
        let len = usize::try_from(len).map_err(|_| DirectDecodeError::Malformed)?;
        if len > self.rest.len() {
            return Err(DirectDecodeError::Malformed);
        }
        let (value, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(value)
    }

    /// A `string` field: UTF-8, checked on every occurrence as prost checks it.
    fn text(&mut self, wire_type: WireType) -> Decoded<&'a str> {
        std::str::from_utf8(self.delimited(wire_type)?).map_err(|_| DirectDecodeError::Malformed)
    }

    /// Skips a field this version does not know, as prost skips it.
    fn skip(&mut self, tag: u32, wire_type: WireType) -> Decoded<()> {
        match wire_type {
            // prost limits the nesting of groups by the depth of the message it is in, which
            // this decoder does not track; no agent sends groups.
            WireType::StartGroup => Err(DirectDecodeError::LeftToProst),
            WireType::EndGroup => Err(DirectDecodeError::Malformed),
            _ => Ok(skip_field(
                wire_type,
                tag,
                &mut self.rest,
                DecodeContext::default(),
            )?),
        }
    }
}

/// A non-repeated message field. Protobuf merges the occurrences of such a field, which is the
/// same as decoding their encodings one after the other; nearly always there is just one.
#[derive(Debug, Default)]
enum MessageField<'a> {
    #[default]
    Absent,
    One(&'a [u8]),
    Merged(Vec<u8>),
}

impl<'a> MessageField<'a> {
    fn merge(&mut self, part: &'a [u8]) -> Decoded<()> {
        match self {
            MessageField::Absent => *self = MessageField::One(part),
            // Concatenation equals merging only when every part is a whole sequence of fields:
            // a field cut short at the end of one part must not run on into the next.
            MessageField::One(first) => {
                well_formed(first)?;
                well_formed(part)?;
                let mut joined = first.to_vec();
                joined.extend_from_slice(part);
                *self = MessageField::Merged(joined);
            }
            MessageField::Merged(joined) => {
                well_formed(part)?;
                joined.extend_from_slice(part);
            }
        }
        Ok(())
    }

    fn encoding(&self) -> &[u8] {
        match self {
            MessageField::Absent => &[],
            MessageField::One(encoding) => encoding,
            MessageField::Merged(encoding) => encoding,
        }
    }

    fn optional<T>(&self, decode: impl FnOnce(&[u8]) -> Decoded<T>) -> Decoded<Option<T>> {
        match self {
            MessageField::Absent => Ok(None),
            _ => decode(self.encoding()).map(Some),
        }
    }

    fn required<T>(&self, decode: impl FnOnce(&[u8]) -> Decoded<T>) -> Decoded<T> {
        self.optional(decode)?
            .ok_or(DirectDecodeError::NotAModelValue)
    }
}

/// Whether `encoding` is a whole sequence of fields, each one complete.
fn well_formed(encoding: &[u8]) -> Decoded<()> {
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        fields.skip(tag, wire_type)?;
    }
    Ok(())
}

/// A oneof: the last variant on the wire wins, and a message variant that appears again is
/// merged with its earlier occurrences.
#[derive(Debug, Default)]
enum Oneof<'a> {
    #[default]
    Unset,
    /// A number or an enum, by field number, as the raw varint.
    Varint(u32, u64),
    Text(u32, &'a str),
    Message(u32, MessageField<'a>),
}

impl<'a> Oneof<'a> {
    fn set_varint(&mut self, tag: u32, value: u64) -> Decoded<()> {
        self.replace(Oneof::Varint(tag, value))
    }

    fn set_text(&mut self, tag: u32, value: &'a str) -> Decoded<()> {
        self.replace(Oneof::Text(tag, value))
    }

    fn merge_message(&mut self, tag: u32, part: &'a [u8]) -> Decoded<()> {
        match self {
            Oneof::Message(current, field) if *current == tag => field.merge(part),
            _ => self.replace(Oneof::Message(tag, MessageField::One(part))),
        }
    }

    fn replace(&mut self, variant: Oneof<'a>) -> Decoded<()> {
        // prost decoded the replaced message when it met it, and may have refused it; this
        // decoder has only its bytes.
        if let Oneof::Message(..) = self {
            return Err(DirectDecodeError::LeftToProst);
        }
        *self = variant;
        Ok(())
    }
}
