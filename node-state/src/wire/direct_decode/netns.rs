//! Network-namespace state (`netns.proto`), straight into the model.

use super::{
    Decoded, DirectDecodeError, Fields, MessageField, Oneof, ip_prefix, optional_ip, owned, range,
    route_type_of,
};
use crate::model::{
    Address, Link, LinkKind, Neighbor, NetnsState, NextHop, PolicyRule, Route, RouteScope,
    RuleAction,
};
use crate::wire::convert::{
    ip_family_from_wire, ip_from_wire, mac_from_bytes, named_scope, oper_state_from_wire,
    plain_link_kind_from_wire, rule_verdict_from_wire, to_u8, to_u16, vlan_protocol_from_wire,
};

pub(super) fn netns(encoding: &[u8]) -> Decoded<NetnsState> {
    let mut ns = NetnsState::default();
    let (mut name, mut path) = (None, "");
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => ns.inode = fields.varint(wire_type)?,
            2 => name = Some(fields.text(wire_type)?),
            3 => path = fields.text(wire_type)?,
            4 => ns.nsid = Some(fields.int32(wire_type)?),
            5 => ns.links.push(link(fields.delimited(wire_type)?)?),
            6 => ns.addresses.push(address(fields.delimited(wire_type)?)?),
            7 => ns.routes.push(route(fields.delimited(wire_type)?)?),
            8 => ns.rules.push(policy_rule(fields.delimited(wire_type)?)?),
            9 => ns.neighbors.push(neighbor(fields.delimited(wire_type)?)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    ns.name = owned(name);
    ns.path = path.to_owned();
    Ok(ns)
}

fn link(encoding: &[u8]) -> Decoded<Link> {
    let (mut ifindex, mut name, mut mac, mut mtu, mut admin_up, mut oper_state) =
        (0, "", None, 0, false, 0);
    let (mut master, mut link, mut link_netnsid) = (None, None, None);
    let mut kind = Oneof::default();
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => ifindex = fields.uint32(wire_type)?,
            2 => name = fields.text(wire_type)?,
            3 => mac = Some(fields.delimited(wire_type)?),
            4 => mtu = fields.uint32(wire_type)?,
            5 => admin_up = fields.bool(wire_type)?,
            6 => oper_state = fields.int32(wire_type)?,
            7 => master = Some(fields.uint32(wire_type)?),
            8 => link = Some(fields.uint32(wire_type)?),
            9 => link_netnsid = Some(fields.int32(wire_type)?),
            10 => kind.set_varint(tag, fields.varint(wire_type)?)?,
            11 | 12 => kind.merge_message(tag, fields.delimited(wire_type)?)?,
            13..=15 => kind.set_text(tag, fields.text(wire_type)?)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    let kind = match kind {
        Oneof::Varint(_, plain) => plain_link_kind_from_wire(plain as i32)?,
        Oneof::Message(11, vlan) => vlan_link(vlan.encoding())?,
        Oneof::Message(_, vxlan) => vxlan_link(vxlan.encoding())?,
        Oneof::Text(13, mode) => LinkKind::Macvlan {
            mode: mode.to_owned(),
        },
        Oneof::Text(14, mode) => LinkKind::Ipvlan {
            mode: mode.to_owned(),
        },
        Oneof::Text(_, name) => LinkKind::Other {
            name: name.to_owned(),
        },
        Oneof::Unset => return Err(DirectDecodeError::NotAModelValue),
    };
    Ok(Link {
        ifindex,
        name: name.to_owned(),
        kind,
        mac: mac.map(|m| mac_from_bytes(m, "mac")).transpose()?,
        mtu,
        admin_up,
        oper_state: oper_state_from_wire(oper_state)?,
        master,
        link,
        link_netnsid,
    })
}

fn vlan_link(encoding: &[u8]) -> Decoded<LinkKind> {
    let (mut id, mut protocol) = (0, 0);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => id = fields.uint32(wire_type)?,
            2 => protocol = fields.int32(wire_type)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(LinkKind::Vlan {
        id: to_u16(id, "")?,
        protocol: vlan_protocol_from_wire(protocol)?,
    })
}

fn vxlan_link(encoding: &[u8]) -> Decoded<LinkKind> {
    let (mut vni, mut underlay, mut local, mut remote, mut port) = (0, None, None, None, None);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => vni = fields.uint32(wire_type)?,
            2 => underlay = Some(fields.uint32(wire_type)?),
            3 => local = Some(fields.delimited(wire_type)?),
            4 => remote = Some(fields.delimited(wire_type)?),
            5 => port = Some(fields.uint32(wire_type)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(LinkKind::Vxlan {
        vni,
        underlay,
        local: optional_ip(local)?,
        remote: optional_ip(remote)?,
        port: port.map(|p| to_u16(p, "")).transpose()?,
    })
}

/// A `scope` oneof (`Address`, `Route`): a named scope under `known`, a raw number else.
fn scope_of(oneof: &Oneof<'_>, known: u32) -> Decoded<RouteScope> {
    match *oneof {
        Oneof::Varint(tag, value) if tag == known => Ok(named_scope(value as i32, "")?),
        Oneof::Varint(_, value) => Ok(RouteScope::Other(to_u8(value as u32, "")?)),
        _ => Err(DirectDecodeError::NotAModelValue),
    }
}

fn address(encoding: &[u8]) -> Decoded<Address> {
    let (mut ifindex, mut prefix, mut peer) = (0, MessageField::default(), None);
    let mut scope = Oneof::default();
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => ifindex = fields.uint32(wire_type)?,
            2 => prefix.merge(fields.delimited(wire_type)?)?,
            3 => peer = Some(fields.delimited(wire_type)?),
            4 | 5 => scope.set_varint(tag, fields.varint(wire_type)?)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(Address {
        ifindex,
        scope: scope_of(&scope, 4)?,
        address: prefix.required(ip_prefix)?,
        peer: optional_ip(peer)?,
    })
}

fn route(encoding: &[u8]) -> Decoded<Route> {
    let (mut table, mut destination, mut protocol, mut metric, mut tos) =
        (0, MessageField::default(), 0, 0, 0);
    let (mut route_type, mut scope) = (Oneof::default(), Oneof::default());
    let (mut pref_src, mut source, mut oif, mut gateway, mut onlink) =
        (None, MessageField::default(), None, None, false);
    let mut nexthops = Vec::new();
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => table = fields.uint32(wire_type)?,
            2 => destination.merge(fields.delimited(wire_type)?)?,
            3 | 4 => route_type.set_varint(tag, fields.varint(wire_type)?)?,
            5 => protocol = fields.uint32(wire_type)?,
            6 | 7 => scope.set_varint(tag, fields.varint(wire_type)?)?,
            8 => metric = fields.uint32(wire_type)?,
            9 => tos = fields.uint32(wire_type)?,
            10 => pref_src = Some(fields.delimited(wire_type)?),
            11 => source.merge(fields.delimited(wire_type)?)?,
            12 => oif = Some(fields.uint32(wire_type)?),
            13 => gateway = Some(fields.delimited(wire_type)?),
            14 => onlink = fields.bool(wire_type)?,
            15 => nexthops.push(next_hop(fields.delimited(wire_type)?)?),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(Route {
        table,
        destination: destination.required(ip_prefix)?,
        route_type: route_type_of(&route_type, 3, 4)?,
        protocol: to_u8(protocol, "")?,
        scope: scope_of(&scope, 6)?,
        metric,
        tos: to_u8(tos, "")?,
        pref_src: optional_ip(pref_src)?,
        source: source.optional(ip_prefix)?,
        oif,
        gateway: optional_ip(gateway)?,
        onlink,
        nexthops,
    })
}

fn next_hop(encoding: &[u8]) -> Decoded<NextHop> {
    let (mut oif, mut gateway, mut weight, mut onlink) = (0, None, 0, false);
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => oif = fields.uint32(wire_type)?,
            2 => gateway = Some(fields.delimited(wire_type)?),
            3 => weight = fields.uint32(wire_type)?,
            4 => onlink = fields.bool(wire_type)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(NextHop {
        oif,
        gateway: optional_ip(gateway)?,
        weight: to_u16(weight, "")?,
        onlink,
    })
}

fn policy_rule(encoding: &[u8]) -> Decoded<PolicyRule> {
    let (mut family, mut priority, mut invert, mut tos, mut l3mdev) = (0, 0, false, 0, false);
    let (mut source, mut destination) = (MessageField::default(), MessageField::default());
    let (mut iif, mut oif) = (None, None);
    let (mut fwmark, mut fwmask, mut ip_proto) = (None, None, None);
    let (mut sport, mut dport, mut uid_range) = (
        MessageField::default(),
        MessageField::default(),
        MessageField::default(),
    );
    let (mut suppress_prefixlength, mut suppress_ifgroup) = (None, None);
    let mut action = Oneof::default();
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => family = fields.int32(wire_type)?,
            2 => priority = fields.uint32(wire_type)?,
            3 => invert = fields.bool(wire_type)?,
            4 => source.merge(fields.delimited(wire_type)?)?,
            5 => destination.merge(fields.delimited(wire_type)?)?,
            6 => iif = Some(fields.text(wire_type)?),
            7 => oif = Some(fields.text(wire_type)?),
            8 => fwmark = Some(fields.uint32(wire_type)?),
            9 => fwmask = Some(fields.uint32(wire_type)?),
            10 => tos = fields.uint32(wire_type)?,
            11 => ip_proto = Some(fields.uint32(wire_type)?),
            12 => sport.merge(fields.delimited(wire_type)?)?,
            13 => dport.merge(fields.delimited(wire_type)?)?,
            14 => uid_range.merge(fields.delimited(wire_type)?)?,
            15 => l3mdev = fields.bool(wire_type)?,
            16 => suppress_prefixlength = Some(fields.uint32(wire_type)?),
            17 => suppress_ifgroup = Some(fields.uint32(wire_type)?),
            18..=21 => action.set_varint(tag, fields.varint(wire_type)?)?,
            _ => fields.skip(tag, wire_type)?,
        }
    }
    let action = match action {
        Oneof::Varint(18, table) => RuleAction::Lookup {
            table: table as u32,
        },
        Oneof::Varint(19, priority) => RuleAction::Goto {
            priority: priority as u32,
        },
        Oneof::Varint(20, verdict) => rule_verdict_from_wire(verdict as i32)?,
        Oneof::Varint(_, code) => RuleAction::Other {
            code: to_u8(code as u32, "")?,
        },
        _ => return Err(DirectDecodeError::NotAModelValue),
    };
    let ports = |field: &MessageField<'_>| {
        field.optional(|encoding| {
            let (start, end) = range(encoding)?;
            Ok((to_u16(start, "")?, to_u16(end, "")?))
        })
    };
    Ok(PolicyRule {
        family: ip_family_from_wire(family)?,
        priority,
        invert,
        source: source.optional(ip_prefix)?,
        destination: destination.optional(ip_prefix)?,
        iif: owned(iif),
        oif: owned(oif),
        fwmark,
        fwmask,
        tos: to_u8(tos, "")?,
        ip_proto: ip_proto.map(|p| to_u8(p, "")).transpose()?,
        sport: ports(&sport)?,
        dport: ports(&dport)?,
        uid_range: uid_range.optional(range)?,
        l3mdev,
        suppress_prefixlength,
        suppress_ifgroup,
        action,
    })
}

fn neighbor(encoding: &[u8]) -> Decoded<Neighbor> {
    let (mut ifindex, mut address, mut lladdr): (u32, &[u8], _) = (0, &[], None);
    let mut state = Vec::new();
    let mut fields = Fields::new(encoding);
    while let Some((tag, wire_type)) = fields.next_key()? {
        match tag {
            1 => ifindex = fields.uint32(wire_type)?,
            2 => address = fields.delimited(wire_type)?,
            3 => lladdr = Some(fields.delimited(wire_type)?),
            4 => state.push(fields.text(wire_type)?.to_owned()),
            _ => fields.skip(tag, wire_type)?,
        }
    }
    Ok(Neighbor {
        ifindex,
        address: ip_from_wire(address, "")?,
        lladdr: lladdr.map(|m| mac_from_bytes(m, "")).transpose()?,
        state,
    })
}
