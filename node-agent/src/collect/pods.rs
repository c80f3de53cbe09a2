//! Which of the discovered namespaces are pods: those a host veth leads into (by the host's nsid
//! for them) and those the CNI result cache names (by name, path or inode).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use podwire_node_state::{CniState, NetnsState};

use super::files::HostRoot;
use super::netlink::RouteSocket;
use super::netns::{HostNsid, NetnsCandidate};

/// Namespace files held open at once while their nsids are asked: one batch of questions, well
/// under any open-file limit.
const NSID_FILES_AT_ONCE: usize = 64;

/// The id the host has for each of `candidates`, in order: `None` where it has none, or where the
/// namespace vanished since discovery or could not be asked about.
pub fn host_nsids(socket: &mut RouteSocket, candidates: &[&NetnsCandidate]) -> Vec<Option<i32>> {
    let mut nsids = Vec::with_capacity(candidates.len());
    for chunk in candidates.chunks(NSID_FILES_AT_ONCE) {
        // Each question names its namespace by file descriptor: the files stay open until the
        // answers are in.
        let files: Vec<Option<File>> = chunk.iter().map(|c| File::open(&c.path).ok()).collect();
        let open: Vec<&File> = files.iter().flatten().collect();
        let mut answers = match socket.nsids_of(&open) {
            Ok(answers) => answers.into_iter().map(|a| a.ok().flatten()).collect(),
            Err(_) => vec![None; open.len()],
        }
        .into_iter();
        for file in &files {
            nsids.push(file.as_ref().and_then(|_| answers.next().flatten()));
        }
    }
    nsids
}

/// Keeps the candidates that are pods, in their order: those the CNI cache names (their nsids
/// are asked when they are read), and those a host veth leads into, by the host's nsid for them,
/// which `nsids_of` gives for the candidates the cache does not name (on a pod node, the few
/// namespaces that are no pod's).
pub fn select_pod_namespaces(
    host: &NetnsState,
    cached: &CachedNetns,
    candidates: Vec<NetnsCandidate>,
    nsids_of: impl FnOnce(&[&NetnsCandidate]) -> Vec<Option<i32>>,
) -> Vec<(NetnsCandidate, HostNsid)> {
    let peer_nsids: HashSet<i32> = host
        .links
        .iter()
        .filter(|l| l.is_veth())
        .filter_map(|l| l.link_netnsid)
        .collect();
    let uncached: Vec<&NetnsCandidate> = candidates.iter().filter(|c| !cached.names(c)).collect();
    let mut uncached_nsids = nsids_of(&uncached).into_iter();
    candidates
        .into_iter()
        .filter_map(|candidate| {
            if cached.names(&candidate) {
                return Some((candidate, HostNsid::AskWhenRead));
            }
            let nsid = uncached_nsids.next().flatten();
            nsid.filter(|id| peer_nsids.contains(id))
                .map(|_| (candidate, HostNsid::Known(nsid)))
        })
        .collect()
}

/// The namespaces the CNI result cache points at, by basename, path and inode.
#[derive(Debug, Default)]
pub struct CachedNetns {
    names: HashSet<String>,
    paths: HashSet<PathBuf>,
    inodes: HashSet<u64>,
}

