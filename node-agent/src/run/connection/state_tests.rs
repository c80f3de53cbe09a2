use super::*;

const S: Duration = Duration::from_secs(1);

/// Delays 1 s, 2 s, 4 s… for transient failures and 300 s for rejections; records resets.
#[derive(Debug, Default)]
struct ScriptedDelays {
    transient_failures: u32,
    resets: u32,
}

impl RetryDelays for ScriptedDelays {
    fn next_delay(&mut self, kind: FailureKind) -> Duration {
        match kind {
            FailureKind::Transient => {
                let delay = S * 2u32.pow(self.transient_failures);
                self.transient_failures += 1;
                delay
            }
            FailureKind::Rejected => 300 * S,
        }
    }

    fn reset(&mut self) {
        self.transient_failures = 0;
        self.resets += 1;
    }
}

const HEALTHY_AFTER: Duration = Duration::from_secs(30);

fn session(since: Instant) -> SessionFacts {
    SessionFacts {
        since,
        server_version: "0.1.0".into(),
        heartbeat_interval: 10 * S,
    }
}

/// One transition: from a state, an event at an offset (s) from `t0` → the expected state.
/// `delays` carries over between rows of one table, like the driver's.
#[test]
fn transitions() {
    let t0 = Instant::now();
    let at = |secs: u64| t0 + Duration::from_secs(secs);
    use ConnectionEvent as E;
    use ConnectionState as St;
    let table: Vec<(&str, St, E, u64, St)> = vec![
        (
            "the first attempt starts when due",
            St::initial(t0),
            E::RetryDue,
            0,
            St::Connecting { attempt: 1 },
        ),
        (
            "a refused connection backs off 1 s",
            St::Connecting { attempt: 1 },
            E::Failed(FailureKind::Transient),
            0,
            St::Disconnected {
                attempt: 2,
                retry_at: at(1),
            },
        ),
        (
            "and again 2 s",
            St::Connecting { attempt: 2 },
            E::Failed(FailureKind::Transient),
            1,
            St::Disconnected {
                attempt: 3,
                retry_at: at(3),
            },
        ),
        (
            "Welcome establishes the session",
            St::Connecting { attempt: 3 },
            E::Welcomed(session(at(3))),
            3,
            St::Connected {
                attempt: 3,
                session: session(at(3)),
            },
        ),
        (
            "a session dropped after 5 s was not healthy: 4 s",
            St::Connected {
                attempt: 3,
                session: session(at(3)),
            },
            E::Failed(FailureKind::Transient),
            8,
            St::Disconnected {
                attempt: 4,
                retry_at: at(12),
            },
        ),
        (
            "an UNAUTHENTICATED waits the long delay",
            St::Connecting { attempt: 4 },
            E::Failed(FailureKind::Rejected),
            12,
            St::Disconnected {
                attempt: 5,
                retry_at: at(312),
            },
        ),
        (
            "a session of an hour was healthy: the series starts over at 1 s",
            St::Connected {
                attempt: 5,
                session: session(at(312)),
            },
            E::Failed(FailureKind::Transient),
            3912,
            St::Disconnected {
                attempt: 1,
                retry_at: at(3913),
            },
        ),
        (
            "shutdown while waiting",
            St::Disconnected {
                attempt: 1,
                retry_at: at(3913),
            },
            E::Shutdown,
            3912,
            St::Stopped,
        ),
        (
            "shutdown while connected",
            St::Connected {
                attempt: 1,
                session: session(at(0)),
            },
            E::Shutdown,
            5,
            St::Stopped,
        ),
        (
            "nothing follows Stopped",
            St::Stopped,
            E::RetryDue,
            5,
            St::Stopped,
        ),
        (
            "a stray RetryDue does not disturb a session",
            St::Connected {
                attempt: 1,
                session: session(at(0)),
            },
            E::RetryDue,
            5,
            St::Connected {
                attempt: 1,
                session: session(at(0)),
            },
        ),
        (
            "a Welcome without a connection attempt is ignored",
            St::Disconnected {
                attempt: 2,
                retry_at: at(9),
            },
            E::Welcomed(session(at(5))),
            5,
            St::Disconnected {
                attempt: 2,
                retry_at: at(9),
            },
        ),
    ];
    let mut delays = ScriptedDelays::default();
    for (why, from, event, secs, expected) in table {
        assert_eq!(
            from.next(event, at(secs), &mut delays, HEALTHY_AFTER),
            expected,
            "{why}"
        );
    }
    assert_eq!(
        delays.resets, 1,
        "only the healthy session reset the delays"
    );
}

#[test]
fn jittered_backoff_grows_to_its_bounds_and_starts_over() {
    let policy = BackoffPolicy {
        min: S,
        max: 8 * S,
        rejected: 60 * S,
        healthy_after: HEALTHY_AFTER,
    };
    let mut backoff = JitteredBackoff::new(policy);
    let delays: Vec<Duration> = (0..6)
        .map(|_| backoff.next_delay(FailureKind::Transient))
        .collect();
    // base 1, 2, 4, 8, 8, 8 s; jitter adds up to the base again
    for (delay, base) in delays.iter().zip([1u32, 2, 4, 8, 8, 8]) {
        assert!(*delay >= S * base && *delay <= S * base * 2, "{delays:?}");
    }
    let rejected = backoff.next_delay(FailureKind::Rejected);
    assert!(rejected >= 60 * S && rejected <= 120 * S, "{rejected:?}");
    backoff.reset();
    assert!(backoff.next_delay(FailureKind::Transient) <= 2 * S);
}
