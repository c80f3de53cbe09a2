//! NETLINK_ROUTE dumps of one namespace (links, addresses, routes of all tables, rules,
//! neighbours), nsid lookups and RTM_GETROUTE questions. Blocking sockets: each is bound to the
//! namespace of the thread that created it.
