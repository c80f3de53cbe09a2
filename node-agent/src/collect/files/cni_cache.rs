//! libcni's result cache, `/var/lib/cni/results`: one `cniCacheV1` file per successful ADD,
//! named `<network>-<containerID>-<ifname>`.
//!
//! It is the only place on a node that ties a pod's name to its sandbox, interface and
//! addresses. libcni writes (JSON, Go field names as tagged):
//! `kind` (`"cniCacheV1"`), `containerId`, `config` (the network configuration bytes, so
//! base64), `ifName`, `networkName`, `netns` (newer libcni), `cniArgs` (`[[key, value], …]`,
//! where kubelet's runtimes put `K8S_POD_NAMESPACE`, `K8S_POD_NAME`, `K8S_POD_UID`,
//! `K8S_POD_INFRA_CONTAINER_ID`), `capabilityArgs` and `result` (the chain's final CNI result).

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ipnet::IpNet;
use podwire_node_state::{CniCacheEntry, CniInterface, ErrorSource, SourceError};
use serde::Deserialize;

use super::host_root::HostRoot;
use super::source_error;

/// libcni's result cache directory on the node.
pub const RESULTS_DIR: &str = "/var/lib/cni/results";

/// The only cache format libcni has written since v0.8.
const CACHE_KIND: &str = "cniCacheV1";

/// How one cache file, or one value in it, fails.
#[derive(Debug, thiserror::Error)]
pub enum CniCacheError {
    #[error("not a libcni cache entry")]
    Json(#[source] serde_json::Error),
    #[error("cache entry of kind {0:?}, not cniCacheV1")]
    WrongKind(String),
    #[error("cache entry has no kind (a pre-cniCacheV1 result?)")]
    NoKind,
    #[error("cached network configuration is not base64")]
    ConfigEncoding(#[source] base64::DecodeError),
    #[error("cached network configuration is not a CNI configuration")]
    ConfigJson(#[source] serde_json::Error),
    #[error("result address {0:?} is not an address with a prefix length")]
    BadAddress(String),
    #[error("result gateway {0:?} is not an IP address")]
    BadGateway(String),
}

#[derive(Deserialize)]
struct CachedAttachment {
    kind: Option<String>,
    #[serde(rename = "containerId", default)]
    container_id: String,
    config: Option<String>,
    #[serde(rename = "ifName", default)]
    if_name: String,
    #[serde(rename = "networkName", default)]
    network_name: String,
    netns: Option<String>,
    #[serde(rename = "cniArgs", default)]
    cni_args: Option<Vec<(String, String)>>,
    result: Option<CachedResult>,
}

/// A CNI result: the 0.3.0+ form (`interfaces`, `ips`) and the 0.1/0.2 form (`ip4`, `ip6`).
#[derive(Deserialize)]
struct CachedResult {
    #[serde(rename = "cniVersion")]
    cni_version: Option<String>,
    interfaces: Option<Vec<ResultInterface>>,
    ips: Option<Vec<ResultIp>>,
    ip4: Option<LegacyResultIp>,
    ip6: Option<LegacyResultIp>,
}

#[derive(Deserialize)]
struct ResultInterface {
    #[serde(default)]
    name: String,
    mac: Option<String>,
    sandbox: Option<String>,
}

#[derive(Deserialize)]
struct ResultIp {
    address: String,
    gateway: Option<String>,
}

#[derive(Deserialize)]
struct LegacyResultIp {
    ip: String,
    gateway: Option<String>,
}

/// The part of a cached network configuration that names its plugins.
#[derive(Deserialize)]
struct CachedConfig {
    #[serde(rename = "cniVersion")]
    cni_version: Option<String>,
    #[serde(rename = "type")]
    plugin_type: Option<String>,
    plugins: Option<Vec<CachedPlugin>>,
}

#[derive(Deserialize)]
struct CachedPlugin {
    #[serde(rename = "type")]
    plugin_type: Option<String>,
}

/// Reads every regular file in [`RESULTS_DIR`], in name order. A file that is not a cache entry
/// is recorded and skipped; a value that cannot be read inside one is recorded and the rest of
/// the entry kept. The directory missing is recorded: without it no pod can be named.
pub fn read_cni_cache(root: &HostRoot, errors: &mut Vec<SourceError>) -> Vec<CniCacheEntry> {
    let entries = match root.list_dir(RESULTS_DIR) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(source_error(ErrorSource::CniCache, RESULTS_DIR, &e));
            return Vec::new();
        }
    };
    let mut cache = Vec::new();
    for entry in entries {
        let bytes = match root.read_entry(&entry) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            Err(e) => {
                errors.push(source_error(ErrorSource::CniCache, &entry.node_path, &e));
                continue;
            }
        };
        match parse_cache_entry(&entry.node_path, &bytes) {
            Ok((parsed, problems)) => {
                errors.extend(
                    problems
                        .iter()
                        .map(|p| source_error(ErrorSource::CniCache, &entry.node_path, p)),
                );
                cache.push(parsed);
            }
            Err(e) => errors.push(source_error(ErrorSource::CniCache, &entry.node_path, &e)),
        }
    }
    cache
}

