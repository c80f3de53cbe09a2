//! Lookup structures over the host namespace, built once per resolution so that following 250
//! pods costs one pass over the node's links, routes and rules rather than one per pod.

use std::net::IpAddr;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use ipnet::IpNet;

use super::prefix::{Prefix, bits};
use super::rule_index::RuleIndex;
use crate::model::{
    IpFamily, Link, LinkKind, NetnsState, NodeSnapshot, PolicyRule, Route, RuleAction, table,
};

/// A policy rule with its address selectors ready for comparison.
#[derive(Debug, Clone, Copy)]
pub(super) struct IndexedRule<'a> {
    pub rule: &'a PolicyRule,
    /// `from`, unless absent or /0.
    pub source: Option<Prefix>,
    /// `to`, unless absent or /0.
    pub destination: Option<Prefix>,
}

impl<'a> IndexedRule<'a> {
    fn new(rule: &'a PolicyRule) -> Self {
        IndexedRule {
            rule,
            source: Prefix::selector(rule.source.as_ref()),
            destination: Prefix::selector(rule.destination.as_ref()),
        }
    }

    /// Whether the `from` or `to` selector names the address (a /0 names nothing).
    pub(super) fn names(&self, address: IpAddr) -> bool {
        let address = bits(address);
        self.source.is_some_and(|p| p.contains(address))
            || self.destination.is_some_and(|p| p.contains(address))
    }
}

/// A route with its prefixes ready for comparison.
#[derive(Debug, Clone, Copy)]
pub(super) struct IndexedRoute<'a> {
    pub route: &'a Route,
    pub destination: Prefix,
    /// IPv6 source-specific routes: `from`, unless absent or /0.
    pub source: Option<Prefix>,
}

/// One table's routes of one family, most specific first (destination prefix, then IPv6 source
/// prefix, both longest first), then lowest metric, then dump order: the first route that holds
/// a destination is the one the kernel's longest-prefix match picks.
///
/// The host routes (/32, /128) come first and are also indexed by address: VPC CNI puts one in
/// `main` for every pod, and a lookup for any other destination would otherwise test them all
/// (a 250-pod node: 250 comparisons per lookup, a fifth of a resolution).
#[derive(Debug)]
pub(super) struct RouteTable<'a> {
    pub routes: Vec<IndexedRoute<'a>>,
    /// How many of `routes` are host routes: they lead.
    hosts: usize,
    /// The position of the first host route to each address.
    first_to: HashMap<u128, usize>,
    /// For each host route, the position of the next host route to the same address.
    next_to_same: Vec<Option<usize>>,
}

impl<'a> RouteTable<'a> {
    fn new(mut routes: Vec<IndexedRoute<'a>>) -> Self {
        // Stable: among equal prefixes and metrics the kernel keeps insertion (dump) order.
        routes.sort_by_key(|IndexedRoute { route: r, .. }| {
            (
                std::cmp::Reverse(r.destination.prefix_len()),
                std::cmp::Reverse(r.source.map_or(0, |s| s.prefix_len())),
                r.metric,
            )
        });
        let hosts = routes
            .iter()
            .take_while(|r| {
                r.route.destination.prefix_len() == r.route.destination.max_prefix_len()
            })
            .count();
        let mut first_to = HashMap::with_capacity(hosts);
        let mut next_to_same = vec![None; hosts];
        for (position, indexed) in routes.iter().enumerate().take(hosts).rev() {
            next_to_same[position] = first_to.insert(indexed.destination.network(), position);
        }
        RouteTable {
            routes,
            hosts,
            first_to,
            next_to_same,
        }
    }

    /// The first route, in lookup order, that holds `destination` and satisfies `usable`: what
    /// scanning `routes` in order finds, without testing the host routes to other addresses.
    pub(super) fn first_match(
        &self,
        destination: u128,
        usable: impl Fn(&IndexedRoute<'a>) -> bool,
    ) -> Option<&IndexedRoute<'a>> {
        let mut host = self.first_to.get(&destination).copied();
        while let Some(position) = host {
            let indexed = &self.routes[position];
            if usable(indexed) {
                return Some(indexed);
            }
            host = self.next_to_same[position];
        }
        self.routes[self.hosts..]
            .iter()
            .find(|indexed| indexed.destination.contains(destination) && usable(indexed))
    }
}

