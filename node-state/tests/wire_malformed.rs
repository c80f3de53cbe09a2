//! Malformed wire messages are refused with an error that names the field and the problem, never
//! with a panic and never by guessing.

#![expect(
    clippy::unwrap_used,
    reason = "helpers of tests: a failed unwrap is a failed test"
)]

mod support;

use podwire_node_state::wire::{FromWireError, WireProblem, proto};
use podwire_node_state::*;
use prost::Message;
use support::every_variant_snapshot;

/// A valid wire snapshot to break.
fn wire_snapshot() -> proto::NodeSnapshot {
    (&every_variant_snapshot(IpamdShape::PerNetworkCard)).into()
}

fn index_of_link(wire: &proto::NodeSnapshot, name: &str) -> usize {
    wire.host
        .as_ref()
        .unwrap()
        .links
        .iter()
        .position(|l| l.name == name)
        .unwrap()
}

fn host(wire: &mut proto::NodeSnapshot) -> &mut proto::NetnsState {
    wire.host.as_mut().unwrap()
}

fn ipamd_eni(wire: &mut proto::NodeSnapshot) -> &mut proto::IpamdEni {
    &mut wire
        .vpc_cni
        .as_mut()
        .unwrap()
        .ipamd
        .as_mut()
        .unwrap()
        .network_cards[0]
        .enis[0]
}

fn kernel_route(wire: &mut proto::NodeSnapshot) -> &mut proto::KernelRoute {
    match wire.kernel_routes[0]
        .answer
        .as_mut()
        .unwrap()
        .answer
        .as_mut()
        .unwrap()
    {
        proto::kernel_route_answer::Answer::Route(route) => route,
        other => panic!("the fixture's first decision is a route, not {other:?}"),
    }
}

type Breakage = fn(&mut proto::NodeSnapshot);

