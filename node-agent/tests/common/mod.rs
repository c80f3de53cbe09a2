//! Helpers shared by the agent's integration tests.

#![allow(dead_code, reason = "each test file uses a different subset")]

pub mod fixtures;
pub mod netns;

pub use fixtures::*;
pub use netns::*;
