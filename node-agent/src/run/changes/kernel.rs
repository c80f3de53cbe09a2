//! Netlink notifications of the host namespace: links, IPv4 and IPv6 addresses, routes and
//! policy rules, neighbours, and namespace ids.
//!
//! Not every notification is a change of what a snapshot says. Cached routes (`RTM_F_CLONED`)
//! are not in a snapshot, and neighbour entries cycle through `REACHABLE`, `STALE` and `DELAY` on
//! their own, which the content hash ignores: a [`NeighborFilter`] lets a neighbour notification
//! through only when an entry appears, goes, changes its link-layer address or is pinned or
//! unpinned. Bridge forwarding-database entries (`AF_BRIDGE`) are not read at all.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsFd as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netlink_packet_core::{NetlinkBuffer, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::route::RouteFlags;
use netlink_sys::{Socket, protocols::NETLINK_ROUTE};
use nix::errno::Errno;
use nix::libc;
use nix::poll::{PollFd, PollFlags, poll};
use podwire_node_state::MacAddr;
use tokio::sync::mpsc;

use super::{NodeChange, SourceState, poll_timeout};
use crate::collect::error_chain;
use crate::collect::netlink::{decode_message, neighbor_from_message};
use crate::run::status::StatusBoard;

/// The multicast groups subscribed to, with their names for errors.
const GROUPS: [(u32, &str); 9] = [
    (libc::RTNLGRP_LINK, "links"),
    (libc::RTNLGRP_IPV4_IFADDR, "IPv4 addresses"),
    (libc::RTNLGRP_IPV6_IFADDR, "IPv6 addresses"),
    (libc::RTNLGRP_IPV4_ROUTE, "IPv4 routes"),
    (libc::RTNLGRP_IPV6_ROUTE, "IPv6 routes"),
    (libc::RTNLGRP_IPV4_RULE, "IPv4 rules"),
    (libc::RTNLGRP_IPV6_RULE, "IPv6 rules"),
    (libc::RTNLGRP_NEIGH, "neighbours"),
    (libc::RTNLGRP_NSID, "namespace ids"),
];

/// Notifications are single messages of a few hundred bytes; this holds any datagram the kernel
/// sends a multicast listener.
const DATAGRAM_BYTES: usize = 64 * 1024;

/// Asked of the kernel for the socket's queue (it caps the request at `rmem_max`): a pod start is
/// dozens of notifications, a table flush thousands. Overflow is noticed (`ENOBUFS`) and treated
/// as a change, so this only makes overflow rarer.
const RECEIVE_QUEUE_BYTES: usize = 1024 * 1024;

/// Datagrams read in one go before the batch is passed on.
const MAX_DATAGRAMS_PER_BATCH: usize = 1024;

/// Neighbour entries remembered; beyond this the filter starts over (one extra collection).
const MAX_NEIGHBORS: usize = 16 * 1024;

/// The notification socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("cannot open a NETLINK_ROUTE socket")]
    Open(#[source] io::Error),
    #[error("cannot join the netlink group of {group}")]
    Join {
        group: &'static str,
        #[source]
        source: io::Error,
    },
}

/// A kind of kernel object a notification was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelObject {
    Link,
    Address,
    Route,
    Rule,
    Neighbor,
    Namespace,
    /// A message that could not be decoded: counted as a change, to be safe.
    Undecodable,
}

impl KernelObject {
    const ALL: [KernelObject; 7] = [
        Self::Link,
        Self::Address,
        Self::Route,
        Self::Rule,
        Self::Neighbor,
        Self::Namespace,
        Self::Undecodable,
    ];

    fn name(self) -> &'static str {
        match self {
            KernelObject::Link => "links",
            KernelObject::Address => "addresses",
            KernelObject::Route => "routes",
            KernelObject::Rule => "rules",
            KernelObject::Neighbor => "neighbours",
            KernelObject::Namespace => "namespaces",
            KernelObject::Undecodable => "undecodable",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The kinds of objects one batch of notifications was about, and whether the kernel dropped
/// notifications (its queue overflowed) so that what changed is unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelChanges {
    objects: u8,
    pub lost: bool,
}

impl KernelChanges {
    pub fn add(&mut self, object: KernelObject) {
        self.objects |= object.bit();
    }