/// The host namespace, indexed.
#[derive(Debug)]
pub(super) struct HostIndex<'a> {
    ns: &'a NetnsState,
    links: HashMap<u32, &'a Link>,
    /// Each master's ports (a bridge's enslaved links), in dump order.
    ports: HashMap<u32, Vec<&'a Link>>,
    /// Each table's routes of one family.
    tables: HashMap<(IpFamily, u32), RouteTable<'a>>,
    /// Every route of both families with a prefix longer than 0, for choosing a probe.
    specific_routes: Vec<&'a Route>,
    rules_v4: Vec<IndexedRule<'a>>,
    rules_v6: Vec<IndexedRule<'a>>,
    /// Positions in `rules_v4` / `rules_v6` by the address or device that selects them.
    rule_index_v4: RuleIndex<'a>,
    rule_index_v6: RuleIndex<'a>,
    /// Rules of both families by input device, in kernel order.
    rules_by_iif: HashMap<&'a str, Vec<&'a PolicyRule>>,
    /// Rules that look up `main` for marked packets (VPC CNI's SNAT rule), in kernel order.
    fwmark_main_rules_v4: Vec<&'a PolicyRule>,
    fwmark_main_rules_v6: Vec<&'a PolicyRule>,
    /// Which link holds each local address (the first one, in dump order).
    address_owner: HashMap<IpAddr, u32>,
    /// The host's ids for the pod namespaces the snapshot read.
    pod_nsids: HashSet<i32>,
    /// Host veths found to lead into a pod namespace (also those of namespaces without an nsid).
    pod_host_veths: HashSet<u32>,
}

impl<'a> HostIndex<'a> {
    pub(super) fn new(snapshot: &'a NodeSnapshot) -> Self {
        let host = &snapshot.host;
        let links = host.links.iter().map(|l| (l.ifindex, l)).collect();
        let mut ports: HashMap<u32, Vec<&Link>> = HashMap::new();
        for link in &host.links {
            if let Some(master) = link.master {
                ports.entry(master).or_default().push(link);
            }
        }

        let mut tables: HashMap<(IpFamily, u32), Vec<IndexedRoute>> = HashMap::new();
        for route in &host.routes {
            tables
                .entry((family_of_net(&route.destination), route.table))
                .or_default()
                .push(IndexedRoute {
                    route,
                    destination: Prefix::of(&route.destination),
                    source: Prefix::selector(route.source.as_ref()),
                });
        }
        let tables = tables
            .into_iter()
            .map(|(key, routes)| (key, RouteTable::new(routes)))
            .collect();
        let specific_routes = host
            .routes
            .iter()
            .filter(|r| r.destination.prefix_len() > 0)
            .collect();

        let rules_of = |family| {
            let mut rules: Vec<IndexedRule> = host
                .rules
                .iter()
                .filter(|r| r.family == family)
                .map(IndexedRule::new)
                .collect();
            // Stable: rules of equal priority are tried in the order the kernel lists them.
            rules.sort_by_key(|r| r.rule.priority);
            rules
        };

        let mut address_owner = HashMap::new();
        for address in &host.addresses {
            address_owner
                .entry(address.address.addr())
                .or_insert(address.ifindex);
        }

        let rules_v4 = rules_of(IpFamily::V4);
        let rules_v6 = rules_of(IpFamily::V6);
        let mut rules_by_iif: HashMap<&str, Vec<&PolicyRule>> = HashMap::new();
        for indexed in rules_v4.iter().chain(rules_v6.iter()) {
            if let Some(iif) = indexed.rule.iif.as_deref() {
                rules_by_iif.entry(iif).or_default().push(indexed.rule);
            }
        }
        let fwmark_main = |rules: &[IndexedRule<'a>]| -> Vec<&'a PolicyRule> {
            rules
                .iter()
                .map(|r| r.rule)
                .filter(|r| {
                    !r.invert
                        && r.fwmark.is_some_and(|mark| mark != 0)
                        && r.action == RuleAction::Lookup { table: table::MAIN }
                })
                .collect()
        };
        let fwmark_main_rules_v4 = fwmark_main(&rules_v4);
        let fwmark_main_rules_v6 = fwmark_main(&rules_v6);

        HostIndex {
            ns: host,
            links,
            ports,
            tables,
            specific_routes,
            rule_index_v4: RuleIndex::new(&rules_v4),
            rule_index_v6: RuleIndex::new(&rules_v6),
            rules_v4,
            rules_v6,
            rules_by_iif,
            fwmark_main_rules_v4,
            fwmark_main_rules_v6,
            address_owner,
            pod_nsids: snapshot
                .namespaces
                .iter()
                .filter_map(|ns| ns.nsid)
                .collect(),
            pod_host_veths: HashSet::new(),
        }
    }

    /// Records the host veths that pod discovery paired with a pod interface.
    pub(super) fn set_pod_host_veths(&mut self, ifindexes: impl IntoIterator<Item = u32>) {
        self.pod_host_veths = ifindexes.into_iter().collect();
    }

    /// Every host link, in dump order.
    pub(super) fn links(&self) -> impl Iterator<Item = &'a Link> + use<'a> {
        self.ns.links.iter()
    }

    pub(super) fn link(&self, ifindex: u32) -> Option<&'a Link> {
        self.links.get(&ifindex).copied()
    }

