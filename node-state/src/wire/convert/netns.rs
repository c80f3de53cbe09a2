//! Network-namespace state: links, addresses, routes, policy rules, neighbours.

use super::{
    FromWireError, InField, ip_from_wire, ip_to_wire, known_enum, mac_from_wire, mac_to_wire,
    missing, optional, optional_ip_from_wire, optional_ip_to_wire, optional_prefix_to_wire,
    repeated, required, to_u8, to_u16, to_wire, unspecified,
};
use crate::model::{
    Address, IpFamily, Link, LinkKind, Neighbor, NetnsState, NextHop, OperState, PolicyRule, Route,
    RouteScope, RouteType, RuleAction, VlanProtocol,
};
use crate::wire::proto;

impl From<&NetnsState> for proto::NetnsState {
    fn from(ns: &NetnsState) -> Self {
        proto::NetnsState {
            inode: ns.inode,
            name: ns.name.clone(),
            path: ns.path.clone(),
            nsid: ns.nsid,
            links: to_wire(&ns.links),
            addresses: to_wire(&ns.addresses),
            routes: to_wire(&ns.routes),
            rules: to_wire(&ns.rules),
            neighbors: to_wire(&ns.neighbors),
        }
    }
}

impl TryFrom<proto::NetnsState> for NetnsState {
    type Error = FromWireError;

    fn try_from(wire: proto::NetnsState) -> Result<Self, FromWireError> {
        Ok(NetnsState {
            inode: wire.inode,
            name: wire.name,
            path: wire.path,
            nsid: wire.nsid,
            links: repeated(wire.links, "links")?,
            addresses: repeated(wire.addresses, "addresses")?,
            routes: repeated(wire.routes, "routes")?,
            rules: repeated(wire.rules, "rules")?,
            neighbors: repeated(wire.neighbors, "neighbors")?,
        })
    }
}

impl From<&Link> for proto::Link {
    fn from(link: &Link) -> Self {
        use proto::PlainLinkKind as Plain;
        use proto::link::Kind;
        let plain = |kind: Plain| Kind::Plain(kind.into());
        let kind = match &link.kind {
            LinkKind::Device => plain(Plain::Device),
            LinkKind::Loopback => plain(Plain::Loopback),
            LinkKind::Veth => plain(Plain::Veth),
            LinkKind::Bridge => plain(Plain::Bridge),
            LinkKind::Dummy => plain(Plain::Dummy),
            LinkKind::Vlan { id, protocol } => Kind::Vlan(proto::VlanLink {
                id: u32::from(*id),
                protocol: proto::VlanProtocol::from(*protocol).into(),
            }),
            LinkKind::Vxlan {
                vni,
                underlay,
                local,
                remote,
                port,
            } => Kind::Vxlan(proto::VxlanLink {
                vni: *vni,
                underlay: *underlay,
                local: optional_ip_to_wire(local),
                remote: optional_ip_to_wire(remote),
                port: port.map(u32::from),
            }),
            LinkKind::Macvlan { mode } => Kind::MacvlanMode(mode.clone()),
            LinkKind::Ipvlan { mode } => Kind::IpvlanMode(mode.clone()),
            LinkKind::Other { name } => Kind::Other(name.clone()),
        };
        proto::Link {
            ifindex: link.ifindex,
            name: link.name.clone(),
            mac: mac_to_wire(&link.mac),
            mtu: link.mtu,
            admin_up: link.admin_up,
            oper_state: proto::OperState::from(link.oper_state).into(),
            master: link.master,
            link: link.link,
            link_netnsid: link.link_netnsid,
            kind: Some(kind),
        }
    }
}

impl TryFrom<proto::Link> for Link {
    type Error = FromWireError;

