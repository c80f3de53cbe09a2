//! CPU time spent, from `/proc`: this process (the ingest and the simulated agents) and every
//! `postgres` process of the machine (the bench's connections and the server's own workers:
//! WAL writer, checkpointer, autovacuum). On a shared box this says what a stored snapshot costs
//! whatever else runs.

use std::time::Duration;

/// utime + stime of one process, or zero when it is gone.
fn process_cpu(pid: &str) -> Duration {
    cpu_time(&format!("/proc/{pid}/stat"))
}

/// utime + stime from a `stat` file of `/proc` (a process's, or `/proc/thread-self/stat` for the
/// calling thread), in clock ticks of 10 ms; zero when it cannot be read.
pub fn cpu_time(stat_path: &str) -> Duration {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // the fields after "pid (comm) ": state is the first, utime the 12th, stime the 13th
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // USER_HZ is 100 on Linux
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// CPU time so far of this process and of all `postgres` processes.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    pub bench: Duration,
    pub postgres: Duration,
}

impl CpuTimes {
    pub fn now() -> Self {
        let mut postgres = Duration::ZERO;
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name
                    .to_str()
                    .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
                else {
                    continue;
                };
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim_end() == "postgres" {
                    postgres += process_cpu(pid);
                }
            }
        }
        CpuTimes {
            bench: process_cpu("self"),
            postgres,
        }
    }

    /// Milliseconds of CPU per item since `earlier`: (this process, postgres).
    pub fn per_item_since(&self, earlier: &CpuTimes, items: u64) -> (f64, f64) {
        let per = |d: Duration| d.as_secs_f64() * 1e3 / items.max(1) as f64;
        (
            per(self.bench.saturating_sub(earlier.bench)),
            per(self.postgres.saturating_sub(earlier.postgres)),
        )
    }
}
