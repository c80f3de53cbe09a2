//! The node's files as the agent reads them under `--host-root`: a temporary directory laid out
//! like `/` on a node (`var/lib/cni/results`, `etc/cni/net.d`, `var/lib/cni/networks`,
//! `var/run/aws-node`, `run/flannel`), written in the exact formats the real components write.

pub mod cni_cache;
pub mod host_local;

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// A file of the host root that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum HostRootError {
    #[error("could not create a temporary host root")]
    Create(#[source] std::io::Error),
    #[error("could not write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A temporary directory standing in for a node's `/`; removed on drop.
#[derive(Debug)]
pub struct HostRoot {
    dir: TempDir,
}

impl HostRoot {
    pub fn new() -> Result<Self, HostRootError> {
        let dir = tempfile::Builder::new()
            .prefix("podwire-host-root-")
            .tempdir()
            .map_err(HostRootError::Create)?;
        Ok(HostRoot { dir })
    }

    /// The directory to pass as `--host-root`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where `relative` (a node path without its leading `/`) lives under the root.
    pub fn join(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative.trim_start_matches('/'))
    }

    /// Writes one file, creating its directories.
    pub fn write(
        &self,
        relative: &str,
        contents: impl AsRef<[u8]>,
    ) -> Result<PathBuf, HostRootError> {
        let path = self.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| HostRootError::Write {
                path: parent.to_owned(),
                source,
            })?;
        }
        std::fs::write(&path, contents).map_err(|source| HostRootError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// Removes one file.
    pub fn remove(&self, relative: &str) -> Result<(), HostRootError> {
        let path = self.join(relative);
        std::fs::remove_file(&path).map_err(|source| HostRootError::Write { path, source })
    }

    pub fn read(&self, relative: &str) -> Result<Vec<u8>, HostRootError> {
        let path = self.join(relative);
        std::fs::read(&path).map_err(|source| HostRootError::Read { path, source })
    }
}
