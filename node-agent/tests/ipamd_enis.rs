//! `/v1/enis` answers of every ipamd shape, written from VPC CNI's Go types at each version.

mod common;

use std::net::IpAddr;

use common::read_fixture;
use ipnet::IpNet;
use podwire_agent::collect::vpc_cni::ipamd::{CidrError, IpamdError, parse_enis};
use podwire_node_state::{IpamdAddress, IpamdCidr, IpamdEni, IpamdEnis, IpamdShape};

fn parse(fixture: &str) -> IpamdEnis {
    parse_enis(&read_fixture(&format!("ipamd/{fixture}"))).expect("fixture parses")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn net(text: &str) -> IpNet {
    text.parse().expect("test CIDR")
}

fn eni<'a>(enis: &'a IpamdEnis, card: usize, id: &str) -> &'a IpamdEni {
    enis.network_cards[card]
        .enis
        .iter()
        .find(|e| e.id == id)
        .expect("ENI in the answer")
}

fn cidr<'a>(eni: &'a IpamdEni, cidr: &str) -> &'a IpamdCidr {
    eni.cidrs
        .iter()
        .find(|c| c.cidr == net(cidr))
        .expect("CIDR on the ENI")
}

#[test]
fn v1_19_flat_answer_with_a_delegated_prefix_and_a_trunk() {
    let enis = parse("v1.19-flat-prefix-delegation.json");
    assert_eq!(enis.shape, IpamdShape::Flat);
    assert_eq!(enis.network_cards.len(), 1);
    let card = &enis.network_cards[0];
    assert_eq!((card.index, card.total_ips, card.assigned_ips), (0, 32, 2));

    let zero = "0001-01-01T00:00:00Z";
    assert!(!serde_json::to_string(&enis).unwrap().contains(zero));

    let primary = IpamdEni {
        id: "eni-0a1b2c3d4e5f60718".into(),
        is_primary: true,
        is_trunk: false,
        is_efa: false,
        device_number: 0,
        route_table_id: None,
        subnet_id: None,
        excluded_for_pod_ips: false,
        cidrs: vec![
            IpamdCidr {
                cidr: net("192.168.14.16/28"),
                is_prefix: true,
                addresses: vec![
                    IpamdAddress {
                        ip: ip("192.168.14.17"),
                        assigned: true,
                        container_id: Some(
                            "3f9e2d1c0b8a7f6e5d4c3b2a19f8e7d6c5b4a3928170f6e5d4c3b2a1908f7e6d"
                                .into(),
                        ),
                        pod_namespace: Some("default".into()),
                        pod_name: Some("web-0".into()),
                        assigned_time: Some("2024-05-06T14:22:09.118204377Z".into()),
                        unassigned_time: None,
                    },
                    IpamdAddress {
                        ip: ip("192.168.14.18"),
                        assigned: true,
                        container_id: Some(
                            "c0ffee1234abcd5678ef9012ab34cd56ef7890ab12cd34ef56ab78cd90ef12ab"
                                .into(),
                        ),
                        pod_namespace: Some("kube-system".into()),
                        pod_name: Some("coredns-5d78c9869d-x2kq7".into()),
                        assigned_time: Some("2024-05-06T14:20:51.006300112Z".into()),
                        unassigned_time: None,
                    },
                    // Released: the key is cleared, the address cools down before reuse.
                    IpamdAddress {
                        ip: ip("192.168.14.20"),
                        assigned: false,
                        container_id: None,
                        pod_namespace: None,
                        pod_name: None,
                        assigned_time: Some("2024-05-06T13:01:44.552187030Z".into()),
                        unassigned_time: Some("2024-05-06T14:22:40.900112346Z".into()),
                    },
                ],
            },
            IpamdCidr {
                cidr: net("192.168.14.96/28"),
                is_prefix: true,
                addresses: vec![],
            },
        ],
    };
    assert_eq!(card.enis[0], primary);
    assert_eq!(primary.cidrs[0].capacity(), 16);
    assert_eq!(primary.cidrs[0].assigned(), 2);

    let trunk = &card.enis[1];
    assert_eq!(trunk.id, "eni-0f1e2d3c4b5a69788");
    assert!(trunk.is_trunk && !trunk.is_primary);
    assert_eq!(trunk.device_number, 2);
    assert!(trunk.cidrs.is_empty());
}