impl CachedNetns {
    /// The namespaces the cache entries of `cni` name. Their paths are node paths, looked up
    /// under `host_root` with symlinks resolved inside it (`/var/run` is a link to `/run` on most
    /// nodes); each directory is resolved once, not once per entry.
    pub fn of(cni: &CniState, host_root: &Path) -> Self {
        let root = HostRoot::new(host_root);
        let mut cached = CachedNetns::default();
        let mut resolved_dirs: HashMap<&Path, Option<PathBuf>> = HashMap::new();
        for node_path in cni.cache.iter().filter_map(|e| e.netns_path.as_deref()) {
            let path = Path::new(node_path);
            cached.paths.insert(path.to_owned());
            let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
                continue;
            };
            if let Some(name) = name.to_str() {
                cached.names.insert(name.to_owned());
            }
            // A directory that is not there holds no namespace: its entries are not looked up.
            let resolved_dir = resolved_dirs.entry(dir).or_insert_with(|| {
                dir.to_str()
                    .and_then(|d| root.resolve(d).ok())
                    .filter(|d| d.is_dir())
            });
            let Some(resolved_dir) = resolved_dir else {
                continue;
            };
            let under_root = resolved_dir.join(name);
            let inode = match fs::symlink_metadata(&under_root) {
                Ok(meta) if meta.file_type().is_symlink() => root
                    .resolve(node_path)
                    .ok()
                    .and_then(|p| fs::metadata(p).ok())
                    .map(|m| m.ino()),
                Ok(meta) => Some(meta.ino()),
                Err(_) => None,
            };
            cached.inodes.extend(inode);
        }
        cached
    }

    /// Whether the cache names `candidate`.
    fn names(&self, candidate: &NetnsCandidate) -> bool {
        candidate
            .name
            .as_deref()
            .is_some_and(|name| self.names.contains(name))
            || self.paths.contains(&candidate.path)
            || self.inodes.contains(&candidate.inode)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use podwire_node_state::{CniCacheEntry, Link, LinkKind, OperState};

    use super::*;

    fn cache_naming(netns_paths: &[&str]) -> CniState {
        CniState {
            cache: netns_paths
                .iter()
                .map(|path| CniCacheEntry {
                    file: format!("/var/lib/cni/results/aws-cni-{path}-eth0"),
                    network_name: "aws-cni".into(),
                    container_id: String::new(),
                    if_name: "eth0".into(),
                    pod_namespace: None,
                    pod_name: None,
                    pod_uid: None,
                    netns_path: Some((*path).to_owned()),
                    ips: Vec::new(),
                    gateways: Vec::new(),
                    interfaces: Vec::new(),
                    plugin_types: Vec::new(),
                    cni_version: None,
                })
                .collect(),
            ..CniState::default()
        }
    }

    fn candidate(inode: u64, name: Option<&str>, path: &str) -> NetnsCandidate {
        NetnsCandidate {
            inode,
            name: name.map(str::to_owned),
            path: PathBuf::from(path),
        }
    }

    #[test]
    fn cached_namespaces_are_found_through_symlinks_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("run/netns")).unwrap();
        fs::create_dir_all(dir.path().join("var")).unwrap();
        // On the node /var/run is /run; followed from the agent it must stay inside the root.
        symlink("/run", dir.path().join("var/run")).unwrap();
        fs::write(dir.path().join("run/netns/cni-1"), b"").unwrap();
        let inode = fs::metadata(dir.path().join("run/netns/cni-1"))
            .unwrap()
            .ino();

        let cached = CachedNetns::of(
            &cache_naming(&["/var/run/netns/cni-1", "/var/run/netns/gone"]),
            dir.path(),
        );
        assert_eq!(cached.inodes, HashSet::from([inode]));
        assert!(cached.names(&candidate(inode, None, "/proc/42/ns/net")));
        assert!(cached.names(&candidate(7, Some("gone"), "/elsewhere/gone")));
        assert!(cached.names(&candidate(7, None, "/var/run/netns/gone")));
        assert!(!cached.names(&candidate(7, Some("other"), "/proc/43/ns/net")));
    }

    #[test]
    fn pods_are_the_namespaces_host_veths_lead_into_or_the_cache_names() {
        let veth_into = |nsid| Link {
            ifindex: 10,
            name: "eni1".into(),
            kind: LinkKind::Veth,
            mac: None,
            mtu: 9001,
            admin_up: true,
            oper_state: OperState::Up,
            master: None,
            link: Some(3),
            link_netnsid: Some(nsid),
        };
        let host = NetnsState {
            links: vec![veth_into(4)],
            ..NetnsState::default()
        };
        let cached = CachedNetns::of(&cache_naming(&["/var/run/netns/cni-2"]), Path::new("/"));
        let candidates = vec![
            candidate(1, Some("cni-1"), "/var/run/netns/cni-1"),
            candidate(2, Some("cni-2"), "/var/run/netns/cni-2"),
            candidate(3, None, "/proc/9/ns/net"),
        ];
        let mut asked = Vec::new();
        let selected = select_pod_namespaces(&host, &cached, candidates, |uncached| {
            asked = uncached.iter().map(|c| c.inode).collect();
            vec![Some(4), Some(5)]
        });
        // Only the namespaces the cache does not name are asked about before reading.
        assert_eq!(asked, [1, 3]);
        let inodes: Vec<(u64, HostNsid)> =
            selected.iter().map(|(c, nsid)| (c.inode, *nsid)).collect();
        assert_eq!(
            inodes,
            [(1, HostNsid::Known(Some(4))), (2, HostNsid::AskWhenRead)]
        );
    }
}