    fn try_from(wire: proto::Link) -> Result<Self, FromWireError> {
        use proto::link::Kind;
        let kind = match wire.kind.ok_or_else(|| missing("kind"))? {
            Kind::Plain(value) => plain_link_kind_from_wire(value)?,
            Kind::Vlan(vlan) => LinkKind::Vlan {
                id: to_u16(vlan.id, "vlan.id")?,
                protocol: vlan_protocol_from_wire(vlan.protocol)?,
            },
            Kind::Vxlan(vxlan) => LinkKind::Vxlan {
                vni: vxlan.vni,
                underlay: vxlan.underlay,
                local: optional_ip_from_wire(vxlan.local, "vxlan.local")?,
                remote: optional_ip_from_wire(vxlan.remote, "vxlan.remote")?,
                port: vxlan.port.map(|p| to_u16(p, "vxlan.port")).transpose()?,
            },
            Kind::MacvlanMode(mode) => LinkKind::Macvlan { mode },
            Kind::IpvlanMode(mode) => LinkKind::Ipvlan { mode },
            Kind::Other(name) => LinkKind::Other { name },
        };
        let oper_state = oper_state_from_wire(wire.oper_state)?;
        Ok(Link {
            ifindex: wire.ifindex,
            name: wire.name,
            kind,
            mac: mac_from_wire(wire.mac, "mac")?,
            mtu: wire.mtu,
            admin_up: wire.admin_up,
            oper_state,
            master: wire.master,
            link: wire.link,
            link_netnsid: wire.link_netnsid,
        })
    }
}

/// A link kind without details, as the `plain` variant of `Link.kind` names it.
pub(crate) fn plain_link_kind_from_wire(value: i32) -> Result<LinkKind, FromWireError> {
    use proto::PlainLinkKind as Plain;
    Ok(match known_enum(value, "plain")? {
        Plain::Unspecified => return Err(unspecified("plain")),
        Plain::Device => LinkKind::Device,
        Plain::Loopback => LinkKind::Loopback,
        Plain::Veth => LinkKind::Veth,
        Plain::Bridge => LinkKind::Bridge,
        Plain::Dummy => LinkKind::Dummy,
    })
}

/// `VlanLink.protocol`, named as a field of `Link.kind`.
pub(crate) fn vlan_protocol_from_wire(value: i32) -> Result<VlanProtocol, FromWireError> {
    Ok(match known_enum(value, "vlan.protocol")? {
        proto::VlanProtocol::Unspecified => return Err(unspecified("vlan.protocol")),
        proto::VlanProtocol::Dot1q => VlanProtocol::Dot1Q,
        proto::VlanProtocol::Dot1ad => VlanProtocol::Dot1Ad,
    })
}

pub(crate) fn oper_state_from_wire(value: i32) -> Result<OperState, FromWireError> {
    Ok(known_enum::<proto::OperState>(value, "oper_state")?.into())
}

impl From<VlanProtocol> for proto::VlanProtocol {
    fn from(protocol: VlanProtocol) -> Self {
        match protocol {
            VlanProtocol::Dot1Q => proto::VlanProtocol::Dot1q,
            VlanProtocol::Dot1Ad => proto::VlanProtocol::Dot1ad,
        }
    }
}

impl From<OperState> for proto::OperState {
    fn from(state: OperState) -> Self {
        match state {
            OperState::Unknown => proto::OperState::Unknown,
            OperState::NotPresent => proto::OperState::NotPresent,
            OperState::Down => proto::OperState::Down,
            OperState::LowerLayerDown => proto::OperState::LowerLayerDown,
            OperState::Testing => proto::OperState::Testing,
            OperState::Dormant => proto::OperState::Dormant,
            OperState::Up => proto::OperState::Up,
        }
    }
}

impl From<proto::OperState> for OperState {
    fn from(state: proto::OperState) -> Self {
        match state {
            proto::OperState::Unknown => OperState::Unknown,
            proto::OperState::NotPresent => OperState::NotPresent,
            proto::OperState::Down => OperState::Down,
            proto::OperState::LowerLayerDown => OperState::LowerLayerDown,
            proto::OperState::Testing => OperState::Testing,
            proto::OperState::Dormant => OperState::Dormant,
            proto::OperState::Up => OperState::Up,
        }
    }
}

/// A kernel number on the wire: a name from a proto enum when it has one, else the raw number.
pub(super) enum KernelCode<E> {
    Named(E),
    Raw(u8),
}

