//! Run files: what a running drill holds, on disk, so that whatever kills it
//! (SIGKILL, the OOM killer, a power cut of its shell) `faultline heal` can
//! find and undo what it left.
//!
//! A drill writes `<state dir>/runs/<pid>-<start time>.json` when it starts
//! and rewrites it (write to a temporary file, then rename) every time what it
//! holds changes: spawned processes (pid, process group, supervisor, listen
//! address), proxies it created and faults it placed (per plane: `in-process`
//! or an agent URL), and leases it holds on agents. A clean end removes the
//! file. A run file whose owner is no longer alive (its pid is gone, or now
//! belongs to a process started at another time) is *stale*.
//!
//! The state dir is `--state-dir`, else `$FAULTLINE_STATE_DIR`, else
//! `$XDG_STATE_HOME/faultline`, else `~/.local/state/faultline` ([`default_state_dir`]).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The run file format's version.
pub const VERSION: u32 = 1;

/// Why a run file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum RunFileError {
    /// The state dir or the file could not be written or read.
    #[error("run file {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file is not a run file.
    #[error("run file {path}: not a faultline run file: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What serde said.
        message: String,
    },
}

/// A process, identified against pid reuse by its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// The pid.
    pub pid: u32,
    /// Its start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start_time: u64,
}

impl ProcessId {
    /// The process `pid` as it is now, if it exists.
    pub fn of(pid: u32) -> Option<Self> {
        let (start_time, _) = stat(pid)?;
        Some(Self { pid, start_time })
    }

    /// This process.
    pub fn current() -> Option<Self> {
        Self::of(std::process::id())
    }

    /// Whether this very process (same pid, same start time) is still alive
    /// (a zombie counts as dead).
    pub fn is_alive(&self) -> bool {
        stat(self.pid).is_some_and(|(start, state)| start == self.start_time && state != 'Z')
    }
}

/// `(start time, state)` of `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(u64, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything; fields
    // after it are space-separated: state is the 3rd field, starttime the 22nd.
    let after = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

/// The process group of `pid` (`/proc/PID/stat` field 5).
pub fn process_group_of(pid: u32) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    after.split_whitespace().nth(2)?.parse().ok()
}

/// Every live (non-zombie) process whose process group is `pgid`.
pub fn members_of_group(pgid: i32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| process_group_of(*pid) == Some(pgid))
        .filter(|pid| stat(*pid).is_some_and(|(_, state)| state != 'Z'))
        .collect()
}

/// A spawned service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEntry {
    /// The service.
    pub service: String,
    /// Its region.
    pub region: String,
    /// The service's own process.
    pub process: ProcessId,
    /// The process group it and its children run in (its supervisor's pid).
    pub pgid: i32,
    /// The supervisor that kills the group when the drill dies.
    pub supervisor: Option<ProcessId>,
    /// Where it listens.
    pub listen: Option<String>,
}

/// A proxy a drill created.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProxyEntry {
    /// `in-process` or the agent's URL.
    pub plane: String,
    /// The proxy's name.
    pub name: String,
}

/// A fault a drill placed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FaultEntry {
    /// `in-process` or the agent's URL.
    pub plane: String,
    /// The proxy.
    pub proxy: String,
    /// The fault's name.
    pub fault: String,
}

/// A lease a drill holds on an agent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LeaseEntry {
    /// The agent's URL.
    pub agent: String,
    /// The lease id.
    pub id: String,
}

/// Where a drill is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Bringing the topology up.
    #[default]
    Starting,
    /// Driving the schedule and the workloads.
    Running,
    /// Removing faults, stopping processes and proxies.
    Healing,
}

/// The content of a run file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// [`VERSION`].
    pub version: u32,
    /// The drill process.
    pub owner: ProcessId,
    /// The scenario's name.
    pub scenario: String,
    /// The report folder, if any.
    pub report_dir: Option<PathBuf>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Where it is.
    pub phase: Phase,
    /// Spawned services.
    pub processes: Vec<ProcessEntry>,
    /// Proxies created (not yet removed).
    pub proxies: Vec<ProxyEntry>,
    /// Faults placed (not yet removed).
    pub faults: Vec<FaultEntry>,
    /// Leases held on agents.
    #[serde(default)]
    pub leases: Vec<LeaseEntry>,
}

impl RunRecord {
    /// Whether the drill that wrote it has died without removing it.
    pub fn is_stale(&self) -> bool {
        !self.owner.is_alive()
    }

    /// Faults and proxies on agents (what only `faultline heal` or a lease
    /// lapse can remove once the drill is dead).
    pub fn remote_faults(&self) -> impl Iterator<Item = &FaultEntry> {
        self.faults.iter().filter(|f| f.plane != IN_PROCESS)
    }

    /// Proxies on agents.
    pub fn remote_proxies(&self) -> impl Iterator<Item = &ProxyEntry> {
        self.proxies.iter().filter(|p| p.plane != IN_PROCESS)
    }
}

