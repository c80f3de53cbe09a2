//! The pure pod-path resolver: no I/O, no clock. Given a [`NodeSnapshot`], it follows every pod's
//! traffic exactly as the kernel would, and says where it cannot.
//!
//! The steps, each in the (private) module named for it:
//! - `pods` pairs pod interfaces with host veths; `identity` names the pod from the CNI cache (or
//!   says why it cannot);
//! - `rules` and `lookup`: the policy-rule walk and longest-prefix match the kernel does for a
//!   packet from the pod entering on its host veth or bridge (`prefix` compares addresses the
//!   kernel's way);
//! - `egress` and `layers`: from the route's device down through vlan / macvlan / vxlan / bridge
//!   links to the NIC and the ENI MAC;
//! - `kernel`: the kernel's recorded answer to the same question, compared;
//! - `wiring`, `ipam`, `probe`: which CNI wired the pod, whether ipamd agrees, and which
//!   destination to ask about.
//!
//! Host links are indexed by ifindex, routes by table and rule selectors compiled once per call
//! (`index`), and rules by the one address or device that selects them (`rule_index`), so a
//! 250-pod node costs each pod a handful of rule comparisons rather than one per rule.

mod egress;
mod facts;
mod identity;
mod index;
mod ipam;
mod kernel;
mod layers;
mod lookup;
mod path;
mod pods;
mod prefix;
mod probe;
mod rule_index;
mod rules;
mod wiring;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::cmp::Ordering;

use foldhash::{HashMap, HashSet, HashSetExt};

pub use facts::PodFacts;
pub use path::*;

use self::egress::{KernelAnswers, RecordedAnswers};
use self::facts::Detail;
use self::index::HostIndex;
use self::pods::PodAttachment;
use self::rules::Flow;
use self::wiring::WiringFacts;
use crate::model::{
    ErrorSource, KernelRouteAnswer, KernelRouteDecision, KernelRouteQuery, NetnsState,
    NodeSnapshot, table,
};

/// Picks the probe destinations: the snapshot's configured one for its family, else for each
/// family the first documentation (then public resolver) address that only the node's default
/// routes reach, so that the path resolved is the one that leaves the node.
pub fn choose_probe(snapshot: &NodeSnapshot) -> Probe {
    probe::choose(snapshot, &HostIndex::new(snapshot))
}

/// The RTM_GETROUTE questions the agent must ask the kernel so that [`resolve`] can check itself:
/// one per traced path (the pod's egress, and its SNAT egress where the node has one), in pod
/// order, without repeats.
pub fn kernel_queries(snapshot: &NodeSnapshot, probe: &Probe) -> Vec<KernelRouteQuery> {
    queries_of(&resolve_pods(
        snapshot,
        HostIndex::new(snapshot),
        probe,
        &RecordedAnswers::default(),
        Detail::Full,
    ))
}

/// Resolves every pod of the snapshot, checking each path against the kernel's recorded answers.
pub fn resolve(snapshot: &NodeSnapshot) -> NodeResolution {
    let host = HostIndex::new(snapshot);
    let probe = probe::choose(snapshot, &host);
    let pods = resolve_pods(
        snapshot,
        host,
        &probe,
        &recorded_answers(snapshot),
        Detail::Full,
    );
    NodeResolution { probe, pods }
}

/// The [`PodFacts`] of every pod of the snapshot, in [`resolve`]'s order: equal to
/// `resolve(snapshot).pods.iter().map(PodFacts::of)`, for about two thirds of the work (the
/// path's display texts are not built). For a history that keeps only these facts.
pub fn resolve_facts(snapshot: &NodeSnapshot) -> Vec<PodFacts> {
    let host = HostIndex::new(snapshot);
    let probe = probe::choose(snapshot, &host);
    let answers = recorded_answers(snapshot);
    resolve_pods_into(
        snapshot,
        host,
        &probe,
        &answers,
        Detail::Facts,
        PodFacts::from_path,
    )
}

/// The kernel's answers the snapshot recorded, by question.
fn recorded_answers(snapshot: &NodeSnapshot) -> RecordedAnswers<'_> {
    snapshot
        .kernel_routes
        .iter()
        .map(|d| (&d.query, &d.answer))
        .collect()
}

