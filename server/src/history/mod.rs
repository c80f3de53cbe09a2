//! Derived history: what the store keeps per pod interface and per IP pool, computed from one
//! snapshot and its resolution, and the diff that turns "what is open now" plus "what this snapshot
//! says" into intervals to close and to open.
//!
//! Everything here is pure: no I/O, no clock. The store calls it inside its ingest transaction.

mod attachment;
mod diff;
mod eni;
mod ipam;

pub use attachment::{
    Attachment, AttachmentKey, attachments_of, attachments_of_facts, parse_problem_code,
    parse_wiring, pod_key, problem_code_str,
};
pub use diff::{Diff, Keyed, diff};
pub use eni::{NodeEni, enis_of};
pub use ipam::{IpamPool, IpamPoolKey, IpamSource, ipam_pools_of};