/// The plane name of the drill's own proxies.
pub const IN_PROCESS: &str = "in-process";

/// The state dir when none is given: `$FAULTLINE_STATE_DIR`, else
/// `$XDG_STATE_HOME/faultline`, else `$HOME/.local/state/faultline`, else
/// `./.faultline-state`.
pub fn default_state_dir() -> PathBuf {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = env("FAULTLINE_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = env("XDG_STATE_HOME") {
        return PathBuf::from(dir).join("faultline");
    }
    if let Some(home) = env("HOME") {
        return PathBuf::from(home).join(".local/state/faultline");
    }
    PathBuf::from(".faultline-state")
}

/// The folder of run files in `state_dir`.
pub fn runs_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("runs")
}

/// A live drill's run file, rewritten on every change.
#[derive(Debug)]
pub struct RunFile {
    path: PathBuf,
    record: Mutex<RunRecord>,
}

impl RunFile {
    /// Creates the run file of this process in `state_dir`.
    ///
    /// # Errors
    /// The folder cannot be created or the file written.
    pub fn create(
        state_dir: &Path,
        scenario: &str,
        report_dir: Option<PathBuf>,
    ) -> Result<Self, RunFileError> {
        let owner = ProcessId::current().unwrap_or(ProcessId {
            pid: std::process::id(),
            start_time: 0,
        });
        let dir = runs_dir(state_dir);
        std::fs::create_dir_all(&dir).map_err(|source| RunFileError::Io {
            path: dir.clone(),
            source,
        })?;
        // One process may run several drills at once (the Rust API): a
        // per-process counter keeps their files apart.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{}-{}-{n}.json", owner.pid, owner.start_time));
        let file = Self {
            path,
            record: Mutex::new(RunRecord {
                version: VERSION,
                owner,
                scenario: scenario.to_owned(),
                report_dir,
                started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                    .to_string(),
                phase: Phase::Starting,
                processes: Vec::new(),
                proxies: Vec::new(),
                faults: Vec::new(),
                leases: Vec::new(),
            }),
        };
        let record = file.snapshot();
        write(&file.path, &record)?;
        Ok(file)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it holds now.
    pub fn snapshot(&self) -> RunRecord {
        self.record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the record and rewrites the file (a failed write is logged:
    /// the drill goes on; its own heal does not depend on the file).
    pub fn update(&self, change: impl FnOnce(&mut RunRecord)) {
        let mut record = self.record.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut record);
        if let Err(err) = write(&self.path, &record) {
            tracing::warn!(%err, "could not update the run file");
        }
    }

    /// Sets the phase.
    pub fn phase(&self, phase: Phase) {
        self.update(|r| r.phase = phase);
    }

    /// Removes the file: the drill ended cleanly.
    pub fn finish(self) {
        if let Err(err) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), %err, "could not remove the run file");
        }
    }
}

fn write(path: &Path, record: &RunRecord) -> Result<(), RunFileError> {
    let io = |source| RunFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut text = serde_json::to_vec_pretty(record).map_err(|e| io(io::Error::other(e)))?;
    text.push(b'\n');
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads one run file.
///
/// # Errors
/// It cannot be read or is not a run file.
pub fn read(path: &Path) -> Result<RunRecord, RunFileError> {
    let text = std::fs::read(path).map_err(|source| RunFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|e| RunFileError::Format {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Every run file in `state_dir`, oldest name first, each read or its error.
pub fn list(state_dir: &Path) -> Vec<(PathBuf, Result<RunRecord, RunFileError>)> {
    let Ok(entries) = std::fs::read_dir(runs_dir(state_dir)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let record = read(&p);
            (p, record)
        })
        .collect()
}

/// The run files in `state_dir` whose drill died without cleaning up.
pub fn stale(state_dir: &Path) -> Vec<(PathBuf, RunRecord)> {
    list(state_dir)
        .into_iter()
        .filter_map(|(p, r)| r.ok().map(|r| (p, r)))
        .filter(|(_, r)| r.is_stale())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let me = ProcessId::current().expect("/proc/self/stat");
        assert!(me.is_alive());
        let reused = ProcessId {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!reused.is_alive());
    }

    #[test]
    fn a_run_file_is_written_updated_and_removed() {
        let dir = std::env::temp_dir().join(format!(
            "runfile-unit-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let file = RunFile::create(&dir, "s", None).unwrap();
        file.update(|r| {
            r.faults.push(FaultEntry {
                plane: "http://127.0.0.1:1".into(),
                proxy: "p".into(),
                fault: "f".into(),
            })
        });
        let back = read(file.path()).unwrap();
        assert_eq!(back.faults.len(), 1);
        assert!(!back.is_stale(), "its owner (this process) is alive");
        assert!(stale(&dir).is_empty());
        let path = file.path().to_owned();
        file.finish();
        assert!(!path.exists());
    }
}
