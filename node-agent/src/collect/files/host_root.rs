//! Reading the node's files through `--host-root`, the way the node itself would see them.
//!
//! The agent usually runs in a container with the node's `/` mounted at `/host`. Paths are named
//! as the node names them (`/var/run/aws-node/ipam.json`) and symlinks are followed *inside* the
//! host root: on most distributions `/var/run` is a link to `/run` (absolute on Ubuntu), which
//! followed naively from the container would land in the container's own `/run`.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;

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
    /// Where the entry is from the agent: its directory as resolved inside the root, then its
    /// name, with no symlink on the way.
    path: PathBuf,
    /// The entry's type as the listing reported it (without a stat); `None` when the file
    /// system does not say.
    file_type: Option<fs::FileType>,
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
        // Checked before opening: opening a fifo would block, a device could act.
        if !fs::metadata(&path).map_err(HostFileError::Io)?.is_file() {
            return Ok(None);
        }
        read_opened(File::open(&path).map_err(HostFileError::Io)?)
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
                path: entry.path(),
                file_type: entry.file_type().ok(),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// [`HostRoot::read_regular`] for an entry of [`HostRoot::list_dir`], without resolving its
    /// directory again: the directory was resolved inside the root when listed, so an entry that
    /// is no symlink is opened right there (refusing to follow one, should it have been replaced
    /// by a symlink since), and only a symlink is resolved from the root like any node path.
    pub fn read_entry(&self, entry: &HostDirEntry) -> Result<Option<Vec<u8>>, HostFileError> {
        match entry.file_type {
            Some(file_type) if file_type.is_file() => {}
            // What the listing saw is what the name holds: a directory, a socket, a fifo.
            Some(file_type) if !file_type.is_symlink() => return Ok(None),
            _ => return self.read_regular(&entry.node_path),
        }
        let opened = OpenOptions::new()
            .read(true)
            // Never block opening a fifo swapped in since the listing; fstat then skips it.
            .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
            .open(&entry.path);
        match opened {
            Ok(file) => read_opened(file),
            // Replaced by a symlink since the listing: follow it inside the root.
            Err(e) if e.raw_os_error() == Some(Errno::ELOOP as i32) => {
                self.read_regular(&entry.node_path)
            }
            Err(e) => Err(HostFileError::Io(e)),
        }
    }

    /// Whether a listed entry is a directory, following it inside the root when it is a symlink.
    pub fn entry_is_dir(&self, entry: &HostDirEntry) -> bool {
        match entry.file_type {
            Some(file_type) if !file_type.is_symlink() => file_type.is_dir(),
            _ => self.is_dir(&entry.node_path),
        }
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

/// Reads an opened file if it is a regular one of at most [`MAX_FILE_BYTES`].
fn read_opened(file: File) -> Result<Option<Vec<u8>>, HostFileError> {
    let meta = file.metadata().map_err(HostFileError::Io)?;
    if !meta.is_file() {
        return Ok(None);
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(HostFileError::TooLarge);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(HostFileError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(HostFileError::TooLarge);
    }
    Ok(Some(bytes))
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

    /// A host root with `/var/lib/cni/results` holding `plain` and a symlink `link` to the
    /// absolute `/etc/secret`, which exists inside the root and (differently) outside it.
    fn results_dir_with_a_symlink() -> (tempfile::TempDir, HostRoot) {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path().join("host"));
        let results = dir.path().join("host/var/lib/cni/results");
        fs::create_dir_all(&results).unwrap();
        fs::create_dir_all(dir.path().join("host/etc")).unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("host/etc/secret"), b"inside").unwrap();
        fs::write(dir.path().join("etc/secret"), b"outside").unwrap();
        fs::write(results.join("plain"), b"plain").unwrap();
        symlink("/etc/secret", results.join("link")).unwrap();
        (dir, root)
    }

    fn entry<'a>(entries: &'a [HostDirEntry], name: &str) -> &'a HostDirEntry {
        entries.iter().find(|e| e.name == name).unwrap()
    }

    #[test]
    fn listed_entries_are_read_with_symlinks_resolved_inside_the_root() {
        let (_dir, root) = results_dir_with_a_symlink();
        let entries = root.list_dir("/var/lib/cni/results").unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["link", "plain"]);
        assert_eq!(
            root.read_entry(entry(&entries, "plain")).unwrap(),
            Some(b"plain".to_vec())
        );
        assert_eq!(
            root.read_entry(entry(&entries, "link")).unwrap(),
            Some(b"inside".to_vec())
        );
    }

    #[test]
    fn an_entry_replaced_by_a_symlink_after_listing_is_still_resolved_inside_the_root() {
        let (dir, root) = results_dir_with_a_symlink();
        let entries = root.list_dir("/var/lib/cni/results").unwrap();
        let plain = dir.path().join("host/var/lib/cni/results/plain");
        fs::remove_file(&plain).unwrap();
        symlink("/etc/secret", &plain).unwrap();
        assert_eq!(
            root.read_entry(entry(&entries, "plain")).unwrap(),
            Some(b"inside".to_vec())
        );
    }

    #[test]
    fn fifos_and_directories_are_skipped_without_blocking() {
        let (dir, root) = results_dir_with_a_symlink();
        let results = dir.path().join("host/var/lib/cni/results");
        nix::unistd::mkfifo(&results.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        fs::create_dir(results.join("subdir")).unwrap();
        symlink("/var/lib/cni", results.join("up")).unwrap();
        let entries = root.list_dir("/var/lib/cni/results").unwrap();
        assert_eq!(root.read_entry(entry(&entries, "fifo")).unwrap(), None);
        assert_eq!(root.read_entry(entry(&entries, "subdir")).unwrap(), None);
        assert!(root.entry_is_dir(entry(&entries, "subdir")));
        assert!(
            root.entry_is_dir(entry(&entries, "up")),
            "a symlink to a directory"
        );
        assert!(!root.entry_is_dir(entry(&entries, "plain")));

        // A regular file when listed, a fifo when read: opened without waiting for a writer.
        fs::remove_file(results.join("plain")).unwrap();
        nix::unistd::mkfifo(&results.join("plain"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert_eq!(root.read_entry(entry(&entries, "plain")).unwrap(), None);
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
