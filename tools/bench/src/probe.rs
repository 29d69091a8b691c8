//! What the benchmark reads about processes: resident memory, CPU time, and
//! the descriptor limit it raises.
//!
//! CPU time comes from `getrusage` for this process (microseconds) and from
//! `/proc/<pid>/task/<tid>/stat` or `/proc/<pid>/stat` for threads and other
//! processes (clock ticks of 10 ms; the benchmark runs long enough for that
//! to be noise). A peer proxy that forks (socat) is measured over its whole
//! process tree: the CPU of children it reaped shows in its `cutime`/`cstime`.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::time::Duration;

use nix::sys::resource::{getrlimit, getrusage, setrlimit, Resource, UsageWho};
use nix::sys::time::TimeValLike;

/// Linux reports `/proc` CPU times in USER_HZ ticks, 100 per second on every
/// architecture the kernel supports today.
const TICKS_PER_SECOND: u64 = 100;

/// CPU time (user + system) of this whole process.
pub fn self_cpu() -> Duration {
    getrusage(UsageWho::RUSAGE_SELF).map_or(Duration::ZERO, |usage| {
        let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
        Duration::from_micros(u64::try_from(micros).unwrap_or(0))
    })
}

/// CPU time of this process's threads whose name starts with one of `prefixes`.
pub fn threads_cpu(prefixes: &[&str]) -> Duration {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut ticks = 0;
    for task in tasks.flatten() {
        let path = task.path();
        let Ok(comm) = fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if prefixes.iter().any(|p| comm.trim_end().starts_with(p)) {
            if let Some(stat) = read_stat(&path.join("stat")) {
                ticks += stat.utime + stat.stime;
            }
        }
    }
    ticks_to_duration(ticks)
}

/// The CPU-time counters of a process tree at one moment.
#[derive(Debug, Clone, Default)]
pub struct TreeCpu {
    /// Per process: its own user + system ticks (children it reaped included for the root).
    ticks: HashMap<u32, u64>,
}

impl TreeCpu {
    /// Reads the counters of `root` and every live descendant.
    pub fn read(root: u32) -> Self {
        let mut ticks = HashMap::new();
        for pid in tree(root) {
            if let Some(stat) = read_stat(format!("/proc/{pid}/stat").as_ref()) {
                let own = stat.utime + stat.stime;
                // Reaped children (socat's per-connection forks) count for the root only,
                // so nothing is counted twice.
                let reaped = if pid == root {
                    stat.cutime + stat.cstime
                } else {
                    0
                };
                ticks.insert(pid, own + reaped);
            }
        }
        Self { ticks }
    }

    /// CPU used between `self` (earlier) and `later`.
    pub fn since(&self, later: &TreeCpu) -> Duration {
        let ticks = later
            .ticks
            .iter()
            .map(|(pid, t)| t.saturating_sub(self.ticks.get(pid).copied().unwrap_or(0)))
            .sum();
        ticks_to_duration(ticks)
    }
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)
}

struct Stat {
    ppid: u32,
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

fn read_stat(path: &std::path::Path) -> Option<Stat> {
    let text = fs::read_to_string(path).ok()?;
    // The command name may hold spaces and parentheses; the fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        ppid: u32::try_from(field(1)?).ok()?,
        utime: field(11)?,
        stime: field(12)?,
        cutime: field(13)?,
        cstime: field(14)?,
    })
}

/// `root` and its live descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(stat) = read_stat(&entry.path().join("stat")) {
                children.entry(stat.ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = children.get(&out[i]) {
            out.extend(kids);
        }
        i += 1;
    }
    out
}

/// Jiffies of all CPUs from `/proc/stat`: (busy, total).
pub fn cpu_times() -> (u64, u64) {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    // idle and iowait are the 4th and 5th fields.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// The share of all CPUs that was busy between two [`cpu_times`] readings.
pub fn busy_share(before: (u64, u64), after: (u64, u64)) -> f64 {
    let total = after.1.saturating_sub(before.1);
    if total == 0 {
        return 0.0;
    }
    after.0.saturating_sub(before.0) as f64 / total as f64
}

/// Resident memory of this process (`VmRSS`), in bytes.
pub fn self_rss() -> u64 {
    status_kb("/proc/self/status", "VmRSS:").map_or(0, |kb| kb * 1024)
}

/// Proportional resident memory (`Pss`) of a process tree, in bytes: shared
/// pages are split between the processes that map them, so a forking peer is
/// not charged its shared libraries once per connection.
pub fn tree_pss(root: u32) -> u64 {
    tree(root)
        .into_iter()
        .filter_map(|pid| status_kb(&format!("/proc/{pid}/smaps_rollup"), "Pss:"))
        .sum::<u64>()
        * 1024
}

fn status_kb(path: &str, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Raises this process's descriptor limit to at least `want` if it can (the
/// soft limit up to the hard one; the hard one too with the privilege to).
/// Returns the soft limit in force afterwards.
///
/// # Errors
/// The OS error of `getrlimit`.
pub fn raise_nofile(want: u64) -> io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft >= want {
        return Ok(soft);
    }
    if hard < want && setrlimit(Resource::RLIMIT_NOFILE, want, want).is_ok() {
        return Ok(want);
    }
    let target = want.min(hard);
    setrlimit(Resource::RLIMIT_NOFILE, target, hard)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_a_tree_of_itself() {
        assert!(self_rss() > 0);
        let me = std::process::id();
        assert_eq!(tree(me)[0], me);
        assert!(tree_pss(me) > 0);
    }

    #[test]
    fn cpu_counters_never_go_backwards() {
        let me = std::process::id();
        let before = TreeCpu::read(me);
        let a = self_cpu();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(self_cpu() >= a);
        let _ = before.since(&TreeCpu::read(me));
    }
}
