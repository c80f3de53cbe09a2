//! The connection's life as an explicit state machine, in the manner of tokio-console's
//! `Connected`/`Disconnected`: plain data and one transition function, with the clock and the
//! retry delays passed in, so every transition is tested without waiting.
//!
//! ```text
//!            RetryDue                 Welcomed
//! Disconnected ──────▶ Connecting ─────────────▶ Connected
//!      ▲                   │                        │
//!      └───── Failed ──────┴──────── Failed ────────┘   (any state ── Shutdown ──▶ Stopped)
//! ```
//!
//! After a failure the next attempt waits a jittered, exponentially growing delay; after a
//! session that stayed up long enough to count as healthy, the delays start over. A failure an
//! operator must fix ([`FailureKind::Rejected`]) waits much longer, but is still retried: a token
//! rotated by its issuer or a server upgraded by its operator fixes it without touching the agent.

use std::time::{Duration, Instant};

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};

use crate::run::config::BackoffPolicy;

/// Why an attempt or a session ended, as far as retrying goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The network, a server restart, back-pressure: retry soon, backing off.
    Transient,
    /// The server refused the agent itself (credentials, a message it calls invalid), or the
    /// agent's token file is unusable: nothing improves until someone acts.
    Rejected,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Transient => "transient",
            FailureKind::Rejected => "rejected",
        }
    }
}

/// Where retry delays come from. Injected: production uses [`JitteredBackoff`], tests a script.
pub trait RetryDelays {
    /// The delay before the attempt that follows a failure of `kind`.
    fn next_delay(&mut self, kind: FailureKind) -> Duration;
    /// A healthy session ended: the next failure starts from the shortest delay again.
    fn reset(&mut self);
}

/// What is known about an established session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    pub since: Instant,
    pub server_version: String,
    pub heartbeat_interval: Duration,
}

/// Where the connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not connected; attempt number `attempt` (1 for the first of a series) starts at `retry_at`.
    Disconnected { attempt: u32, retry_at: Instant },
    /// Connecting, authenticating, waiting for `Welcome`.
    Connecting { attempt: u32 },
    /// `Welcome` received; snapshots and heartbeats flow. `attempt` is the attempt that got here.
    Connected { attempt: u32, session: SessionFacts },
    /// Shut down; nothing follows.
    Stopped,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// The clock reached `retry_at`.
    RetryDue,
    /// The server answered `Hello` with `Welcome`.
    Welcomed(SessionFacts),
    /// The attempt or the session failed.
    Failed(FailureKind),
    /// The agent is stopping.
    Shutdown,
}

impl ConnectionState {
    /// The state at start: the first attempt, due at once.
    pub fn initial(now: Instant) -> Self {
        ConnectionState::Disconnected {
            attempt: 1,
            retry_at: now,
        }
    }

    /// The state after `event` at `now`. A session that lasted `healthy_after` resets the
    /// delays. Events that cannot happen in a state leave it unchanged.
    pub fn next(
        self,
        event: ConnectionEvent,
        now: Instant,
        delays: &mut impl RetryDelays,
        healthy_after: Duration,
    ) -> ConnectionState {
        use ConnectionEvent as E;
        use ConnectionState as S;
        match (self, event) {
            (S::Stopped, _) | (_, E::Shutdown) => S::Stopped,
            (S::Disconnected { attempt, .. }, E::RetryDue) => S::Connecting { attempt },
            (S::Connecting { attempt }, E::Welcomed(session)) => S::Connected { attempt, session },
            (S::Connecting { attempt }, E::Failed(kind)) => S::Disconnected {
                attempt: attempt.saturating_add(1),
                retry_at: now + delays.next_delay(kind),
            },
            (S::Connected { attempt, session }, E::Failed(kind)) => {
                let attempt = if now.saturating_duration_since(session.since) >= healthy_after {
                    delays.reset();
                    1
                } else {
                    attempt.saturating_add(1)
                };
                S::Disconnected {
                    attempt,
                    retry_at: now + delays.next_delay(kind),
                }
            }
            (state, _) => state,
        }
    }
}

/// Jittered exponential backoff (backon's): each delay doubles up to the policy's maximum, plus a
/// random part of up to the delay itself, so that agents disconnected together (a server restart)
/// do not return together. Rejections have a series of their own, from `rejected` up to five
/// times that.
#[derive(Debug)]
pub struct JitteredBackoff {
    policy: BackoffPolicy,
    transient: ExponentialBackoff,
    rejected: ExponentialBackoff,
}

impl JitteredBackoff {
    pub fn new(policy: BackoffPolicy) -> Self {
        JitteredBackoff {
            policy,
            transient: Self::series(policy.min, policy.max),
            rejected: Self::series(policy.rejected, policy.rejected.saturating_mul(5)),
        }
    }

    fn series(min: Duration, max: Duration) -> ExponentialBackoff {
        ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_jitter()
            .without_max_times()
            .build()
    }
}

impl RetryDelays for JitteredBackoff {
    fn next_delay(&mut self, kind: FailureKind) -> Duration {
        match kind {
            // `without_max_times`: the series never ends; the fallbacks are the maxima.
            FailureKind::Transient => self.transient.next().unwrap_or(self.policy.max),
            FailureKind::Rejected => self.rejected.next().unwrap_or(self.policy.rejected),
        }
    }

    fn reset(&mut self) {
        *self = JitteredBackoff::new(self.policy);
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
