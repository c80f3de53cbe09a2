//! CNI state read from files under the host root: libcni's result cache, the network
//! configurations, host-local IPAM allocations and flannel's subnet lease.
//!
//! Every reader is read-only, records each failure as a [`SourceError`] naming the file as the
//! node names it, and goes on: one malformed file never hides the others.

pub mod cni_cache;
pub mod cni_config;
pub mod flannel;
pub mod host_local;
pub mod host_root;

use std::error::Error;
use std::path::Path;

use podwire_node_state::{CniState, ErrorSource, SourceError};

pub use host_root::HostRoot;

/// Reads all CNI file state of the node whose root filesystem is at `host_root`.
pub fn read_cni_state(host_root: &Path, errors: &mut Vec<SourceError>) -> CniState {
    let root = HostRoot::new(host_root);
    let flannel = flannel::read_flannel_subnet(&root, errors);
    let configs = cni_config::read_cni_configs(&root, errors);
    let cache = cni_cache::read_cni_cache(&root, errors);
    let host_local = host_local::read_host_local(&root, &configs, flannel.as_ref(), errors);
    CniState {
        cache,
        configs,
        host_local,
        flannel,
    }
}

/// A failure as the snapshot records it: the error and each of its causes, outermost first
/// (`cannot read: Permission denied (os error 13)`).
pub fn source_error(source: ErrorSource, subject: &str, error: &dyn Error) -> SourceError {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    SourceError {
        source,
        subject: subject.to_owned(),
        message,
    }
}
