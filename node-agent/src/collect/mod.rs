//! One collection of a node's state: every collector run, every failure recorded, nothing fatal.
//!
//! Order matters for correctness, not just speed: the host namespace is dumped first (its veths'
//! `link-netnsid`s say which namespaces are pods), the CNI files next (the result cache names pod
//! namespaces too), then only pod namespaces are entered. ipamd is asked on its own thread while
//! the namespaces are read, so a hung ipamd costs at most its timeout and never blocks netlink.

pub mod files;
mod identity;
pub mod netlink;
pub mod netns;
pub mod timings;
pub mod vpc_cni;

use std::collections::HashSet;
use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use podwire_node_state::{
    CniState, ErrorSource, KernelRouteDecision, KernelRouteQuery, NetnsState, NodeSnapshot,
    SourceError, resolver,
};

use self::netlink::RouteSocket;
use self::netns::NetnsCandidate;
pub use self::timings::{PhaseTiming, PhaseTimings};

/// Where to read from and how.
#[derive(Debug, Clone)]
pub struct CollectConfig {
    pub cluster: String,
    /// `None`: the kernel's hostname.
    pub node_name: Option<String>,
    /// Root under which node files are read (`/host` in the DaemonSet).
    pub host_root: PathBuf,
    /// Named network namespaces (`ip netns` directory).
    pub netns_dir: PathBuf,
    /// procfs, for `/proc/*/ns/net` and the kernel's identity files.
    pub proc_dir: PathBuf,
    /// ipamd's introspection endpoint; `None` skips asking.
    pub ipamd_url: Option<String>,
    pub ipamd_timeout: Duration,
    pub probe_destination: Option<IpAddr>,
    /// Threads that enter and read pod namespaces.
    pub workers: usize,
    /// Test hook: after discovery, create `FILE.ready` and wait until `FILE` is removed.
    pub hold_after_discovery: Option<PathBuf>,
}

/// Reads the whole node. Never fails: what could not be read is in `errors`.
pub fn collect(config: &CollectConfig) -> NodeSnapshot {
    collect_timed(config, &PhaseTimings::new())
}

/// [`collect`], recording how long each phase took in `timings`.
pub fn collect_timed(config: &CollectConfig, timings: &PhaseTimings) -> NodeSnapshot {
    let started = Instant::now();
    let collected_at_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut errors = Vec::new();

    let mut node = identity::read_identity(
        &config.proc_dir,
        &config.cluster,
        config.node_name.as_deref(),
        &mut errors,
    );
    node.collected_at_unix_ms = collected_at_unix_ms;

    let cni = timings.time("cni files", || {
        files::read_cni_state(&config.host_root, &mut errors)
    });

    let mut snapshot = std::thread::scope(|scope| {
        // ipamd may hang up to its timeout: ask it beside the namespace reads.
        let vpc_cni = scope.spawn(|| {
            let mut errors = Vec::new();
            let state = timings.time("vpc cni (checkpoint, ipamd)", || {
                vpc_cni::read_vpc_cni_state(
                    &config.host_root,
                    &cni,
                    config.ipamd_url.as_deref(),
                    config.ipamd_timeout,
                    &mut errors,
                )
            });
            (state, errors)
        });

        let (host, namespaces, kernel_routes_socket) =
            read_kernel(config, &cni, timings, &mut errors);

        let (vpc_cni, vpc_errors) = vpc_cni.join().unwrap_or_else(|_| {
            (
                None,
                vec![SourceError {
                    source: ErrorSource::Ipamd,
                    subject: "vpc-cni collector".into(),
                    message: "collector thread panicked".into(),
                }],
            )
        });
        errors.extend(vpc_errors);

        let mut snapshot = NodeSnapshot {
            node,
            probe_destination: config.probe_destination,
            host,
            namespaces,
            cni: cni.clone(),
            vpc_cni,
            kernel_routes: Vec::new(),
            errors: Vec::new(),
        };
        if let Some(mut socket) = kernel_routes_socket {
            snapshot.kernel_routes = ask_kernel(&mut socket, &snapshot, timings, &mut errors);
        }
        snapshot.errors = errors;
        snapshot
    });
    snapshot.node.collection_duration_us =
        u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    snapshot
}

