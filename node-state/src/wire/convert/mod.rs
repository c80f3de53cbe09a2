//! Conversion between the model and its wire form, in one place.
//!
//! Model → wire is infallible: `From<&model::T> for proto::T`. Wire → model is
//! `TryFrom<proto::T> for model::T` and fails with a [`FromWireError`] that names the offending
//! field by its path from the converted message (`host.routes[3].gateway`), because a wire message
//! can hold what the model cannot: a 5-byte address, an enum value from a newer agent, a missing
//! required part. Both directions keep every field, so model → wire → model is the identity.

mod cni;
mod netns;
mod snapshot;
mod vpc_cni;

pub(crate) use netns::{
    ip_family_from_wire, named_route_type, named_scope, oper_state_from_wire,
    plain_link_kind_from_wire, rule_verdict_from_wire, vlan_protocol_from_wire,
};
pub(crate) use snapshot::error_source_from_wire;
pub(crate) use vpc_cni::ipamd_shape_from_wire;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prost::bytes::Bytes;

use super::proto;
use crate::model::MacAddr;

/// A wire message that does not describe a model value: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("wire field `{field}` {problem}")]
pub struct FromWireError {
    field: String,
    problem: WireProblem,
}

/// What is wrong with a wire field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireProblem {
    /// A required message or oneof is absent.
    #[error("is missing")]
    Missing,
    /// An enum is left at its `..._UNSPECIFIED` zero value.
    #[error("is unspecified")]
    Unspecified,
    /// An enum number this version does not know.
    #[error("holds {value}, which is not a known enum value")]
    UnknownEnumValue { value: i32 },
    /// An IP address that is neither 4 nor 16 bytes.
    #[error("holds {len} bytes, not a 4-byte IPv4 or 16-byte IPv6 address")]
    AddressLength { len: usize },
    /// A MAC address that is not 6 bytes.
    #[error("holds {len} bytes, not a 6-byte MAC address")]
    MacLength { len: usize },
    /// A prefix length longer than its address.
    #[error("is {prefix_len}, longer than the {max_len}-bit address")]
    PrefixLength { prefix_len: u32, max_len: u8 },
    /// A number wider than the model's field (a u32 on the wire for a u8 in the kernel).
    #[error("is {value}, above the largest allowed value {max}")]
    OutOfRange { value: u64, max: u64 },
}

impl FromWireError {
    pub(crate) fn new(field: &str, problem: WireProblem) -> Self {
        FromWireError {
            field: field.to_owned(),
            problem,
        }
    }

    /// The path of the offending field from the converted message, in `.proto` field names:
    /// `namespaces[2].links[0].kind` is the `kind` oneof of the first link of the third namespace.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with that field.
    pub fn problem(&self) -> &WireProblem {
        &self.problem
    }

    /// Puts the error under its parent field, `parent.field`.
    fn within(mut self, parent: &str) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }

    /// Puts the error under element `index` of a repeated parent field, `parent[index].field`.
    fn within_item(mut self, parent: &str, index: usize) -> Self {
        self.field = format!("{parent}[{index}].{}", self.field);
        self
    }
}

/// Adds the enclosing field to an error on its way up.
trait InField<T> {
    fn in_field(self, parent: &str) -> Result<T, FromWireError>;
}

impl<T> InField<T> for Result<T, FromWireError> {
    fn in_field(self, parent: &str) -> Result<T, FromWireError> {
        self.map_err(|e| e.within(parent))
    }
}

/// A required message field.
fn required<P, M>(value: Option<P>, field: &str) -> Result<M, FromWireError>
where
    M: TryFrom<P, Error = FromWireError>,
{
    let value = value.ok_or_else(|| FromWireError::new(field, WireProblem::Missing))?;
    M::try_from(value).in_field(field)
}

/// An optional message field.
fn optional<P, M>(value: Option<P>, field: &str) -> Result<Option<M>, FromWireError>
where
    M: TryFrom<P, Error = FromWireError>,
{
    value.map(|v| M::try_from(v).in_field(field)).transpose()
}

/// A repeated message field.
fn repeated<P, M>(values: Vec<P>, field: &str) -> Result<Vec<M>, FromWireError>
where
    M: TryFrom<P, Error = FromWireError>,
{
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| M::try_from(v).map_err(|e| e.within_item(field, i)))
        .collect()
}

/// Model values to their wire form, element by element.
fn to_wire<'a, M: 'a, P: From<&'a M>>(values: &'a [M]) -> Vec<P> {
    values.iter().map(P::from).collect()
}

fn ip_to_wire(ip: &IpAddr) -> Bytes {
    match ip {
        IpAddr::V4(v4) => Bytes::copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => Bytes::copy_from_slice(&v6.octets()),
    }
}

