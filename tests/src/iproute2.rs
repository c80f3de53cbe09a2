//! The iproute2 procedure `podwire-agent inspect` is benchmarked against: what a careful script
//! does today. Per namespace (the host and every pod) one `ip -n NS -j -d -batch -` process dumps
//! links, addresses, routes of all tables (IPv4 and IPv6), rules and neighbours; then the dumps
//! are joined — each pod's eth0 to its host veth through the veth peer index, the bridge it is
//! enslaved to, the host rules that name the pod, the first rule whose table routes the probe
//! (longest prefix, then metric), and the egress device's MAC.
//!
//! iproute2 6.1 lists IPv6 policy rules only under the global `-6` option, which a batch line
//! cannot carry, so the one process per namespace dumps IPv4 rules only: the procedure does a
//! little less work than the agent, never more.

use std::net::Ipv4Addr;

use serde::Deserialize;

use crate::cmd::{CommandError, ip};
use crate::ground_truth::table_id;

/// What each namespace's `ip -batch` process runs.
pub const BATCH_SCRIPT: &str =
    "link show\naddress show\nroute show table all\nrule show\nneigh show\n";

/// A dump that could not be taken or read.
#[derive(Debug, thiserror::Error)]
pub enum Iproute2Error {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("the {part} dump of namespace {netns} is not the JSON iproute2 prints")]
    Json {
        netns: String,
        part: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// One link of `ip -j -d link show` (and, with `addr_info`, of `address show`).
#[derive(Debug, Clone, Deserialize)]
pub struct IpLink {
    pub ifindex: u32,
    pub ifname: String,
    pub address: Option<String>,
    /// The veth peer's ifindex when it lives in another namespace.
    pub link_index: Option<u32>,
    pub link_netnsid: Option<i32>,
    pub master: Option<String>,
    pub linkinfo: Option<IpLinkInfo>,
    #[serde(default)]
    pub addr_info: Vec<IpAddrInfo>,
}

impl IpLink {
    pub fn kind(&self) -> Option<&str> {
        self.linkinfo.as_ref()?.info_kind.as_deref()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct IpLinkInfo {
    pub info_kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IpAddrInfo {
    pub family: String,
    pub local: String,
    pub prefixlen: u8,
}

/// One route of `ip -j -d route show table all`.
#[derive(Debug, Clone, Deserialize)]
pub struct IpRoute {
    #[serde(rename = "type")]
    pub route_type: Option<String>,
    pub dst: String,
    pub dev: Option<String>,
    pub gateway: Option<String>,
    pub table: Option<String>,
    pub metric: Option<u32>,
}

/// One rule of `ip -j -d rule show`.
#[derive(Debug, Clone, Deserialize)]
pub struct IpRule {
    pub priority: u32,
    /// Present (as `null`) when the selector is inverted.
    #[serde(default, deserialize_with = "present")]
    pub not: bool,
    pub src: Option<String>,
    pub srclen: Option<u8>,
    pub dst: Option<String>,
    pub dstlen: Option<u8>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<String>,
    pub fwmask: Option<String>,
    pub table: Option<String>,
    pub action: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// One entry of `ip -j neigh show`.
#[derive(Debug, Clone, Deserialize)]
pub struct IpNeighbor {
    pub dst: String,
    pub dev: Option<String>,
    pub lladdr: Option<String>,
    #[serde(default)]
    pub state: Vec<String>,
}

/// Everything one namespace's batch printed.
#[derive(Debug, Clone)]
pub struct NamespaceDump {
    pub netns: String,
    pub links: Vec<IpLink>,
    pub addresses: Vec<IpLink>,
    pub routes: Vec<IpRoute>,
    pub rules: Vec<IpRule>,
    pub neighbors: Vec<IpNeighbor>,
}

/// Runs one `ip -n NETNS -j -d -batch -` process and reads its five JSON documents.
pub fn dump(netns: &str) -> Result<NamespaceDump, Iproute2Error> {
    let stdout = ip(netns)
        .args(["-j", "-d", "-batch", "-"])
        .stdin(BATCH_SCRIPT)
        .run()?;
    let mut de = serde_json::Deserializer::from_str(&stdout);
    let json = |part: &'static str| {
        let netns = netns.to_owned();
        move |source| Iproute2Error::Json {
            netns,
            part,
            source,
        }
    };
    Ok(NamespaceDump {
        netns: netns.to_owned(),
        links: Deserialize::deserialize(&mut de).map_err(json("link"))?,
        addresses: Deserialize::deserialize(&mut de).map_err(json("address"))?,
        routes: Deserialize::deserialize(&mut de).map_err(json("route"))?,
        rules: Deserialize::deserialize(&mut de).map_err(json("rule"))?,
        neighbors: Deserialize::deserialize(&mut de).map_err(json("neigh"))?,
    })
}

/// One pod as the join resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedPod {
    pub netns: String,
    pub ip: Option<Ipv4Addr>,
    pub host_veth: Option<String>,
    pub bridge: Option<String>,
    /// Priorities of the host rules that name the pod's IP or host veth.
    pub rules: Vec<u32>,
    pub table: Option<u32>,
    pub egress_device: Option<String>,
    pub eni_mac: Option<String>,
}

/// Joins the host's dump with every pod's, resolving each pod's path to `probe`.
pub fn join(host: &NamespaceDump, pods: &[NamespaceDump], probe: Ipv4Addr) -> Vec<JoinedPod> {
    pods.iter().map(|pod| join_pod(host, pod, probe)).collect()
}

fn join_pod(host: &NamespaceDump, pod: &NamespaceDump, probe: Ipv4Addr) -> JoinedPod {
    let eth0 = pod
        .links
        .iter()
        .find(|l| l.kind() == Some("veth") && l.link_index.is_some());
    let ip = eth0.and_then(|eth0| {
        let addresses = pod.addresses.iter().find(|a| a.ifindex == eth0.ifindex)?;
        let inet = addresses.addr_info.iter().find(|a| a.family == "inet")?;
        inet.local.parse().ok()
    });
    let host_veth = eth0.and_then(|eth0| {
        host.links
            .iter()
            .find(|l| Some(l.ifindex) == eth0.link_index && l.kind() == Some("veth"))
    });
    let ingress = host_veth.map(|v| v.master.clone().unwrap_or_else(|| v.ifname.clone()));
    let mut joined = JoinedPod {
        netns: pod.netns.clone(),
        ip,
        host_veth: host_veth.map(|v| v.ifname.clone()),
        bridge: host_veth.and_then(|v| v.master.clone()),
        rules: Vec::new(),
        table: None,
        egress_device: None,
        eni_mac: None,
    };
    let (Some(ip), Some(ingress)) = (ip, ingress) else {
        return joined;
    };
    joined.rules = host
        .rules
        .iter()
        .filter(|r| {
            names_ip(r.src.as_deref(), r.srclen, ip)
                || names_ip(r.dst.as_deref(), r.dstlen, ip)
                || r.iif.as_deref() == joined.host_veth.as_deref()
        })
        .map(|r| r.priority)
        .collect();
    if let Some((table, route)) = lookup(host, ip, &ingress, probe) {
        joined.table = Some(table);
        joined.egress_device = route.dev.clone();
        joined.eni_mac = route.dev.as_ref().and_then(|dev| {
            host.links
                .iter()
                .find(|l| &l.ifname == dev)
                .and_then(|l| l.address.clone())
        });
    }
    joined
}

/// Policy routing for a forwarded packet without a mark: the first rule (by priority) that
/// selects it and whose table routes `dst`.
fn lookup<'a>(
    host: &'a NamespaceDump,
    src: Ipv4Addr,
    iif: &str,
    dst: Ipv4Addr,
) -> Option<(u32, &'a IpRoute)> {
    let mut rules: Vec<&IpRule> = host.rules.iter().collect();
    rules.sort_by_key(|r| r.priority);
    for rule in rules {
        let selected = matches_prefix(rule.src.as_deref(), rule.srclen, src)
            && matches_prefix(rule.dst.as_deref(), rule.dstlen, dst)
            && rule.iif.as_deref().is_none_or(|name| name == iif)
            // Forwarded traffic has no output interface yet, and carries no mark here.
            && rule.oif.is_none()
            && rule
                .fwmark
                .as_deref()
                .is_none_or(|mark| parse_hex(mark) == Some(0));
        if selected == rule.not || rule.action.is_some() {
            continue;
        }
        let Some(table) = table_id(rule.table.as_deref()) else {
            continue;
        };
        if let Some(route) = longest_match(host, table, dst) {
            return Some((table, route));
        }
    }
    None
}

fn longest_match(host: &NamespaceDump, table: u32, dst: Ipv4Addr) -> Option<&IpRoute> {
    host.routes
        .iter()
        .filter(|r| table_id(r.table.as_deref()) == Some(table))
        .filter_map(|r| Some((r, parse_v4_prefix(&r.dst, r.gateway.as_deref())?)))
        .filter(|(_, (net, len))| contains(*net, *len, dst))
        .max_by_key(|(r, (_, len))| (*len, std::cmp::Reverse(r.metric.unwrap_or(0))))
        .map(|(r, _)| r)
}

/// Whether a rule's `from`/`to` selector (`all`, `A.B.C.D`, with a length) matches `ip`.
fn matches_prefix(addr: Option<&str>, len: Option<u8>, ip: Ipv4Addr) -> bool {
    match addr {
        None | Some("all") => true,
        Some(text) => match text.parse::<Ipv4Addr>() {
            Ok(net) => contains(net, len.unwrap_or(32), ip),
            Err(_) => false,
        },
    }
}

/// Whether a selector names exactly this one address.
fn names_ip(addr: Option<&str>, len: Option<u8>, ip: Ipv4Addr) -> bool {
    addr.and_then(|a| a.parse::<Ipv4Addr>().ok()) == Some(ip) && len.unwrap_or(32) == 32
}

/// An IPv4 route destination as iproute2 prints it; `None` for IPv6 ones.
fn parse_v4_prefix(dst: &str, gateway: Option<&str>) -> Option<(Ipv4Addr, u8)> {
    if dst == "default" {
        return (!gateway.is_some_and(|g| g.contains(':'))).then_some((Ipv4Addr::UNSPECIFIED, 0));
    }
    match dst.split_once('/') {
        Some((net, len)) => Some((net.parse().ok()?, len.parse().ok()?)),
        None => Some((dst.parse().ok()?, 32)),
    }
}

fn contains(net: Ipv4Addr, len: u8, ip: Ipv4Addr) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0);
    u32::from(net) & mask == u32::from(ip) & mask
}