/// Parses one cache file. Not JSON, or not of kind `cniCacheV1`, is an error; an entry without a
/// result is still an entry (it names the pod). Unreadable values inside it come back as
/// problems next to the entry.
pub fn parse_cache_entry(
    file: &str,
    bytes: &[u8],
) -> Result<(CniCacheEntry, Vec<CniCacheError>), CniCacheError> {
    let cached: CachedAttachment = serde_json::from_slice(bytes).map_err(CniCacheError::Json)?;
    match cached.kind.as_deref() {
        Some(CACHE_KIND) => {}
        Some(other) => return Err(CniCacheError::WrongKind(other.to_owned())),
        None => return Err(CniCacheError::NoKind),
    }
    let mut problems = Vec::new();

    let (plugin_types, config_version) = match cached.config.as_deref().map(decode_config) {
        Some(Ok(config)) => config,
        Some(Err(problem)) => {
            problems.push(problem);
            (Vec::new(), None)
        }
        None => (Vec::new(), None),
    };

    let arg = |key: &str| {
        cached
            .cni_args
            .iter()
            .flatten()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };

    let mut entry = CniCacheEntry {
        file: file.to_owned(),
        network_name: cached.network_name.clone(),
        container_id: cached.container_id.clone(),
        if_name: cached.if_name.clone(),
        pod_namespace: arg("K8S_POD_NAMESPACE"),
        pod_name: arg("K8S_POD_NAME"),
        pod_uid: arg("K8S_POD_UID"),
        netns_path: None,
        ips: Vec::new(),
        gateways: Vec::new(),
        interfaces: Vec::new(),
        plugin_types,
        cni_version: None,
    };

    if let Some(result) = cached.result {
        entry.cni_version = result.cni_version.clone();
        read_result(result, &mut entry, &mut problems);
    }
    entry.cni_version = entry.cni_version.or(config_version);
    entry.netns_path = netns_path(&entry, cached.netns);
    Ok((entry, problems))
}

fn read_result(result: CachedResult, entry: &mut CniCacheEntry, problems: &mut Vec<CniCacheError>) {
    entry.interfaces = result
        .interfaces
        .into_iter()
        .flatten()
        .map(|i| CniInterface {
            name: i.name,
            // Not every plugin puts a MAC here: VPC CNI stores the route table id in the
            // container interface's `mac` and a VLAN id in its placeholder interface's.
            mac: i.mac.and_then(|m| m.parse().ok()),
            sandbox: i.sandbox.filter(|s| !s.is_empty()),
        })
        .collect();

    let legacy = result.ip4.into_iter().chain(result.ip6).map(|ip| ResultIp {
        address: ip.ip,
        gateway: ip.gateway,
    });
    for ip in result.ips.into_iter().flatten().chain(legacy) {
        match ip.address.parse::<IpNet>() {
            Ok(address) => entry.ips.push(address),
            Err(_) => problems.push(CniCacheError::BadAddress(ip.address)),
        }
        let Some(text) = ip.gateway.filter(|g| !g.is_empty()) else {
            continue;
        };
        match text.parse::<IpAddr>() {
            Ok(gateway) if entry.gateways.contains(&gateway) => {}
            Ok(gateway) => entry.gateways.push(gateway),
            Err(_) => problems.push(CniCacheError::BadGateway(text)),
        }
    }
}

