//! Model → wire → bytes → wire → model is the identity, for every variant of every model type.

#![expect(
    clippy::unwrap_used,
    reason = "helpers of tests: a failed unwrap is a failed test"
)]

mod support;

use std::collections::BTreeSet;

use podwire_node_state::wire::proto;
use podwire_node_state::*;
use prost::Message;
use support::{every_variant_snapshot, vpc_cni_node};

const SHAPES: [IpamdShape; 3] = [
    IpamdShape::Flat,
    IpamdShape::PerNetworkCard,
    IpamdShape::PerNetworkCardScrubbed,
];

/// Sends a snapshot through the wire exactly as the agent and the server do.
fn through_the_wire(snapshot: &NodeSnapshot) -> NodeSnapshot {
    let message = proto::AgentMessage {
        message: Some(proto::agent_message::Message::Snapshot(
            proto::SnapshotUpload {
                sequence: 7,
                content_hash: wire::content_hash(snapshot).to_wire(),
                body: Some(proto::snapshot_upload::Body::Snapshot(snapshot.into())),
            },
        )),
    };
    let bytes = message.encode_to_vec();
    let decoded = proto::AgentMessage::decode(bytes.as_slice()).unwrap();
    let Some(proto::agent_message::Message::Snapshot(upload)) = decoded.message else {
        panic!("decoded something else: {decoded:?}");
    };
    assert_eq!(upload.sequence, 7);
    let Some(proto::snapshot_upload::Body::Snapshot(wire)) = upload.body else {
        panic!("the upload lost its snapshot");
    };
    NodeSnapshot::try_from(wire).unwrap()
}

#[test]
fn every_variant_survives_the_wire() {
    for shape in SHAPES {
        let snapshot = every_variant_snapshot(shape);
        assert_eq!(
            through_the_wire(&snapshot),
            snapshot,
            "ipamd shape {shape:?}"
        );
    }
}

#[test]
fn a_250_pod_vpc_cni_node_survives_the_wire() {
    let snapshot = vpc_cni_node(250);
    assert_eq!(snapshot.namespaces.len(), 250);
    assert_eq!(through_the_wire(&snapshot), snapshot);
}

#[test]
fn an_empty_snapshot_survives_the_wire() {
    let snapshot = NodeSnapshot::default();
    assert_eq!(through_the_wire(&snapshot), snapshot);
}

// The fixture must hold every variant, or the round trip proves less than it claims. These
// matches stop compiling when a variant is added, which is the moment to extend the .proto files,
// the conversion and the fixture.
fn link_kind_index(kind: &LinkKind) -> usize {
    match kind {
        LinkKind::Device => 0,
        LinkKind::Loopback => 1,
        LinkKind::Veth => 2,
        LinkKind::Bridge => 3,
        LinkKind::Vlan { .. } => 4,
        LinkKind::Vxlan { .. } => 5,
        LinkKind::Macvlan { .. } => 6,
        LinkKind::Ipvlan { .. } => 7,
        LinkKind::Dummy => 8,
        LinkKind::Other { .. } => 9,
    }
}

fn route_type_index(route_type: RouteType) -> usize {
    match route_type {
        RouteType::Unspec => 0,
        RouteType::Unicast => 1,
        RouteType::Local => 2,
        RouteType::Broadcast => 3,
        RouteType::Anycast => 4,
        RouteType::Multicast => 5,
        RouteType::Blackhole => 6,
        RouteType::Unreachable => 7,
        RouteType::Prohibit => 8,
        RouteType::Throw => 9,
        RouteType::Nat => 10,
        RouteType::Other(_) => 11,
    }
}

fn scope_index(scope: RouteScope) -> usize {
    match scope {
        RouteScope::Universe => 0,
        RouteScope::Site => 1,
        RouteScope::Link => 2,
        RouteScope::Host => 3,
        RouteScope::Nowhere => 4,
        RouteScope::Other(_) => 5,
    }
}

