//! flannel's subnet lease, `/run/flannel/subnet.env`: the cluster network and this node's pod
//! subnet, as flanneld writes them for its CNI plugin.
//!
//! ```text
//! FLANNEL_NETWORK=10.244.0.0/16
//! FLANNEL_SUBNET=10.244.1.1/24
//! FLANNEL_MTU=1450
//! FLANNEL_IPMASQ=true
//! ```

use ipnet::IpNet;
use podwire_node_state::{ErrorSource, FlannelSubnet, SourceError};

use super::host_root::HostRoot;
use super::source_error;

/// The lease is the flannel CNI plugin's input, so its failures count as CNI configuration ones.
const ERROR_SOURCE: ErrorSource = ErrorSource::CniConfig;

/// Where flanneld writes its lease on the node.
pub const SUBNET_ENV: &str = "/run/flannel/subnet.env";

/// One `KEY=value` line of `subnet.env` that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubnetEnvError {
    #[error("line {line} is not KEY=value")]
    NotAssignment { line: usize },
    #[error("{key}={value:?} is not a CIDR")]
    BadCidr { key: String, value: String },
    #[error("{key}={value:?} is not a number")]
    BadNumber { key: String, value: String },
    #[error("{key}={value:?} is not true or false")]
    BadBool { key: String, value: String },
}

/// Reads flannel's lease. `None` when the file does not exist (the node does not run flannel);
/// a malformed line is recorded and the rest of the file still read.
pub fn read_flannel_subnet(
    root: &HostRoot,
    errors: &mut Vec<SourceError>,
) -> Option<FlannelSubnet> {
    let bytes = match root.read_optional(SUBNET_ENV) {
        Ok(bytes) => bytes?,
        Err(e) => {
            errors.push(source_error(ERROR_SOURCE, SUBNET_ENV, &e));
            return None;
        }
    };
    let (subnet, problems) = parse_subnet_env(&String::from_utf8_lossy(&bytes));
    errors.extend(
        problems
            .iter()
            .map(|p| source_error(ERROR_SOURCE, SUBNET_ENV, p)),
    );
    Some(subnet)
}

/// Parses `subnet.env`. Unknown keys (`FLANNEL_IPV6_NETWORK`…) are ignored; each malformed line
/// or value is returned as a problem, leaving its field `None`.
pub fn parse_subnet_env(text: &str) -> (FlannelSubnet, Vec<SubnetEnvError>) {
    let mut subnet = FlannelSubnet {
        network: None,
        subnet: None,
        mtu: None,
        ipmasq: None,
    };
    let mut problems = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            problems.push(SubnetEnvError::NotAssignment { line: index + 1 });
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "FLANNEL_NETWORK" => set(&mut subnet.network, parse_cidr(key, value), &mut problems),
            "FLANNEL_SUBNET" => set(&mut subnet.subnet, parse_cidr(key, value), &mut problems),
            "FLANNEL_MTU" => set(&mut subnet.mtu, parse_mtu(key, value), &mut problems),
            "FLANNEL_IPMASQ" => set(&mut subnet.ipmasq, parse_bool(key, value), &mut problems),
            _ => {}
        }
    }
    (subnet, problems)
}

fn set<T>(
    field: &mut Option<T>,
    parsed: Result<T, SubnetEnvError>,
    problems: &mut Vec<SubnetEnvError>,
) {
    match parsed {
        Ok(value) => *field = Some(value),
        Err(problem) => problems.push(problem),
    }
}

fn parse_mtu(key: &str, value: &str) -> Result<u32, SubnetEnvError> {
    value.parse().map_err(|_| SubnetEnvError::BadNumber {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

/// flanneld writes Go's `strconv.FormatBool`: exactly `true` or `false`.
fn parse_bool(key: &str, value: &str) -> Result<bool, SubnetEnvError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(SubnetEnvError::BadBool {
            key: key.to_owned(),
            value: value.to_owned(),
        }),
    }
}

fn parse_cidr(key: &str, value: &str) -> Result<IpNet, SubnetEnvError> {
    value.parse().map_err(|_| SubnetEnvError::BadCidr {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_lease_flanneld_writes() {
        let text = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\n\
                    FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";
        let (subnet, problems) = parse_subnet_env(text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(subnet.network, Some("10.244.0.0/16".parse().unwrap()));
        // flannel writes the bridge's own address, not the network address.
        assert_eq!(subnet.subnet, Some("10.244.1.1/24".parse().unwrap()));
        assert_eq!(subnet.mtu, Some(1450));
        assert_eq!(subnet.ipmasq, Some(true));
    }

    #[test]
    fn a_bad_value_leaves_the_others() {
        let text = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.300/24\n\
                    garbage\nFLANNEL_MTU=big\nFLANNEL_IPMASQ=yes\nFLANNEL_IPV6_NETWORK=fd00::/56\n";
        let (subnet, problems) = parse_subnet_env(text);
        assert_eq!(subnet.network, Some("10.244.0.0/16".parse().unwrap()));
        assert_eq!(subnet.subnet, None);
        assert_eq!(subnet.mtu, None);
        assert_eq!(subnet.ipmasq, None);
        assert_eq!(
            problems,
            vec![
                SubnetEnvError::BadCidr {
                    key: "FLANNEL_SUBNET".into(),
                    value: "10.244.1.300/24".into()
                },
                SubnetEnvError::NotAssignment { line: 3 },
                SubnetEnvError::BadNumber {
                    key: "FLANNEL_MTU".into(),
                    value: "big".into()
                },
                SubnetEnvError::BadBool {
                    key: "FLANNEL_IPMASQ".into(),
                    value: "yes".into()
                },
            ]
        );
    }
}
