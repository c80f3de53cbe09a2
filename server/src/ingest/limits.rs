//! Bounds on a snapshot's counts and strings, checked on the decoded wire message before anything
//! is converted, resolved or stored.
//!
//! The message size limit (`--max-message-bytes`) already bounds the total; these bounds say which
//! part is out of proportion, so that a broken or hostile agent gets an answer naming the field
//! (`snapshot.namespaces[3].routes holds 300000 entries; at most 262144 are accepted`) instead of
//! the server spending its CPU and the database's space on it. They sit far above what real nodes
//! hold: a 250-pod VPC CNI node has ~250 namespaces, ~260 host links, ~520 host routes and ~420
//! host rules. Strings are bounded too, and may not contain NUL, which Postgres text cannot hold.

use podwire_node_state::wire::proto;

use super::validation::{FieldProblem, FieldViolation};

/// Names: interface, pod, namespace, container and file names, ids, versions (a file name is at
/// most 255 bytes, a DNS name 253).
pub const MAX_NAME_BYTES: usize = 255;
/// Paths and free text (error messages, the kernel release): `PATH_MAX`.
pub const MAX_TEXT_BYTES: usize = 4096;

/// The most entries each list of a snapshot may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotLimits {
    /// Pod (and other) network namespaces. Kubernetes allows 110 pods per node by default and
    /// EKS up to 737 on the largest instances.
    pub namespaces: usize,
    /// Per namespace.
    pub links: usize,
    /// Per namespace.
    pub addresses: usize,
    /// Per namespace: room for BGP-learned routes (kube-router, Calico), not for a full table.
    pub routes: usize,
    /// Per namespace.
    pub rules: usize,
    /// Per namespace.
    pub neighbors: usize,
    /// Every other list (CNI cache entries, ipamd ENIs and addresses, kernel route decisions,
    /// errors, next hops, ...).
    pub other_lists: usize,
}

impl Default for SnapshotLimits {
    fn default() -> Self {
        SnapshotLimits {
            namespaces: 4096,
            links: 16_384,
            addresses: 32_768,
            routes: 262_144,
            rules: 32_768,
            neighbors: 65_536,
            other_lists: 65_536,
        }
    }
}

/// Checks every count and string of a snapshot; the error names the first field out of bounds by
/// its path from the upload (`snapshot.host.links[3].name`).
pub fn check_snapshot(
    snapshot: &proto::NodeSnapshot,
    limits: &SnapshotLimits,
) -> Result<(), FieldViolation> {
    let mut walk = Walk {
        limits,
        path: vec![Segment::Field("snapshot")],
    };
    walk.snapshot(snapshot)
}

type Checked = Result<(), FieldViolation>;

enum Segment {
    Field(&'static str),
    Item(&'static str, usize),
}

/// A walk over the message that knows where it is, so that a refusal can name the field. The
/// path is only rendered to text when something is refused.
struct Walk<'l> {
    limits: &'l SnapshotLimits,
    path: Vec<Segment>,
}

impl Walk<'_> {
    fn refuse(&self, leaf: &str, problem: FieldProblem) -> FieldViolation {
        let mut field = String::new();
        for segment in &self.path {
            match segment {
                Segment::Field(name) => field.push_str(name),
                Segment::Item(name, i) => field.push_str(&format!("{name}[{i}]")),
            }
            field.push('.');
        }
        field.push_str(leaf);
        FieldViolation::new(field, problem)
    }

    fn string(&self, leaf: &str, value: &str, max: usize) -> Checked {
        if value.len() > max {
            return Err(self.refuse(
                leaf,
                FieldProblem::TooLong {
                    len: value.len(),
                    max,
                },
            ));
        }
        if value.contains('\0') {
            return Err(self.refuse(leaf, FieldProblem::Nul));
        }
        Ok(())
    }

    fn name(&self, leaf: &str, value: &str) -> Checked {
        self.string(leaf, value, MAX_NAME_BYTES)
    }

    fn text(&self, leaf: &str, value: &str) -> Checked {
        self.string(leaf, value, MAX_TEXT_BYTES)
    }

