//! The snapshot itself: node identity, the kernel's routing decisions, per-source errors.

use super::netns::{KernelCode, named_route_type, route_type_to_wire};
use super::{
    FromWireError, InField, ip_from_wire, ip_to_wire, known_enum, missing, optional,
    optional_ip_from_wire, optional_ip_to_wire, repeated, required, to_u8, to_wire, unspecified,
};
use crate::model::{
    ErrorSource, KernelRouteAnswer, KernelRouteDecision, KernelRouteQuery, NodeIdentity,
    NodeSnapshot, RouteType, SourceError,
};
use crate::wire::proto;

impl From<&NodeSnapshot> for proto::NodeSnapshot {
    fn from(snapshot: &NodeSnapshot) -> Self {
        proto::NodeSnapshot {
            node: Some((&snapshot.node).into()),
            probe_destination: optional_ip_to_wire(&snapshot.probe_destination),
            host: Some((&snapshot.host).into()),
            namespaces: to_wire(&snapshot.namespaces),
            cni: Some((&snapshot.cni).into()),
            vpc_cni: snapshot.vpc_cni.as_ref().map(Into::into),
            kernel_routes: to_wire(&snapshot.kernel_routes),
            errors: to_wire(&snapshot.errors),
        }
    }
}

impl TryFrom<proto::NodeSnapshot> for NodeSnapshot {
    type Error = FromWireError;

    fn try_from(wire: proto::NodeSnapshot) -> Result<Self, FromWireError> {
        Ok(NodeSnapshot {
            node: required(wire.node, "node")?,
            probe_destination: optional_ip_from_wire(wire.probe_destination, "probe_destination")?,
            host: required(wire.host, "host")?,
            namespaces: repeated(wire.namespaces, "namespaces")?,
            cni: required(wire.cni, "cni")?,
            vpc_cni: optional(wire.vpc_cni, "vpc_cni")?,
            kernel_routes: repeated(wire.kernel_routes, "kernel_routes")?,
            errors: repeated(wire.errors, "errors")?,
        })
    }
}

impl From<&NodeIdentity> for proto::NodeIdentity {
    fn from(node: &NodeIdentity) -> Self {
        proto::NodeIdentity {
            cluster: node.cluster.clone(),
            node_name: node.node_name.clone(),
            boot_id: node.boot_id.clone(),
            kernel: node.kernel.clone(),
            agent_version: node.agent_version.clone(),
            collected_at_unix_ms: node.collected_at_unix_ms,
            collection_duration_us: node.collection_duration_us,
        }
    }
}

// Every field of the identity is valid as sent; the impl exists so that `required` can use it.
impl TryFrom<proto::NodeIdentity> for NodeIdentity {
    type Error = FromWireError;

    fn try_from(wire: proto::NodeIdentity) -> Result<Self, FromWireError> {
        Ok(NodeIdentity {
            cluster: wire.cluster,
            node_name: wire.node_name,
            boot_id: wire.boot_id,
            kernel: wire.kernel,
            agent_version: wire.agent_version,
            collected_at_unix_ms: wire.collected_at_unix_ms,
            collection_duration_us: wire.collection_duration_us,
        })
    }
}

impl From<ErrorSource> for proto::ErrorSource {
    fn from(source: ErrorSource) -> Self {
        match source {
            ErrorSource::NetnsDiscovery => proto::ErrorSource::NetnsDiscovery,
            ErrorSource::Netlink => proto::ErrorSource::Netlink,
            ErrorSource::CniCache => proto::ErrorSource::CniCache,
            ErrorSource::CniConfig => proto::ErrorSource::CniConfig,
            ErrorSource::HostLocal => proto::ErrorSource::HostLocal,
            ErrorSource::Ipamd => proto::ErrorSource::Ipamd,
            ErrorSource::IpamCheckpoint => proto::ErrorSource::IpamCheckpoint,
            ErrorSource::KernelRoute => proto::ErrorSource::KernelRoute,
            ErrorSource::NodeIdentity => proto::ErrorSource::NodeIdentity,
        }
    }
}

impl From<&SourceError> for proto::SourceError {
    fn from(error: &SourceError) -> Self {
        proto::SourceError {
            source: proto::ErrorSource::from(error.source).into(),
            subject: error.subject.clone(),
            message: error.message.clone(),
        }
    }
}

impl TryFrom<proto::SourceError> for SourceError {
    type Error = FromWireError;

    fn try_from(wire: proto::SourceError) -> Result<Self, FromWireError> {
        Ok(SourceError {
            source: error_source_from_wire(wire.source)?,
            subject: wire.subject,
            message: wire.message,
        })
    }
}

