use super::*;

fn eni(id: &str) -> Ec2Eni {
    Ec2Eni {
        network_interface_id: id.to_owned(),
        interface_type: Some("interface".to_owned()),
        ..Ec2Eni::default()
    }
}

fn attached(mut e: Ec2Eni, index: i32) -> Ec2Eni {
    e.attachment = Some(Ec2Attachment {
        instance_id: Some("i-0abc".to_owned()),
        device_index: Some(index),
        ..Ec2Attachment::default()
    });
    e
}

fn tagged(mut e: Ec2Eni, key: &str, value: &str) -> Ec2Eni {
    e.tag_set.push(Ec2Tag {
        key: key.to_owned(),
        value: Some(value.to_owned()),
    });
    e
}

fn described(mut e: Ec2Eni, text: &str) -> Ec2Eni {
    e.description = Some(text.to_owned());
    e
}

#[test]
fn classification_table() {
    let cases: Vec<(&str, Ec2Eni, EniKind)> = vec![
        ("device index 0", attached(eni("a"), 0), EniKind::Primary),
        ("device index 1", attached(eni("b"), 1), EniKind::Secondary),
        ("detached plain", eni("c"), EniKind::Secondary),
        (
            "InterfaceType trunk",
            Ec2Eni {
                interface_type: Some("trunk".into()),
                ..attached(eni("d"), 2)
            },
            EniKind::Trunk,
        ),
        (
            "InterfaceType branch",
            Ec2Eni {
                interface_type: Some("branch".into()),
                ..eni("e")
            },
            EniKind::Branch,
        ),
        (
            "trunk by description (moto stores interface)",
            described(attached(eni("f"), 2), TRUNK_DESCRIPTION),
            EniKind::Trunk,
        ),
        (
            "branch by description",
            described(eni("g"), BRANCH_DESCRIPTION),
            EniKind::Branch,
        ),
        (
            "branch by vlan tag only",
            tagged(eni("h"), VLAN_ID_TAG, "3"),
            EniKind::Branch,
        ),
        (
            "branch by trunk id tag only",
            tagged(eni("i"), TRUNK_ENI_ID_TAG, "eni-trunk"),
            EniKind::Branch,
        ),
        (
            "owner tag, attached: trunk",
            tagged(attached(eni("j"), 2), OWNER_TAG, RESOURCE_CONTROLLER),
            EniKind::Trunk,
        ),
        (
            "owner tag, detached: branch",
            tagged(eni("k"), OWNER_TAG, RESOURCE_CONTROLLER),
            EniKind::Branch,
        ),
        (
            "other owner at index 0 stays primary",
            tagged(attached(eni("l"), 0), OWNER_TAG, "amazon-vpc-cni"),
            EniKind::Primary,
        ),
        (
            "VPC CNI secondary description",
            described(attached(eni("m"), 1), "aws-K8S-i-0abc"),
            EniKind::Secondary,
        ),
    ];
    for (what, e, want) in cases {
        assert_eq!(classify(&e), want, "{what}");
    }
}

#[test]
fn kind_names_round_trip() {
    for kind in [
        EniKind::Primary,
        EniKind::Secondary,
        EniKind::Trunk,
        EniKind::Branch,
    ] {
        assert_eq!(EniKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(EniKind::parse("interface"), None);
}

/// The shape `aws ec2 describe-network-interfaces` prints, trimmed to a branch and a primary ENI.
const CLI_OUTPUT: &str = r#"{
  "NetworkInterfaces": [
    {
      "Attachment": {"AttachmentId": "eni-attach-1", "DeleteOnTermination": true,
                     "DeviceIndex": 0, "NetworkCardIndex": 0, "InstanceId": "i-0123",
                     "Status": "attached"},
      "AvailabilityZone": "us-west-2a",
      "Description": "",
      "Groups": [{"GroupName": "eks-cluster-sg", "GroupId": "sg-0aa"}],
      "InterfaceType": "interface",
      "MacAddress": "02:38:F6:D6:7F:55",
      "NetworkInterfaceId": "eni-0primary",
      "PrivateIpAddress": "192.168.31.166",
      "PrivateIpAddresses": [
        {"Primary": true, "PrivateIpAddress": "192.168.31.166"},
        {"Primary": false, "PrivateIpAddress": "192.168.16.10"}
      ],
      "SubnetId": "subnet-0aa",
      "TagSet": [{"Key": "node.k8s.amazonaws.com/instance_id", "Value": "i-0123"}],
      "VpcId": "vpc-0aa",
      "Status": "in-use"
    },
    {
      "Description": "aws-k8s-branch-eni",
      "Groups": [{"GroupName": "payments", "GroupId": "sg-0bb"}],
      "InterfaceType": "branch",
      "MacAddress": "02:a5:54:78:46:91",
      "NetworkInterfaceId": "eni-0branch",
      "SubnetId": "subnet-0aa",
      "TagSet": [{"Key": "vpcresources.k8s.aws/vlan-id", "Value": "1"},
                 {"Key": "vpcresources.k8s.aws/trunk-eni-id", "Value": "eni-0trunk"},
                 {"Key": "eks:eni:owner", "Value": "eks-vpc-resource-controller"}],
      "VpcId": "vpc-0aa"
    },
    {"NetworkInterfaceId": "eni-0nomac", "MacAddress": "not-a-mac"}
  ]
}"#;

#[test]
fn cli_json_parses_and_joins_by_mac() {
    let described: DescribedEnis = serde_json::from_str(CLI_OUTPUT).unwrap();
    assert_eq!(described.network_interfaces.len(), 3);
    let index = EniIndex::new(&described.network_interfaces);

    // EC2 may print upper-case hex; the kernel's MAC is lower-case: they still join.
    let primary_mac: MacAddr = "02:38:f6:d6:7f:55".parse().unwrap();
    let (primary, kind) = index.pod_eni(Some(primary_mac)).unwrap();
    assert_eq!(primary.network_interface_id, "eni-0primary");
    assert_eq!(kind, EniKind::Primary);
    assert_eq!(
        primary.groups[0].group_name.as_deref(),
        Some("eks-cluster-sg")
    );
    assert_eq!(primary.private_ip_addresses.len(), 2);

    let branch_mac: MacAddr = "02:a5:54:78:46:91".parse().unwrap();
    let (branch, kind) = index.pod_eni(Some(branch_mac)).unwrap();
    assert_eq!(kind, EniKind::Branch);
    assert_eq!(branch.vlan_id(), Some(1));
    assert_eq!(branch.tag(TRUNK_ENI_ID_TAG), Some("eni-0trunk"));

    assert!(index.pod_eni(None).is_none());
    assert!(
        index
            .pod_eni(Some("02:00:00:00:00:01".parse().unwrap()))
            .is_none()
    );
}

#[test]
fn bad_json_is_an_error_not_a_panic() {
    assert!(serde_json::from_str::<DescribedEnis>("{\"NetworkInterfaces\": 3}").is_err());
    assert!(serde_json::from_str::<DescribedEnis>("\"eni-1\"").is_err());
    let empty: DescribedEnis = serde_json::from_str("{}").unwrap();
    assert!(empty.network_interfaces.is_empty());
}

#[test]
fn max_pods_matches_the_eni_max_pods_table() {
    // m5.large: 3 ENIs, 10 IPv4 each → 29; t3.medium: 3 × 6 → 17; m5.24xlarge: 15 × 50 → 737.
    assert_eq!(vpc_cni_max_pods(3, 10), 29);
    assert_eq!(vpc_cni_max_pods(3, 6), 17);
    assert_eq!(vpc_cni_max_pods(15, 50), 737);
}
