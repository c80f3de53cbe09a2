//! Amazon VPC CNI state: ipamd's introspection API and its checkpoint file.

pub mod checkpoint;
pub mod ipamd;

use std::path::Path;
use std::time::Duration;

use podwire_node_state::{CniState, ErrorSource, IpamdEnis, SourceError, VpcCniState};

use crate::collect::files::{HostRoot, source_error};

/// VPC CNI's plugin type in a CNI configuration or a cached result's configuration.
pub const VPC_CNI_PLUGIN: &str = "aws-cni";

/// Reads ipamd's view of the node. `None` when the node shows no sign of VPC CNI: ipamd does not
/// listen, there is no checkpoint, and no CNI configuration or cached result names `aws-cni`.
/// When there is a sign but ipamd cannot be asked, the state is returned without it and the
/// failure recorded. With no endpoint, ipamd is not asked (the checkpoint is still read).
pub fn read_vpc_cni_state(
    host_root: &Path,
    cni: &CniState,
    ipamd_endpoint: Option<&str>,
    timeout: Duration,
    errors: &mut Vec<SourceError>,
) -> Option<VpcCniState> {
    VpcCniSources::read(host_root, ipamd_endpoint, timeout).into_state(cni, errors)
}

/// What ipamd and its checkpoint said, read without the CNI state, so that the reading (which
/// may wait on ipamd up to its timeout) can run beside the CNI file readers.
#[derive(Debug)]
pub struct VpcCniSources {
    checkpoint: checkpoint::CheckpointRead,
    /// What reading the checkpoint recorded.
    checkpoint_errors: Vec<SourceError>,
    /// The endpoint asked and its answer; `None` when there is no endpoint to ask.
    ipamd: Option<(String, Result<IpamdEnis, ipamd::IpamdError>)>,
}

impl VpcCniSources {
    /// Reads the checkpoint and asks ipamd at `ipamd_endpoint` (waiting at most `timeout`), on
    /// the calling thread, which must not be driving an async runtime.
    pub fn read(host_root: &Path, ipamd_endpoint: Option<&str>, timeout: Duration) -> Self {
        let root = HostRoot::new(host_root);
        let mut checkpoint_errors = Vec::new();
        let checkpoint = checkpoint::read_checkpoint(&root, &mut checkpoint_errors);
        let ipamd = ipamd_endpoint.map(|endpoint| {
            (
                endpoint.to_owned(),
                ipamd::read_enis_here(endpoint, timeout),
            )
        });
        VpcCniSources {
            checkpoint,
            checkpoint_errors,
            ipamd,
        }
    }

    /// The node's VPC CNI state, given its CNI state (see [`read_vpc_cni_state`]); failures are
    /// recorded in `errors`, the checkpoint's first.
    pub fn into_state(self, cni: &CniState, errors: &mut Vec<SourceError>) -> Option<VpcCniState> {
        let VpcCniSources {
            checkpoint,
            checkpoint_errors,
            ipamd,
        } = self;
        errors.extend(checkpoint_errors);
        let configured = cni
            .configs
            .iter()
            .flat_map(|c| &c.plugins)
            .any(|p| p.plugin_type == VPC_CNI_PLUGIN);
        let cached = cni
            .cache
            .iter()
            .any(|e| e.plugin_types.iter().any(|t| t == VPC_CNI_PLUGIN));
        // Anything that answered at the endpoint, even garbage, is taken as ipamd: only a refused
        // connection says nothing runs there.
        let answered =
            matches!(&ipamd, Some((_, result)) if !matches!(result, Err(e) if e.is_unreachable()));

        if !(answered || checkpoint.present || configured || cached) {
            return None;
        }
        let ipamd = match ipamd {
            None => None,
            Some((_, Ok(enis))) => Some(enis),
            Some((ipamd_endpoint, Err(e))) => {
                let subject = format!(
                    "{}{}",
                    ipamd_endpoint.trim_end_matches('/'),
                    ipamd::ENIS_PATH
                );
                errors.push(source_error(ErrorSource::Ipamd, &subject, &e));
                None
            }
        };
        Some(VpcCniState {
            ipamd,
            checkpoint: checkpoint.checkpoint,
        })
    }
}
