//! The link stack below an egress device: through vlan, macvlan, ipvlan, vxlan and bridge links
//! down to the device that carries the traffic off the node, noting a VPC CNI branch ENI on the
//! way (its `vlan.eth.<id>` link carries the branch ENI's MAC).

use foldhash::{HashSet, HashSetExt};

use super::index::HostIndex;
use super::path::{Layer, LinkRef, Problem, ProblemCode};
use crate::model::{Link, LinkKind};

/// Deeper stacks than this are not real wiring; stop rather than wander.
const MAX_DEPTH: usize = 8;

/// The VPC CNI branch ENI a path crosses: its `vlan.eth.<id>` link on the trunk ENI.
#[derive(Debug, Clone)]
pub(super) struct BranchEni<'a> {
    pub link: &'a Link,
    pub vlan_id: u16,
    pub trunk: String,
}

/// What the walk found below one egress device.
#[derive(Debug, Default)]
pub(super) struct LinkStack<'a> {
    pub layers: Vec<Layer>,
    pub nic: Option<&'a Link>,
    pub branch: Option<BranchEni<'a>>,
    pub stays_on_node: Option<String>,
    pub problems: Vec<Problem>,
}

/// The vlan id of a VPC CNI branch link (`vlan.eth.<id>`): from IFLA_VLAN_ID for a real vlan,
/// else from the name (tests, and kernels without 802.1Q, stand a macvlan in for it).
pub(super) fn branch_vlan_id(link: &Link) -> Option<u16> {
    let from_name = link.name.strip_prefix("vlan.eth.")?.parse::<u16>().ok()?;
    Some(match link.kind {
        LinkKind::Vlan { id, .. } => id,
        _ => from_name,
    })
}

enum Step<'a> {
    /// `link` is the device that leaves the node.
    Nic,
    /// Continue with `next`, because of `via`.
    Down {
        next: &'a Link,
        via: String,
    },
    /// The path ends on the node, for the reason given.
    OnNode(String),
    Stuck(Problem),
}

/// Follows the stack below `egress` down to the NIC.
pub(super) fn walk<'a>(host: &HostIndex<'a>, egress: &'a Link) -> LinkStack<'a> {
    let mut stack = LinkStack::default();
    let mut visited = HashSet::new();
    let mut current = egress;
    loop {
        if !visited.insert(current.ifindex) {
            stack.problems.push(Problem::new(
                ProblemCode::UnresolvedLayer,
                format!(
                    "the link stack below {} loops back to {}",
                    egress.name, current.name
                ),
            ));
            return stack;
        }
        if stack.layers.len() >= MAX_DEPTH {
            stack.problems.push(Problem::new(
                ProblemCode::UnresolvedLayer,
                format!(
                    "the link stack below {} is deeper than {MAX_DEPTH} links",
                    egress.name
                ),
            ));
            return stack;
        }
        match step(host, current) {
            Step::Nic => {
                stack.nic = Some(current);
                return stack;
            }
            Step::OnNode(why) => {
                stack.stays_on_node = Some(why);
                return stack;
            }
            Step::Stuck(problem) => {
                stack.problems.push(problem);
                return stack;
            }
            Step::Down { next, via } => {
                if stack.branch.is_none()
                    && let Some(vlan_id) = branch_vlan_id(current)
                {
                    stack.branch = Some(BranchEni {
                        link: current,
                        vlan_id,
                        trunk: next.name.clone(),
                    });
                }
                stack.layers.push(Layer {
                    link: LinkRef::from(current),
                    via,
                });
                current = next;
            }
        }
    }
}

