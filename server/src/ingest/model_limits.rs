//! The bounds of [`super::limits`], checked on a decoded model instead of the wire message: the
//! fast path of a canonical upload decodes straight into the model
//! ([`podwire_node_state::wire::decode_snapshot_directly`]) and has no wire message to check.
//!
//! It only answers yes or no. An upload that is out of bounds takes the prost path, whose
//! [`check_snapshot`](super::limits::check_snapshot) names the field; the two checks hold the
//! same bounds on the same fields (the model keeps every list and string of the message, one for
//! one), which the tests below hold them to.

use podwire_node_state::*;

use super::limits::{MAX_NAME_BYTES, MAX_TEXT_BYTES, SnapshotLimits};

/// Whether every count and string of `snapshot` is within `limits` and the bounds of
/// [`check_snapshot`](super::limits::check_snapshot), the collection time included.
pub fn within_limits(snapshot: &NodeSnapshot, limits: &SnapshotLimits) -> bool {
    let node = &snapshot.node;
    let other = limits.other_lists;
    names([
        &node.cluster,
        &node.node_name,
        &node.boot_id,
        &node.agent_version,
    ]) && text(&node.kernel)
        && chrono::DateTime::from_timestamp_millis(node.collected_at_unix_ms).is_some()
        && netns(&snapshot.host, limits)
        && snapshot.namespaces.len() <= limits.namespaces
        && snapshot.namespaces.iter().all(|ns| netns(ns, limits))
        && cni(&snapshot.cni, other)
        && snapshot.vpc_cni.as_ref().is_none_or(|v| vpc_cni(v, other))
        && snapshot.kernel_routes.len() <= other
        && snapshot.kernel_routes.iter().all(|d| match &d.answer {
            KernelRouteAnswer::Error { message, .. } => text(message),
            KernelRouteAnswer::Route { .. } => true,
        })
        && snapshot.errors.len() <= other
        && snapshot
            .errors
            .iter()
            .all(|e| text(&e.subject) && text(&e.message))
}

fn string(value: &str, max: usize) -> bool {
    value.len() <= max && !value.contains('\0')
}

fn name(value: &str) -> bool {
    string(value, MAX_NAME_BYTES)
}

fn text(value: &str) -> bool {
    string(value, MAX_TEXT_BYTES)
}

fn names<const N: usize>(values: [&String; N]) -> bool {
    values.iter().all(|v| name(v))
}

fn opt_names<const N: usize>(values: [&Option<String>; N]) -> bool {
    values.iter().all(|v| v.as_deref().is_none_or(name))
}

fn opt_text(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(text)
}

/// A list within `max` entries, each of them passing `check`.
fn each<T>(items: &[T], max: usize, check: impl Fn(&T) -> bool) -> bool {
    items.len() <= max && items.iter().all(check)
}

fn netns(ns: &NetnsState, limits: &SnapshotLimits) -> bool {
    let other = limits.other_lists;
    opt_names([&ns.name])
        && text(&ns.path)
        && each(&ns.links, limits.links, |link| {
            name(&link.name)
                && match &link.kind {
                    LinkKind::Macvlan { mode } | LinkKind::Ipvlan { mode } => name(mode),
                    LinkKind::Other { name: kind } => name(kind),
                    _ => true,
                }
        })
        && ns.addresses.len() <= limits.addresses
        && each(&ns.routes, limits.routes, |r| r.nexthops.len() <= other)
        && each(&ns.rules, limits.rules, |r| opt_names([&r.iif, &r.oif]))
        && each(&ns.neighbors, limits.neighbors, |n| {
            each(&n.state, other, |s| name(s))
        })
}

fn cni(cni: &CniState, other: usize) -> bool {
    each(&cni.cache, other, |entry| {
        text(&entry.file)
            && names([&entry.network_name, &entry.container_id, &entry.if_name])
            && opt_names([
                &entry.pod_namespace,
                &entry.pod_name,
                &entry.pod_uid,
                &entry.cni_version,
            ])
            && opt_text(&entry.netns_path)
            && entry.ips.len() <= other
            && entry.gateways.len() <= other
            && each(&entry.interfaces, other, |i| {
                name(&i.name) && opt_text(&i.sandbox)
            })
            && each(&entry.plugin_types, other, |t| name(t))
    }) && each(&cni.configs, other, |config| {
        text(&config.file)
            && name(&config.name)
            && opt_names([&config.cni_version])
            && each(&config.plugins, other, |plugin| {
                name(&plugin.plugin_type)
                    && opt_names([&plugin.bridge, &plugin.delegate_type])
                    && plugin.ipam.as_ref().is_none_or(|ipam| {
                        name(&ipam.ipam_type)
                            && ipam.subnets.len() <= other
                            && opt_text(&ipam.data_dir)
                    })
            })
    }) && each(&cni.host_local, other, |network| {
        name(&network.network)
            && text(&network.dir)
            && each(&network.allocations, other, |a| {
                name(&a.container_id) && opt_names([&a.if_name])
            })
            && network.last_reserved.len() <= other
            && network.ranges.len() <= other
    })
}