    pub fn contains(&self, object: KernelObject) -> bool {
        self.objects & object.bit() != 0
    }

    pub fn is_empty(&self) -> bool {
        self.objects == 0 && !self.lost
    }
}

/// `links,routes` or `lost`.
impl fmt::Display for KernelChanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = KernelObject::ALL
            .into_iter()
            .filter(|o| self.contains(*o))
            .map(KernelObject::name)
            .collect();
        if self.lost {
            names.push("lost");
        }
        f.write_str(&names.join(","))
    }
}

/// Which neighbour notifications change a snapshot; see the module documentation.
#[derive(Debug, Default)]
pub struct NeighborFilter {
    known: HashMap<(u32, IpAddr), NeighborFacts>,
}

/// What the content hash reads of a neighbour entry besides its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NeighborFacts {
    lladdr: Option<MacAddr>,
    pinned: bool,
}

impl NeighborFilter {
    /// An `RTM_NEWNEIGH`: a change unless the entry is known with the same address and pinning.
    /// An entry first seen counts as a change: it may have appeared just now.
    pub fn observe(&mut self, message: &NeighbourMessage) -> bool {
        let neighbor = match neighbor_from_message(message) {
            Ok(Some(neighbor)) => neighbor,
            Ok(None) => return false,
            Err(_) => return true,
        };
        let facts = NeighborFacts {
            lladdr: neighbor.lladdr,
            pinned: neighbor
                .state
                .iter()
                .any(|s| s == "PERMANENT" || s == "NOARP"),
        };
        let key = (neighbor.ifindex, neighbor.address);
        if self.known.len() >= MAX_NEIGHBORS && !self.known.contains_key(&key) {
            self.known.clear();
        }
        self.known.insert(key, facts) != Some(facts)
    }

    /// An `RTM_DELNEIGH`: always a change (unless it is a bridge fdb entry).
    pub fn forget(&mut self, message: &NeighbourMessage) -> bool {
        match neighbor_from_message(message) {
            Ok(Some(neighbor)) => {
                self.known.remove(&(neighbor.ifindex, neighbor.address));
                true
            }
            Ok(None) => false,
            Err(_) => true,
        }
    }
}

/// What a notification was about, if it changes what a snapshot says.
pub fn classify(
    message: &RouteNetlinkMessage,
    neighbors: &mut NeighborFilter,
) -> Option<KernelObject> {
    use RouteNetlinkMessage as M;
    match message {
        M::NewLink(_) | M::DelLink(_) => Some(KernelObject::Link),
        M::NewAddress(_) | M::DelAddress(_) => Some(KernelObject::Address),
        M::NewRoute(route) | M::DelRoute(route) => {
            // Cached clones (PMTU exceptions, IPv6 redirects) are not routing-table entries.
            (!route.header.flags.contains(RouteFlags::Cloned)).then_some(KernelObject::Route)
        }
        M::NewRule(_) | M::DelRule(_) => Some(KernelObject::Rule),
        M::NewNeighbour(neighbor) => neighbors
            .observe(neighbor)
            .then_some(KernelObject::Neighbor),
        M::DelNeighbour(neighbor) => neighbors.forget(neighbor).then_some(KernelObject::Neighbor),
        M::NewNsId(_) | M::DelNsId(_) => Some(KernelObject::Namespace),
        _ => None,
    }
}

/// Adds what one datagram (one or more netlink messages) was about to `changes`.
pub fn classify_datagram(
    datagram: &[u8],
    neighbors: &mut NeighborFilter,
    changes: &mut KernelChanges,
) {
    let mut offset = 0;
    while offset < datagram.len() {
        let rest = &datagram[offset..];
        let Ok(frame) = NetlinkBuffer::new_checked(rest) else {
            changes.add(KernelObject::Undecodable);
            return;
        };
        let length = frame.length() as usize;
        match decode_message(&rest[..length]) {
            Ok(message) => {
                if let NetlinkPayload::InnerMessage(inner) = message.payload
                    && let Some(object) = classify(&inner, neighbors)
                {
                    changes.add(object);
                }
            }
            Err(_) => changes.add(KernelObject::Undecodable),
        }
        // Messages in a datagram start on 4-byte boundaries (NLMSG_ALIGN).
        offset += length.div_ceil(4) * 4;
    }
}

