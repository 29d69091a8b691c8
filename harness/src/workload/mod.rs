//! Workloads: traffic that drives the system under test and records what
//! happened into the history.
//!
//! - [`Recorder`]: the drill's clock and the history it fills.
//! - [`client`]: one HTTP request with a timeout, classified as `ok`, `fail`
//!   or `unknown`.
//! - [`http`]: open-loop HTTP workloads (a fixed arrival rate per region with
//!   a concurrency cap, so a slow service shows as a latency explosion).
//! - [`probe`]: the replication probe (write a marker in one region, poll the
//!   others until it shows).
//! - [`final_read`]: reads of every region's state after the schedule.
//! - [`process`]: a client process speaking JSON Lines on stdin/stdout
//!   (any language drives the system); [`process_workload`]: open-loop
//!   workloads through one; [`clients`]: the client processes of a drill.
//! - [`custom`]: any async closure as a workload.
//! - [`template`]: per-operation placeholders (`{seq}`, `{region}`, …).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::time::Instant;

use crate::history::{History, OpRecord, Record, RunRecord, HISTORY_VERSION};

pub mod client;
pub mod custom;
pub mod final_read;
pub mod http;
pub mod probe;
pub mod process;
pub mod process_workload;
pub mod template;

/// The drill's clock and history. Shared by every workload, probe and the runner.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    started_at: SystemTime,
    records: Mutex<Vec<Record>>,
    next_id: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// A recorder whose time zero is now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            started_at: SystemTime::now(),
            records: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        }
    }

    /// Time zero on tokio's clock.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Nanoseconds since time zero.
    pub fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    /// Nanoseconds from time zero to `at` (0 before it).
    pub fn ns_at(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start)
            .as_nanos()
            .min(u128::from(u64::MAX)) as u64
    }

    /// A fresh operation id.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Appends a record.
    pub fn push(&self, record: Record) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record);
    }

    /// Appends an operation.
    pub fn op(&self, op: OpRecord) {
        self.push(Record::Op(op));
    }

    /// Every operation recorded so far (a copy, for stop conditions and progress).
    pub fn ops_since(&self, since_ns: u64) -> Vec<OpRecord> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|r| match r {
                Record::Op(op) if op.end_ns >= since_ns => Some(op.clone()),
                _ => None,
            })
            .collect()
    }

    /// The history so far, records ordered by time (stable for equal times).
    pub fn history(&self, name: &str, seed: u64) -> History {
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        records.sort_by_key(record_time);
        History {
            run: RunRecord {
                version: HISTORY_VERSION,
                name: name.to_owned(),
                seed,
                started_at: humantime::format_rfc3339_millis(self.started_at).to_string(),
            },
            records,
        }
    }
}

/// When a record happened, for ordering: ops by completion, faults when applied,
/// lag markers when written.
fn record_time(record: &Record) -> u64 {
    match record {
        Record::Run(_) => 0,
        Record::Op(op) => op.end_ns,
        Record::Fault(fault) => fault.actual_ns,
        Record::Lag(lag) => lag.written_ns,
    }
}
