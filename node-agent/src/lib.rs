//! podwire's node agent: reads one node's kernel and CNI state, read-only, into a
//! [`NodeSnapshot`](podwire_node_state::NodeSnapshot) ([`collect`]), and either resolves every
//! pod's path with the shared resolver once (`inspect`) or keeps the snapshot current and streams
//! it to a podwire server ([`run`]).
//!
//! Namespaces are entered on dedicated, short-lived OS threads (`setns` changes only the calling
//! thread); nothing here switches the namespace of a thread it does not own.

pub mod cli;
pub mod collect;
pub mod run;
