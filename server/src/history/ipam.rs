//! Node IP-pool samples: how many addresses a node's IPAM has, has handed out and has left, per
//! pool, from ipamd (per network card) or from host-local (per network).

use std::net::IpAddr;

use ipnet::IpNet;
use podwire_node_state::NodeSnapshot;

use super::diff::Keyed;

/// Where a pool's figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpamSource {
    /// Amazon VPC CNI's ipamd: the addresses of the ENIs it has attached (its warm pool included).
    Ipamd,
    /// host-local IPAM: the configured ranges and the allocation files.
    HostLocal,
}

impl IpamSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            IpamSource::Ipamd => "ipamd",
            IpamSource::HostLocal => "host-local",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [IpamSource::Ipamd, IpamSource::HostLocal]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpamPoolKey {
    pub source: IpamSource,
    pub pool: String,
}

/// One pool's figures at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpamPool {
    pub source: IpamSource,
    /// `network-card-N` for ipamd, the network name for host-local.
    pub pool: String,
    pub assigned: i64,
    pub free: i64,
    pub total: i64,
}

impl Keyed for IpamPool {
    type Key = IpamPoolKey;

    fn key(&self) -> IpamPoolKey {
        IpamPoolKey {
            source: self.source,
            pool: self.pool.clone(),
        }
    }
}

/// The pools a snapshot shows. ipamd's own totals are taken as it reports them; a host-local
/// range holds every address but the network, broadcast and gateway addresses (host-local's
/// defaults; IPv6 ranges have no broadcast).
pub fn ipam_pools_of(snapshot: &NodeSnapshot) -> Vec<IpamPool> {
    let mut pools = Vec::new();
    if let Some(enis) = snapshot.vpc_cni.as_ref().and_then(|v| v.ipamd.as_ref()) {
        for card in &enis.network_cards {
            let total = i64::from(card.total_ips);
            let assigned = i64::from(card.assigned_ips);
            pools.push(IpamPool {
                source: IpamSource::Ipamd,
                pool: format!("network-card-{}", card.index),
                assigned,
                free: (total - assigned).max(0),
                total,
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    for network in &snapshot.cni.host_local {
        if !seen.insert(network.network.clone()) {
            continue;
        }
        let total = network
            .ranges
            .iter()
            .map(usable_addresses)
            .fold(0i64, i64::saturating_add);
        let assigned = i64::try_from(network.allocations.len()).unwrap_or(i64::MAX);
        pools.push(IpamPool {
            source: IpamSource::HostLocal,
            pool: network.network.clone(),
            assigned,
            free: (total - assigned).max(0),
            total,
        });
    }
    pools
}

fn usable_addresses(range: &IpNet) -> i64 {
    let host_bits = u32::from(range.max_prefix_len() - range.prefix_len());
    let size: i64 = if host_bits >= 63 {
        i64::MAX
    } else {
        1i64 << host_bits
    };
    let reserved = match range.addr() {
        // network + broadcast + gateway, except on /31 and /32 which have none of them
        IpAddr::V4(_) if host_bits >= 2 => 3,
        // network (the subnet-router anycast address) + gateway
        IpAddr::V6(_) if host_bits >= 2 => 2,
        _ => 0,
    };
    (size - reserved).max(0)
}

#[cfg(test)]
mod tests {
    use podwire_node_state::{
        HostLocalAllocation, HostLocalNetwork, IpamdEnis, IpamdNetworkCard, IpamdShape, VpcCniState,
    };

    use super::*;

    #[test]
    fn ipamd_cards_and_host_local_ranges() {
        let mut snapshot = NodeSnapshot {
            vpc_cni: Some(VpcCniState {
                ipamd: Some(IpamdEnis {
                    shape: IpamdShape::PerNetworkCard,
                    network_cards: vec![IpamdNetworkCard {
                        index: 0,
                        total_ips: 28,
                        assigned_ips: 9,
                        enis: vec![],
                    }],
                }),
                checkpoint: None,
            }),
            ..NodeSnapshot::default()
        };
        snapshot.cni.host_local = vec![HostLocalNetwork {
            network: "cbr0".into(),
            dir: "var/lib/cni/networks/cbr0".into(),
            allocations: ["10.244.1.2", "10.244.1.3"]
                .iter()
                .map(|ip| HostLocalAllocation {
                    ip: ip.parse().unwrap(),
                    container_id: "c".into(),
                    if_name: None,
                })
                .collect(),
            last_reserved: vec![],
            ranges: vec!["10.244.1.0/24".parse().unwrap()],
        }];
        let pools = ipam_pools_of(&snapshot);
        assert_eq!(
            pools,
            vec![
                IpamPool {
                    source: IpamSource::Ipamd,
                    pool: "network-card-0".into(),
                    assigned: 9,
                    free: 19,
                    total: 28
                },
                IpamPool {
                    source: IpamSource::HostLocal,
                    pool: "cbr0".into(),
                    assigned: 2,
                    free: 251,
                    total: 253
                },
            ]
        );
    }

    #[test]
    fn huge_ipv6_range_saturates() {
        assert_eq!(
            usable_addresses(&"fd00::/64".parse().unwrap()),
            i64::MAX - 2
        );
        assert_eq!(usable_addresses(&"10.0.0.7/32".parse().unwrap()), 1);
    }
}
