//! The kernel's own answers to "where would this packet go?", asked the way
//! `ip route get DST from POD_IP iif HOST_VETH [mark M]` asks (RTM_GETROUTE). The resolver must
//! reproduce these; a disagreement is flagged on the pod.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::RouteType;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelRouteDecision {
    pub query: KernelRouteQuery,
    pub answer: KernelRouteAnswer,
}

/// One RTM_GETROUTE question, asked in the host namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KernelRouteQuery {
    pub destination: IpAddr,
    pub source: IpAddr,
    /// The device the packet enters on: the pod's host veth, or the bridge it is enslaved to.
    pub iif: u32,
    pub fwmark: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum KernelRouteAnswer {
    Route {
        route_type: RouteType,
        table: u32,
        oif: Option<u32>,
        gateway: Option<IpAddr>,
        pref_src: Option<IpAddr>,
    },
    /// The kernel refused: `errno` and its text (`Network is unreachable`, …).
    Error { errno: i32, message: String },
}
