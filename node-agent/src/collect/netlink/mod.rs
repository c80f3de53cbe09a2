//! NETLINK_ROUTE dumps of one namespace (links, addresses, routes of all tables, rules,
//! neighbours), nsid lookups and RTM_GETROUTE questions. Blocking sockets: each is bound to the
//! namespace of the thread that created it.
//!
//! The conversions from `netlink-packet-route` messages to model types are plain functions
//! (`link_from_message`, …) so that they can be tested on messages without a kernel.

mod addresses;
mod links;
mod neighbors;
mod nsid;
mod route_get;
mod routes;
mod rules;
mod socket;

use std::net::IpAddr;

use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::rule::RuleMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use podwire_node_state::{Address, Link, Neighbor, NetnsState, PolicyRule, Route};

pub use addresses::address_from_message;
pub use links::link_from_message;
pub use neighbors::{neighbor_from_message, nud_state_names};
pub use route_get::{route_answer_from_message, route_get_message};
pub use routes::route_from_message;
pub use rules::rule_from_message;
pub use socket::{NetlinkError, Request, RouteSocket, decode_message};

/// Everything one namespace's NETLINK_ROUTE dumps returned, as model types.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetnsDump {
    /// Every link, in the order the kernel lists them.
    pub links: Vec<Link>,
    /// IPv4 and IPv6 addresses.
    pub addresses: Vec<Address>,
    /// IPv4 then IPv6 routes, of every table.
    pub routes: Vec<Route>,
    /// IPv4 and IPv6 policy rules.
    pub rules: Vec<PolicyRule>,
    /// IPv4 (ARP) and IPv6 (NDP) neighbours; bridge fdb entries are not included.
    pub neighbors: Vec<Neighbor>,
}

impl NetnsDump {
    /// The namespace's state, with the identity the caller knows it by.
    pub fn into_state(
        self,
        inode: u64,
        name: Option<String>,
        path: String,
        nsid: Option<i32>,
    ) -> NetnsState {
        NetnsState {
            inode,
            name,
            path,
            nsid,
            links: self.links,
            addresses: self.addresses,
            routes: self.routes,
            rules: self.rules,
            neighbors: self.neighbors,
        }
    }
}

/// A reply message that cannot be turned into a model object. The whole dump fails rather than
/// leave a hole: a namespace missing one route would be resolved wrongly, not just less fully.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("link {ifindex} has no name (IFLA_IFNAME)")]
    LinkWithoutName { ifindex: u32 },
    #[error("{what} on link {ifindex} carries no IP address")]
    MissingAddress { what: &'static str, ifindex: u32 },
    #[error("{attribute} is not an IP address of the message's family")]
    NotAnIpAddress { attribute: &'static str },
    #[error("the reply carries no {attribute}")]
    MissingAttribute { attribute: &'static str },
    #[error("prefix length {length} is too long for {address}")]
    PrefixLength { address: IpAddr, length: u8 },
}

impl RouteSocket {
    /// Dumps the socket's namespace: links, addresses, routes of every table and family, policy
    /// rules and neighbours.
    pub fn dump(&mut self) -> Result<NetnsDump, NetlinkError> {
        let links = self.dump_objects(
            Request::Links,
            link_dump_request(),
            |message| match message {
                RouteNetlinkMessage::NewLink(link) => link_from_message(&link).map(Some),
                _ => Ok(None),
            },
        )?;
        let addresses = self.dump_objects(
            Request::Addresses,
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            |message| match message {
                RouteNetlinkMessage::NewAddress(address) => address_from_message(&address),
                _ => Ok(None),
            },
        )?;
        // One dump of every family: the kernel runs the IPv4 dump, then the IPv6 one, in a single
        // request (a round trip and a dump start fewer per namespace than asking each family).
        let routes = self.dump_objects(
            Request::Routes,
            route_dump_request(AddressFamily::Unspec),
            |message| match message {
                // Multicast routing tables (RTNL_FAMILY_IPMR / IP6MR) come in the same dump;
                // `route_from_message` skips every family but IPv4 and IPv6.
                RouteNetlinkMessage::NewRoute(route) => route_from_message(&route),
                _ => Ok(None),
            },
        )?;
        let rules = self.dump_objects(
            Request::Rules,
            RouteNetlinkMessage::GetRule(RuleMessage::default()),
            |message| match message {
                RouteNetlinkMessage::NewRule(rule) => rule_from_message(&rule),
                _ => Ok(None),
            },
        )?;
        let neighbors = self.dump_objects(
            Request::Neighbors,
            RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()),
            |message| match message {
                RouteNetlinkMessage::NewNeighbour(neighbor) => neighbor_from_message(&neighbor),
                _ => Ok(None),
            },
        )?;
        Ok(NetnsDump {
            links,
            addresses,
            routes,
            rules,
            neighbors,
        })
    }
}

/// RTM_GETLINK for every link, without the per-link statistics blocks nobody here reads (they
/// are most of a link message's size).
fn link_dump_request() -> RouteNetlinkMessage {
    let mut message = LinkMessage::default();
    message
        .attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    RouteNetlinkMessage::GetLink(message)
}

/// RTM_GETROUTE for every table of `family` (`AF_UNSPEC`: of every family): header table 0
/// (`RT_TABLE_UNSPEC`), no flags. Tables above 255 are named in each route's `RTA_TABLE`.
fn route_dump_request(family: AddressFamily) -> RouteNetlinkMessage {
    let mut message = RouteMessage::default();
    message.header.address_family = family;
    RouteNetlinkMessage::GetRoute(message)
}
