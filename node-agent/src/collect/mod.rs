//! One collection of a node's state: every collector run, every failure recorded, nothing fatal.
//!
//! What depends on what decides the order. The CNI files and ipamd (with its checkpoint) need
//! nothing from the kernel, so they are read on threads of their own while the main thread
//! discovers the namespaces and dumps the host namespace. Pod namespaces are chosen only when
//! the host's veths (their `link-netnsid`s) and the CNI result cache (which names pod namespaces
//! too) are both in: the namespaces the cache names, and those of the others whose nsid a host
//! veth names. Only those are entered; the readers ask the host's nsid for the cached ones with
//! the file they open to enter it. ipamd is joined last, so a hung ipamd costs at most its
//! timeout and never blocks netlink. Errors are gathered per source and merged in a fixed order,
//! so the snapshot does not depend on which thread finished first.

mod beside;
pub mod files;
mod identity;
pub mod netlink;
pub mod netns;
mod pods;
pub mod timings;
pub mod vpc_cni;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use podwire_node_state::resolver::{self, NodeResolution};
use podwire_node_state::{
    CniState, ErrorSource, KernelRouteQuery, NetnsState, NodeSnapshot, SourceError,
};

use self::beside::beside;
use self::netlink::RouteSocket;
use self::pods::CachedNetns;
pub use self::timings::{PhaseTiming, PhaseTimings};
use self::vpc_cni::VpcCniSources;

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

/// One collection: the node's state, and every pod's path resolved from it.
#[derive(Debug)]
pub struct Collection {
    pub snapshot: NodeSnapshot,
    /// The same as `resolver::resolve(&snapshot)` gives.
    pub resolution: NodeResolution,
}

/// Reads the whole node. Never fails: what could not be read is in `errors`.
pub fn collect(config: &CollectConfig) -> NodeSnapshot {
    collect_and_resolve(config, &PhaseTimings::new()).snapshot
}

/// [`collect`], with the resolution made on the way (the kernel's routing decisions are asked
/// for while the resolver traces the paths that need them, so the pods are resolved once), and
/// how long each phase took recorded in `timings`.
pub fn collect_and_resolve(config: &CollectConfig, timings: &PhaseTimings) -> Collection {
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
    let own_inode = own_netns_inode(&mut errors);

    let (mut snapshot, socket) = std::thread::scope(|scope| {
        // ipamd may hang up to its timeout: it is joined last.
        let vpc_cni = beside(scope, "podwire-vpc-cni", || {
            timings.time("vpc cni: checkpoint, ipamd", || {
                VpcCniSources::read(
                    &config.host_root,
                    config.ipamd_url.as_deref(),
                    config.ipamd_timeout,
                )
            })
        });
        // The CNI files and ipamd together take about as long as the discovery and the host
        // dump, which the main thread does meanwhile: two cores shared with two threads started,
        // not one per source (each is one more wait for a core on a busy node).
        let files = beside(scope, "podwire-files", || {
            timings.time("cni files", || read_cni_files(&config.host_root))
        });
        let Discovered {
            candidates,
            errors: discovery_errors,
        } = discover_namespaces(config, own_inode, timings);

        let mut host = NetnsState {
            inode: own_inode,
            name: None,
            path: "/proc/self/ns/net".into(),
            ..NetnsState::default()
        };
        let mut host_errors = Vec::new();
        let mut socket = timings.time("host dump", || read_host(&mut host, &mut host_errors));

        let CniFiles {
            cni,
            cached_netns,
            errors: cni_errors,
        } = files.join().unwrap_or_else(|| CniFiles {
            errors: vec![panicked(ErrorSource::CniCache, "CNI file readers")],
            ..CniFiles::default()
        });
        let pods = pods::select_pod_namespaces(&host, &cached_netns, candidates, |uncached| {
            timings.time("host nsids", || match socket.as_mut() {
                Some(socket) => pods::host_nsids(socket, uncached),
                None => vec![None; uncached.len()],
            })
        });
        if let Some(hold) = &config.hold_after_discovery {
            hold_for_test(hold);
        }
        let mut namespaces = Vec::with_capacity(pods.len());
        let mut namespace_errors = Vec::new();
        let read = timings.time("pod namespaces", || {
            netns::read_namespaces(&pods, config.workers)
        });
        for result in read {
            match result {
                Ok(ns) => namespaces.push(ns),
                Err(err) => namespace_errors.push(err),
            }
        }

        let mut vpc_errors = Vec::new();
        let vpc_cni = match vpc_cni.join() {
            Some(sources) => sources.into_state(&cni, &mut vpc_errors),
            None => {
                vpc_errors.push(panicked(ErrorSource::Ipamd, "vpc-cni collector"));
                None
            }
        };

        errors.extend(cni_errors);
        errors.extend(host_errors);
        errors.extend(discovery_errors);
        errors.extend(namespace_errors);
        errors.extend(vpc_errors);
        let snapshot = NodeSnapshot {
            node,
            probe_destination: config.probe_destination,
            host,
            namespaces,
            cni,
            vpc_cni,
            kernel_routes: Vec::new(),
            errors,
        };
        (snapshot, socket)
    });
    let resolution = timings.time("resolution, asking the kernel", || {
        resolve_asking_kernel(&mut snapshot, socket)
    });
    snapshot.node.collection_duration_us =
        u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    Collection {
        snapshot,
        resolution,
    }
}

