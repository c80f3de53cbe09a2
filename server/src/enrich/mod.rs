//! EC2 enrichment: a background task describes the ENIs, subnets and instances the agents report
//! and writes what EC2 says through the store; the API and pages join it in by MAC and subnet id.
//! Handlers never call EC2, and ingest never waits for it: a failed refresh leaves what is stored,
//! marked stale.
//!
//! [`model`] (plain data) and [`refresh`] (which calls, batched, paged, throttled, retried) build
//! without AWS crates; [`sdk`] adapts aws-sdk-ec2 and comes with the `aws` feature.

pub mod config;
pub mod model;
pub mod refresh;
#[cfg(feature = "aws")]
pub mod sdk;
mod task;

pub use config::{Ec2Settings, EnrichmentArgs, EnrichmentConfigError};
pub use task::{EnrichError, refresh_once, run};
