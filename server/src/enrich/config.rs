//! `--ec2-*` flags: whether EC2 enrichment runs, and how often and how hard it asks EC2.

use std::time::Duration;

use clap::{Args, ValueEnum};

/// Whether the EC2 enrichment task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Ec2Mode {
    /// On when the environment names an AWS region or EC2 endpoint (`AWS_REGION`,
    /// `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL`), as it does in a pod
    /// with an IAM role for its service account; off on a laptop.
    Auto,
    /// Always on: the region comes from the default chain (environment, profile, IMDS).
    On,
    Off,
}

/// The EC2 enrichment flags.
#[derive(Debug, Clone, Args)]
pub struct EnrichmentArgs {
    /// Describe the ENIs, subnets and instances the agents report with EC2 (needs the `aws`
    /// build feature and the IAM permissions the README lists).
    #[arg(
        long,
        env = "PODWIRE_EC2_ENRICHMENT",
        value_enum,
        default_value = "auto"
    )]
    pub ec2_enrichment: Ec2Mode,

    /// How long EC2's answers are used before they are asked again (the cache's TTL).
    #[arg(long, env = "PODWIRE_EC2_REFRESH_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub ec2_refresh_interval: Duration,

    /// The least time between two EC2 API calls (throttling: EC2's request-rate limits are per
    /// account and region, shared with everything else there).
    #[arg(long, env = "PODWIRE_EC2_MIN_CALL_INTERVAL", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub ec2_min_call_interval: Duration,

    /// Retries of one failed EC2 call (throttled, 5xx, unreachable), with jittered exponential
    /// backoff, before the refresh counts as failed.
    #[arg(long, env = "PODWIRE_EC2_RETRIES", default_value_t = 3)]
    pub ec2_retries: u32,
}

/// The checked EC2 enrichment settings; `None` in [`crate::config::Config`] when it is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Settings {
    pub refresh_interval: Duration,
    pub min_call_interval: Duration,
    pub retries: u32,
}

/// What is wrong with the `--ec2-*` flags.
#[derive(Debug, thiserror::Error)]
pub enum EnrichmentConfigError {
    #[error("--ec2-refresh-interval must be at least one second")]
    RefreshTooShort,
}

impl EnrichmentArgs {
    /// The settings, or `None` when enrichment is off (`auto` reads the environment).
    pub fn settings(&self) -> Result<Option<Ec2Settings>, EnrichmentConfigError> {
        let on = match self.ec2_enrichment {
            Ec2Mode::On => true,
            Ec2Mode::Off => false,
            Ec2Mode::Auto => [
                "AWS_REGION",
                "AWS_DEFAULT_REGION",
                "AWS_ENDPOINT_URL_EC2",
                "AWS_ENDPOINT_URL",
            ]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty())),
        };
        if !on {
            return Ok(None);
        }
        if self.ec2_refresh_interval < Duration::from_secs(1) {
            return Err(EnrichmentConfigError::RefreshTooShort);
        }
        Ok(Some(Ec2Settings {
            refresh_interval: self.ec2_refresh_interval,
            min_call_interval: self.ec2_min_call_interval,
            retries: self.ec2_retries,
        }))
    }
}
