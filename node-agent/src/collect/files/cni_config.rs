//! CNI network configurations in `/etc/cni/net.d`, in libcni's load order.
//!
//! libcni (and so containerd and CRI-O) takes every `*.conflist`, `*.conf` and `*.json` file of
//! the directory, sorted by file name; the first valid one is the network pods get. A `.conflist`
//! is a list (`name`, `cniVersion`, `plugins`); a `.conf` or `.json` is a single plugin's
//! configuration, which the runtime wraps into a one-plugin list.

use ipnet::IpNet;
use podwire_node_state::{
    CniIpamConfig, CniNetworkConfig, CniPluginConfig, ErrorSource, SourceError,
};
use serde::Deserialize;

use super::host_root::HostRoot;
use super::source_error;

/// The CNI configuration directory on the node.
pub const NET_D: &str = "/etc/cni/net.d";

/// The bridge plugin's bridge when its configuration names none.
const BRIDGE_PLUGIN_DEFAULT: &str = "cni0";
/// The plugin flannel delegates to when its configuration names none.
const FLANNEL_DEFAULT_DELEGATE: &str = "bridge";

/// How one configuration file fails.
#[derive(Debug, thiserror::Error)]
pub enum CniConfigError {
    #[error("not a valid network configuration")]
    Json(#[source] serde_json::Error),
    #[error("configuration list has no \"name\"")]
    NoName,
    #[error("configuration list has no \"plugins\"")]
    NoPlugins,
    #[error("configuration list has an empty \"plugins\"")]
    EmptyPlugins,
    #[error("plugin {index} has no \"type\"")]
    NoType { index: usize },
    #[error("plugin {plugin_type}: ipam subnet {value:?} is not a CIDR")]
    BadSubnet { plugin_type: String, value: String },
}

/// Which of libcni's two file formats a file is in, decided by its extension as libcni does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    /// `*.conflist`: a named list of plugins.
    List,
    /// `*.conf`, `*.json`: one plugin's configuration.
    Single,
}

impl ConfigFormat {
    /// The format libcni reads a file of this name in; `None` for files it ignores.
    pub fn of_file(name: &str) -> Option<Self> {
        match name.rsplit_once('.')?.1 {
            "conflist" => Some(ConfigFormat::List),
            "conf" | "json" => Some(ConfigFormat::Single),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct ConfListFile {
    #[serde(rename = "cniVersion")]
    cni_version: Option<String>,
    name: Option<String>,
    plugins: Option<Vec<PluginFile>>,
}

/// The fields podwire reads from one plugin's configuration; everything else is the plugin's own.
#[derive(Deserialize)]
struct PluginFile {
    #[serde(rename = "cniVersion")]
    cni_version: Option<String>,
    name: Option<String>,
    #[serde(rename = "type")]
    plugin_type: Option<String>,
    bridge: Option<String>,
    ipam: Option<IpamFile>,
    delegate: Option<DelegateFile>,
}

#[derive(Deserialize)]
struct IpamFile {
    #[serde(rename = "type")]
    ipam_type: Option<String>,
    /// host-local: range sets, each a list of ranges.
    ranges: Option<Vec<Vec<RangeFile>>>,
    /// host-local's legacy single range.
    subnet: Option<String>,
    #[serde(rename = "dataDir")]
    data_dir: Option<String>,
}

#[derive(Deserialize)]
struct RangeFile {
    subnet: Option<String>,
}

#[derive(Deserialize)]
struct DelegateFile {
    #[serde(rename = "type")]
    plugin_type: Option<String>,
}

/// Reads every configuration file in [`NET_D`], in load order. A file that fails is recorded and
/// skipped; a missing directory is recorded too (every CNI node has one).
pub fn read_cni_configs(root: &HostRoot, errors: &mut Vec<SourceError>) -> Vec<CniNetworkConfig> {
    let entries = match root.list_dir(NET_D) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(source_error(ErrorSource::CniConfig, NET_D, &e));
            return Vec::new();
        }
    };
    let mut configs = Vec::new();
    for entry in entries {
        let Some(format) = ConfigFormat::of_file(&entry.name) else {
            continue;
        };
        let bytes = match root.read_entry(&entry) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            Err(e) => {
                errors.push(source_error(ErrorSource::CniConfig, &entry.node_path, &e));
                continue;
            }
        };
        match parse_network_config(&entry.node_path, &bytes, format) {
            Ok((config, problems)) => {
                errors.extend(
                    problems
                        .iter()
                        .map(|p| source_error(ErrorSource::CniConfig, &entry.node_path, p)),
                );
                configs.push(config);
            }
            Err(e) => errors.push(source_error(ErrorSource::CniConfig, &entry.node_path, &e)),
        }
    }
    configs
}