    /// The links enslaved to a master device.
    pub(super) fn ports_of(&self, master: u32) -> &[&'a Link] {
        self.ports.get(&master).map_or(&[], Vec::as_slice)
    }

    /// The name of a host link, or `if<N>` when the snapshot lacks it.
    pub(super) fn link_name(&self, ifindex: u32) -> String {
        self.link(ifindex)
            .map_or_else(|| format!("if{ifindex}"), |l| l.name.clone())
    }

    /// A table's routes of one family, in lookup order.
    pub(super) fn table(&self, family: IpFamily, table: u32) -> &[IndexedRoute<'a>] {
        self.tables
            .get(&(family, table))
            .map_or(&[], |t| t.routes.as_slice())
    }

    /// A table of one family, indexed for lookups.
    pub(super) fn route_table(&self, family: IpFamily, table: u32) -> Option<&RouteTable<'a>> {
        self.tables.get(&(family, table))
    }

    pub(super) fn specific_routes(&self) -> &[&'a Route] {
        &self.specific_routes
    }

    /// The host's rules of one family, in the order the kernel tries them.
    pub(super) fn rules(&self, family: IpFamily) -> &[IndexedRule<'a>] {
        match family {
            IpFamily::V4 => &self.rules_v4,
            IpFamily::V6 => &self.rules_v6,
        }
    }

    /// Where to find the rules of one family that may concern an address or a device.
    pub(super) fn rule_index(&self, family: IpFamily) -> &RuleIndex<'a> {
        match family {
            IpFamily::V4 => &self.rule_index_v4,
            IpFamily::V6 => &self.rule_index_v6,
        }
    }

    /// The rules selecting packets that enter on `device` (`iif DEVICE`), both families.
    pub(super) fn rules_for_iif(&self, device: &str) -> &[&'a PolicyRule] {
        self.rules_by_iif.get(device).map_or(&[], Vec::as_slice)
    }

    /// Rules that send packets with a firewall mark to `main`, in kernel order.
    pub(super) fn fwmark_main_rules(&self, family: IpFamily) -> &[&'a PolicyRule] {
        match family {
            IpFamily::V4 => &self.fwmark_main_rules_v4,
            IpFamily::V6 => &self.fwmark_main_rules_v6,
        }
    }

    /// The link holding a local address (`ip addr`).
    pub(super) fn address_owner(&self, address: IpAddr) -> Option<&'a Link> {
        self.address_owner
            .get(&address)
            .and_then(|&ifindex| self.link(ifindex))
    }

    /// Whether a host veth leads into one of the pod namespaces the snapshot read.
    pub(super) fn leads_to_pod(&self, link: &Link) -> bool {
        link.is_veth()
            && (self.pod_host_veths.contains(&link.ifindex)
                || link
                    .link_netnsid
                    .is_some_and(|nsid| self.pod_nsids.contains(&nsid)))
    }

    /// Whether the device is enslaved to a VRF (the l3mdev a rule would look a table up for).
    pub(super) fn in_vrf(&self, link: &Link) -> bool {
        link.master
            .and_then(|m| self.link(m))
            .is_some_and(|m| matches!(&m.kind, LinkKind::Other { name } if name == "vrf"))
    }
}