/// Dumps the host namespace, discovers the others and reads the pod namespaces among them.
/// Returns the host socket for the kernel route questions, when it could be opened.
fn read_kernel(
    config: &CollectConfig,
    cni: &CniState,
    timings: &PhaseTimings,
    errors: &mut Vec<SourceError>,
) -> (NetnsState, Vec<NetnsState>, Option<RouteSocket>) {
    let own_inode = match netns::own_netns_inode() {
        Ok(inode) => inode,
        Err(err) => {
            errors.push(SourceError {
                source: ErrorSource::NetnsDiscovery,
                subject: "/proc/self/ns/net".into(),
                message: format!("cannot identify the agent's own namespace: {err}"),
            });
            0
        }
    };
    let mut host = NetnsState {
        inode: own_inode,
        name: None,
        path: "/proc/self/ns/net".into(),
        ..NetnsState::default()
    };
    let mut socket = match RouteSocket::open() {
        Ok(socket) => socket,
        Err(err) => {
            errors.push(netlink_error("host namespace", &err));
            return (host, Vec::new(), None);
        }
    };
    match timings.time("host dump", || socket.dump()) {
        Ok(dump) => {
            host.links = dump.links;
            host.addresses = dump.addresses;
            host.routes = dump.routes;
            host.rules = dump.rules;
            host.neighbors = dump.neighbors;
        }
        Err(err) => errors.push(netlink_error("host namespace", &err)),
    }

    let candidates = timings.time("discovery", || {
        netns::discover(&config.netns_dir, &config.proc_dir, own_inode, errors)
    });
    let pods = timings.time("nsids and selection", || {
        select_pod_namespaces(&mut socket, &host, cni, candidates, &config.host_root)
    });

    if let Some(hold) = &config.hold_after_discovery {
        hold_for_test(hold);
    }

    let mut namespaces = Vec::with_capacity(pods.len());
    let read = timings.time("pod namespaces", || {
        netns::read_namespaces(&pods, config.workers)
    });
    for result in read {
        match result {
            Ok(ns) => namespaces.push(ns),
            Err(err) => errors.push(err),
        }
    }
    (host, namespaces, Some(socket))
}

/// Keeps the namespaces that are pods: those a host veth leads into (by the host's nsid for
/// them), and those the CNI result cache names.
fn select_pod_namespaces(
    socket: &mut RouteSocket,
    host: &NetnsState,
    cni: &CniState,
    candidates: Vec<NetnsCandidate>,
    host_root: &Path,
) -> Vec<(NetnsCandidate, Option<i32>)> {
    let peer_nsids: HashSet<i32> = host
        .links
        .iter()
        .filter(|l| l.is_veth())
        .filter_map(|l| l.link_netnsid)
        .collect();
    let cached = cached_netns(cni, host_root);

    let mut selected = Vec::new();
    for candidate in candidates {
        // A namespace that vanished since discovery has no nsid to ask for; the CNI cache may
        // still name it, and its read will then record the error.
        let nsid = File::open(&candidate.path)
            .ok()
            .and_then(|file| socket.nsid_of(&file).ok().flatten());
        let named_in_cache = cached
            .names
            .contains(candidate.name.as_deref().unwrap_or(""))
            || cached.paths.contains(&candidate.path)
            || cached.inodes.contains(&candidate.inode);
        if nsid.is_some_and(|id| peer_nsids.contains(&id)) || named_in_cache {
            selected.push((candidate, nsid));
        }
    }
    selected
}

/// The namespaces the CNI result cache points at, by basename, path and inode.
struct CachedNetns {
    names: HashSet<String>,
    paths: HashSet<PathBuf>,
    inodes: HashSet<u64>,
}

fn cached_netns(cni: &CniState, host_root: &Path) -> CachedNetns {
    use std::os::unix::fs::MetadataExt as _;
    let mut cached = CachedNetns {
        names: HashSet::new(),
        paths: HashSet::new(),
        inodes: HashSet::new(),
    };
    for path in cni.cache.iter().filter_map(|e| e.netns_path.as_deref()) {
        let path = Path::new(path);
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            cached.names.insert(name.to_owned());
        }
        cached.paths.insert(path.to_owned());
        let under_root = host_root.join(path.strip_prefix("/").unwrap_or(path));
        if let Ok(meta) = std::fs::metadata(under_root) {
            cached.inodes.insert(meta.ino());
        }
    }
    cached
}

/// Asks the kernel, in the host namespace, every question the resolver will check itself against.
fn ask_kernel(
    socket: &mut RouteSocket,
    snapshot: &NodeSnapshot,
    timings: &PhaseTimings,
    errors: &mut Vec<SourceError>,
) -> Vec<KernelRouteDecision> {
    let queries = timings.time("kernel questions (resolver)", || {
        resolver::kernel_queries(snapshot, &resolver::choose_probe(snapshot))
    });
    timings.time("kernel answers", || answer_queries(socket, queries, errors))
}

fn answer_queries(
    socket: &mut RouteSocket,
    queries: Vec<KernelRouteQuery>,
    errors: &mut Vec<SourceError>,
) -> Vec<KernelRouteDecision> {
    let mut decisions = Vec::new();
    for query in queries {
        match socket.route_get(&query) {
            Ok(answer) => decisions.push(KernelRouteDecision { query, answer }),
            Err(err) => errors.push(SourceError {
                source: ErrorSource::KernelRoute,
                subject: format!(
                    "route get {} from {} iif {}",
                    query.destination, query.source, query.iif
                ),
                message: err.to_string(),
            }),
        }
    }
    decisions
}

fn netlink_error(subject: &str, err: &dyn std::error::Error) -> SourceError {
    SourceError {
        source: ErrorSource::Netlink,
        subject: subject.to_owned(),
        message: error_chain(err),
    }
}

/// An error and its causes on one line, for recording in the snapshot.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn hold_for_test(hold: &Path) {
    let mut ready = hold.as_os_str().to_owned();
    ready.push(".ready");
    if std::fs::write(&ready, b"").is_err() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while hold.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}