    fn opt_name(&self, leaf: &str, value: Option<&String>) -> Checked {
        value.map_or(Ok(()), |v| self.name(leaf, v))
    }

    fn opt_text(&self, leaf: &str, value: Option<&String>) -> Checked {
        value.map_or(Ok(()), |v| self.text(leaf, v))
    }

    fn count(&self, leaf: &str, count: usize, max: usize) -> Checked {
        if count > max {
            Err(self.refuse(leaf, FieldProblem::TooMany { count, max }))
        } else {
            Ok(())
        }
    }

    /// A repeated field: its length, then each element.
    fn each<T>(
        &mut self,
        leaf: &'static str,
        items: &[T],
        max: usize,
        mut check: impl FnMut(&mut Self, &T) -> Checked,
    ) -> Checked {
        self.count(leaf, items.len(), max)?;
        for (i, item) in items.iter().enumerate() {
            self.path.push(Segment::Item(leaf, i));
            let checked = check(self, item);
            self.path.pop();
            checked?;
        }
        Ok(())
    }

    /// A repeated string field.
    fn names(&mut self, leaf: &'static str, items: &[String]) -> Checked {
        self.count(leaf, items.len(), self.limits.other_lists)?;
        for (i, item) in items.iter().enumerate() {
            self.name(&format!("{leaf}[{i}]"), item)?;
        }
        Ok(())
    }

    /// An optional message field.
    fn within<T>(
        &mut self,
        leaf: &'static str,
        value: Option<&T>,
        check: impl FnOnce(&mut Self, &T) -> Checked,
    ) -> Checked {
        let Some(value) = value else { return Ok(()) };
        self.path.push(Segment::Field(leaf));
        let checked = check(self, value);
        self.path.pop();
        checked
    }

    fn snapshot(&mut self, s: &proto::NodeSnapshot) -> Checked {
        let other = self.limits.other_lists;
        self.within("node", s.node.as_ref(), |w, node| {
            w.name("cluster", &node.cluster)?;
            w.name("node_name", &node.node_name)?;
            w.name("boot_id", &node.boot_id)?;
            w.text("kernel", &node.kernel)?;
            w.name("agent_version", &node.agent_version)?;
            if chrono::DateTime::from_timestamp_millis(node.collected_at_unix_ms).is_none() {
                return Err(w.refuse(
                    "collected_at_unix_ms",
                    FieldProblem::TimeOutOfRange {
                        value: node.collected_at_unix_ms,
                    },
                ));
            }
            Ok(())
        })?;
        self.within("host", s.host.as_ref(), Self::netns)?;
        self.each(
            "namespaces",
            &s.namespaces,
            self.limits.namespaces,
            Self::netns,
        )?;
        self.within("cni", s.cni.as_ref(), Self::cni)?;
        self.within("vpc_cni", s.vpc_cni.as_ref(), Self::vpc_cni)?;
        self.each("kernel_routes", &s.kernel_routes, other, |w, decision| {
            w.within(
                "answer",
                decision.answer.as_ref(),
                |w, answer| match &answer.answer {
                    Some(proto::kernel_route_answer::Answer::Error(error)) => {
                        w.within("error", Some(error), |w, e| w.text("message", &e.message))
                    }
                    _ => Ok(()),
                },
            )
        })?;
        self.each("errors", &s.errors, other, |w, error| {
            w.text("subject", &error.subject)?;
            w.text("message", &error.message)
        })
    }

    fn netns(&mut self, ns: &proto::NetnsState) -> Checked {
        let limits = *self.limits;
        self.opt_name("name", ns.name.as_ref())?;
        self.text("path", &ns.path)?;
        self.each("links", &ns.links, limits.links, |w, link| {
            w.name("name", &link.name)?;
            match &link.kind {
                Some(proto::link::Kind::MacvlanMode(mode)) => w.name("macvlan_mode", mode),
                Some(proto::link::Kind::IpvlanMode(mode)) => w.name("ipvlan_mode", mode),
                Some(proto::link::Kind::Other(kind)) => w.name("other", kind),
                _ => Ok(()),
            }
        })?;
        self.count("addresses", ns.addresses.len(), limits.addresses)?;
        self.each("routes", &ns.routes, limits.routes, |w, route| {
            w.count("nexthops", route.nexthops.len(), limits.other_lists)
        })?;
        self.each("rules", &ns.rules, limits.rules, |w, rule| {
            w.opt_name("iif", rule.iif.as_ref())?;
            w.opt_name("oif", rule.oif.as_ref())
        })?;
        self.each(
            "neighbors",
            &ns.neighbors,
            limits.neighbors,
            |w, neighbor| w.names("state", &neighbor.state),
        )
    }