fn rule_action_index(action: RuleAction) -> usize {
    match action {
        RuleAction::Lookup { .. } => 0,
        RuleAction::Goto { .. } => 1,
        RuleAction::Nop => 2,
        RuleAction::Blackhole => 3,
        RuleAction::Unreachable => 4,
        RuleAction::Prohibit => 5,
        RuleAction::Other { .. } => 6,
    }
}

fn oper_state_index(state: OperState) -> usize {
    match state {
        OperState::Unknown => 0,
        OperState::NotPresent => 1,
        OperState::Down => 2,
        OperState::LowerLayerDown => 3,
        OperState::Testing => 4,
        OperState::Dormant => 5,
        OperState::Up => 6,
    }
}

fn error_source_index(source: ErrorSource) -> usize {
    match source {
        ErrorSource::NetnsDiscovery => 0,
        ErrorSource::Netlink => 1,
        ErrorSource::CniCache => 2,
        ErrorSource::CniConfig => 3,
        ErrorSource::HostLocal => 4,
        ErrorSource::Ipamd => 5,
        ErrorSource::IpamCheckpoint => 6,
        ErrorSource::KernelRoute => 7,
        ErrorSource::NodeIdentity => 8,
    }
}

fn assert_all(seen: impl IntoIterator<Item = usize>, count: usize, what: &str) {
    let seen: BTreeSet<usize> = seen.into_iter().collect();
    assert_eq!(
        seen,
        (0..count).collect(),
        "the fixture lacks some {what} variants"
    );
}

#[test]
fn the_fixture_holds_every_variant() {
    let s = every_variant_snapshot(IpamdShape::Flat);
    let links: Vec<&Link> = s.all_namespaces().flat_map(|ns| &ns.links).collect();
    assert_all(
        links.iter().map(|l| link_kind_index(&l.kind)),
        10,
        "LinkKind",
    );
    assert_all(
        links.iter().map(|l| oper_state_index(l.oper_state)),
        7,
        "OperState",
    );
    let vlan_protocols: BTreeSet<String> = links
        .iter()
        .filter_map(|l| match l.kind {
            LinkKind::Vlan { protocol, .. } => Some(format!("{protocol:?}")),
            _ => None,
        })
        .collect();
    assert_eq!(vlan_protocols.len(), 2, "both VLAN protocols");
    assert_all(
        s.host.routes.iter().map(|r| route_type_index(r.route_type)),
        12,
        "RouteType",
    );
    let scopes = s
        .host
        .routes
        .iter()
        .map(|r| r.scope)
        .chain(s.host.addresses.iter().map(|a| a.scope));
    assert_all(scopes.map(scope_index), 6, "RouteScope");
    let address_scopes = s.host.addresses.iter().map(|a| scope_index(a.scope));
    assert_all(address_scopes, 6, "address RouteScope");
    assert_all(
        s.host.rules.iter().map(|r| rule_action_index(r.action)),
        7,
        "RuleAction",
    );
    assert_all(
        s.errors.iter().map(|e| error_source_index(e.source)),
        9,
        "ErrorSource",
    );
    let answers = s.kernel_routes.iter().map(|d| match d.answer {
        KernelRouteAnswer::Route { .. } => 0,
        KernelRouteAnswer::Error { .. } => 1,
    });
    assert_all(answers, 2, "KernelRouteAnswer");
    let families = s.host.rules.iter().map(|r| match r.family {
        IpFamily::V4 => 0,
        IpFamily::V6 => 1,
    });
    assert_all(families, 2, "IpFamily");
}

#[test]
fn a_raw_route_type_that_names_a_known_one_stays_raw() {
    // Lossless even for values the collector should never produce.
    let snapshot = every_variant_snapshot(IpamdShape::Flat);
    let raw_one = snapshot
        .host
        .routes
        .iter()
        .filter(|r| r.route_type == RouteType::Other(1))
        .count();
    assert_eq!(raw_one, 1);
    let back = through_the_wire(&snapshot);
    assert_eq!(
        back.host
            .routes
            .iter()
            .filter(|r| r.route_type == RouteType::Other(1))
            .count(),
        1
    );
}
