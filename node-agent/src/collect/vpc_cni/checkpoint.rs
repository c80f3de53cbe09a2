//! ipamd's checkpoint, `/var/run/aws-node/ipam.json`: the pod allocations ipamd restores after a
//! restart (`CheckpointData` in VPC CNI's `pkg/ipamd/datastore`).
//!
//! ```json
//! {"version":"vpc-cni-ipam/1","allocations":[{"networkName":"aws-cni","containerID":"…",
//!   "ifName":"eth0","ipv4":"192.168.14.72","allocationTimestamp":1732189000123456789,
//!   "metadata":{"k8sPodNamespace":"default","k8sPodName":"web-0"}}]}
//! ```
//!
//! ipamd writes it with Go's `json.Encoder` (a trailing newline) and replaces it by rename, so a
//! reader sees either the old or the new file, never a half-written one.

use std::net::IpAddr;

use podwire_node_state::{ErrorSource, IpamCheckpoint, IpamCheckpointAllocation, SourceError};
use serde::Deserialize;

use crate::collect::files::{HostRoot, source_error};

/// The checkpoint's default place (`AWS_VPC_K8S_CNI_BACKING_STORE` moves it).
pub const CHECKPOINT_FILE: &str = "/var/run/aws-node/ipam.json";

/// The only format version ipamd writes and accepts.
pub const CHECKPOINT_VERSION: &str = "vpc-cni-ipam/1";

/// How the checkpoint, or one value in it, fails.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("not an ipamd checkpoint")]
    Json(#[source] serde_json::Error),
    #[error("checkpoint version {0:?} is not {CHECKPOINT_VERSION}; read as that version")]
    UnknownVersion(String),
    #[error("allocation {index}: {family} address {value:?} is not an IP address")]
    BadAddress {
        index: usize,
        family: &'static str,
        value: String,
    },
}

#[derive(Deserialize)]
struct CheckpointFile {
    #[serde(default)]
    version: String,
    allocations: Option<Vec<CheckpointEntry>>,
}

/// One allocation: Go embeds `IPAMKey`, so its fields sit at the top level.
#[derive(Deserialize)]
struct CheckpointEntry {
    #[serde(rename = "networkName", default)]
    network_name: String,
    #[serde(rename = "containerID", default)]
    container_id: String,
    #[serde(rename = "ifName", default)]
    if_name: String,
    ipv4: Option<String>,
    ipv6: Option<String>,
    #[serde(rename = "allocationTimestamp", default)]
    allocation_timestamp: i64,
    #[serde(default)]
    metadata: CheckpointMetadata,
}

#[derive(Deserialize, Default)]
struct CheckpointMetadata {
    #[serde(rename = "k8sPodNamespace")]
    pod_namespace: Option<String>,
    #[serde(rename = "k8sPodName")]
    pod_name: Option<String>,
}

/// The outcome of looking for the checkpoint.
#[derive(Debug)]
pub struct CheckpointRead {
    /// The checkpoint, when it exists and parsed.
    pub checkpoint: Option<IpamCheckpoint>,
    /// Whether a file is there at all, readable or not: the node runs (or ran) VPC CNI.
    pub present: bool,
}

/// Reads the checkpoint. A missing file is no error (the node does not run VPC CNI); an
/// unreadable or malformed one is recorded.
pub fn read_checkpoint(root: &HostRoot, errors: &mut Vec<SourceError>) -> CheckpointRead {
    let record = |errors: &mut Vec<SourceError>, e: &dyn std::error::Error| {
        errors.push(source_error(
            ErrorSource::IpamCheckpoint,
            CHECKPOINT_FILE,
            e,
        ));
    };
    let present = root.exists(CHECKPOINT_FILE);
    let bytes = match root.read_optional(CHECKPOINT_FILE) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return CheckpointRead {
                checkpoint: None,
                present,
            };
        }
        Err(e) => {
            record(errors, &e);
            return CheckpointRead {
                checkpoint: None,
                present: true,
            };
        }
    };
    let checkpoint = match parse_checkpoint(CHECKPOINT_FILE, &bytes) {
        Ok((checkpoint, problems)) => {
            for problem in &problems {
                record(errors, problem);
            }
            Some(checkpoint)
        }
        Err(e) => {
            record(errors, &e);
            None
        }
    };
    CheckpointRead {
        checkpoint,
        present: true,
    }
}

/// Parses a checkpoint. Not JSON of its shape is an error; an unknown version or a malformed
/// address is a problem returned next to what could be read (the address left `None`).
pub fn parse_checkpoint(
    file: &str,
    bytes: &[u8],
) -> Result<(IpamCheckpoint, Vec<CheckpointError>), CheckpointError> {
    let parsed: CheckpointFile = serde_json::from_slice(bytes).map_err(CheckpointError::Json)?;
    let mut problems = Vec::new();
    if parsed.version != CHECKPOINT_VERSION {
        problems.push(CheckpointError::UnknownVersion(parsed.version.clone()));
    }
    let mut address = |index: usize, family: &'static str, value: Option<String>| {
        let value = value.filter(|v| !v.is_empty())?;
        match value.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                problems.push(CheckpointError::BadAddress {
                    index,
                    family,
                    value,
                });
                None
            }
        }
    };
    let allocations = parsed
        .allocations
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, entry)| IpamCheckpointAllocation {
            ipv4: address(index, "IPv4", entry.ipv4),
            ipv6: address(index, "IPv6", entry.ipv6),
            network_name: entry.network_name,
            container_id: entry.container_id,
            if_name: entry.if_name,
            allocation_timestamp: entry.allocation_timestamp,
            pod_namespace: entry.metadata.pod_namespace.filter(|n| !n.is_empty()),
            pod_name: entry.metadata.pod_name.filter(|n| !n.is_empty()),
        })
        .collect();
    Ok((
        IpamCheckpoint {
            file: file.to_owned(),
            version: parsed.version,
            allocations,
        },
        problems,
    ))
}