#[test]
fn v1_22_keyed_by_network_card_with_secondary_ips() {
    let enis = parse("v1.22-per-network-card.json");
    assert_eq!(enis.shape, IpamdShape::PerNetworkCard);
    assert_eq!(enis.network_cards.len(), 1);
    let card = &enis.network_cards[0];
    assert_eq!((card.index, card.total_ips, card.assigned_ips), (0, 10, 3));

    // Sorted by device number, as `ip rule` tables follow them.
    let order: Vec<(u32, Option<u32>, bool)> = card
        .enis
        .iter()
        .map(|e| (e.device_number, e.route_table_id, e.is_trunk))
        .collect();
    assert_eq!(
        order,
        [
            (0, Some(254), false),
            (1, Some(2), false),
            (2, Some(3), true)
        ]
    );

    let primary = eni(&enis, 0, "eni-0a1b2c3d4e5f60718");
    assert_eq!(
        primary.subnet_id.as_deref(),
        Some("subnet-04b9c1e3d2a7f6e58")
    );
    assert_eq!(primary.cidrs.len(), 4);
    assert!(
        primary
            .cidrs
            .iter()
            .all(|c| !c.is_prefix && c.capacity() == 1)
    );
    let web = &cidr(primary, "192.168.14.10/32").addresses[0];
    assert!(web.assigned);
    assert_eq!(web.pod_name.as_deref(), Some("web-0"));
    assert!(web.container_id.as_deref().is_some_and(|id| id.len() == 64));
    // A free secondary IP is listed as a CIDR with no addresses.
    assert!(cidr(primary, "192.168.14.11/32").addresses.is_empty());
    let cooling = &cidr(primary, "192.168.14.12/32").addresses[0];
    assert!(!cooling.assigned && cooling.unassigned_time.is_some());

    let secondary = eni(&enis, 0, "eni-05e2f7d81c3a90b44");
    let cart = &cidr(secondary, "192.168.30.40/32").addresses[0];
    assert_eq!(
        (cart.pod_namespace.as_deref(), cart.pod_name.as_deref()),
        (Some("shop"), Some("cart-6f9c7d8b5-qp2lm"))
    );
}