/// [`resolve`] for a snapshot whose kernel answers are not recorded yet: each question
/// [`kernel_queries`] would list is put to `ask` once, as the path needing it is traced (`None`:
/// no answer, as when asking failed). Returns the resolution, the same as [`resolve`] gives once
/// the answers are recorded, and the answered questions in [`kernel_queries`] order: what the
/// snapshot records as `kernel_routes`. One pass over the pods instead of two (one to list the
/// questions, one to check the paths against the answers).
pub fn resolve_asking(
    snapshot: &NodeSnapshot,
    ask: &mut AskKernel<'_>,
) -> (NodeResolution, Vec<KernelRouteDecision>) {
    let host = HostIndex::new(snapshot);
    let probe = probe::choose(snapshot, &host);
    let answers = AskedAnswers {
        ask: RefCell::new(ask),
        asked: RefCell::default(),
    };
    let pods = resolve_pods(snapshot, host, &probe, &answers, Detail::Full);
    let mut asked = answers.asked.into_inner();
    let decisions = queries_of(&pods)
        .into_iter()
        .filter_map(|query| {
            let answer = asked.remove(&query).flatten()?;
            Some(KernelRouteDecision { query, answer })
        })
        .collect();
    (NodeResolution { probe, pods }, decisions)
}

/// Puts one routing question to the kernel: its answer, or `None` when there is none.
pub type AskKernel<'k> = dyn FnMut(&KernelRouteQuery) -> Option<KernelRouteAnswer> + 'k;

/// The kernel, asked while resolving; each question once.
struct AskedAnswers<'a, 'k> {
    ask: RefCell<&'a mut AskKernel<'k>>,
    asked: RefCell<HashMap<KernelRouteQuery, Option<KernelRouteAnswer>>>,
}

impl KernelAnswers for AskedAnswers<'_, '_> {
    fn answer(&self, query: &KernelRouteQuery) -> Option<KernelRouteAnswer> {
        if let Some(known) = self.asked.borrow().get(query) {
            return known.clone();
        }
        let answer = (self.ask.borrow_mut())(query);
        self.asked
            .borrow_mut()
            .insert(query.clone(), answer.clone());
        answer
    }
}

/// The routing questions of resolved paths, in pod order, without repeats.
fn queries_of(pods: &[PodPath]) -> Vec<KernelRouteQuery> {
    let mut seen = HashSet::new();
    let mut queries = Vec::new();
    for pod in pods {
        let Some(source) = pod.ip() else { continue };
        for egress in pod.egress.iter().chain(pod.snat_egress.iter()) {
            let query = KernelRouteQuery {
                destination: egress.destination,
                source,
                iif: egress.ingress.ifindex,
                fwmark: egress.fwmark,
            };
            if seen.insert(query.clone()) {
                queries.push(query);
            }
        }
    }
    queries
}

/// Every pod's path, `host` being the snapshot's host index (built once per resolution: the probe
/// is chosen with it too).
fn resolve_pods<'a>(
    snapshot: &'a NodeSnapshot,
    host: HostIndex<'a>,
    probe: &Probe,
    answers: &dyn KernelAnswers,
    detail: Detail,
) -> Vec<PodPath> {
    resolve_pods_into(snapshot, host, probe, answers, detail, |path| path)
}

