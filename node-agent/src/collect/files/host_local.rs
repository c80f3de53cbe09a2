//! host-local IPAM state: `<dataDir>/<network>/`, `dataDir` being `/var/lib/cni/networks`
//! unless a configuration's `ipam.dataDir` says otherwise.
//!
//! host-local's disk store keeps one file per allocated address, named for the address and
//! holding `<containerID>\r\n<ifname>` (no line break at the end; plugins before v0.8 wrote the
//! container id alone), `last_reserved_ip.<range set index>` with the last address handed out,
//! and a `lock` file.

use std::net::IpAddr;

use ipnet::IpNet;
use podwire_node_state::{
    CniNetworkConfig, ErrorSource, FlannelSubnet, HostLocalAllocation, HostLocalNetwork,
    SourceError,
};

use super::host_root::{HostDirEntry, HostFileError, HostRoot, canonical_node_path};
use super::source_error;

/// host-local's data directory when a configuration names none.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

const LAST_RESERVED_PREFIX: &str = "last_reserved_ip.";
const LOCK_FILE: &str = "lock";

/// How one file of a host-local network directory fails.
#[derive(Debug, thiserror::Error)]
pub enum HostLocalError {
    #[error("file name is not an IP address, so not an allocation")]
    NotAnAllocation,
    #[error("range index {0:?} is not a number")]
    BadRangeIndex(String),
    #[error("last reserved address {0:?} is not an IP address")]
    BadLastReserved(String),
    #[error("allocation file holds no container id")]
    EmptyAllocation,
    #[error(transparent)]
    File(#[from] HostFileError),
}

/// Reads every network directory in host-local's default data directory and in every `dataDir`
/// the configurations name. A data directory that does not exist is not an error: host-local
/// creates it on its first allocation.
pub fn read_host_local(
    root: &HostRoot,
    configs: &[CniNetworkConfig],
    flannel: Option<&FlannelSubnet>,
    errors: &mut Vec<SourceError>,
) -> Vec<HostLocalNetwork> {
    let mut data_dirs = vec![DEFAULT_DATA_DIR.to_owned()];
    for dir in configs.iter().flat_map(host_local_data_dirs) {
        if !data_dirs.contains(&dir) {
            data_dirs.push(dir);
        }
    }

    let mut networks = Vec::new();
    for data_dir in &data_dirs {
        if !root.exists(data_dir) {
            continue;
        }
        let entries = match root.list_dir(data_dir) {
            Ok(entries) => entries,
            Err(e) => {
                errors.push(source_error(ErrorSource::HostLocal, data_dir, &e));
                continue;
            }
        };
        for entry in entries.iter().filter(|e| root.entry_is_dir(e)) {
            let mut network = read_network(root, &entry.node_path, &entry.name, errors);
            network.ranges = configured_ranges(configs, flannel, data_dir, &entry.name);
            networks.push(network);
        }
    }
    networks
}

/// One network directory: its allocations by address, and the last reserved address of each
/// range set in index order.
fn read_network(
    root: &HostRoot,
    dir: &str,
    network: &str,
    errors: &mut Vec<SourceError>,
) -> HostLocalNetwork {
    let mut result = HostLocalNetwork {
        network: network.to_owned(),
        dir: dir.to_owned(),
        allocations: Vec::new(),
        last_reserved: Vec::new(),
        ranges: Vec::new(),
    };
    let entries = match root.list_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(source_error(ErrorSource::HostLocal, dir, &e));
            return result;
        }
    };
    let mut last_reserved: Vec<(u32, IpAddr)> = Vec::new();
    for entry in entries {
        if entry.name == LOCK_FILE {
            continue;
        }
        let outcome = if let Some(index) = entry.name.strip_prefix(LAST_RESERVED_PREFIX) {
            read_last_reserved(root, &entry, index).map(|found| last_reserved.extend(found))
        } else {
            read_allocation(root, &entry).map(|found| result.allocations.extend(found))
        };
        if let Err(e) = outcome {
            errors.push(source_error(ErrorSource::HostLocal, &entry.node_path, &e));
        }
    }
    result.allocations.sort_by_key(|a| a.ip);
    last_reserved.sort();
    result.last_reserved = last_reserved.into_iter().map(|(_, ip)| ip).collect();
    result
}

