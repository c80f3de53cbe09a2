//! host-local IPAM's disk store, as containernetworking/plugins' `backend/disk` writes it under
//! `var/lib/cni/networks/<network>/`: one file per reserved IP, named for the IP and holding
//! `<containerID>\r\n<ifName>`; `last_reserved_ip.<rangeIndex>` with the last IP handed out; and
//! the empty `lock` file the store's flock uses.

use std::net::IpAddr;

use super::{HostRoot, HostRootError};

/// The store's root under the host root.
pub const NETWORKS_DIR: &str = "var/lib/cni/networks";

/// One host-local network's store.
#[derive(Debug, Clone, Copy)]
pub struct HostLocalStore<'a> {
    root: &'a HostRoot,
    network: &'a str,
}

impl<'a> HostLocalStore<'a> {
    /// Opens (creates) the store of `network`, with its `lock` file.
    pub fn create(root: &'a HostRoot, network: &'a str) -> Result<Self, HostRootError> {
        let store = HostLocalStore { root, network };
        root.write(&store.file("lock"), b"")?;
        Ok(store)
    }

    /// Reserves `ip` for the container's interface and records it as the range's last reservation,
    /// as `Store.Reserve` does.
    pub fn reserve(
        &self,
        ip: IpAddr,
        container_id: &str,
        if_name: &str,
        range_index: usize,
    ) -> Result<(), HostRootError> {
        self.root.write(
            &self.file(&ip.to_string()),
            format!("{}\r\n{if_name}", container_id.trim()),
        )?;
        self.root.write(
            &self.file(&format!("last_reserved_ip.{range_index}")),
            ip.to_string(),
        )?;
        Ok(())
    }

    fn file(&self, name: &str) -> String {
        format!("{NETWORKS_DIR}/{}/{name}", self.network)
    }
}
