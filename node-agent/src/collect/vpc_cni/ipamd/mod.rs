//! ipamd's introspection API, `GET /v1/enis`: the ENIs VPC CNI manages, their secondary IPs or
//! delegated prefixes, and which pod holds each address.
//!
//! The answer has changed shape over the releases, and [`parse_enis`] reads all of them:
//! - before v1.20, one `ENIInfos` object (`TotalIPs`, `AssignedIPs`, `ENIs`); before v1.9 an
//!   ENI listed every secondary IP in `IPv4Addresses`, and before v1.7 the map was `ENIIPPools`
//!   and addresses had an `Assigned` flag instead of an `IPAMKey`;
//! - v1.20 on, one `ENIInfos` per network card, keyed by the card's index (`{"0": {…}}`);
//! - v1.23 on, the same with every address's `containerID` and `ifName` scrubbed to `""`.

mod client;
mod wire;

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ipnet::IpNet;
use podwire_node_state::{
    IpamdAddress, IpamdCidr, IpamdEni, IpamdEnis, IpamdNetworkCard, IpamdShape,
};
use serde_json::Value;

pub use client::{DEFAULT_ENDPOINT, ENIS_PATH, read_enis, read_enis_here};

/// Keys only the pre-v1.20 single `ENIInfos` answer has at its top level.
const FLAT_KEYS: [&str; 4] = ["TotalIPs", "AssignedIPs", "ENIs", "ENIIPPools"];

/// Go's `time.Time{}` as `encoding/json` writes it: ipamd's "never".
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00";

