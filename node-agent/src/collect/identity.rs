//! Who and where: the node's name, boot id and kernel release.

use std::path::Path;

use podwire_node_state::{ErrorSource, NodeIdentity, SourceError};

/// Reads the node identity from `proc_dir`'s kernel files. Unreadable files are recorded and
/// leave their field empty.
pub fn read_identity(
    proc_dir: &Path,
    cluster: &str,
    node_name: Option<&str>,
    errors: &mut Vec<SourceError>,
) -> NodeIdentity {
    let mut read = |relative: &str| -> String {
        let path = proc_dir.join(relative);
        match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().to_owned(),
            Err(err) => {
                errors.push(SourceError {
                    source: ErrorSource::NodeIdentity,
                    subject: path.display().to_string(),
                    message: format!("cannot read: {err}"),
                });
                String::new()
            }
        }
    };
    let boot_id = read("sys/kernel/random/boot_id");
    let kernel = read("sys/kernel/osrelease");
    let node_name = match node_name {
        Some(name) => name.to_owned(),
        None => read("sys/kernel/hostname"),
    };
    NodeIdentity {
        cluster: cluster.to_owned(),
        node_name,
        boot_id,
        kernel,
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        collected_at_unix_ms: 0,
        collection_duration_us: 0,
    }
}
