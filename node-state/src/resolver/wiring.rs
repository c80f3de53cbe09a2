//! Which CNI wired a pod: the kernel objects first where they are unambiguous (a VPC CNI branch
//! ENI), then the CNI cache entry, then the node's first network configuration, then the shape
//! of the kernel objects alone.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::index::HostIndex;
use super::kernel::legs;
use super::layers::branch_vlan_id;
use super::path::Wiring;
use crate::model::{CniCacheEntry, CniNetworkConfig, Link, LinkKind, NodeSnapshot, RuleAction};

/// VPC CNI's pod gateway: a link-local address answered by the host veth (a PERMANENT neighbour).
const VPC_CNI_GATEWAY: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 1, 1));

/// What is known about one pod when its wiring is decided.
#[derive(Debug, Clone, Copy)]
pub(super) struct WiringFacts<'a> {
    pub entry: Option<&'a CniCacheEntry>,
    pub host_veth: Option<&'a Link>,
    pub bridge: Option<&'a Link>,
    pub pod_ip: Option<IpNet>,
    pub gateway: Option<IpAddr>,
    /// The egress path crossed a `vlan.eth.<id>` link.
    pub crossed_branch: bool,
}

pub(super) fn detect(
    snapshot: &NodeSnapshot,
    host: &HostIndex<'_>,
    facts: &WiringFacts<'_>,
) -> Wiring {
    if facts.crossed_branch
        || facts
            .host_veth
            .is_some_and(|veth| iif_rule_reaches_branch(host, veth))
    {
        return Wiring::AwsVpcCniBranch;
    }
    if let Some(entry) = facts.entry.filter(|e| !e.plugin_types.is_empty()) {
        let config = snapshot
            .cni
            .configs
            .iter()
            .find(|c| c.name == entry.network_name);
        let types: Vec<&str> = entry.plugin_types.iter().map(String::as_str).collect();
        // The cache names the plugins that ran: if none is one podwire knows, say so rather than
        // let the kernel objects suggest a look-alike (Calico also routes /32s via 169.254.1.1).
        return from_plugins(host, &types, config, facts.bridge).unwrap_or(Wiring::Unknown);
    }
    if let Some(config) = snapshot.cni.configs.first() {
        let types: Vec<&str> = config
            .plugins
            .iter()
            .map(|p| p.plugin_type.as_str())
            .collect();
        if let Some(wiring) = from_plugins(host, &types, Some(config), facts.bridge) {
            return wiring;
        }
    }
    from_kernel_objects(snapshot, host, facts)
}

fn from_plugins(
    host: &HostIndex<'_>,
    types: &[&str],
    config: Option<&CniNetworkConfig>,
    bridge: Option<&Link>,
) -> Option<Wiring> {
    if types.contains(&"aws-cni") {
        return Some(Wiring::AwsVpcCni);
    }
    if types.contains(&"flannel") {
        return Some(Wiring::Flannel);
    }
    let config_names_kube_bridge = config.is_some_and(|c| {
        c.plugins
            .iter()
            .any(|p| p.plugin_type == "bridge" && p.bridge.as_deref() == Some("kube-bridge"))
    });
    if bridge.is_some_and(|b| b.name == "kube-bridge") || config_names_kube_bridge {
        return Some(Wiring::KubeRouter);
    }
    if types.contains(&"bridge") {
        return Some(if has_flannel_vxlan(host) {
            Wiring::Flannel
        } else {
            Wiring::Bridge
        });
    }
    None
}

fn from_kernel_objects(
    snapshot: &NodeSnapshot,
    host: &HostIndex<'_>,
    facts: &WiringFacts<'_>,
) -> Wiring {
    let routed_veth = facts.host_veth.is_some_and(|veth| {
        veth.master.is_none() && (veth.name.starts_with("eni") || snapshot.vpc_cni.is_some())
    });
    let host_prefix = facts
        .pod_ip
        .is_some_and(|ip| ip.prefix_len() == ip.max_prefix_len());
    if routed_veth && host_prefix && facts.gateway == Some(VPC_CNI_GATEWAY) {
        return Wiring::AwsVpcCni;
    }
    match facts.bridge.map(|b| b.name.as_str()) {
        Some("cni0") if has_flannel_vxlan(host) => Wiring::Flannel,
        Some("kube-bridge") => Wiring::KubeRouter,
        Some(_) => Wiring::Bridge,
        None => Wiring::Unknown,
    }
}

/// flannel names its VXLAN device `flannel.<vni>`.
fn has_flannel_vxlan(host: &HostIndex<'_>) -> bool {
    host.links().any(|link| {
        matches!(link.kind, LinkKind::Vxlan { .. }) && link.name.starts_with("flannel.")
    })
}

/// VPC CNI routes a branch pod's traffic with `iif <host veth> lookup <100 + vlan id>`, whose
/// table sends everything out of `vlan.eth.<vlan id>`.
fn iif_rule_reaches_branch(host: &HostIndex<'_>, host_veth: &Link) -> bool {
    host.rules_for_iif(&host_veth.name).iter().any(|rule| {
        let RuleAction::Lookup { table } = rule.action else {
            return false;
        };
        host.table(rule.family, table).iter().any(|indexed| {
            legs(indexed.route).iter().any(|(oif, _)| {
                oif.and_then(|ifindex| host.link(ifindex))
                    .is_some_and(|l| branch_vlan_id(l).is_some())
            })
        })
    })
}
