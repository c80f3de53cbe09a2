//! Reading the node's files through `--host-root`, the way the node itself would see them.
//!
//! The agent usually runs in a container with the node's `/` mounted at `/host`. Paths are named
//! as the node names them (`/var/run/aws-node/ipam.json`) and symlinks are followed *inside* the
//! host root: on most distributions `/var/run` is a link to `/run` (absolute on Ubuntu), which
//! followed naively from the container would land in the container's own `/run`.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// Files larger than this are refused rather than read into memory: every file podwire reads is
/// a few kilobytes, so anything bigger is not what its name says.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Symlinks followed while resolving one path, as the kernel's own limit (`MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// The directory the node's root filesystem is mounted at (`/` when the agent runs on the node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoot {
    root: PathBuf,
}

/// A file or directory the reader failed on.
#[derive(Debug, thiserror::Error)]
pub enum HostFileError {
    #[error("cannot read")]
    Io(#[source] io::Error),
    #[error("file is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge,
    #[error("too many levels of symbolic links")]
    SymlinkLoop,
}

/// One entry found while listing a directory under the host root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDirEntry {
    /// The entry's name in its directory.
    pub name: String,
    /// The entry as the node names it (`/var/lib/cni/results/<name>`).
    pub node_path: String,
}

impl HostRoot {
    /// The node's root filesystem as mounted at `root` (`--host-root`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HostRoot { root: root.into() }
    }

    /// Where `node_path` (as the node names it) is found from the agent, with every symlink on the
    /// way resolved inside the host root. `.` and `..` never leave the root. A component that does
    /// not exist ends resolution; opening the result then fails with "not found".
    pub fn resolve(&self, node_path: &str) -> Result<PathBuf, HostFileError> {
        let mut pending: Vec<OsString> = path_components(Path::new(node_path));
        pending.reverse();
        let mut resolved: Vec<OsString> = Vec::new();
        let mut links_followed = 0;
        while let Some(component) = pending.pop() {
            if component == ".." {
                resolved.pop();
                continue;
            }
            let candidate = self.join(&resolved).join(&component);
            match fs::symlink_metadata(&candidate) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    links_followed += 1;
                    if links_followed > MAX_SYMLINKS {
                        return Err(HostFileError::SymlinkLoop);
                    }
                    let target = fs::read_link(&candidate).map_err(HostFileError::Io)?;
                    if target.is_absolute() {
                        resolved.clear();
                    }
                    let mut target_parts = path_components(&target);
                    target_parts.reverse();
                    pending.extend(target_parts);
                }
                Ok(_) => resolved.push(component),
                Err(_) => {
                    // Not there (or not reachable): keep the rest as written so that the caller's
                    // open reports the real error on the real path.
                    resolved.push(component);
                    resolved.extend(pending.drain(..).rev());
                    break;
                }
            }
        }
        Ok(self.join(&resolved))
    }

    /// Reads a regular file, at most [`MAX_FILE_BYTES`]. `Ok(None)` when it is not a regular file
    /// (a directory, a socket, a fifo): readers skip those.
    pub fn read_regular(&self, node_path: &str) -> Result<Option<Vec<u8>>, HostFileError> {
        let path = self.resolve(node_path)?;
        let meta = fs::metadata(&path).map_err(HostFileError::Io)?;
        if !meta.is_file() {
            return Ok(None);
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(HostFileError::TooLarge);
        }
        let file = fs::File::open(&path).map_err(HostFileError::Io)?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(HostFileError::Io)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(HostFileError::TooLarge);
        }
        Ok(Some(bytes))
    }

    /// Like [`HostRoot::read_regular`], but a missing file is `Ok(None)` too: for files whose
    /// absence only says the node does not use that component.
    pub fn read_optional(&self, node_path: &str) -> Result<Option<Vec<u8>>, HostFileError> {
        match self.read_regular(node_path) {
            Err(HostFileError::Io(e)) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            other => other,
        }
    }

    /// Lists a directory, sorted by name (the order libcni and host-local use). Names that are
    /// not UTF-8 are listed lossily: no CNI component writes them, and the lossy name still tells
    /// an operator which file it was.
    pub fn list_dir(&self, node_dir: &str) -> Result<Vec<HostDirEntry>, HostFileError> {
        let path = self.resolve(node_dir)?;
        let mut entries = Vec::new();
        for entry in fs::read_dir(&path).map_err(HostFileError::Io)? {
            let entry = entry.map_err(HostFileError::Io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            entries.push(HostDirEntry {
                node_path: node_child(node_dir, &name),
                name,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Whether `node_path` exists (following symlinks inside the root).
    pub fn exists(&self, node_path: &str) -> bool {
        self.resolve(node_path)
            .map(|p| fs::metadata(p).is_ok())
            .unwrap_or(false)
    }

    /// Whether `node_path` is a directory (following symlinks inside the root).
    pub fn is_dir(&self, node_path: &str) -> bool {
        self.resolve(node_path)
            .map(|p| fs::metadata(p).is_ok_and(|m| m.is_dir()))
            .unwrap_or(false)
    }

    fn join(&self, parts: &[OsString]) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(parts);
        path
    }
}

/// `dir/name` in the node's own spelling, with exactly one `/` between them.
pub fn node_child(node_dir: &str, name: &str) -> String {
    format!("{}/{}", node_dir.trim_end_matches('/'), name)
}

/// A node path in canonical spelling: absolute, no `.`, no doubled or trailing slashes. Used for
/// paths taken from configuration files (`dataDir`) before they are compared or reported.
pub fn canonical_node_path(path: &str) -> String {
    let mut parts: Vec<OsString> = Vec::new();
    for part in path_components(Path::new(path)) {
        if part == ".." {
            parts.pop();
        } else {
            parts.push(part);
        }
    }
    let mut out = String::new();
    for part in parts {
        out.push('/');
        out.push_str(&part.to_string_lossy());
    }
    if out.is_empty() { "/".to_owned() } else { out }
}

/// The components of a path that name something, with `..` kept for the caller to apply; the
/// root and `.` are dropped.
fn path_components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn absolute_symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        fs::create_dir_all(dir.path().join("run/aws-node")).unwrap();
        fs::create_dir_all(dir.path().join("var")).unwrap();
        fs::write(dir.path().join("run/aws-node/ipam.json"), b"{}").unwrap();
        symlink("/run", dir.path().join("var/run")).unwrap();

        assert_eq!(
            root.resolve("/var/run/aws-node/ipam.json").unwrap(),
            dir.path().join("run/aws-node/ipam.json")
        );
        assert_eq!(
            root.read_regular("/var/run/aws-node/ipam.json").unwrap(),
            Some(b"{}".to_vec())
        );
    }

    #[test]
    fn relative_symlinks_and_dotdot_never_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path().join("host"));
        fs::create_dir_all(dir.path().join("host/run/flannel")).unwrap();
        fs::create_dir_all(dir.path().join("host/var")).unwrap();
        symlink("../run", dir.path().join("host/var/run")).unwrap();
        symlink(
            "../../../../../etc",
            dir.path().join("host/run/flannel/escape"),
        )
        .unwrap();

        assert_eq!(
            root.resolve("/var/run/flannel").unwrap(),
            dir.path().join("host/run/flannel")
        );
        assert_eq!(
            root.resolve("/../../etc/passwd").unwrap(),
            dir.path().join("host/etc/passwd")
        );
        assert_eq!(
            root.resolve("/run/flannel/escape/passwd").unwrap(),
            dir.path().join("host/etc/passwd")
        );
    }

    #[test]
    fn symlink_loops_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        symlink("/b", dir.path().join("a")).unwrap();
        symlink("/a", dir.path().join("b")).unwrap();
        assert!(matches!(
            root.resolve("/a/x"),
            Err(HostFileError::SymlinkLoop)
        ));
    }

    #[test]
    fn canonical_spelling() {
        assert_eq!(canonical_node_path("/run//cni/./v4pd/"), "/run/cni/v4pd");
        assert_eq!(canonical_node_path("run/cni"), "/run/cni");
        assert_eq!(canonical_node_path("/"), "/");
        assert_eq!(canonical_node_path("/var/lib/../../../run"), "/run");
        assert_eq!(node_child("/var/lib/cni/", "x"), "/var/lib/cni/x");
    }
}