/// Why ipamd's ENIs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IpamdError {
    #[error("ipamd endpoint {0:?} is not of the form http://HOST:PORT")]
    InvalidEndpoint(String),
    #[error("cannot start the HTTP client")]
    Runtime(#[source] std::io::Error),
    #[error("cannot connect to ipamd at {endpoint}")]
    Connect {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("ipamd at {endpoint} did not answer within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    #[error("HTTP exchange with ipamd failed")]
    Http(#[source] hyper::Error),
    #[error("ipamd answered HTTP {0}")]
    Status(hyper::StatusCode),
    #[error("reading ipamd's answer failed")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("ipamd's answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("ipamd's answer is not JSON")]
    NotJson(#[source] serde_json::Error),
    #[error("ipamd's answer is not a JSON object")]
    NotAnObject,
    #[error("ipamd's answer is neither ENIInfos nor keyed by network card (key {0:?})")]
    UnknownShape(String),
    #[error("{at} is not an ENIInfos object")]
    Structure {
        at: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("ENI {eni}: CIDR {key:?} cannot be read")]
    BadCidr {
        eni: String,
        key: String,
        #[source]
        source: CidrError,
    },
    #[error("ENI {eni}: address {value:?} is not an IP address")]
    BadAddress { eni: String, value: String },
}

impl IpamdError {
    /// Nothing listens at the endpoint: on a node without VPC CNI that is expected, not a fault.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, IpamdError::Connect { .. })
    }
}

/// How a Go `net.IPNet` (`{"IP": "10.0.0.0", "Mask": "////8A=="}`) fails to read.
#[derive(Debug, thiserror::Error)]
pub enum CidrError {
    #[error("no IP")]
    MissingIp,
    #[error("IP {0:?} is not an IP address")]
    BadIp(String),
    #[error("no mask")]
    MissingMask,
    #[error("mask is not base64")]
    MaskEncoding(#[source] base64::DecodeError),
    #[error("a {len}-byte mask does not fit an {family} address")]
    MaskLength { len: usize, family: &'static str },
    #[error("mask {0} is not a prefix length")]
    NonContiguousMask(String),
}

/// Reads a `/v1/enis` answer of any ipamd version. Garbage is an error, never a panic.
pub fn parse_enis(body: &[u8]) -> Result<IpamdEnis, IpamdError> {
    let value: Value = serde_json::from_slice(body).map_err(IpamdError::NotJson)?;
    let Value::Object(top) = value else {
        return Err(IpamdError::NotAnObject);
    };

    if FLAT_KEYS.iter().any(|k| top.contains_key(*k)) {
        let infos =
            serde_json::from_value(Value::Object(top)).map_err(|source| IpamdError::Structure {
                at: "the answer".to_owned(),
                source,
            })?;
        return Ok(IpamdEnis {
            shape: IpamdShape::Flat,
            network_cards: vec![network_card(0, infos)?],
        });
    }

    let mut network_cards = Vec::with_capacity(top.len());
    for (key, value) in top {
        let index: u32 = key
            .parse()
            .map_err(|_| IpamdError::UnknownShape(key.clone()))?;
        let infos = serde_json::from_value(value).map_err(|source| IpamdError::Structure {
            at: format!("network card {index}"),
            source,
        })?;
        network_cards.push(network_card(index, infos)?);
    }
    network_cards.sort_by_key(|card| card.index);
    let shape = if ids_scrubbed(&network_cards) {
        IpamdShape::PerNetworkCardScrubbed
    } else {
        IpamdShape::PerNetworkCard
    };
    Ok(IpamdEnis {
        shape,
        network_cards,
    })
}

/// v1.23 answers cannot be told from v1.20–v1.22 ones by their structure, only by content:
/// assigned addresses whose container ids are all empty. With no assigned address at all
/// there is nothing scrubbed to see, and the answer counts as unscrubbed.
fn ids_scrubbed(cards: &[IpamdNetworkCard]) -> bool {
    let mut assigned = cards
        .iter()
        .flat_map(|card| &card.enis)
        .flat_map(|eni| &eni.cidrs)
        .flat_map(|cidr| &cidr.addresses)
        .filter(|address| address.assigned)
        .peekable();
    assigned.peek().is_some() && assigned.all(|address| address.container_id.is_none())
}

fn network_card(index: u32, infos: wire::EniInfos) -> Result<IpamdNetworkCard, IpamdError> {
    let mut enis = infos
        .enis
        .into_iter()
        .flatten()
        .map(|(key, eni)| read_eni(key, eni))
        .collect::<Result<Vec<_>, _>>()?;
    enis.sort_by(|a, b| (a.device_number, &a.id).cmp(&(b.device_number, &b.id)));
    Ok(IpamdNetworkCard {
        index,
        total_ips: infos.total_ips,
        assigned_ips: infos.assigned_ips,
        enis,
    })
}

fn read_eni(key: String, eni: wire::Eni) -> Result<IpamdEni, IpamdError> {
    let id = if eni.id.is_empty() { key } else { eni.id };
    let mut cidrs = Vec::new();
    for (cidr_key, info) in eni.ipv4_cidrs.into_iter().chain(eni.ipv6_cidrs).flatten() {
        let cidr = match &info.cidr {
            Some(net) => go_ipnet(net),
            // Older answers are keyed by the CIDR even where the value lacks it.
            None => cidr_key.parse().map_err(|_| CidrError::MissingIp),
        }
        .map_err(|source| IpamdError::BadCidr {
            eni: id.clone(),
            key: cidr_key.clone(),
            source,
        })?;
        let mut addresses = info
            .ip_addresses
            .into_iter()
            .flatten()
            .map(|(address_key, address)| read_address(&id, address_key, address))
            .collect::<Result<Vec<_>, _>>()?;
        addresses.sort_by_key(|a| a.ip);
        cidrs.push(IpamdCidr {
            cidr,
            is_prefix: info.is_prefix,
            addresses,
        });
    }
    // Before prefix delegation an ENI listed every secondary IP, free ones included: each is a
    // /32 of its own, and only the ones assigned or released (cooling, or cooled) are listed
    // as addresses, so that "listed" keeps meaning "not simply free".
    for (address_key, info) in eni.ipv4_addresses.into_iter().flatten() {
        let address = read_address(&id, address_key, info)?;
        let in_use = address.assigned || address.unassigned_time.is_some();
        cidrs.push(IpamdCidr {
            cidr: IpNet::from(address.ip),
            is_prefix: false,
            addresses: if in_use { vec![address] } else { Vec::new() },
        });
    }
    cidrs.sort_by_key(|c| c.cidr);
    Ok(IpamdEni {
        id,
        is_primary: eni.is_primary,
        is_trunk: eni.is_trunk,
        is_efa: eni.is_efa,
        device_number: eni.device_number,
        route_table_id: eni.route_table_id,
        subnet_id: eni.subnet_id.filter(|s| !s.is_empty()),
        excluded_for_pod_ips: eni.is_excluded_for_pod_ips,
        cidrs,
    })
}

fn read_address(
    eni: &str,
    key: String,
    info: wire::AddressInfo,
) -> Result<IpamdAddress, IpamdError> {
    let text = if info.address.is_empty() {
        key
    } else {
        info.address
    };
    let ip: IpAddr = text.parse().map_err(|_| IpamdError::BadAddress {
        eni: eni.to_owned(),
        value: text.clone(),
    })?;
    let non_empty = |s: String| Some(s).filter(|s| !s.is_empty());
    Ok(IpamdAddress {
        ip,
        // An address is a pod's while its IPAM key is set; ipamd clears the key on release.
        assigned: info
            .assigned
            .unwrap_or(!info.ipam_key.network_name.is_empty()),
        container_id: non_empty(info.ipam_key.container_id),
        pod_namespace: non_empty(info.ipam_metadata.pod_namespace),
        pod_name: non_empty(info.ipam_metadata.pod_name),
        assigned_time: go_time(info.assigned_time),
        unassigned_time: go_time(info.unassigned_time),
    })
}

fn go_time(value: Option<String>) -> Option<String> {
    value.filter(|t| !t.is_empty() && !t.starts_with(GO_ZERO_TIME))
}

/// Reads a Go `net.IPNet`. Go keeps an IPv4 mask as 4 bytes, or as 16 whose first 12 are all
/// ones; anything else, or ones that are not contiguous, is not a prefix.
fn go_ipnet(net: &wire::GoIpNet) -> Result<IpNet, CidrError> {
    let ip_text = net.ip.as_deref().ok_or(CidrError::MissingIp)?;
    let ip: IpAddr = ip_text
        .parse()
        .map_err(|_| CidrError::BadIp(ip_text.to_owned()))?;
    let mask = BASE64
        .decode(net.mask.as_deref().ok_or(CidrError::MissingMask)?)
        .map_err(CidrError::MaskEncoding)?;
    let mask: &[u8] = match (ip, mask.len()) {
        (IpAddr::V4(_), 4) | (IpAddr::V6(_), 16) => &mask,
        (IpAddr::V4(_), 16) if mask[..12].iter().all(|b| *b == 0xff) => &mask[12..],
        (ip, len) => {
            let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
            return Err(CidrError::MaskLength { len, family });
        }
    };
    // Left-align the mask in 128 bits: a prefix mask is then all ones, then all zeros.
    let aligned = mask
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
        << (128 - 8 * mask.len());
    let prefix = aligned.leading_ones();
    if aligned.count_ones() != prefix {
        let hex = mask.iter().map(|b| format!("{b:02x}")).collect();
        return Err(CidrError::NonContiguousMask(hex));
    }
    // The mask fits the address (checked above), so the prefix is a valid length for it.
    u8::try_from(prefix)
        .ok()
        .and_then(|prefix| IpNet::new(ip, prefix).ok())
        .ok_or(CidrError::MaskLength {
            len: mask.len(),
            family: if ip.is_ipv4() { "IPv4" } else { "IPv6" },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(ip: &str, mask: &[u8]) -> wire::GoIpNet {
        wire::GoIpNet {
            ip: Some(ip.to_owned()),
            mask: Some(BASE64.encode(mask)),
        }
    }

    #[test]
    fn go_masks() {
        let cases: [(&str, &[u8], &str); 4] = [
            ("10.0.0.5", &[255, 255, 255, 255], "10.0.0.5/32"),
            ("10.0.1.16", &[255, 255, 255, 240], "10.0.1.16/28"),
            (
                "10.0.1.16",
                &[[255u8; 12].as_slice(), &[255, 255, 255, 240]].concat(),
                "10.0.1.16/28",
            ),
            (
                "2600:1f14::",
                &[[255u8; 10].as_slice(), &[0; 6]].concat(),
                "2600:1f14::/80",
            ),
        ];
        for (ip, mask, want) in cases {
            assert_eq!(go_ipnet(&net(ip, mask)).unwrap().to_string(), want);
        }
    }

    #[test]
    fn bad_masks() {
        assert!(matches!(
            go_ipnet(&net("10.0.0.5", &[255, 255, 255])),
            Err(CidrError::MaskLength {
                len: 3,
                family: "IPv4"
            })
        ));
        assert!(matches!(
            go_ipnet(&net("10.0.0.5", &[255, 0, 255, 0])),
            Err(CidrError::NonContiguousMask(m)) if m == "ff00ff00"
        ));
        assert!(matches!(
            go_ipnet(&net("2600::", &[255; 4])),
            Err(CidrError::MaskLength {
                len: 4,
                family: "IPv6"
            })
        ));
        let not_base64 = wire::GoIpNet {
            ip: Some("10.0.0.5".into()),
            mask: Some("////%".into()),
        };
        assert!(matches!(
            go_ipnet(&not_base64),
            Err(CidrError::MaskEncoding(_))
        ));
    }
}
