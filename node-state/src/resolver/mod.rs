//! The pure pod-path resolver: no I/O, no clock. Given a [`NodeSnapshot`], it follows every pod's
//! traffic exactly as the kernel would, and says where it cannot.

mod path;

pub use path::*;

use crate::model::{KernelRouteQuery, NodeSnapshot};

/// Picks the probe destination: the snapshot's configured one, else a sensible default.
pub fn choose_probe(snapshot: &NodeSnapshot) -> Probe {
    let _ = snapshot;
    todo!("resolver helper")
}

/// The RTM_GETROUTE questions the agent must ask the kernel so that [`resolve`] can check itself.
pub fn kernel_queries(snapshot: &NodeSnapshot, probe: &Probe) -> Vec<KernelRouteQuery> {
    let _ = (snapshot, probe);
    todo!("resolver helper")
}

/// Resolves every pod of the snapshot.
pub fn resolve(snapshot: &NodeSnapshot) -> NodeResolution {
    let _ = snapshot;
    todo!("resolver helper")
}
