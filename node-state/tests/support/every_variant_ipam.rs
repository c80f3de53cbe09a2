//! The CNI and VPC CNI parts of the every-variant snapshot.

use podwire_node_state::*;

use super::{ip, mac, net};

/// CNI state with every optional part both set and unset.
pub fn every_variant_cni() -> CniState {
    CniState {
        cache: vec![
            CniCacheEntry {
                file: "var/lib/cni/results/aws-cni-abc-eth0".into(),
                network_name: "aws-cni".into(),
                container_id: "abc".into(),
                if_name: "eth0".into(),
                pod_namespace: Some("default".into()),
                pod_name: Some("web-0".into()),
                pod_uid: Some("5f0c7e43-9d55-4b8a-a3f4-5c7d3b2e1f00".into()),
                netns_path: Some("/var/run/netns/cni-1b2c".into()),
                ips: vec![net("10.1.0.7/32"), net("2001:db8::7/128")],
                gateways: vec![ip("169.254.1.1"), ip("fe80::1")],
                interfaces: vec![
                    CniInterface {
                        name: "eni1".into(),
                        mac: Some(mac("02:00:00:00:00:03")),
                        sandbox: None,
                    },
                    CniInterface {
                        name: "eth0".into(),
                        mac: None,
                        sandbox: Some("/var/run/netns/cni-1b2c".into()),
                    },
                ],
                plugin_types: vec!["aws-cni".into(), "egress-cni".into(), "portmap".into()],
                cni_version: Some("1.0.0".into()),
            },
            CniCacheEntry {
                file: "var/lib/cni/results/cbr0-def-eth0".into(),
                network_name: "cbr0".into(),
                container_id: "def".into(),
                if_name: "eth0".into(),
                pod_namespace: None,
                pod_name: None,
                pod_uid: None,
                netns_path: None,
                ips: vec![],
                gateways: vec![],
                interfaces: vec![],
                plugin_types: vec![],
                cni_version: None,
            },
        ],
        configs: vec![
            CniNetworkConfig {
                file: "etc/cni/net.d/10-flannel.conflist".into(),
                name: "cbr0".into(),
                cni_version: Some("0.3.1".into()),
                plugins: vec![
                    CniPluginConfig {
                        plugin_type: "flannel".into(),
                        bridge: None,
                        ipam: None,
                        delegate_type: Some("bridge".into()),
                    },
                    CniPluginConfig {
                        plugin_type: "bridge".into(),
                        bridge: Some("cni0".into()),
                        ipam: Some(CniIpamConfig {
                            ipam_type: "host-local".into(),
                            subnets: vec![net("10.244.1.0/24"), net("fd00:10:244:1::/64")],
                            data_dir: Some("/run/cni-ipam".into()),
                        }),
                        delegate_type: None,
                    },
                    CniPluginConfig {
                        plugin_type: "portmap".into(),
                        bridge: None,
                        ipam: Some(CniIpamConfig {
                            ipam_type: "static".into(),
                            subnets: vec![],
                            data_dir: None,
                        }),
                        delegate_type: None,
                    },
                ],
            },
            CniNetworkConfig {
                file: "etc/cni/net.d/99-loopback.conf".into(),
                name: "lo".into(),
                cni_version: None,
                plugins: vec![],
            },
        ],
        host_local: vec![HostLocalNetwork {
            network: "cbr0".into(),
            dir: "var/lib/cni/networks/cbr0".into(),
            allocations: vec![
                HostLocalAllocation {
                    ip: ip("10.244.1.2"),
                    container_id: "def".into(),
                    if_name: Some("eth0".into()),
                },
                HostLocalAllocation {
                    ip: ip("fd00:10:244:1::2"),
                    container_id: "def".into(),
                    if_name: None,
                },
            ],
            last_reserved: vec![ip("10.244.1.2"), ip("fd00:10:244:1::2")],
            ranges: vec![net("10.244.1.0/24")],
        }],
        flannel: Some(FlannelSubnet {
            network: Some(net("10.244.0.0/16")),
            subnet: Some(net("10.244.1.1/24")),
            mtu: Some(8951),
            ipmasq: Some(false),
        }),
    }
}

/// VPC CNI state in one ipamd answer shape, with every optional part both set and unset.
pub fn every_variant_vpc_cni(shape: IpamdShape) -> VpcCniState {
    VpcCniState {
        ipamd: Some(IpamdEnis {
            shape,
            network_cards: vec![IpamdNetworkCard {
                index: 0,
                total_ips: 32,
                assigned_ips: 1,
                enis: vec![
                    IpamdEni {
                        id: "eni-0a1b2c3d4e5f60718".into(),
                        is_primary: true,
                        is_trunk: false,
                        is_efa: false,
                        device_number: 0,
                        route_table_id: Some(254),
                        subnet_id: Some("subnet-0123456789abcdef0".into()),
                        excluded_for_pod_ips: false,
                        cidrs: vec![
                            IpamdCidr {
                                cidr: net("172.31.60.16/28"),
                                is_prefix: true,
                                addresses: vec![
                                    IpamdAddress {
                                        ip: ip("172.31.60.17"),
                                        assigned: true,
                                        container_id: Some("abc".into()),
                                        pod_namespace: Some("default".into()),
                                        pod_name: Some("web-0".into()),
                                        assigned_time: Some("2026-11-21T06:00:00Z".into()),
                                        unassigned_time: None,
                                    },
                                    IpamdAddress {
                                        ip: ip("172.31.60.18"),
                                        assigned: false,
                                        container_id: None,
                                        pod_namespace: None,
                                        pod_name: None,
                                        assigned_time: None,
                                        unassigned_time: Some("2026-11-21T06:01:00Z".into()),
                                    },
                                ],
                            },
                            IpamdCidr {
                                cidr: net("2001:db8:5::/80"),
                                is_prefix: true,
                                addresses: vec![],
                            },
                        ],
                    },
                    IpamdEni {
                        id: "eni-trunk".into(),
                        is_primary: false,
                        is_trunk: true,
                        is_efa: true,
                        device_number: 3,
                        route_table_id: None,
                        subnet_id: None,
                        excluded_for_pod_ips: true,
                        cidrs: vec![IpamdCidr {
                            cidr: net("172.31.61.5/32"),
                            is_prefix: false,
                            addresses: vec![],
                        }],
                    },
                ],
            }],
        }),
        checkpoint: Some(IpamCheckpoint {
            file: "var/run/aws-node/ipam.json".into(),
            version: "vpc-cni-ipam/1".into(),
            allocations: vec![
                IpamCheckpointAllocation {
                    network_name: "aws-cni".into(),
                    container_id: "abc".into(),
                    if_name: "eth0".into(),
                    ipv4: Some(ip("172.31.60.17")),
                    ipv6: Some(ip("2001:db8:5::17")),
                    allocation_timestamp: 1_763_704_800_000_000_000,
                    pod_namespace: Some("default".into()),
                    pod_name: Some("web-0".into()),
                },
                IpamCheckpointAllocation {
                    network_name: "aws-cni".into(),
                    container_id: "old".into(),
                    if_name: "eth0".into(),
                    ipv4: None,
                    ipv6: None,
                    allocation_timestamp: -1,
                    pod_namespace: None,
                    pod_name: None,
                },
            ],
        }),
    }
}
