//! Helpers shared by the agent's integration tests.

#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(clippy::unwrap_used, reason = "test helpers fail the test they serve")]

pub mod agent;
pub mod fixtures;
pub mod ingest;
pub mod netns;

#[allow(unused_imports, reason = "each test file uses one of these")]
pub use fixtures::*;
#[allow(unused_imports, reason = "each test file uses one of these")]
pub use netns::*;