#[test]
fn malformed_snapshots_are_refused_with_the_field_named() {
    use WireProblem::*;
    let cases: Vec<(&str, Breakage, &str, WireProblem)> = vec![
        ("no node identity", |w| w.node = None, "node", Missing),
        ("no host namespace", |w| w.host = None, "host", Missing),
        ("no CNI state", |w| w.cni = None, "cni", Missing),
        (
            "5-byte probe destination",
            |w| w.probe_destination = Some(vec![1; 5].into()),
            "probe_destination",
            AddressLength { len: 5 },
        ),
        (
            "5-byte gateway",
            |w| host(w).routes[13].gateway = Some(vec![10, 0, 0, 0, 1].into()),
            "host.routes[13].gateway",
            AddressLength { len: 5 },
        ),
        (
            "empty neighbour address",
            |w| w.namespaces[0].neighbors[0].address.clear(),
            "namespaces[0].neighbors[0].address",
            AddressLength { len: 0 },
        ),
        (
            "7-byte MAC",
            |w| host(w).links[0].mac = Some(vec![2; 7].into()),
            "host.links[0].mac",
            MacLength { len: 7 },
        ),
        (
            "link without a kind",
            |w| host(w).links[1].kind = None,
            "host.links[1].kind",
            Missing,
        ),
        (
            "unspecified plain kind",
            |w| host(w).links[0].kind = Some(proto::link::Kind::Plain(0)),
            "host.links[0].plain",
            Unspecified,
        ),
        (
            "unknown oper state",
            |w| host(w).links[2].oper_state = 42,
            "host.links[2].oper_state",
            UnknownEnumValue { value: 42 },
        ),
        (
            "VLAN id above 16 bits",
            |w| {
                let i = index_of_link(w, "vlan.eth.1");
                if let Some(proto::link::Kind::Vlan(vlan)) = &mut host(w).links[i].kind {
                    vlan.id = 70_000;
                }
            },
            "host.links[4].vlan.id",
            OutOfRange {
                value: 70_000,
                max: 65_535,
            },
        ),
        (
            "unspecified VLAN protocol",
            |w| {
                let i = index_of_link(w, "qinq");
                if let Some(proto::link::Kind::Vlan(vlan)) = &mut host(w).links[i].kind {
                    vlan.protocol = 0;
                }
            },
            "host.links[5].vlan.protocol",
            Unspecified,
        ),
        (
            "3-byte VXLAN remote",
            |w| {
                let i = index_of_link(w, "flannel.1");
                if let Some(proto::link::Kind::Vxlan(vxlan)) = &mut host(w).links[i].kind {
                    vxlan.remote = Some(vec![1, 2, 3].into());
                }
            },
            "host.links[6].vxlan.remote",
            AddressLength { len: 3 },
        ),
        (
            "IPv4 prefix longer than 32",
            |w| host(w).routes[0].destination.as_mut().unwrap().prefix_len = 33,
            "host.routes[0].destination.prefix_len",
            PrefixLength {
                prefix_len: 33,
                max_len: 32,
            },
        ),
        (
            "route without a destination",
            |w| host(w).routes[2].destination = None,
            "host.routes[2].destination",
            Missing,
        ),
        (
            "route without a type",
            |w| host(w).routes[3].route_type = None,
            "host.routes[3].route_type",
            Missing,
        ),
        (
            "unknown route type",
            |w| host(w).routes[3].route_type = Some(proto::route::RouteType::KnownType(11)),
            "host.routes[3].known_type",
            UnknownEnumValue { value: 11 },
        ),
        (
            "raw route type above 255",
            |w| host(w).routes[3].route_type = Some(proto::route::RouteType::OtherType(256)),
            "host.routes[3].other_type",
            OutOfRange {
                value: 256,
                max: 255,
            },
        ),
        (
            "route without a scope",
            |w| host(w).routes[4].scope = None,
            "host.routes[4].scope",
            Missing,
        ),
        (
            "unknown route scope",
            |w| host(w).routes[4].scope = Some(proto::route::Scope::KnownScope(100)),
            "host.routes[4].known_scope",
            UnknownEnumValue { value: 100 },
        ),
        (
            "route tos above 255",
            |w| host(w).routes[5].tos = 256,
            "host.routes[5].tos",
            OutOfRange {
                value: 256,
                max: 255,
            },
        ),
        (
            "route protocol above 255",
            |w| host(w).routes[5].protocol = 1000,
            "host.routes[5].protocol",
            OutOfRange {
                value: 1000,
                max: 255,
            },
        ),
        (
            "next-hop weight above 16 bits",
            |w| host(w).routes[14].nexthops[1].weight = 65_536,
            "host.routes[14].nexthops[1].weight",
            OutOfRange {
                value: 65_536,
                max: 65_535,
            },
        ),
        (
            "address without a scope",
            |w| host(w).addresses[1].scope = None,
            "host.addresses[1].scope",
            Missing,
        ),
        (
            "address prefix with a 17-byte address",
            |w| host(w).addresses[1].address.as_mut().unwrap().address = vec![0; 17].into(),
            "host.addresses[1].address.address",
            AddressLength { len: 17 },
        ),
        (
            "rule without a family",
            |w| host(w).rules[0].family = 0,
            "host.rules[0].family",
            Unspecified,
        ),
        (
            "rule with an unknown family",
            |w| host(w).rules[0].family = 3,
            "host.rules[0].family",
            UnknownEnumValue { value: 3 },
        ),
        (
            "rule without an action",
            |w| host(w).rules[2].action = None,
            "host.rules[2].action",
            Missing,
        ),
        (
            "unspecified rule verdict",
            |w| host(w).rules[3].action = Some(proto::policy_rule::Action::Verdict(0)),
            "host.rules[3].verdict",
            Unspecified,
        ),
        (
            "unknown rule verdict",
            |w| host(w).rules[3].action = Some(proto::policy_rule::Action::Verdict(1)),
            "host.rules[3].verdict",
            UnknownEnumValue { value: 1 },
        ),
        (
            "rule source port above 16 bits",
            |w| host(w).rules[1].sport.as_mut().unwrap().end = 65_536,
            "host.rules[1].sport.end",
            OutOfRange {
                value: 65_536,
                max: 65_535,
            },
        ),
        (
            "IPv6 rule prefix longer than 128",
            |w| host(w).rules[6].source.as_mut().unwrap().prefix_len = 129,
            "host.rules[6].source.prefix_len",
            PrefixLength {
                prefix_len: 129,
                max_len: 128,
            },
        ),
        (
            "CNI result gateway of 2 bytes",
            |w| w.cni.as_mut().unwrap().cache[0].gateways[1] = vec![1, 2].into(),
            "cni.cache[0].gateways[1]",
            AddressLength { len: 2 },
        ),
        (
            "CNI interface MAC of 0 bytes",
            |w| w.cni.as_mut().unwrap().cache[0].interfaces[0].mac = Some(vec![].into()),
            "cni.cache[0].interfaces[0].mac",
            MacLength { len: 0 },
        ),
        (
            "host-local last reserved of 1 byte",
            |w| w.cni.as_mut().unwrap().host_local[0].last_reserved[1] = vec![1].into(),
            "cni.host_local[0].last_reserved[1]",
            AddressLength { len: 1 },
        ),
        (
            "IPAM subnet prefix too long",
            |w| {
                w.cni.as_mut().unwrap().configs[0].plugins[1]
                    .ipam
                    .as_mut()
                    .unwrap()
                    .subnets[0]
                    .prefix_len = 40
            },
            "cni.configs[0].plugins[1].ipam.subnets[0].prefix_len",
            PrefixLength {
                prefix_len: 40,
                max_len: 32,
            },
        ),
        (
            "flannel lease too long",
            |w| {
                w.cni
                    .as_mut()
                    .unwrap()
                    .flannel
                    .as_mut()
                    .unwrap()
                    .subnet
                    .as_mut()
                    .unwrap()
                    .prefix_len = 99
            },
            "cni.flannel.subnet.prefix_len",
            PrefixLength {
                prefix_len: 99,
                max_len: 32,
            },
        ),
        (
            "ipamd without a shape",
            |w| w.vpc_cni.as_mut().unwrap().ipamd.as_mut().unwrap().shape = 0,
            "vpc_cni.ipamd.shape",
            Unspecified,
        ),
        (
            "ipamd CIDR missing",
            |w| ipamd_eni(w).cidrs[0].cidr = None,
            "vpc_cni.ipamd.network_cards[0].enis[0].cidrs[0].cidr",
            Missing,
        ),
        (
            "ipamd address of 8 bytes",
            |w| ipamd_eni(w).cidrs[0].addresses[1].ip = vec![0; 8].into(),
            "vpc_cni.ipamd.network_cards[0].enis[0].cidrs[0].addresses[1].ip",
            AddressLength { len: 8 },
        ),
        (
            "checkpoint IPv6 of 6 bytes",
            |w| {
                w.vpc_cni
                    .as_mut()
                    .unwrap()
                    .checkpoint
                    .as_mut()
                    .unwrap()
                    .allocations[0]
                    .ipv6 = Some(vec![0; 6].into())
            },
            "vpc_cni.checkpoint.allocations[0].ipv6",
            AddressLength { len: 6 },
        ),
        (
            "kernel decision without a query",
            |w| w.kernel_routes[1].query = None,
            "kernel_routes[1].query",
            Missing,
        ),
        (
            "kernel decision without an answer",
            |w| w.kernel_routes[1].answer = None,
            "kernel_routes[1].answer",
            Missing,
        ),
        (
            "kernel answer without a result",
            |w| w.kernel_routes[2].answer.as_mut().unwrap().answer = None,
            "kernel_routes[2].answer.answer",
            Missing,
        ),
        (
            "kernel route of an unknown type",
            |w| kernel_route(w).route_type = Some(proto::kernel_route::RouteType::KnownType(99)),
            "kernel_routes[0].answer.route.known_type",
            UnknownEnumValue { value: 99 },
        ),
        (
            "kernel route with a 1-byte gateway",
            |w| kernel_route(w).gateway = Some(vec![1].into()),
            "kernel_routes[0].answer.route.gateway",
            AddressLength { len: 1 },
        ),
        (
            "kernel query from a 0-byte source",
            |w| w.kernel_routes[0].query.as_mut().unwrap().source.clear(),
            "kernel_routes[0].query.source",
            AddressLength { len: 0 },
        ),
        (
            "error from an unknown source",
            |w| w.errors[3].source = 99,
            "errors[3].source",
            UnknownEnumValue { value: 99 },
        ),
        (
            "error without a source",
            |w| w.errors[0].source = 0,
            "errors[0].source",
            Unspecified,
        ),
    ];
    for (what, breakage, field, problem) in cases {
        let mut wire = wire_snapshot();
        breakage(&mut wire);
        // Through bytes, as the server receives it.
        let wire = proto::NodeSnapshot::decode(wire.encode_to_vec().as_slice()).unwrap();
        let error: FromWireError = match NodeSnapshot::try_from(wire) {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => e,
        };
        assert_eq!(
            (error.field(), error.problem()),
            (field, &problem),
            "{what}: {error}"
        );
    }
}

#[test]
fn the_error_reads_as_one_sentence() {
    let mut wire = wire_snapshot();
    host(&mut wire).routes[13].gateway = Some(vec![10, 0, 0, 0, 1].into());
    let error = NodeSnapshot::try_from(wire).unwrap_err();
    assert_eq!(
        error.to_string(),
        "wire field `host.routes[13].gateway` holds 5 bytes, not a 4-byte IPv4 or 16-byte IPv6 address"
    );
}