fn parse_hex(text: &str) -> Option<u32> {
    u32::from_str_radix(text.trim_start_matches("0x"), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_like_the_kernel() {
        let ip = Ipv4Addr::new(192, 168, 20, 10);
        assert!(matches_prefix(Some("all"), None, ip));
        assert!(matches_prefix(Some("192.168.20.10"), None, ip));
        assert!(matches_prefix(Some("192.168.0.0"), Some(19), ip));
        assert!(!matches_prefix(Some("192.168.32.0"), Some(19), ip));
        assert!(contains(Ipv4Addr::UNSPECIFIED, 0, ip));
        assert_eq!(
            parse_v4_prefix("default", Some("192.168.0.1")),
            Some((Ipv4Addr::UNSPECIFIED, 0))
        );
        assert_eq!(parse_v4_prefix("default", Some("fe80::1")), None);
        assert_eq!(parse_v4_prefix("fe80::/64", None), None);
        assert_eq!(
            parse_v4_prefix("10.244.1.0/24", None),
            Some((Ipv4Addr::new(10, 244, 1, 0), 24))
        );
    }

    #[test]
    fn an_inverted_rule_is_read_from_its_null_marker() {
        let rule: IpRule = serde_json::from_str(
            r#"{"priority":100,"not":null,"src":"all","dst":"10.0.0.0","dstlen":8,"table":"5"}"#,
        )
        .expect("a rule");
        assert!(rule.not);
        let plain: IpRule =
            serde_json::from_str(r#"{"priority":0,"src":"all","table":"local"}"#).expect("a rule");
        assert!(!plain.not);
    }
}