pub(crate) fn error_source_from_wire(value: i32) -> Result<ErrorSource, FromWireError> {
    use proto::ErrorSource as W;
    Ok(match known_enum(value, "source")? {
        W::Unspecified => return Err(unspecified("source")),
        W::NetnsDiscovery => ErrorSource::NetnsDiscovery,
        W::Netlink => ErrorSource::Netlink,
        W::CniCache => ErrorSource::CniCache,
        W::CniConfig => ErrorSource::CniConfig,
        W::HostLocal => ErrorSource::HostLocal,
        W::Ipamd => ErrorSource::Ipamd,
        W::IpamCheckpoint => ErrorSource::IpamCheckpoint,
        W::KernelRoute => ErrorSource::KernelRoute,
        W::NodeIdentity => ErrorSource::NodeIdentity,
    })
}

impl From<&KernelRouteDecision> for proto::KernelRouteDecision {
    fn from(decision: &KernelRouteDecision) -> Self {
        proto::KernelRouteDecision {
            query: Some((&decision.query).into()),
            answer: Some((&decision.answer).into()),
        }
    }
}

impl TryFrom<proto::KernelRouteDecision> for KernelRouteDecision {
    type Error = FromWireError;

    fn try_from(wire: proto::KernelRouteDecision) -> Result<Self, FromWireError> {
        Ok(KernelRouteDecision {
            query: required(wire.query, "query")?,
            answer: required(wire.answer, "answer")?,
        })
    }
}

impl From<&KernelRouteQuery> for proto::KernelRouteQuery {
    fn from(query: &KernelRouteQuery) -> Self {
        proto::KernelRouteQuery {
            destination: ip_to_wire(&query.destination),
            source: ip_to_wire(&query.source),
            iif: query.iif,
            fwmark: query.fwmark,
        }
    }
}

impl TryFrom<proto::KernelRouteQuery> for KernelRouteQuery {
    type Error = FromWireError;

    fn try_from(wire: proto::KernelRouteQuery) -> Result<Self, FromWireError> {
        Ok(KernelRouteQuery {
            destination: ip_from_wire(&wire.destination, "destination")?,
            source: ip_from_wire(&wire.source, "source")?,
            iif: wire.iif,
            fwmark: wire.fwmark,
        })
    }
}

impl From<&KernelRouteAnswer> for proto::KernelRouteAnswer {
    fn from(answer: &KernelRouteAnswer) -> Self {
        use proto::kernel_route::RouteType as Type;
        use proto::kernel_route_answer::Answer;
        let answer = match answer {
            KernelRouteAnswer::Route {
                route_type,
                table,
                oif,
                gateway,
                pref_src,
            } => Answer::Route(proto::KernelRoute {
                route_type: Some(match route_type_to_wire(*route_type) {
                    KernelCode::Named(t) => Type::KnownType(t.into()),
                    KernelCode::Raw(code) => Type::OtherType(code.into()),
                }),
                table: *table,
                oif: *oif,
                gateway: optional_ip_to_wire(gateway),
                pref_src: optional_ip_to_wire(pref_src),
            }),
            KernelRouteAnswer::Error { errno, message } => Answer::Error(proto::KernelRouteError {
                errno: *errno,
                message: message.clone(),
            }),
        };
        proto::KernelRouteAnswer {
            answer: Some(answer),
        }
    }
}

impl TryFrom<proto::KernelRouteAnswer> for KernelRouteAnswer {
    type Error = FromWireError;

    fn try_from(wire: proto::KernelRouteAnswer) -> Result<Self, FromWireError> {
        use proto::kernel_route::RouteType as Type;
        use proto::kernel_route_answer::Answer;
        match wire.answer.ok_or_else(|| missing("answer"))? {
            Answer::Route(route) => {
                let route_type = match route.route_type.ok_or_else(|| missing("route_type")) {
                    Ok(Type::KnownType(value)) => named_route_type(value, "known_type"),
                    Ok(Type::OtherType(code)) => to_u8(code, "other_type").map(RouteType::Other),
                    Err(e) => Err(e),
                }
                .in_field("route")?;
                Ok(KernelRouteAnswer::Route {
                    route_type,
                    table: route.table,
                    oif: route.oif,
                    gateway: optional_ip_from_wire(route.gateway, "gateway").in_field("route")?,
                    pref_src: optional_ip_from_wire(route.pref_src, "pref_src")
                        .in_field("route")?,
                })
            }
            Answer::Error(error) => Ok(KernelRouteAnswer::Error {
                errno: error.errno,
                message: error.message,
            }),
        }
    }
}