fn step<'a>(host: &HostIndex<'a>, link: &'a Link) -> Step<'a> {
    if let Some(vlan_id) = branch_vlan_id(link) {
        return down_to_parent(host, link, |parent| format!("vlan {vlan_id} on {parent}"));
    }
    match &link.kind {
        LinkKind::Vlan { id, .. } => {
            down_to_parent(host, link, |parent| format!("vlan {id} on {parent}"))
        }
        LinkKind::Macvlan { mode } => down_to_parent(host, link, |parent| {
            format!("macvlan on {parent} (mode {mode})")
        }),
        LinkKind::Ipvlan { mode } => down_to_parent(host, link, |parent| {
            format!("ipvlan on {parent} (mode {mode})")
        }),
        LinkKind::Vxlan {
            vni,
            underlay,
            local,
            ..
        } => {
            if let Some(ifindex) = underlay {
                return match host.link(*ifindex) {
                    Some(next) => Step::Down {
                        next,
                        via: format!("vxlan vni {vni} dev {}", next.name),
                    },
                    None => Step::Stuck(missing(format!(
                        "vxlan {} (vni {vni}) is pinned to device ifindex {ifindex}, which the snapshot does not hold",
                        link.name
                    ))),
                };
            }
            match local {
                Some(ip) => match host.address_owner(*ip) {
                    Some(next) => Step::Down {
                        next,
                        via: format!("vxlan vni {vni} local {ip}"),
                    },
                    None => Step::Stuck(Problem::new(
                        ProblemCode::UnresolvedLayer,
                        format!(
                            "vxlan {} (vni {vni}) sends from local {ip}, which no host link holds",
                            link.name
                        ),
                    )),
                },
                None => Step::Stuck(Problem::new(
                    ProblemCode::UnresolvedLayer,
                    format!(
                        "vxlan {} (vni {vni}) names neither an underlay device nor a local address: the \
                         device its packets leave through depends on the underlay route to each remote",
                        link.name
                    ),
                )),
            }
        }
        LinkKind::Bridge => {
            let uplinks: Vec<&Link> = host
                .ports_of(link.ifindex)
                .iter()
                .copied()
                .filter(|port| !host.leads_to_pod(port))
                .collect();
            match uplinks.as_slice() {
                [] => Step::OnNode(format!(
                    "bridge {} has no uplink port: the traffic stays on the node",
                    link.name
                )),
                [next] => Step::Down {
                    next,
                    via: format!("bridge port {}", next.name),
                },
                several => Step::Stuck(Problem::new(
                    ProblemCode::UnresolvedLayer,
                    format!(
                        "bridge {} has several uplink ports ({}): which one carries the traffic depends on \
                         the bridge's forwarding database",
                        link.name,
                        several
                            .iter()
                            .map(|l| l.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
        }
        LinkKind::Veth if host.leads_to_pod(link) => {
            Step::OnNode(format!("{} leads into another pod's namespace", link.name))
        }
        LinkKind::Loopback => Step::OnNode(format!("{} is the loopback device", link.name)),
        LinkKind::Veth | LinkKind::Device | LinkKind::Dummy | LinkKind::Other { .. } => Step::Nic,
    }
}

/// vlan, macvlan and ipvlan links sit on a parent (`IFLA_LINK`) in the same namespace.
fn down_to_parent<'a>(
    host: &HostIndex<'a>,
    link: &'a Link,
    via: impl FnOnce(&str) -> String,
) -> Step<'a> {
    if let Some(nsid) = link.link_netnsid {
        return Step::Stuck(Problem::new(
            ProblemCode::UnresolvedLayer,
            format!(
                "{}'s parent device lives in another namespace (nsid {nsid})",
                link.name
            ),
        ));
    }
    let Some(parent_index) = link.link else {
        return Step::Stuck(missing(format!(
            "{} ({}) names no parent device",
            link.name,
            link.kind.name()
        )));
    };
    match host.link(parent_index) {
        Some(next) => Step::Down {
            next,
            via: via(&next.name),
        },
        None => Step::Stuck(missing(format!(
            "{}'s parent device (ifindex {parent_index}) is not in the snapshot",
            link.name
        ))),
    }
}

fn missing(message: String) -> Problem {
    Problem::new(ProblemCode::MissingLink, message)
}
