//! Which policy rules can concern a flow or a pod, found without walking them all.
//!
//! A VPC CNI node holds one or two rules per pod (`to POD lookup main`, `from POD lookup N`), so
//! walking every rule for every pod made resolution O(pods × rules). Rules whose only selector
//! is one exact address (`from 172.31.55.218`, `to 172.31.55.218`) or one input device
//! (`iif eni3e2`) are kept by that key; every other rule (prefixes, marks, several selectors,
//! `not`, `l3mdev`, `all`) is a candidate for everything. The candidates of a flow are the others
//! plus the rules keyed by its source, its destination and its input device, in kernel order.
//! A rule left out can never select the flow (its one selector names another address or device,
//! and nothing inverts it), so walking the candidates decides exactly what walking every rule
//! decides; the rule-semantics and ground-truth tests hold the resolver to that.

use std::net::IpAddr;

use foldhash::HashMap;

use super::index::IndexedRule;
use super::prefix::bits;

/// Positions (in the kernel's order of one family's rules) by what selects them.
#[derive(Debug, Default)]
pub(super) struct RuleIndex<'a> {
    by_source: HashMap<u128, Vec<usize>>,
    by_destination: HashMap<u128, Vec<usize>>,
    by_iif: HashMap<&'a str, Vec<usize>>,
    /// Rules no single key describes: a candidate for every flow.
    others: Vec<usize>,
}

/// The one key a rule is filed under, if it has exactly one selector of a kind that is indexed.
enum Key<'a> {
    Source(u128),
    Destination(u128),
    Iif(&'a str),
}

fn key_of<'a>(indexed: &IndexedRule<'a>) -> Option<Key<'a>> {
    let rule = indexed.rule;
    let plain = !rule.invert
        && !rule.l3mdev
        && rule.oif.is_none()
        && rule.fwmark.is_none()
        && rule.fwmask.is_none()
        && rule.tos == 0
        && rule.uid_range.is_none()
        && rule.ip_proto.is_none()
        && rule.sport.is_none()
        && rule.dport.is_none();
    if !plain {
        return None;
    }
    let host = |net: Option<&ipnet::IpNet>| {
        net.filter(|n| n.prefix_len() > 0 && n.prefix_len() == n.max_prefix_len())
            .map(|n| bits(n.addr()))
    };
    let source = host(rule.source.as_ref());
    let destination = host(rule.destination.as_ref());
    let iif = rule.iif.as_deref();
    match (source, destination, iif) {
        (Some(s), None, None) if indexed.destination.is_none() => Some(Key::Source(s)),
        (None, Some(d), None) if indexed.source.is_none() => Some(Key::Destination(d)),
        (None, None, Some(name)) if indexed.source.is_none() && indexed.destination.is_none() => {
            Some(Key::Iif(name))
        }
        _ => None,
    }
}

impl<'a> RuleIndex<'a> {
    /// Files one family's rules, given in kernel order.
    pub(super) fn new(rules: &[IndexedRule<'a>]) -> Self {
        let mut index = RuleIndex::default();
        for (position, rule) in rules.iter().enumerate() {
            match key_of(rule) {
                Some(Key::Source(s)) => index.by_source.entry(s).or_default().push(position),
                Some(Key::Destination(d)) => {
                    index.by_destination.entry(d).or_default().push(position)
                }
                Some(Key::Iif(name)) => index.by_iif.entry(name).or_default().push(position),
                None => index.others.push(position),
            }
        }
        index
    }

    /// The positions of the rules that may select a packet from `source` to `destination`
    /// entering on `ingress`, ascending.
    pub(super) fn for_flow(
        &self,
        source: IpAddr,
        destination: IpAddr,
        ingress: &str,
    ) -> Vec<usize> {
        self.merged(
            [
                self.by_source.get(&bits(source)),
                self.by_destination.get(&bits(destination)),
                self.by_iif.get(ingress),
            ]
            .into_iter()
            .flatten(),
        )
    }

    /// The positions of the rules that may name `address` in a selector or one of `devices` as
    /// their input device, ascending.
    pub(super) fn naming(&self, address: IpAddr, devices: &[&str]) -> Vec<usize> {
        let address = bits(address);
        self.merged(
            [
                self.by_source.get(&address),
                self.by_destination.get(&address),
            ]
            .into_iter()
            .chain(devices.iter().map(|d| self.by_iif.get(d)))
            .flatten(),
        )
    }

    /// The positions of the rules with more than one selector, or one that is not indexed:
    /// the only ones that can select by a prefix together with something else.
    pub(super) fn others(&self) -> &[usize] {
        &self.others
    }

    fn merged<'v>(&self, keyed: impl Iterator<Item = &'v Vec<usize>>) -> Vec<usize> {
        let mut positions = self.others.clone();
        for more in keyed {
            positions.extend_from_slice(more);
        }
        positions.sort_unstable();
        positions.dedup();
        positions
    }
}