#[test]
fn v1_23_two_network_cards_with_ids_scrubbed() {
    let enis = parse("v1.23-multi-card-scrubbed.json");
    assert_eq!(enis.shape, IpamdShape::PerNetworkCardScrubbed);
    let cards: Vec<(u32, u32, u32)> = enis
        .network_cards
        .iter()
        .map(|c| (c.index, c.total_ips, c.assigned_ips))
        .collect();
    assert_eq!(cards, [(0, 32, 2), (1, 16, 1)]);

    let addresses: Vec<&IpamdAddress> = enis
        .network_cards
        .iter()
        .flat_map(|c| &c.enis)
        .flat_map(|e| &e.cidrs)
        .flat_map(|c| &c.addresses)
        .collect();
    assert_eq!(addresses.len(), 4);
    assert!(addresses.iter().all(|a| a.container_id.is_none()));
    // Scrubbing keeps the pod's name: only the ids DelNetwork needs are gone.
    let assigned: Vec<(&str, &str)> = addresses
        .iter()
        .filter(|a| a.assigned)
        .map(|a| {
            (
                a.pod_namespace.as_deref().unwrap(),
                a.pod_name.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        assigned,
        [
            ("default", "web-0"),
            ("kube-system", "coredns-7db6d8ff4d-9tzcs"),
            ("ml", "trainer-0")
        ]
    );

    let efa = eni(&enis, 1, "eni-0e9d8c7b6a5f43210");
    assert!(efa.is_efa && !efa.is_primary);
    assert_eq!((efa.device_number, efa.route_table_id), (0, Some(10100)));
    assert_eq!(cidr(efa, "10.20.9.160/28").assigned(), 1);
}

#[test]
fn ipv6_prefixes() {
    let enis = parse("v1.21-ipv6-prefix.json");
    assert_eq!(enis.shape, IpamdShape::PerNetworkCard);
    let primary = eni(&enis, 0, "eni-0a1b2c3d4e5f60718");
    let prefix = cidr(primary, "2600:1f14:93a:d701:c4b8::/80");
    assert!(prefix.is_prefix);
    assert_eq!(prefix.capacity(), 1 << 48);
    assert_eq!(prefix.addresses[0].ip, ip("2600:1f14:93a:d701:c4b8::1"));
    assert!(prefix.addresses[0].assigned);
}

#[test]
fn v1_8_ipv4_addresses_list_every_secondary_ip() {
    let enis = parse("v1.8-ipv4addresses.json");
    assert_eq!(enis.shape, IpamdShape::Flat);
    let primary = eni(&enis, 0, "eni-0c4b1a9e5d7f31b26");
    let per_ip: Vec<(IpNet, Vec<bool>)> = primary
        .cidrs
        .iter()
        .map(|c| (c.cidr, c.addresses.iter().map(|a| a.assigned).collect()))
        .collect();
    assert_eq!(
        per_ip,
        [
            (net("192.168.7.21/32"), vec![true]),
            // Never used: free, so not listed as an address.
            (net("192.168.7.88/32"), vec![]),
            // Released: listed, not assigned.
            (net("192.168.7.140/32"), vec![false]),
        ]
    );
    assert!(primary.cidrs[0].addresses[0].container_id.is_some());
    assert_eq!(eni(&enis, 0, "eni-05e2f7d81c3a90b44").device_number, 1);
}

#[test]
fn v1_6_eni_ip_pools_with_assigned_flags() {
    let enis = parse("v1.6-eniippools.json");
    assert_eq!(enis.shape, IpamdShape::Flat);
    let card = &enis.network_cards[0];
    assert_eq!((card.total_ips, card.assigned_ips), (10, 1));
    let primary = eni(&enis, 0, "eni-0c4b1a9e5d7f31b26");
    assert!(primary.is_primary);
    let in_use: Vec<(IpAddr, bool)> = primary
        .cidrs
        .iter()
        .flat_map(|c| &c.addresses)
        .map(|a| (a.ip, a.assigned))
        .collect();
    assert_eq!(
        in_use,
        [(ip("192.168.7.21"), true), (ip("192.168.7.140"), false)]
    );
    assert_eq!(eni(&enis, 0, "eni-05e2f7d81c3a90b44").device_number, 2);
}

#[test]
fn garbage_is_a_typed_error() {
    let cidr_with_mask = |mask: &str| {
        format!(
            r#"{{"0":{{"TotalIPs":1,"AssignedIPs":0,"ENIs":{{"eni-1":{{"ID":"eni-1","DeviceNumber":0,
            "AvailableIPv4Cidrs":{{"10.0.0.5/32":{{"Cidr":{{"IP":"10.0.0.5","Mask":"{mask}"}},
            "IPAddresses":{{}},"IsPrefix":false}}}}}}}}}}}}"#
        )
    };
    let short_mask = cidr_with_mask("////");
    let holey_mask = cidr_with_mask("/wD/AA==");
    let bad_address = r#"{"TotalIPs":1,"ENIs":{"eni-1":{"ID":"eni-1","AvailableIPv4Cidrs":{
        "10.0.0.5/32":{"Cidr":{"IP":"10.0.0.5","Mask":"/////w=="},"IPAddresses":{
        "10.0.0.500":{"Address":"10.0.0.500","IPAMKey":{"networkName":"aws-cni"}}}}}}}}"#;
    let cases: Vec<(&str, &[u8])> = vec![
        ("html", b"<html><body>502 Bad Gateway</body></html>"),
        ("truncated", b"{\"0\":{\"TotalIPs\":3,\"ENIs\":{\"eni-1\":"),
        ("empty", b""),
        ("array", b"[1, 2]"),
        ("unknown key", br#"{"status":"ok"}"#),
        ("ENIs not a map", br#"{"TotalIPs":1,"ENIs":[]}"#),
        ("card not an object", br#"{"0":"eni-1"}"#),
        (
            "negative device",
            br#"{"0":{"ENIs":{"eni-1":{"DeviceNumber":-1}}}}"#,
        ),
        ("short mask", short_mask.as_bytes()),
        ("holey mask", holey_mask.as_bytes()),
        ("bad address", bad_address.as_bytes()),
    ];
    let mut seen = Vec::new();
    for (name, body) in cases {
        let error = parse_enis(body).expect_err(name);
        let kind = match &error {
            IpamdError::NotJson(_) => "not json",
            IpamdError::NotAnObject => "not an object",
            IpamdError::UnknownShape(key) if key == "status" => "unknown shape",
            IpamdError::Structure { .. } => "structure",
            IpamdError::BadCidr {
                source: CidrError::MaskLength { len: 3, .. },
                ..
            } => "mask length",
            IpamdError::BadCidr {
                source: CidrError::NonContiguousMask(_),
                ..
            } => "mask holes",
            IpamdError::BadAddress { value, .. } if value == "10.0.0.500" => "bad address",
            other => panic!("{name}: unexpected {other:?}"),
        };
        seen.push((name, kind));
    }
    assert_eq!(
        seen,
        [
            ("html", "not json"),
            ("truncated", "not json"),
            ("empty", "not json"),
            ("array", "not an object"),
            ("unknown key", "unknown shape"),
            ("ENIs not a map", "structure"),
            ("card not an object", "structure"),
            ("negative device", "structure"),
            ("short mask", "mask length"),
            ("holey mask", "mask holes"),
            ("bad address", "bad address"),
        ]
    );
}

#[test]
fn errors_read_as_a_sentence_with_their_cause() {
    let error = parse_enis(br#"{"0":{"ENIs":{"eni-1":{"DeviceNumber":"zero"}}}}"#).unwrap_err();
    assert_eq!(
        error.to_string(),
        "network card 0 is not an ENIInfos object"
    );
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(cause.contains("invalid type: string \"zero\""), "{cause}");
}
