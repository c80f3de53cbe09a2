//! The ENIs a node reports: ipamd's list (ids, device numbers, subnets, address pools) joined
//! with the host links that carry them, so that an ENI id leads to a MAC, and a pod's ENI MAC
//! back to an ENI id.

use podwire_node_state::{IpamdEni, MacAddr, NetnsState, NodeSnapshot, table};

use super::diff::Keyed;

/// One ENI attached to a node, as the node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEni {
    /// EC2's id (`eni-…`), as ipamd reports it.
    pub eni_id: String,
    pub network_card: u32,
    /// 0 for the primary ENI.
    pub device_number: u32,
    /// The table the ENI's pods look up: main for device 0, device number + 1 otherwise (or
    /// ipamd's own `RouteTableID` when it reports one).
    pub route_table: u32,
    pub subnet_id: Option<String>,
    pub is_primary: bool,
    pub is_trunk: bool,
    /// The host link carrying the ENI (`eth1`) and its MAC, when one could be matched.
    pub device: Option<String>,
    pub mac: Option<MacAddr>,
    /// Addresses ipamd holds on the ENI for pods: one per secondary IP, 16 per /28 prefix.
    pub ip_capacity: i64,
    /// Of those, the ones assigned to pods.
    pub assigned: i64,
}

impl NodeEni {
    /// `primary`, `trunk` or `secondary`.
    pub fn role(&self) -> &'static str {
        if self.is_primary {
            "primary"
        } else if self.is_trunk {
            "trunk"
        } else {
            "secondary"
        }
    }
}

impl Keyed for NodeEni {
    type Key = String;

    fn key(&self) -> String {
        self.eni_id.clone()
    }
}

/// The ENIs of the snapshot's ipamd answer, each joined to its host link: the device of its route
/// table's default route (how VPC CNI programs a secondary ENI: `default via GW dev ethN` in
/// table N+1), else the link named `eth<device number>`. An ENI listed twice keeps its first entry.
pub fn enis_of(snapshot: &NodeSnapshot) -> Vec<NodeEni> {
    let Some(ipamd) = snapshot.vpc_cni.as_ref().and_then(|v| v.ipamd.as_ref()) else {
        return Vec::new();
    };
    let mut seen = std::collections::HashSet::new();
    let mut enis = Vec::new();
    for card in &ipamd.network_cards {
        for eni in &card.enis {
            if !seen.insert(eni.id.clone()) {
                continue;
            }
            enis.push(node_eni(&snapshot.host, card.index, eni));
        }
    }
    enis
}

fn node_eni(host: &NetnsState, network_card: u32, eni: &IpamdEni) -> NodeEni {
    let route_table = eni.route_table_id.unwrap_or(if eni.device_number == 0 {
        table::MAIN
    } else {
        eni.device_number + 1
    });
    let link = default_route_device(host, route_table)
        .or_else(|| host.link_by_name(&format!("eth{}", eni.device_number)));
    let ip_capacity = eni
        .cidrs
        .iter()
        .map(|c| i64::try_from(c.capacity()).unwrap_or(i64::MAX))
        .fold(0i64, i64::saturating_add);
    let assigned = eni
        .cidrs
        .iter()
        .map(|c| i64::try_from(c.assigned()).unwrap_or(i64::MAX))
        .fold(0i64, i64::saturating_add);
    NodeEni {
        eni_id: eni.id.clone(),
        network_card,
        device_number: eni.device_number,
        route_table,
        subnet_id: eni.subnet_id.clone(),
        is_primary: eni.is_primary,
        is_trunk: eni.is_trunk,
        device: link.map(|l| l.name.clone()),
        mac: link.and_then(|l| l.mac),
        ip_capacity,
        assigned,
    }
}

/// The output device of the IPv4 default route in `table`.
fn default_route_device(host: &NetnsState, table: u32) -> Option<&podwire_node_state::Link> {
    host.routes
        .iter()
        .filter(|r| r.table == table && r.destination.prefix_len() == 0)
        .filter(|r| r.destination.addr().is_ipv4())
        .min_by_key(|r| r.metric)
        .and_then(|r| r.oif)
        .and_then(|oif| host.link(oif))
}