fn read_last_reserved(
    root: &HostRoot,
    file: &HostDirEntry,
    index: &str,
) -> Result<Option<(u32, IpAddr)>, HostLocalError> {
    let index: u32 = index
        .parse()
        .map_err(|_| HostLocalError::BadRangeIndex(index.to_owned()))?;
    let Some(bytes) = root.read_entry(file)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let ip = text
        .trim()
        .parse()
        .map_err(|_| HostLocalError::BadLastReserved(text.trim().to_owned()))?;
    Ok(Some((index, ip)))
}

fn read_allocation(
    root: &HostRoot,
    file: &HostDirEntry,
) -> Result<Option<HostLocalAllocation>, HostLocalError> {
    let ip: IpAddr = file
        .name
        .parse()
        .map_err(|_| HostLocalError::NotAnAllocation)?;
    let Some(bytes) = root.read_entry(file)? else {
        return Ok(None);
    };
    parse_allocation(ip, &String::from_utf8_lossy(&bytes)).map(Some)
}

/// Parses an allocation file's contents: `<containerID>\r\n<ifname>`, or the container id alone
/// as plugins before v0.8 wrote it.
pub fn parse_allocation(ip: IpAddr, text: &str) -> Result<HostLocalAllocation, HostLocalError> {
    let (id, if_name) = match text.split_once("\r\n").or_else(|| text.split_once('\n')) {
        Some((id, if_name)) => (id.trim(), Some(if_name.trim())),
        None => (text.trim(), None),
    };
    if id.is_empty() {
        return Err(HostLocalError::EmptyAllocation);
    }
    Ok(HostLocalAllocation {
        ip,
        container_id: id.to_owned(),
        if_name: if_name.filter(|n| !n.is_empty()).map(str::to_owned),
    })
}

/// The data directories (canonical node paths) of a configuration's host-local plugins.
fn host_local_data_dirs(config: &CniNetworkConfig) -> Vec<String> {
    config
        .plugins
        .iter()
        .filter_map(|p| p.ipam.as_ref())
        .filter(|ipam| ipam.ipam_type == "host-local")
        .map(|ipam| data_dir_of(ipam.data_dir.as_deref()))
        .collect()
}

fn data_dir_of(configured: Option<&str>) -> String {
    canonical_node_path(configured.unwrap_or(DEFAULT_DATA_DIR))
}

/// The ranges host-local allocates `network` from in `data_dir`: the subnets of every host-local
/// plugin of a configuration of that name storing there. flannel's plugin writes no IPAM in its
/// file; it hands its delegate host-local with this node's lease (`FLANNEL_SUBNET`), so that is
/// the range of a flannel network.
fn configured_ranges(
    configs: &[CniNetworkConfig],
    flannel: Option<&FlannelSubnet>,
    data_dir: &str,
    network: &str,
) -> Vec<IpNet> {
    let mut ranges = Vec::new();
    for config in configs.iter().filter(|c| c.name == network) {
        for plugin in &config.plugins {
            let lease = flannel.and_then(|f| f.subnet).map(|s| s.trunc());
            let subnets: Vec<IpNet> = match &plugin.ipam {
                Some(ipam)
                    if ipam.ipam_type == "host-local"
                        && data_dir_of(ipam.data_dir.as_deref()) == data_dir =>
                {
                    ipam.subnets.clone()
                }
                None if plugin.plugin_type == "flannel" && data_dir == DEFAULT_DATA_DIR => {
                    lease.into_iter().collect()
                }
                _ => Vec::new(),
            };
            for subnet in subnets {
                if !ranges.contains(&subnet) {
                    ranges.push(subnet);
                }
            }
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_file_formats() {
        let ip: IpAddr = "10.244.1.5".parse().unwrap();
        let current = parse_allocation(ip, "4d6f1c2a9b\r\neth0").unwrap();
        assert_eq!(current.container_id, "4d6f1c2a9b");
        assert_eq!(current.if_name.as_deref(), Some("eth0"));

        let old = parse_allocation(ip, "4d6f1c2a9b\n").unwrap();
        assert_eq!(old.container_id, "4d6f1c2a9b");
        assert_eq!(old.if_name, None);

        let oldest = parse_allocation(ip, "4d6f1c2a9b").unwrap();
        assert_eq!(oldest.if_name, None);

        assert!(matches!(
            parse_allocation(ip, " \r\n"),
            Err(HostLocalError::EmptyAllocation)
        ));
    }
}