/// The namespaces found on the node.
#[derive(Debug)]
struct Discovered {
    candidates: Vec<netns::NetnsCandidate>,
    errors: Vec<SourceError>,
}

fn discover_namespaces(
    config: &CollectConfig,
    own_inode: u64,
    timings: &PhaseTimings,
) -> Discovered {
    let mut errors = Vec::new();
    let candidates = timings.time("netns discovery", || {
        netns::discover(&config.netns_dir, &config.proc_dir, own_inode, &mut errors)
    });
    Discovered { candidates, errors }
}

/// The CNI file state and what the result cache says about pod namespaces.
#[derive(Debug, Default)]
struct CniFiles {
    cni: CniState,
    cached_netns: CachedNetns,
    errors: Vec<SourceError>,
}

fn read_cni_files(host_root: &Path) -> CniFiles {
    let mut errors = Vec::new();
    let cni = files::read_cni_state(host_root, &mut errors);
    let cached_netns = CachedNetns::of(&cni, host_root);
    CniFiles {
        cni,
        cached_netns,
        errors,
    }
}

/// The agent's own namespace, left out of discovery; 0 (no namespace has it) when unknown.
fn own_netns_inode(errors: &mut Vec<SourceError>) -> u64 {
    netns::own_netns_inode().unwrap_or_else(|err| {
        errors.push(SourceError {
            source: ErrorSource::NetnsDiscovery,
            subject: "/proc/self/ns/net".into(),
            message: format!("cannot identify the agent's own namespace: {err}"),
        });
        0
    })
}

/// Dumps the host namespace into `host`. Returns the socket, for the nsid and kernel route
/// questions, when it could be opened.
fn read_host(host: &mut NetnsState, errors: &mut Vec<SourceError>) -> Option<RouteSocket> {
    let mut socket = match RouteSocket::open() {
        Ok(socket) => socket,
        Err(err) => {
            errors.push(netlink_error("host namespace", &err));
            return None;
        }
    };
    match socket.dump() {
        Ok(dump) => {
            host.links = dump.links;
            host.addresses = dump.addresses;
            host.routes = dump.routes;
            host.rules = dump.rules;
            host.neighbors = dump.neighbors;
        }
        Err(err) => errors.push(netlink_error("host namespace", &err)),
    }
    Some(socket)
}

/// Resolves the snapshot, asking the kernel (in the host namespace) each routing question the
/// resolver checks a path against, and records the answers (or why there is none) in it.
/// Without a host socket nothing is asked: the paths are resolved unchecked.
fn resolve_asking_kernel(
    snapshot: &mut NodeSnapshot,
    mut socket: Option<RouteSocket>,
) -> NodeResolution {
    let mut route_errors = Vec::new();
    let (resolution, answered) = resolver::resolve_asking(snapshot, &mut |query| match socket
        .as_mut()?
        .route_get(query)
    {
        Ok(answer) => Some(answer),
        Err(err) => {
            route_errors.push(route_error(query, err.to_string()));
            None
        }
    });
    snapshot.kernel_routes = answered;
    snapshot.errors.extend(route_errors);
    resolution
}

fn route_error(query: &KernelRouteQuery, message: String) -> SourceError {
    SourceError {
        source: ErrorSource::KernelRoute,
        subject: format!(
            "route get {} from {} iif {}",
            query.destination, query.source, query.iif
        ),
        message,
    }
}

/// A collector thread that panicked: what it would have collected is missing.
fn panicked(source: ErrorSource, subject: &str) -> SourceError {
    SourceError {
        source,
        subject: subject.to_owned(),
        message: "collector thread panicked".into(),
    }
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