    fn cni(&mut self, cni: &proto::CniState) -> Checked {
        let other = self.limits.other_lists;
        self.each("cache", &cni.cache, other, |w, entry| {
            w.text("file", &entry.file)?;
            w.name("network_name", &entry.network_name)?;
            w.name("container_id", &entry.container_id)?;
            w.name("if_name", &entry.if_name)?;
            w.opt_name("pod_namespace", entry.pod_namespace.as_ref())?;
            w.opt_name("pod_name", entry.pod_name.as_ref())?;
            w.opt_name("pod_uid", entry.pod_uid.as_ref())?;
            w.opt_text("netns_path", entry.netns_path.as_ref())?;
            w.count("ips", entry.ips.len(), other)?;
            w.count("gateways", entry.gateways.len(), other)?;
            w.each("interfaces", &entry.interfaces, other, |w, interface| {
                w.name("name", &interface.name)?;
                w.opt_text("sandbox", interface.sandbox.as_ref())
            })?;
            w.names("plugin_types", &entry.plugin_types)?;
            w.opt_name("cni_version", entry.cni_version.as_ref())
        })?;
        self.each("configs", &cni.configs, other, |w, config| {
            w.text("file", &config.file)?;
            w.name("name", &config.name)?;
            w.opt_name("cni_version", config.cni_version.as_ref())?;
            w.each("plugins", &config.plugins, other, |w, plugin| {
                w.name("plugin_type", &plugin.plugin_type)?;
                w.opt_name("bridge", plugin.bridge.as_ref())?;
                w.opt_name("delegate_type", plugin.delegate_type.as_ref())?;
                w.within("ipam", plugin.ipam.as_ref(), |w, ipam| {
                    w.name("ipam_type", &ipam.ipam_type)?;
                    w.count("subnets", ipam.subnets.len(), other)?;
                    w.opt_text("data_dir", ipam.data_dir.as_ref())
                })
            })
        })?;
        self.each("host_local", &cni.host_local, other, |w, network| {
            w.name("network", &network.network)?;
            w.text("dir", &network.dir)?;
            w.each(
                "allocations",
                &network.allocations,
                other,
                |w, allocation| {
                    w.name("container_id", &allocation.container_id)?;
                    w.opt_name("if_name", allocation.if_name.as_ref())
                },
            )?;
            w.count("last_reserved", network.last_reserved.len(), other)?;
            w.count("ranges", network.ranges.len(), other)
        })
    }