/// The pod's network namespace: the sandbox of the interface the ADD was for; else any sandbox
/// that is a path (VPC CNI's placeholder interface carries a device number there); else the
/// `netns` newer libcni records beside the result.
fn netns_path(entry: &CniCacheEntry, recorded: Option<String>) -> Option<String> {
    let of_if_name = entry
        .interfaces
        .iter()
        .find(|i| i.name == entry.if_name && i.sandbox.is_some());
    let any_path = || {
        entry
            .interfaces
            .iter()
            .find(|i| i.sandbox.as_deref().is_some_and(|s| s.starts_with('/')))
    };
    of_if_name
        .or_else(any_path)
        .and_then(|i| i.sandbox.clone())
        .or(recorded.filter(|n| !n.is_empty()))
}

/// The plugin types, in chain order, and the `cniVersion` of a cached configuration: a list's
/// `plugins[].type`, or a single configuration's `type`.
fn decode_config(encoded: &str) -> Result<(Vec<String>, Option<String>), CniCacheError> {
    let bytes = BASE64
        .decode(encoded)
        .map_err(CniCacheError::ConfigEncoding)?;
    let config: CachedConfig = serde_json::from_slice(&bytes).map_err(CniCacheError::ConfigJson)?;
    let types = match config.plugins {
        Some(plugins) => plugins.into_iter().filter_map(|p| p.plugin_type).collect(),
        None => config.plugin_type.into_iter().collect(),
    };
    Ok((types, config.cni_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(config: &str) -> String {
        BASE64.encode(config)
    }

    #[test]
    fn legacy_results_and_single_plugin_configs() {
        let text = format!(
            r#"{{"kind":"cniCacheV1","containerId":"c1","ifName":"eth0","networkName":"mynet",
            "config":"{}","cniArgs":[["K8S_POD_NAMESPACE","default"],["K8S_POD_NAME","web"]],
            "result":{{"cniVersion":"0.2.0","ip4":{{"ip":"10.22.0.5/16","gateway":"10.22.0.1"}}}}}}"#,
            encode(r#"{"cniVersion":"0.2.0","name":"mynet","type":"bridge","bridge":"cni0"}"#)
        );
        let (entry, problems) = parse_cache_entry("/f", text.as_bytes()).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(entry.ips, vec!["10.22.0.5/16".parse::<IpNet>().unwrap()]);
        assert_eq!(entry.gateways, vec!["10.22.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(entry.plugin_types, vec!["bridge"]);
        assert_eq!(entry.pod_uid, None);
        assert_eq!(entry.netns_path, None);
    }

    #[test]
    fn netns_falls_back_to_the_recorded_one() {
        let text = r#"{"kind":"cniCacheV1","containerId":"c1","ifName":"eth0","networkName":"n",
            "netns":"/var/run/netns/cni-1","result":{"cniVersion":"1.0.0","interfaces":[{"name":"veth1"}]}}"#;
        let (entry, _) = parse_cache_entry("/f", text.as_bytes()).unwrap();
        assert_eq!(entry.netns_path.as_deref(), Some("/var/run/netns/cni-1"));
        assert_eq!(entry.cni_version.as_deref(), Some("1.0.0"));
    }

    #[test]
    fn a_bad_config_encoding_keeps_the_entry() {
        let text = r#"{"kind":"cniCacheV1","containerId":"c1","ifName":"eth0","networkName":"n",
            "config":"%%%","cniArgs":[["K8S_POD_NAME","p"]]}"#;
        let (entry, problems) = parse_cache_entry("/f", text.as_bytes()).unwrap();
        assert_eq!(entry.pod_name.as_deref(), Some("p"));
        assert!(matches!(problems[..], [CniCacheError::ConfigEncoding(_)]));
    }

    #[test]
    fn legacy_files_without_kind_are_refused() {
        let text = r#"{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.0.0.2/24"}]}"#;
        assert!(matches!(
            parse_cache_entry("/f", text.as_bytes()),
            Err(CniCacheError::NoKind)
        ));
    }
}
