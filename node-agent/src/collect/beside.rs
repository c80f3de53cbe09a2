//! Work run on a thread of its own beside the collection's main thread, joined where its result
//! is needed: the CNI files, ipamd and namespace discovery depend on nothing the main thread
//! reads, so they need not wait for it (nor it for them) until their results meet.

use std::thread::{self, Scope, ScopedJoinHandle};

/// Work started with [`beside`].
#[derive(Debug)]
pub enum Beside<'scope, T> {
    Running(ScopedJoinHandle<'scope, T>),
    /// No thread could be started, so the work was done on the spot.
    Done(T),
}

/// Starts `work` on a thread of `scope` named `name`. Where no thread can be started the work is
/// done right away instead: later than it could have been, but collected all the same (it only
/// borrows, so it is still there to run after a failed start).
pub fn beside<'scope, T, F>(
    scope: &'scope Scope<'scope, '_>,
    name: &str,
    work: F,
) -> Beside<'scope, T>
where
    T: Send + 'scope,
    F: FnOnce() -> T + Send + Copy + 'scope,
{
    match thread::Builder::new()
        .name(name.to_owned())
        .spawn_scoped(scope, work)
    {
        Ok(handle) => Beside::Running(handle),
        Err(_) => Beside::Done(work()),
    }
}

impl<T> Beside<'_, T> {
    /// The work's result; `None` when its thread panicked.
    pub fn join(self) -> Option<T> {
        match self {
            Beside::Running(handle) => handle.join().ok(),
            Beside::Done(result) => Some(result),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_panics_come_back_at_the_join() {
        let input = vec![1, 2, 3];
        let (sum, panicked) = thread::scope(|scope| {
            let input = &input;
            let sum = beside(scope, "test-sum", move || input.iter().sum::<i32>());
            let panicked = beside(scope, "test-panic", || -> i32 { panic!("on purpose") });
            (sum.join(), panicked.join())
        });
        assert_eq!(sum, Some(6));
        assert_eq!(panicked, None);
    }
}