/// Resolves every pod and makes each path into what the caller keeps of it (`finish`), in
/// [`pod_order`]: the facts of 250 paths are sorted instead of the paths, which are large values.
fn resolve_pods_into<'a, T: PodOrder>(
    snapshot: &'a NodeSnapshot,
    mut host: HostIndex<'a>,
    probe: &Probe,
    answers: &dyn KernelAnswers,
    detail: Detail,
    finish: impl Fn(PodPath) -> T,
) -> Vec<T> {
    let cache = identity::CniCacheIndex::new(&snapshot.cni.cache);
    let attachments = pods::discover(snapshot, &host, &cache);
    host.set_pod_host_veths(
        attachments
            .iter()
            .filter_map(|a| a.host_veth)
            .map(|veth| veth.ifindex),
    );
    let context = Context {
        snapshot,
        host,
        cache,
        probe,
        answers,
        detail,
        holders: ipam::Holders::new(snapshot.vpc_cni.as_ref()),
    };
    let resolved: Vec<(&NetnsState, T)> = attachments
        .iter()
        .map(|a| (a.ns, finish(context.resolve_pod(a))))
        .collect();
    // The sort moves indices; each value moves once afterwards.
    let mut order: Vec<usize> = (0..resolved.len()).collect();
    order.sort_by(|&a, &b| pod_order(&resolved[a], &resolved[b]));
    let mut slots: Vec<Option<T>> = resolved.into_iter().map(|(_, t)| Some(t)).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// What [`pod_order`] reads of a resolved pod besides its namespace.
trait PodOrder {
    fn pod_namespace(&self) -> Option<&str>;
    fn pod_name(&self) -> Option<&str>;
    fn interface(&self) -> &str;
}

impl PodOrder for PodPath {
    fn pod_namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
    fn pod_name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    fn interface(&self) -> &str {
        &self.pod_interface.name
    }
}

impl PodOrder for PodFacts {
    fn pod_namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
    fn pod_name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    fn interface(&self) -> &str {
        &self.interface
    }
}

/// Identified pods first, by namespace and name; then the rest by netns name; then interface.
fn pod_order<T: PodOrder>(a: &(&NetnsState, T), b: &(&NetnsState, T)) -> Ordering {
    let ((a_ns, a), (b_ns, b)) = (a, b);
    let unknown = |p: &T| p.pod_namespace().is_none() && p.pod_name().is_none();
    unknown(a)
        .cmp(&unknown(b))
        .then_with(|| a.pod_namespace().cmp(&b.pod_namespace()))
        .then_with(|| a.pod_name().cmp(&b.pod_name()))
        .then_with(|| a_ns.name.cmp(&b_ns.name))
        .then_with(|| a_ns.path.cmp(&b_ns.path))
        .then_with(|| a.interface().cmp(b.interface()))
}

struct Context<'a, 'p> {
    snapshot: &'a NodeSnapshot,
    host: HostIndex<'a>,
    cache: identity::CniCacheIndex<'a>,
    probe: &'p Probe,
    answers: &'p dyn KernelAnswers,
    detail: Detail,
    holders: ipam::Holders<'a>,
}

impl Context<'_, '_> {
    fn resolve_pod(&self, attachment: &PodAttachment<'_>) -> PodPath {
        let ns = attachment.ns;
        let pod_interface = match attachment.link {
            Some(link) => pods::pod_interface(ns, link),
            None => PodInterface {
                name: attachment
                    .orphan_entry
                    .map(|e| e.if_name.clone())
                    .unwrap_or_default(),
                ifindex: 0,
                ip: None,
                mac: None,
                gateway: None,
                gateway_neighbor: None,
            },
        };
        let identity = match attachment.orphan_entry {
            // The cache names this namespace; the interface may not match its if_name.
            Some(entry) => identity::Identity::from_entry(entry),
            None => identity::identify(self.snapshot, &self.cache, ns, &pod_interface),
        };
        let entry = identity.entry;
        let mut problems: Vec<Problem> = identity.problem.into_iter().collect();
        problems.extend(incomplete_namespace(self.snapshot, ns));

        let mut path = PodPath {
            namespace: identity.namespace,
            name: identity.name,
            container_id: identity.container_id,
            netns: NetnsRef {
                inode: ns.inode,
                name: ns.name.clone(),
                path: ns.path.clone(),
                nsid: ns.nsid,
            },
            wiring: Wiring::Unknown,
            pod_interface,
            host_veth: attachment.host_veth.map(LinkRef::from),
            bridge: None,
            rules: Vec::new(),
            egress: None,
            snat_egress: None,
            problems: Vec::new(),
        };
        let mut facts = WiringFacts {
            entry,
            host_veth: attachment.host_veth,
            bridge: None,
            pod_ip: path.pod_interface.ip,
            gateway: path.pod_interface.gateway,
            crossed_branch: false,
        };

        let Some(host_veth) = attachment.host_veth else {
            problems.push(Problem::new(
                ProblemCode::NoHostVeth,
                format!(
                    "no host veth leads into netns {} ({}), which the CNI cache names{}",
                    ns.name.as_deref().unwrap_or("(unnamed)"),
                    ns.path,
                    attachment
                        .link
                        .map(|l| format!("; its interface {} is a {}", l.name, l.kind.name()))
                        .unwrap_or_default()
                ),
            ));
            path.wiring = wiring::detect(self.snapshot, &self.host, &facts);
            path.problems = problems;
            return path;
        };
        let bridge = host_veth
            .master
            .and_then(|m| self.host.link(m))
            .filter(|l| l.is_bridge());
        path.bridge = bridge.map(LinkRef::from);
        facts.bridge = bridge;

        let Some(pod_ip) = path.ip() else {
            problems.push(Problem::new(
                ProblemCode::NoPodAddress,
                format!(
                    "{} in netns {} has no global address",
                    path.pod_interface.name, ns.path
                ),
            ));
            path.wiring = wiring::detect(self.snapshot, &self.host, &facts);
            path.problems = problems;
            return path;
        };
        let devices: Vec<&str> = std::iter::once(host_veth.name.as_str())
            .chain(bridge.map(|b| b.name.as_str()))
            .collect();
        if self.detail.texts() {
            path.rules = rules::rules_naming_pod(&self.host, pod_ip, &devices);
        }

        // Traffic from the pod enters the host's routing on the bridge when the veth is enslaved.
        let ingress = bridge.unwrap_or(host_veth);
        let destination = self.probe.for_pod(pod_ip);
        let flow = Flow {
            destination,
            source: pod_ip,
            ingress,
            mark: 0,
        };
        let label = match self.detail {
            Detail::Full => format!("to {destination}"),
            Detail::Facts => String::new(),
        };
        let mut main = egress::trace(&self.host, &flow, label, self.answers, self.detail);
        problems.append(&mut main.problems);
        facts.crossed_branch = main.crossed_branch;
        path.wiring = wiring::detect(self.snapshot, &self.host, &facts);

        if path.wiring == Wiring::AwsVpcCni {
            if let Some(snat) = self.snat_path(&flow, &main) {
                problems.extend(snat.problems);
                path.snat_egress = Some(snat.egress);
            }
            problems.extend(ipam::cross_check(
                &self.host,
                &self.holders,
                pod_ip,
                main.egress.table,
            ));
        }
        path.egress = Some(main.egress);
        path.problems = problems;
        path
    }
}

impl<'a> Context<'a, '_> {
    /// VPC CNI's second path for a pod whose own ENI's table carries its traffic: internet-bound
    /// connections are SNAT-ed to the primary ENI and marked, and the mark rule sends them to
    /// `main` before the pod's own rule is reached.
    fn snat_path(&self, flow: &Flow<'_>, main: &egress::Traced<'a>) -> Option<egress::Traced<'a>> {
        main.egress.table.filter(|&t| t != table::MAIN)?;
        let rule = egress::snat_rule(&self.host, flow.source, main.rule?)?;
        let snat_flow = Flow {
            mark: rules::effective_fwmark(rule).0,
            ..*flow
        };
        let label = match self.detail {
            Detail::Full => egress::snat_label(rule),
            Detail::Facts => String::new(),
        };
        Some(egress::trace(
            &self.host,
            &snat_flow,
            label,
            self.answers,
            self.detail,
        ))
    }
}

/// The collection errors recorded against a namespace: what the resolver saw of it may be partial.
fn incomplete_namespace(snapshot: &NodeSnapshot, ns: &NetnsState) -> Vec<Problem> {
    snapshot
        .errors
        .iter()
        .filter(|e| e.source == ErrorSource::Netlink)
        .filter(|e| e.subject == ns.path || ns.name.as_deref() == Some(e.subject.as_str()))
        .map(|e| {
            Problem::new(
                ProblemCode::IncompleteNamespace,
                format!("reading {}: {}", e.subject, e.message),
            )
        })
        .collect()
}