pub(super) fn route_type_to_wire(route_type: RouteType) -> KernelCode<proto::RouteType> {
    use proto::RouteType as W;
    KernelCode::Named(match route_type {
        RouteType::Unspec => W::Unspec,
        RouteType::Unicast => W::Unicast,
        RouteType::Local => W::Local,
        RouteType::Broadcast => W::Broadcast,
        RouteType::Anycast => W::Anycast,
        RouteType::Multicast => W::Multicast,
        RouteType::Blackhole => W::Blackhole,
        RouteType::Unreachable => W::Unreachable,
        RouteType::Prohibit => W::Prohibit,
        RouteType::Throw => W::Throw,
        RouteType::Nat => W::Nat,
        RouteType::Other(code) => return KernelCode::Raw(code),
    })
}

/// A route type named on the wire; raw numbers need no lookup and become [`RouteType::Other`].
pub(crate) fn named_route_type(value: i32, field: &str) -> Result<RouteType, FromWireError> {
    use proto::RouteType as W;
    Ok(match known_enum::<W>(value, field)? {
        W::Unspec => RouteType::Unspec,
        W::Unicast => RouteType::Unicast,
        W::Local => RouteType::Local,
        W::Broadcast => RouteType::Broadcast,
        W::Anycast => RouteType::Anycast,
        W::Multicast => RouteType::Multicast,
        W::Blackhole => RouteType::Blackhole,
        W::Unreachable => RouteType::Unreachable,
        W::Prohibit => RouteType::Prohibit,
        W::Throw => RouteType::Throw,
        W::Nat => RouteType::Nat,
    })
}

fn scope_to_wire(scope: RouteScope) -> KernelCode<proto::RouteScope> {
    use proto::RouteScope as W;
    KernelCode::Named(match scope {
        RouteScope::Universe => W::Universe,
        RouteScope::Site => W::Site,
        RouteScope::Link => W::Link,
        RouteScope::Host => W::Host,
        RouteScope::Nowhere => W::Nowhere,
        RouteScope::Other(code) => return KernelCode::Raw(code),
    })
}

/// A scope named on the wire; raw numbers become [`RouteScope::Other`].
pub(crate) fn named_scope(value: i32, field: &str) -> Result<RouteScope, FromWireError> {
    use proto::RouteScope as W;
    Ok(match known_enum::<W>(value, field)? {
        W::Universe => RouteScope::Universe,
        W::Site => RouteScope::Site,
        W::Link => RouteScope::Link,
        W::Host => RouteScope::Host,
        W::Nowhere => RouteScope::Nowhere,
    })
}

impl From<&Address> for proto::Address {
    fn from(address: &Address) -> Self {
        use proto::address::Scope;
        proto::Address {
            ifindex: address.ifindex,
            address: Some((&address.address).into()),
            peer: optional_ip_to_wire(&address.peer),
            scope: Some(match scope_to_wire(address.scope) {
                KernelCode::Named(scope) => Scope::KnownScope(scope.into()),
                KernelCode::Raw(code) => Scope::OtherScope(code.into()),
            }),
        }
    }
}

impl TryFrom<proto::Address> for Address {
    type Error = FromWireError;

    fn try_from(wire: proto::Address) -> Result<Self, FromWireError> {
        use proto::address::Scope;
        let scope = match wire.scope.ok_or_else(|| missing("scope"))? {
            Scope::KnownScope(value) => named_scope(value, "known_scope")?,
            Scope::OtherScope(code) => RouteScope::Other(to_u8(code, "other_scope")?),
        };
        Ok(Address {
            ifindex: wire.ifindex,
            address: required(wire.address, "address")?,
            peer: optional_ip_from_wire(wire.peer, "peer")?,
            scope,
        })
    }
}

impl From<&Route> for proto::Route {
    fn from(route: &Route) -> Self {
        use proto::route::{RouteType as Type, Scope};
        proto::Route {
            table: route.table,
            destination: Some((&route.destination).into()),
            route_type: Some(match route_type_to_wire(route.route_type) {
                KernelCode::Named(t) => Type::KnownType(t.into()),
                KernelCode::Raw(code) => Type::OtherType(code.into()),
            }),
            protocol: route.protocol.into(),
            scope: Some(match scope_to_wire(route.scope) {
                KernelCode::Named(scope) => Scope::KnownScope(scope.into()),
                KernelCode::Raw(code) => Scope::OtherScope(code.into()),
            }),
            metric: route.metric,
            tos: route.tos.into(),
            pref_src: optional_ip_to_wire(&route.pref_src),
            source: optional_prefix_to_wire(&route.source),
            oif: route.oif,
            gateway: optional_ip_to_wire(&route.gateway),
            onlink: route.onlink,
            nexthops: to_wire(&route.nexthops),
        }
    }
}