    fn vpc_cni(&mut self, vpc_cni: &proto::VpcCniState) -> Checked {
        let other = self.limits.other_lists;
        self.within("ipamd", vpc_cni.ipamd.as_ref(), |w, ipamd| {
            w.each("network_cards", &ipamd.network_cards, other, |w, card| {
                w.each("enis", &card.enis, other, |w, eni| {
                    w.name("id", &eni.id)?;
                    w.opt_name("subnet_id", eni.subnet_id.as_ref())?;
                    w.each("cidrs", &eni.cidrs, other, |w, cidr| {
                        w.each("addresses", &cidr.addresses, other, |w, address| {
                            w.opt_name("container_id", address.container_id.as_ref())?;
                            w.opt_name("pod_namespace", address.pod_namespace.as_ref())?;
                            w.opt_name("pod_name", address.pod_name.as_ref())?;
                            w.opt_name("assigned_time", address.assigned_time.as_ref())?;
                            w.opt_name("unassigned_time", address.unassigned_time.as_ref())
                        })
                    })
                })
            })
        })?;
        self.within(
            "checkpoint",
            vpc_cni.checkpoint.as_ref(),
            |w, checkpoint| {
                w.text("file", &checkpoint.file)?;
                w.name("version", &checkpoint.version)?;
                w.each(
                    "allocations",
                    &checkpoint.allocations,
                    other,
                    |w, allocation| {
                        w.name("network_name", &allocation.network_name)?;
                        w.name("container_id", &allocation.container_id)?;
                        w.name("if_name", &allocation.if_name)?;
                        w.opt_name("pod_namespace", allocation.pod_namespace.as_ref())?;
                        w.opt_name("pod_name", allocation.pod_name.as_ref())
                    },
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn netns_with(links: usize, routes: usize) -> proto::NetnsState {
        proto::NetnsState {
            path: "/proc/1/ns/net".into(),
            links: (0..links)
                .map(|i| proto::Link {
                    ifindex: i as u32 + 1,
                    name: format!("eni{i:011x}"),
                    ..Default::default()
                })
                .collect(),
            routes: vec![proto::Route::default(); routes],
            ..Default::default()
        }
    }

    #[test]
    fn counts_above_the_limits_name_the_list() {
        let limits = SnapshotLimits {
            namespaces: 3,
            routes: 10,
            ..SnapshotLimits::default()
        };
        let mut snapshot = proto::NodeSnapshot {
            host: Some(netns_with(4, 10)),
            namespaces: vec![netns_with(2, 1); 3],
            ..Default::default()
        };
        assert_eq!(check_snapshot(&snapshot, &limits), Ok(()));
        snapshot.namespaces[1] = netns_with(2, 11);
        let err = check_snapshot(&snapshot, &limits).unwrap_err();
        assert_eq!(err.field(), "snapshot.namespaces[1].routes");
        assert_eq!(err.problem(), &FieldProblem::TooMany { count: 11, max: 10 });
        snapshot.namespaces.push(netns_with(1, 1));
        let err = check_snapshot(&snapshot, &limits).unwrap_err();
        assert_eq!(err.field(), "snapshot.namespaces");
    }

    #[test]
    fn long_strings_and_nul_name_the_field() {
        let limits = SnapshotLimits::default();
        let mut host = netns_with(3, 0);
        host.links[2].name = "x".repeat(256);
        let snapshot = proto::NodeSnapshot {
            host: Some(host),
            ..Default::default()
        };
        let err = check_snapshot(&snapshot, &limits).unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `snapshot.host.links[2].name` is 256 bytes long; at most 255 are accepted"
        );

        let snapshot = proto::NodeSnapshot {
            cni: Some(proto::CniState {
                cache: vec![proto::CniCacheEntry {
                    pod_name: Some("web\0-1".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = check_snapshot(&snapshot, &limits).unwrap_err();
        assert_eq!(err.field(), "snapshot.cni.cache[0].pod_name");
        assert_eq!(err.problem(), &FieldProblem::Nul);

        let snapshot = proto::NodeSnapshot {
            vpc_cni: Some(proto::VpcCniState {
                ipamd: Some(proto::IpamdEnis {
                    network_cards: vec![proto::IpamdNetworkCard {
                        enis: vec![proto::IpamdEni {
                            cidrs: vec![proto::IpamdCidr {
                                addresses: vec![proto::IpamdAddress {
                                    pod_namespace: Some("n".repeat(300)),
                                    ..Default::default()
                                }],
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                checkpoint: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            check_snapshot(&snapshot, &limits).unwrap_err().field(),
            "snapshot.vpc_cni.ipamd.network_cards[0].enis[0].cidrs[0].addresses[0].pod_namespace"
        );
    }

    #[test]
    fn collection_time_must_be_a_time() {
        let snapshot = proto::NodeSnapshot {
            node: Some(proto::NodeIdentity {
                collected_at_unix_ms: i64::MAX,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            check_snapshot(&snapshot, &SnapshotLimits::default())
                .unwrap_err()
                .field(),
            "snapshot.node.collected_at_unix_ms"
        );
    }
}