fn vpc_cni(vpc_cni: &VpcCniState, other: usize) -> bool {
    vpc_cni.ipamd.as_ref().is_none_or(|ipamd| {
        each(&ipamd.network_cards, other, |card| {
            each(&card.enis, other, |eni| {
                name(&eni.id)
                    && opt_names([&eni.subnet_id])
                    && each(&eni.cidrs, other, |cidr| {
                        each(&cidr.addresses, other, |a| {
                            opt_names([
                                &a.container_id,
                                &a.pod_namespace,
                                &a.pod_name,
                                &a.assigned_time,
                                &a.unassigned_time,
                            ])
                        })
                    })
            })
        })
    }) && vpc_cni.checkpoint.as_ref().is_none_or(|checkpoint| {
        text(&checkpoint.file)
            && name(&checkpoint.version)
            && each(&checkpoint.allocations, other, |a| {
                names([&a.network_name, &a.container_id, &a.if_name])
                    && opt_names([&a.pod_namespace, &a.pod_name])
            })
    })
}

#[cfg(test)]
mod tests {
    use podwire_node_state::wire::proto;

    use super::*;
    use crate::ingest::limits::check_snapshot;

    /// The wire check and this one, on the model of the same message.
    fn agree(wire: proto::NodeSnapshot, limits: &SnapshotLimits) -> bool {
        let model = NodeSnapshot::try_from(wire.clone()).unwrap();
        let within = within_limits(&model, limits);
        assert_eq!(within, check_snapshot(&wire, limits).is_ok(), "{model:?}");
        within
    }

    /// One way of breaking a snapshot's bounds.
    type Breakage = fn(&mut NodeSnapshot);

    fn snapshot() -> NodeSnapshot {
        let mut snapshot = NodeSnapshot::default();
        snapshot.host.links.push(Link {
            ifindex: 1,
            name: "eth0".into(),
            kind: LinkKind::Device,
            mac: None,
            mtu: 9001,
            admin_up: true,
            oper_state: OperState::Up,
            master: None,
            link: None,
            link_netnsid: None,
        });
        snapshot.namespaces = vec![snapshot.host.clone(); 3];
        snapshot
    }

    #[test]
    fn counts_strings_and_times_are_bounded_as_on_the_wire() {
        let limits = SnapshotLimits {
            namespaces: 3,
            links: 1,
            ..SnapshotLimits::default()
        };
        assert!(agree((&snapshot()).into(), &limits));
        let cases: [(&str, Breakage); 8] = [
            ("a namespace too many", |s| {
                s.namespaces.push(NetnsState::default())
            }),
            ("a link too many", |s| {
                let link = s.host.links[0].clone();
                s.namespaces[2].links.push(link)
            }),
            ("a long link name", |s| {
                s.host.links[0].name = "x".repeat(256)
            }),
            ("a NUL in a kind", |s| {
                s.host.links[0].kind = LinkKind::Other {
                    name: "tun\0".into(),
                }
            }),
            ("a long kernel release", |s| {
                s.node.kernel = "5".repeat(MAX_TEXT_BYTES + 1)
            }),
            ("no time", |s| s.node.collected_at_unix_ms = i64::MAX),
            ("a long error message", |s| {
                s.errors.push(SourceError {
                    source: ErrorSource::Ipamd,
                    subject: String::new(),
                    message: "e".repeat(MAX_TEXT_BYTES + 1),
                })
            }),
            ("a NUL in a pod name", |s| {
                s.vpc_cni = Some(VpcCniState {
                    ipamd: None,
                    checkpoint: Some(IpamCheckpoint {
                        file: String::new(),
                        version: String::new(),
                        allocations: vec![IpamCheckpointAllocation {
                            network_name: String::new(),
                            container_id: String::new(),
                            if_name: String::new(),
                            ipv4: None,
                            ipv6: None,
                            allocation_timestamp: 0,
                            pod_namespace: None,
                            pod_name: Some("web\0".into()),
                        }],
                    }),
                })
            }),
        ];
        for (case, break_it) in cases {
            let mut broken = snapshot();
            break_it(&mut broken);
            assert!(!agree((&broken).into(), &limits), "{case}");
        }
    }

    #[test]
    fn every_list_limit_is_the_same_bound() {
        let mut snapshot = snapshot();
        snapshot.errors = vec![
            SourceError {
                source: ErrorSource::Netlink,
                subject: String::new(),
                message: String::new(),
            };
            2
        ];
        for limit in 0..4 {
            let variants = [
                SnapshotLimits {
                    namespaces: limit,
                    ..SnapshotLimits::default()
                },
                SnapshotLimits {
                    links: limit,
                    ..SnapshotLimits::default()
                },
                SnapshotLimits {
                    other_lists: limit,
                    ..SnapshotLimits::default()
                },
            ];
            for limits in variants {
                agree((&snapshot).into(), &limits);
            }
        }
    }
}