impl TryFrom<proto::Route> for Route {
    type Error = FromWireError;

    fn try_from(wire: proto::Route) -> Result<Self, FromWireError> {
        use proto::route::{RouteType as Type, Scope};
        let route_type = match wire.route_type.ok_or_else(|| missing("route_type"))? {
            Type::KnownType(value) => named_route_type(value, "known_type")?,
            Type::OtherType(code) => RouteType::Other(to_u8(code, "other_type")?),
        };
        let scope = match wire.scope.ok_or_else(|| missing("scope"))? {
            Scope::KnownScope(value) => named_scope(value, "known_scope")?,
            Scope::OtherScope(code) => RouteScope::Other(to_u8(code, "other_scope")?),
        };
        Ok(Route {
            table: wire.table,
            destination: required(wire.destination, "destination")?,
            route_type,
            protocol: to_u8(wire.protocol, "protocol")?,
            scope,
            metric: wire.metric,
            tos: to_u8(wire.tos, "tos")?,
            pref_src: optional_ip_from_wire(wire.pref_src, "pref_src")?,
            source: optional(wire.source, "source")?,
            oif: wire.oif,
            gateway: optional_ip_from_wire(wire.gateway, "gateway")?,
            onlink: wire.onlink,
            nexthops: repeated(wire.nexthops, "nexthops")?,
        })
    }
}

impl From<&NextHop> for proto::NextHop {
    fn from(hop: &NextHop) -> Self {
        proto::NextHop {
            oif: hop.oif,
            gateway: optional_ip_to_wire(&hop.gateway),
            weight: hop.weight.into(),
            onlink: hop.onlink,
        }
    }
}

impl TryFrom<proto::NextHop> for NextHop {
    type Error = FromWireError;

    fn try_from(wire: proto::NextHop) -> Result<Self, FromWireError> {
        Ok(NextHop {
            oif: wire.oif,
            gateway: optional_ip_from_wire(wire.gateway, "gateway")?,
            weight: to_u16(wire.weight, "weight")?,
            onlink: wire.onlink,
        })
    }
}

impl From<IpFamily> for proto::IpFamily {
    fn from(family: IpFamily) -> Self {
        match family {
            IpFamily::V4 => proto::IpFamily::V4,
            IpFamily::V6 => proto::IpFamily::V6,
        }
    }
}

impl From<&PolicyRule> for proto::PolicyRule {
    fn from(rule: &PolicyRule) -> Self {
        use proto::RuleVerdict as Verdict;
        use proto::policy_rule::Action;
        let ports = |range: Option<(u16, u16)>| {
            range.map(|(start, end)| proto::PortRange {
                start: start.into(),
                end: end.into(),
            })
        };
        let action = match rule.action {
            RuleAction::Lookup { table } => Action::LookupTable(table),
            RuleAction::Goto { priority } => Action::GotoPriority(priority),
            RuleAction::Nop => Action::Verdict(Verdict::Nop.into()),
            RuleAction::Blackhole => Action::Verdict(Verdict::Blackhole.into()),
            RuleAction::Unreachable => Action::Verdict(Verdict::Unreachable.into()),
            RuleAction::Prohibit => Action::Verdict(Verdict::Prohibit.into()),
            RuleAction::Other { code } => Action::OtherAction(code.into()),
        };
        proto::PolicyRule {
            family: proto::IpFamily::from(rule.family).into(),
            priority: rule.priority,
            invert: rule.invert,
            source: optional_prefix_to_wire(&rule.source),
            destination: optional_prefix_to_wire(&rule.destination),
            iif: rule.iif.clone(),
            oif: rule.oif.clone(),
            fwmark: rule.fwmark,
            fwmask: rule.fwmask,
            tos: rule.tos.into(),
            ip_proto: rule.ip_proto.map(u32::from),
            sport: ports(rule.sport),
            dport: ports(rule.dport),
            uid_range: rule
                .uid_range
                .map(|(start, end)| proto::UidRange { start, end }),
            l3mdev: rule.l3mdev,
            suppress_prefixlength: rule.suppress_prefixlength,
            suppress_ifgroup: rule.suppress_ifgroup,
            action: Some(action),
        }
    }
}