/// Parses one configuration file. A file libcni would refuse is an error; a value podwire cannot
/// read inside an otherwise valid file (a malformed subnet) is returned as a problem next to the
/// configuration, without it.
pub fn parse_network_config(
    file: &str,
    bytes: &[u8],
    format: ConfigFormat,
) -> Result<(CniNetworkConfig, Vec<CniConfigError>), CniConfigError> {
    let mut problems = Vec::new();
    let config = match format {
        ConfigFormat::List => {
            let list: ConfListFile = serde_json::from_slice(bytes).map_err(CniConfigError::Json)?;
            let name = list.name.ok_or(CniConfigError::NoName)?;
            let plugins = list.plugins.ok_or(CniConfigError::NoPlugins)?;
            if plugins.is_empty() {
                return Err(CniConfigError::EmptyPlugins);
            }
            let plugins = plugins
                .into_iter()
                .enumerate()
                .map(|(index, plugin)| plugin_config(index, plugin, &mut problems))
                .collect::<Result<_, _>>()?;
            CniNetworkConfig {
                file: file.to_owned(),
                name,
                cni_version: list.cni_version,
                plugins,
            }
        }
        ConfigFormat::Single => {
            let plugin: PluginFile = serde_json::from_slice(bytes).map_err(CniConfigError::Json)?;
            let name = plugin.name.clone().unwrap_or_default();
            let cni_version = plugin.cni_version.clone();
            CniNetworkConfig {
                file: file.to_owned(),
                name,
                cni_version,
                plugins: vec![plugin_config(0, plugin, &mut problems)?],
            }
        }
    };
    Ok((config, problems))
}

fn plugin_config(
    index: usize,
    plugin: PluginFile,
    problems: &mut Vec<CniConfigError>,
) -> Result<CniPluginConfig, CniConfigError> {
    let plugin_type = plugin
        .plugin_type
        .filter(|t| !t.is_empty())
        .ok_or(CniConfigError::NoType { index })?;
    let bridge = (plugin_type == "bridge").then(|| {
        plugin
            .bridge
            .unwrap_or_else(|| BRIDGE_PLUGIN_DEFAULT.to_owned())
    });
    let delegate_type = (plugin_type == "flannel").then(|| {
        plugin
            .delegate
            .and_then(|d| d.plugin_type)
            .unwrap_or_else(|| FLANNEL_DEFAULT_DELEGATE.to_owned())
    });
    let ipam = plugin
        .ipam
        .map(|ipam| ipam_config(&plugin_type, ipam, problems));
    Ok(CniPluginConfig {
        plugin_type,
        bridge,
        ipam,
        delegate_type,
    })
}

fn ipam_config(
    plugin_type: &str,
    ipam: IpamFile,
    problems: &mut Vec<CniConfigError>,
) -> CniIpamConfig {
    let written = ipam
        .ranges
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|range| range.subnet)
        .chain(ipam.subnet);
    let mut subnets = Vec::new();
    for value in written {
        match value.parse::<IpNet>() {
            Ok(subnet) => subnets.push(subnet),
            Err(_) => problems.push(CniConfigError::BadSubnet {
                plugin_type: plugin_type.to_owned(),
                value,
            }),
        }
    }
    CniIpamConfig {
        ipam_type: ipam.ipam_type.unwrap_or_default(),
        subnets,
        data_dir: ipam.data_dir.filter(|d| !d.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_libcni_extensions() {
        assert_eq!(
            ConfigFormat::of_file("10-aws.conflist"),
            Some(ConfigFormat::List)
        );
        assert_eq!(
            ConfigFormat::of_file("10-bridge.conf"),
            Some(ConfigFormat::Single)
        );
        assert_eq!(
            ConfigFormat::of_file("99-loopback.json"),
            Some(ConfigFormat::Single)
        );
        assert_eq!(ConfigFormat::of_file("10-aws.conflist.bak"), None);
        assert_eq!(ConfigFormat::of_file("README"), None);
    }

    #[test]
    fn bridge_and_delegate_defaults_are_the_plugins_own() {
        let bytes = br#"{"cniVersion":"0.3.1","name":"cbr0","plugins":[
            {"type":"flannel","delegate":{"hairpinMode":true,"isDefaultGateway":true}},
            {"type":"bridge","ipam":{"type":"host-local","subnet":"10.22.0.0/16"}}]}"#;
        let (config, problems) = parse_network_config("/x", bytes, ConfigFormat::List).unwrap();
        assert!(problems.is_empty());
        assert_eq!(config.plugins[0].delegate_type.as_deref(), Some("bridge"));
        assert_eq!(config.plugins[0].bridge, None);
        assert_eq!(config.plugins[1].bridge.as_deref(), Some("cni0"));
        assert_eq!(config.plugins[1].delegate_type, None);
    }

    #[test]
    fn refuses_what_libcni_refuses() {
        let cases: [(&[u8], ConfigFormat); 5] = [
            (
                br#"{"cniVersion":"1.0.0","plugins":[{"type":"bridge"}]}"#,
                ConfigFormat::List,
            ),
            (br#"{"name":"n"}"#, ConfigFormat::List),
            (br#"{"name":"n","plugins":[]}"#, ConfigFormat::List),
            (
                br#"{"name":"n","plugins":[{"type":"bridge"},{"bridge":"x"}]}"#,
                ConfigFormat::List,
            ),
            (
                br#"{"name":"n","cniVersion":"0.3.1"}"#,
                ConfigFormat::Single,
            ),
        ];
        let errors: Vec<String> = cases
            .iter()
            .map(|(bytes, format)| {
                parse_network_config("/x", bytes, *format)
                    .unwrap_err()
                    .to_string()
            })
            .collect();
        assert_eq!(
            errors,
            [
                "configuration list has no \"name\"",
                "configuration list has no \"plugins\"",
                "configuration list has an empty \"plugins\"",
                "plugin 1 has no \"type\"",
                "plugin 0 has no \"type\"",
            ]
        );
    }
}