pub(super) fn family_of_net(net: &IpNet) -> IpFamily {
    match net {
        IpNet::V4(_) => IpFamily::V4,
        IpNet::V6(_) => IpFamily::V6,
    }
}

/// The first global address of one family on a link (`scope global` in `ip addr`).
pub(super) fn global_address(ns: &NetnsState, ifindex: u32, family: IpFamily) -> Option<IpNet> {
    ns.addresses_of(ifindex)
        .filter(|a| {
            a.scope == crate::model::RouteScope::Universe && family_of_net(&a.address) == family
        })
        .map(|a| a.address)
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RouteScope, RouteType};

    fn route(destination: &str, metric: u32, tos: u8, source: Option<&str>) -> Route {
        Route {
            table: 254,
            destination: destination.parse().unwrap(),
            route_type: RouteType::Unicast,
            protocol: 4,
            scope: RouteScope::Universe,
            metric,
            tos,
            pref_src: None,
            source: source.map(|s| s.parse().unwrap()),
            oif: Some(2),
            gateway: None,
            onlink: false,
            nexthops: vec![],
        }
    }

    /// The index finds what a scan of the table in lookup order finds, for host routes repeated
    /// with other metrics, a tos, or IPv6 source prefixes, and for destinations no host route holds.
    #[test]
    fn first_match_is_the_scan_in_lookup_order() {
        let routes = [
            route("10.0.0.7/32", 10, 0, None),
            route("10.0.0.7/32", 5, 8, None),
            route("10.0.0.7/32", 20, 0, None),
            route("10.0.0.9/32", 0, 0, None),
            route("10.0.0.0/24", 0, 0, None),
            route("10.0.0.0/8", 0, 0, None),
            route("0.0.0.0/0", 0, 0, None),
            route("2001:db8::5/128", 0, 0, Some("2001:db8:1::/48")),
            route("2001:db8::5/128", 1, 0, None),
            route("2001:db8::/32", 0, 0, None),
        ];
        for family in ["v4", "v6"] {
            let indexed: Vec<IndexedRoute> = routes
                .iter()
                .filter(|r| matches!(r.destination, IpNet::V4(_)) == (family == "v4"))
                .map(|route| IndexedRoute {
                    route,
                    destination: Prefix::of(&route.destination),
                    source: Prefix::selector(route.source.as_ref()),
                })
                .collect();
            let table = RouteTable::new(indexed);
            let sources = ["10.0.0.1", "2001:db8:1::1", "2001:db8:2::1"];
            let destinations = [
                "10.0.0.7",
                "10.0.0.9",
                "10.0.0.8",
                "10.1.0.1",
                "11.0.0.1",
                "2001:db8::5",
                "2001:db8::6",
                "2001:db9::1",
            ];
            for destination in destinations {
                for source in sources {
                    let (d, s) = (
                        bits(destination.parse().unwrap()),
                        bits(source.parse().unwrap()),
                    );
                    let usable = |r: &IndexedRoute| {
                        r.route.tos == 0 && r.source.is_none_or(|p| p.contains(s))
                    };
                    let scanned = table
                        .routes
                        .iter()
                        .find(|r| r.destination.contains(d) && usable(r))
                        .map(|r| r.route);
                    let indexed = table.first_match(d, usable).map(|r| r.route);
                    assert_eq!(
                        indexed.map(|r| (r.destination, r.metric)),
                        scanned.map(|r| (r.destination, r.metric)),
                        "{destination} from {source}"
                    );
                }
            }
        }
        // the repeated host route: the lowest metric without a tos
        let v4: Vec<IndexedRoute> = routes[..4]
            .iter()
            .map(|route| IndexedRoute {
                route,
                destination: Prefix::of(&route.destination),
                source: None,
            })
            .collect();
        let table = RouteTable::new(v4);
        let found = table
            .first_match(bits("10.0.0.7".parse().unwrap()), |r| r.route.tos == 0)
            .map(|r| r.route.metric);
        assert_eq!(found, Some(10));
    }
}