fn ports_from_wire(
    range: Option<proto::PortRange>,
    field: &str,
) -> Result<Option<(u16, u16)>, FromWireError> {
    range
        .map(|r| Ok((to_u16(r.start, "start")?, to_u16(r.end, "end")?)))
        .transpose()
        .in_field(field)
}

pub(crate) fn ip_family_from_wire(value: i32) -> Result<IpFamily, FromWireError> {
    Ok(match known_enum(value, "family")? {
        proto::IpFamily::Unspecified => return Err(unspecified("family")),
        proto::IpFamily::V4 => IpFamily::V4,
        proto::IpFamily::V6 => IpFamily::V6,
    })
}

/// The `verdict` variant of `PolicyRule.action`.
pub(crate) fn rule_verdict_from_wire(value: i32) -> Result<RuleAction, FromWireError> {
    use proto::RuleVerdict as Verdict;
    Ok(match known_enum(value, "verdict")? {
        Verdict::Unspecified => return Err(unspecified("verdict")),
        Verdict::Nop => RuleAction::Nop,
        Verdict::Blackhole => RuleAction::Blackhole,
        Verdict::Unreachable => RuleAction::Unreachable,
        Verdict::Prohibit => RuleAction::Prohibit,
    })
}

impl TryFrom<proto::PolicyRule> for PolicyRule {
    type Error = FromWireError;

    fn try_from(wire: proto::PolicyRule) -> Result<Self, FromWireError> {
        use proto::policy_rule::Action;
        let family = ip_family_from_wire(wire.family)?;
        let action = match wire.action.ok_or_else(|| missing("action"))? {
            Action::LookupTable(table) => RuleAction::Lookup { table },
            Action::GotoPriority(priority) => RuleAction::Goto { priority },
            Action::Verdict(value) => rule_verdict_from_wire(value)?,
            Action::OtherAction(code) => RuleAction::Other {
                code: to_u8(code, "other_action")?,
            },
        };
        Ok(PolicyRule {
            family,
            priority: wire.priority,
            invert: wire.invert,
            source: optional(wire.source, "source")?,
            destination: optional(wire.destination, "destination")?,
            iif: wire.iif,
            oif: wire.oif,
            fwmark: wire.fwmark,
            fwmask: wire.fwmask,
            tos: to_u8(wire.tos, "tos")?,
            ip_proto: wire.ip_proto.map(|p| to_u8(p, "ip_proto")).transpose()?,
            sport: ports_from_wire(wire.sport, "sport")?,
            dport: ports_from_wire(wire.dport, "dport")?,
            uid_range: wire.uid_range.map(|r| (r.start, r.end)),
            l3mdev: wire.l3mdev,
            suppress_prefixlength: wire.suppress_prefixlength,
            suppress_ifgroup: wire.suppress_ifgroup,
            action,
        })
    }
}

impl From<&Neighbor> for proto::Neighbor {
    fn from(neighbor: &Neighbor) -> Self {
        proto::Neighbor {
            ifindex: neighbor.ifindex,
            address: ip_to_wire(&neighbor.address),
            lladdr: mac_to_wire(&neighbor.lladdr),
            state: neighbor.state.clone(),
        }
    }
}

impl TryFrom<proto::Neighbor> for Neighbor {
    type Error = FromWireError;

    fn try_from(wire: proto::Neighbor) -> Result<Self, FromWireError> {
        Ok(Neighbor {
            ifindex: wire.ifindex,
            address: ip_from_wire(&wire.address, "address")?,
            lladdr: mac_from_wire(wire.lladdr, "lladdr")?,
            state: wire.state,
        })
    }
}