#[cfg(test)]
mod tests {
    use podwire_node_state::{
        IpamdAddress, IpamdCidr, IpamdEnis, IpamdNetworkCard, IpamdShape, Link, LinkKind,
        OperState, Route, RouteScope, RouteType, VpcCniState,
    };

    use super::*;

    fn link(ifindex: u32, name: &str, mac: &str) -> Link {
        Link {
            ifindex,
            name: name.into(),
            kind: LinkKind::Device,
            mac: Some(mac.parse().unwrap()),
            mtu: 9001,
            admin_up: true,
            oper_state: OperState::Up,
            master: None,
            link: None,
            link_netnsid: None,
        }
    }

    fn default_route(table: u32, oif: u32) -> Route {
        Route {
            table,
            destination: "0.0.0.0/0".parse().unwrap(),
            route_type: RouteType::Unicast,
            protocol: 3,
            scope: RouteScope::Universe,
            metric: 0,
            tos: 0,
            pref_src: None,
            source: None,
            oif: Some(oif),
            gateway: Some("192.168.0.1".parse().unwrap()),
            onlink: false,
            nexthops: vec![],
        }
    }

    fn eni(id: &str, device: u32, cidrs: &[(&str, usize)]) -> IpamdEni {
        IpamdEni {
            id: id.into(),
            is_primary: device == 0,
            is_trunk: false,
            is_efa: false,
            device_number: device,
            route_table_id: None,
            subnet_id: Some("subnet-0a1".into()),
            excluded_for_pod_ips: false,
            cidrs: cidrs
                .iter()
                .map(|(cidr, assigned)| IpamdCidr {
                    cidr: cidr.parse().unwrap(),
                    is_prefix: !cidr.ends_with("/32"),
                    addresses: (0..*assigned)
                        .map(|i| IpamdAddress {
                            ip: format!("192.168.9.{i}").parse().unwrap(),
                            assigned: true,
                            container_id: None,
                            pod_namespace: None,
                            pod_name: None,
                            assigned_time: None,
                            unassigned_time: None,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn enis_join_the_link_of_their_tables_default_route_and_count_prefixes_as_sixteen() {
        let mut snapshot = NodeSnapshot::default();
        snapshot.host.links = vec![
            link(2, "eth0", "02:00:00:00:00:01"),
            link(7, "ens6", "02:00:00:00:00:02"),
        ];
        // eth1 is named ens6 here: only the route tells which link it is.
        snapshot.host.routes = vec![default_route(254, 2), default_route(2, 7)];
        snapshot.vpc_cni = Some(VpcCniState {
            ipamd: Some(IpamdEnis {
                shape: IpamdShape::PerNetworkCard,
                network_cards: vec![IpamdNetworkCard {
                    index: 0,
                    total_ips: 0,
                    assigned_ips: 0,
                    enis: vec![
                        eni(
                            "eni-0aaa",
                            0,
                            &[("192.168.1.5/32", 1), ("192.168.1.6/32", 0)],
                        ),
                        eni("eni-0bbb", 1, &[("192.168.2.16/28", 3)]),
                        eni("eni-0ccc", 2, &[]),
                    ],
                }],
            }),
            checkpoint: None,
        });
        let enis = enis_of(&snapshot);
        let summary: Vec<_> = enis
            .iter()
            .map(|e| {
                (
                    e.eni_id.as_str(),
                    e.route_table,
                    e.device.as_deref(),
                    e.mac.map(|m| m.to_string()),
                    e.ip_capacity,
                    e.assigned,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "eni-0aaa",
                    254,
                    Some("eth0"),
                    Some("02:00:00:00:00:01".into()),
                    2,
                    1
                ),
                (
                    "eni-0bbb",
                    2,
                    Some("ens6"),
                    Some("02:00:00:00:00:02".into()),
                    16,
                    3
                ),
                // no route, no eth2: known by id only
                ("eni-0ccc", 3, None, None, 0, 0),
            ]
        );
    }

    #[test]
    fn no_ipamd_no_enis() {
        assert!(enis_of(&NodeSnapshot::default()).is_empty());
    }
}