/// Opens a NETLINK_ROUTE socket in the calling thread's namespace, subscribed to every group
/// above. Blocking mode is left to the caller.
pub fn open_socket() -> Result<Socket, SubscribeError> {
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(SubscribeError::Open)?;
    socket.bind_auto().map_err(SubscribeError::Open)?;
    for (group, name) in GROUPS {
        socket
            .add_membership(group)
            .map_err(|source| SubscribeError::Join {
                group: name,
                source,
            })?;
    }
    // A smaller queue than asked for still works: overflow is detected.
    let _ = socket.set_rx_buf_sz(RECEIVE_QUEUE_BYTES);
    Ok(socket)
}

/// The subscribed socket, read on a thread of its own.
#[derive(Debug)]
pub struct KernelEvents {
    socket: Socket,
    datagram: Vec<u8>,
    neighbors: NeighborFilter,
}

impl KernelEvents {
    /// Subscribes in the calling thread's namespace (the agent's own: the host's).
    pub fn subscribe() -> Result<Self, SubscribeError> {
        Self::from_socket(open_socket()?)
    }

    /// Takes a socket from [`open_socket`] (perhaps opened in another namespace).
    pub fn from_socket(socket: Socket) -> Result<Self, SubscribeError> {
        // Non-blocking: the wait is `poll`'s, so that a batch can be read to its end.
        socket
            .set_non_blocking(true)
            .map_err(SubscribeError::Open)?;
        Ok(KernelEvents {
            socket,
            datagram: Vec::with_capacity(DATAGRAM_BYTES),
            neighbors: NeighborFilter::default(),
        })
    }

    /// Waits (at most `timeout`, or for ever) for notifications that change a snapshot and
    /// returns what they were about, having read everything queued (up to a bound). `None` when
    /// the time ran out.
    pub fn next_batch(&mut self, timeout: Option<Duration>) -> io::Result<Option<KernelChanges>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, poll_timeout(deadline)) {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno.into()),
            }
            let changes = self.drain()?;
            if !changes.is_empty() {
                return Ok(Some(changes));
            }
        }
    }

    /// Reads what is queued, up to [`MAX_DATAGRAMS_PER_BATCH`] datagrams.
    fn drain(&mut self) -> io::Result<KernelChanges> {
        let mut changes = KernelChanges::default();
        for _ in 0..MAX_DATAGRAMS_PER_BATCH {
            self.datagram.clear();
            match self.socket.recv(&mut self.datagram, libc::MSG_TRUNC) {
                // MSG_TRUNC: the real length, even when it did not fit.
                Ok(length) if length > self.datagram.len() => changes.lost = true,
                Ok(_) => classify_datagram(&self.datagram, &mut self.neighbors, &mut changes),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // The queue overflowed: notifications were dropped.
                Err(err) if err.raw_os_error() == Some(libc::ENOBUFS) => changes.lost = true,
                Err(err) => return Err(err),
            }
        }
        Ok(changes)
    }
}

/// Reads notifications (blocking: run it on a thread of its own) until the collector goes away,
/// passing on what changed.
pub fn forward(
    mut events: KernelEvents,
    queue: mpsc::Sender<NodeChange>,
    status: Arc<StatusBoard>,
) {
    loop {
        match events.next_batch(None) {
            Ok(Some(changes)) => {
                tracing::debug!(%changes, "kernel notification");
                status.count_kernel_change(changes.lost);
                if let Err(mpsc::error::TrySendError::Closed(_)) =
                    queue.try_send(NodeChange::Kernel(changes))
                {
                    return;
                }
            }
            Ok(None) => {}
            Err(err) => {
                let error = error_chain(&err);
                tracing::error!(%error, "netlink notifications failed; only the periodic resync will notice kernel changes");
                status.set_kernel_source(SourceState::Failed { error });
                return;
            }
        }
    }
}

#[cfg(test)]
#[path = "kernel_tests.rs"]
mod tests;
