//! How long each phase of a collection took, for `inspect --timings`: where an agent run spends
//! its time, measured where it runs rather than guessed from outside. Phases may overlap (some run
//! on threads of their own), so each is recorded with its start as well as its length.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The phases of one run, recorded from any thread.
#[derive(Debug)]
pub struct PhaseTimings {
    started: Instant,
    phases: Mutex<Vec<PhaseTiming>>,
}

/// One phase: when it started (from the start of the run) and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseTiming {
    pub name: &'static str,
    pub start: Duration,
    pub duration: Duration,
}

impl Default for PhaseTimings {
    fn default() -> Self {
        Self::new()
    }
}

impl PhaseTimings {
    /// Starts the run's clock now.
    pub fn new() -> Self {
        PhaseTimings {
            started: Instant::now(),
            phases: Mutex::new(Vec::new()),
        }
    }

    /// Runs `phase` and records how long it took under `name`.
    pub fn time<T>(&self, name: &'static str, phase: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let result = phase();
        let timing = PhaseTiming {
            name,
            start: start.saturating_duration_since(self.started),
            duration: start.elapsed(),
        };
        // A poisoned lock only means another phase panicked while recording; the list is intact.
        self.phases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(timing);
        result
    }

    /// Every phase recorded so far, in the order they started.
    pub fn phases(&self) -> Vec<PhaseTiming> {
        let mut phases = self
            .phases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        // A phase that encloses another may start in the same tick; the longer one comes first.
        phases.sort_by(|a, b| a.start.cmp(&b.start).then(b.duration.cmp(&a.duration)));
        phases
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_come_back_in_start_order_with_their_results_passed_on() {
        let timings = PhaseTimings::new();
        let outer = timings.time("outer", || timings.time("inner", || 7));
        assert_eq!(outer, 7);
        let phases = timings.phases();
        let names: Vec<&str> = phases.iter().map(|p| p.name).collect();
        // "inner" is recorded first but started after "outer".
        assert_eq!(names, ["outer", "inner"]);
        assert!(phases[0].duration >= phases[1].duration);
    }
}
