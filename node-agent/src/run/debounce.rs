//! Turning a burst of node changes into one collection.
//!
//! A pod start is dozens of notifications within a few milliseconds (veth created, moved, renamed,
//! brought up, its route and rules added, a CNI cache file written); collecting after each would
//! read the node half-wired dozens of times. The collection starts once the node has been quiet
//! for a moment, but never later than a bound after the first change, so that a node that never
//! goes quiet (a busy ARP table, a flapping link) is still reported.

use std::time::{Duration, Instant};

/// The pending burst of changes, if any. Plain data: the caller passes the clock in.
#[derive(Debug, Clone)]
pub struct Debounce {
    quiet: Duration,
    max_delay: Duration,
    /// First and latest change of the pending burst.
    burst: Option<(Instant, Instant)>,
}

impl Debounce {
    pub fn new(quiet: Duration, max_delay: Duration) -> Self {
        Debounce {
            quiet,
            max_delay,
            burst: None,
        }
    }

    /// A change was seen at `now`.
    pub fn record(&mut self, now: Instant) {
        self.burst = Some(match self.burst {
            Some((first, latest)) => (first, latest.max(now)),
            None => (now, now),
        });
    }

    /// When the collection for the pending burst should start; `None` when nothing is pending.
    pub fn due_at(&self) -> Option<Instant> {
        self.burst
            .map(|(first, latest)| (latest + self.quiet).min(first + self.max_delay))
    }

    /// Forgets the pending burst: a collection is starting and will read everything it changed.
    pub fn clear(&mut self) {
        self.burst = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Changes at these offsets (ms) → when the collection is due (ms), with a 250 ms quiet time
    /// and a 2 s bound.
    #[test]
    fn due_time_of_bursts() {
        let table: [(&[u64], Option<u64>); 6] = [
            (&[], None),
            (&[0], Some(250)),
            (&[0, 100, 200], Some(450)),
            // out-of-order reports do not move the burst back
            (&[0, 200, 100], Some(450)),
            // a node that never goes quiet is collected 2 s after the burst began
            (
                &[0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000],
                Some(2000),
            ),
            (&[0, 1900], Some(2000)),
        ];
        let start = Instant::now();
        for (changes, due) in table {
            let mut debounce = Debounce::new(250 * MS, 2000 * MS);
            for offset in changes {
                debounce.record(start + Duration::from_millis(*offset));
            }
            assert_eq!(
                debounce.due_at(),
                due.map(|d| start + Duration::from_millis(d)),
                "changes at {changes:?}"
            );
        }
    }

    #[test]
    fn a_collection_starts_a_new_burst() {
        let start = Instant::now();
        let mut debounce = Debounce::new(250 * MS, 2000 * MS);
        debounce.record(start);
        debounce.clear();
        assert_eq!(debounce.due_at(), None);
        // a change during the collection starts its own burst, bounded from its own start
        debounce.record(start + 3000 * MS);
        assert_eq!(debounce.due_at(), Some(start + 3250 * MS));
    }
}