pub(crate) fn ip_from_wire(bytes: &[u8], field: &str) -> Result<IpAddr, FromWireError> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Ok(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Ok(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        Err(FromWireError::new(
            field,
            WireProblem::AddressLength { len: bytes.len() },
        ))
    }
}

fn optional_ip_to_wire(ip: &Option<IpAddr>) -> Option<Bytes> {
    ip.as_ref().map(ip_to_wire)
}

fn optional_ip_from_wire(
    bytes: Option<Bytes>,
    field: &str,
) -> Result<Option<IpAddr>, FromWireError> {
    bytes.map(|b| ip_from_wire(&b, field)).transpose()
}

fn ips_from_wire(values: Vec<Bytes>, field: &str) -> Result<Vec<IpAddr>, FromWireError> {
    values
        .iter()
        .enumerate()
        .map(|(i, b)| ip_from_wire(b, &format!("{field}[{i}]")))
        .collect()
}

fn mac_from_wire(bytes: Option<Bytes>, field: &str) -> Result<Option<MacAddr>, FromWireError> {
    bytes.map(|b| mac_from_bytes(&b, field)).transpose()
}

pub(crate) fn mac_from_bytes(bytes: &[u8], field: &str) -> Result<MacAddr, FromWireError> {
    MacAddr::from_bytes(bytes)
        .ok_or_else(|| FromWireError::new(field, WireProblem::MacLength { len: bytes.len() }))
}

fn mac_to_wire(mac: &Option<MacAddr>) -> Option<Bytes> {
    mac.map(|m| Bytes::copy_from_slice(&m.0))
}

impl From<&IpNet> for proto::IpPrefix {
    fn from(net: &IpNet) -> Self {
        proto::IpPrefix {
            address: ip_to_wire(&net.addr()),
            prefix_len: u32::from(net.prefix_len()),
        }
    }
}

impl TryFrom<proto::IpPrefix> for IpNet {
    type Error = FromWireError;

    fn try_from(wire: proto::IpPrefix) -> Result<Self, FromWireError> {
        prefix_from_wire(&wire.address, wire.prefix_len)
    }
}

/// An `IpPrefix`'s two fields as one prefix.
pub(crate) fn prefix_from_wire(
    address: &[u8],
    wire_prefix_len: u32,
) -> Result<IpNet, FromWireError> {
    let address = ip_from_wire(address, "address")?;
    let max_len: u8 = if address.is_ipv4() { 32 } else { 128 };
    let too_long = || {
        FromWireError::new(
            "prefix_len",
            WireProblem::PrefixLength {
                prefix_len: wire_prefix_len,
                max_len,
            },
        )
    };
    let prefix_len = u8::try_from(wire_prefix_len).map_err(|_| too_long())?;
    // The lengths were checked above, so these cannot fail; the error is kept all the same.
    match address {
        IpAddr::V4(v4) => Ipv4Net::new(v4, prefix_len)
            .map(IpNet::V4)
            .map_err(|_| too_long()),
        IpAddr::V6(v6) => Ipv6Net::new(v6, prefix_len)
            .map(IpNet::V6)
            .map_err(|_| too_long()),
    }
}

fn prefixes_to_wire(nets: &[IpNet]) -> Vec<proto::IpPrefix> {
    to_wire(nets)
}

fn optional_prefix_to_wire(net: &Option<IpNet>) -> Option<proto::IpPrefix> {
    net.as_ref().map(proto::IpPrefix::from)
}

/// A wire `uint32` above what the model's narrower field holds (a u8 in the kernel).
fn out_of_range(value: u32, max: u64, field: &str) -> FromWireError {
    FromWireError::new(
        field,
        WireProblem::OutOfRange {
            value: value.into(),
            max,
        },
    )
}

pub(crate) fn to_u8(value: u32, field: &str) -> Result<u8, FromWireError> {
    u8::try_from(value).map_err(|_| out_of_range(value, u8::MAX.into(), field))
}

pub(crate) fn to_u16(value: u32, field: &str) -> Result<u16, FromWireError> {
    u16::try_from(value).map_err(|_| out_of_range(value, u16::MAX.into(), field))
}

/// A proto enum number, known to this version.
pub(crate) fn known_enum<E: TryFrom<i32>>(value: i32, field: &str) -> Result<E, FromWireError> {
    E::try_from(value)
        .map_err(|_| FromWireError::new(field, WireProblem::UnknownEnumValue { value }))
}

pub(crate) fn unspecified(field: &str) -> FromWireError {
    FromWireError::new(field, WireProblem::Unspecified)
}

pub(crate) fn missing(field: &str) -> FromWireError {
    FromWireError::new(field, WireProblem::Missing)
}
