//! The history of a drill: what every client did and when every fault changed.
//!
//! Written as JSON Lines (`history.jsonl`), one record per line with `kind` first.
//! Times are nanoseconds since the `run` record's `started_at` (UTC). The format
//! is versioned by [`HISTORY_VERSION`]; outside tools rely on it (DESIGN §6).

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

mod sym;

pub use sym::{Interner, Sym};

/// Version written into every `run` record.
pub const HISTORY_VERSION: u32 = 1;

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// The first record: which run this is.
    Run(RunRecord),
    /// One operation a client invoked and how it completed.
    Op(OpRecord),
    /// A fault change the runner applied.
    Fault(FaultRecord),
    /// A replication-probe marker: when it was written and when another region saw it.
    Lag(LagRecord),
}

/// The header of a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Format version, [`HISTORY_VERSION`].
    pub version: u32,
    /// Scenario name.
    pub name: String,
    /// The run's seed; every RNG stream derives from it.
    pub seed: u64,
    /// Wall-clock start, RFC 3339 UTC; every `*_ns` field counts from here.
    pub started_at: String,
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Acknowledged: it happened.
    Ok,
    /// Definitely did not happen (refused, reset, rejected by the service).
    Fail,
    /// May or may not have happened (timeout, connection lost mid-request).
    Unknown,
}

/// One operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpRecord {
    /// Unique within the run.
    pub id: u64,
    /// Which client (workload worker) invoked it.
    pub client: Sym,
    /// The region the client sent it to.
    pub region: Sym,
    /// The operation's name (a workload's `name`, or `final_read`).
    pub op: Sym,
    /// The key it touched, if any.
    #[serde(default)]
    pub key: Option<Sym>,
    /// The value it wrote or read, if any.
    #[serde(default)]
    pub value: serde_json::Value,
    /// Invocation time, ns since start.
    pub start_ns: u64,
    /// Completion time, ns since start.
    pub end_ns: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// A short summary of the response or error (status code, error text).
    #[serde(default)]
    pub detail: Option<Sym>,
}

/// What a fault record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// The fault began.
    Start,
    /// The fault was healed.
    End,
    /// The fault's attributes changed (a ramp step, say).
    Update,
}

/// A fault change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Index of the schedule step this change belongs to.
    pub step: u32,
    /// Start, end or update.
    pub action: FaultAction,
    /// The fault as the scenario states it (region level), e.g. `{"partition": …}`.
    pub what: serde_json::Value,
    /// Links touched, as `from->to:service`.
    #[serde(default)]
    pub links: Vec<String>,
    /// Regions the fault is aimed at (the isolated region, a partition's
    /// groups, a degrade's regions); regions outside this list are the ones
    /// `blast_radius` judges while the fault is active.
    #[serde(default)]
    pub regions: Vec<String>,
    /// When the schedule said it should happen, ns since start.
    pub planned_ns: u64,
    /// When it was applied, ns since start.
    pub actual_ns: u64,
    /// Link → where its proxy runs and so where the change was applied:
    /// `in-process`, or the URL of the `faultline serve` agent holding it.
    /// Written only when some link is on an agent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub placed_on: BTreeMap<String, String>,
}

/// A replication-probe marker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LagRecord {
    /// The marker's unique value.
    pub marker: String,
    /// Region it was written to.
    pub from: String,
    /// Region that was polled for it.
    pub to: String,
    /// When the write was acknowledged, ns since start.
    pub written_ns: u64,
    /// When `to` first showed it; `None` if it never did.
    pub seen_ns: Option<u64>,
}

/// A whole history: the run header and every record after it, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The header.
    pub run: RunRecord,
    /// Everything after the header.
    pub records: Vec<Record>,
}

/// Why a history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file could not be read.
    #[error("reading history: {0}")]
    Io(#[from] io::Error),
    /// A line is not a valid record.
    #[error("history line {line}: {source}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The first record is not a `run` record, or the version is unknown.
    #[error("history line 1: {0}")]
    Header(String),
}

impl History {
    /// An empty history with the given header.
    pub fn new(run: RunRecord) -> Self {
        Self {
            run,
            records: Vec::new(),
        }
    }

    /// All operation records.
    pub fn ops(&self) -> impl Iterator<Item = &OpRecord> {
        self.records.iter().filter_map(|r| match r {
            Record::Op(op) => Some(op),
            _ => None,
        })
    }

    /// All fault records.
    pub fn faults(&self) -> impl Iterator<Item = &FaultRecord> {
        self.records.iter().filter_map(|r| match r {
            Record::Fault(f) => Some(f),
            _ => None,
        })
    }

    /// All lag records.
    pub fn lags(&self) -> impl Iterator<Item = &LagRecord> {
        self.records.iter().filter_map(|r| match r {
            Record::Lag(l) => Some(l),
            _ => None,
        })
    }

    /// Writes the history as JSON Lines, header first.
    ///
    /// # Errors
    /// Any I/O error of `out`.
    pub fn write_jsonl(&self, mut out: impl Write) -> io::Result<()> {
        let header = Record::Run(self.run.clone());
        for record in std::iter::once(&header).chain(&self.records) {
            serde_json::to_writer(&mut out, record)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// Reads a history written by [`History::write_jsonl`]. Blank lines are skipped.
    ///
    /// The input is streamed a line at a time into one reused buffer, and the
    /// names operations repeat (client, region, op, key, detail) are interned,
    /// so equal names share one allocation: a history of small values costs
    /// well under 250 bytes per operation in memory.
    ///
    /// # Errors
    /// I/O errors, a line that is not a record (with its line number), or a
    /// first record that is not a `run` record of a known version.
    pub fn read_jsonl(mut input: impl BufRead) -> Result<Self, HistoryError> {
        let mut run = None;
        let mut records = Vec::new();
        let mut interner = Interner::default();
        let mut line = String::new();
        let mut number = 0;
        loop {
            line.clear();
            if input.read_line(&mut line)? == 0 {
                break;
            }
            number += 1;
            if line.trim().is_empty() {
                continue;
            }
            let record: Record =
                serde_json::from_str(&line).map_err(|source| HistoryError::Parse {
                    line: number,
                    source,
                })?;
            match (run.is_none(), record) {
                (true, Record::Run(header)) => {
                    if header.version != HISTORY_VERSION {
                        return Err(HistoryError::Header(format!(
                            "version {} is not supported (this build reads version {HISTORY_VERSION})",
                            header.version
                        )));
                    }
                    run = Some(header);
                }
                (true, _) => {
                    return Err(HistoryError::Header(
                        "the first record must be a `run` record".into(),
                    ))
                }
                (false, Record::Op(mut op)) => {
                    op.client = interner.intern(op.client);
                    op.region = interner.intern(op.region);
                    op.op = interner.intern(op.op);
                    op.key = op.key.map(|k| interner.intern(k));
                    op.detail = op.detail.map(|d| interner.intern(d));
                    records.push(Record::Op(op));
                }
                (false, record) => records.push(record),
            }
        }
        records.shrink_to_fit();
        let run = run.ok_or_else(|| HistoryError::Header("the history is empty".into()))?;
        Ok(Self { run, records })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> History {
        let mut history = History::new(RunRecord {
            version: HISTORY_VERSION,
            name: "sample".into(),
            seed: 7,
            started_at: "2026-11-27T00:00:00Z".into(),
        });
        history.records.push(Record::Op(OpRecord {
            id: 1,
            client: "order-0".into(),
            region: "us-east".into(),
            op: "order".into(),
            key: Some("WIDGET-001".into()),
            value: serde_json::json!(1),
            start_ns: 10,
            end_ns: 20,
            outcome: Outcome::Unknown,
            detail: Some("timeout".into()),
        }));
        history.records.push(Record::Lag(LagRecord {
            marker: "m1".into(),
            from: "us-east".into(),
            to: "eu-west".into(),
            written_ns: 5,
            seen_ns: None,
        }));
        history
    }

    #[test]
    fn history_survives_a_round_trip_through_json_lines() {
        let history = sample();
        let mut buf = Vec::new();
        history.write_jsonl(&mut buf).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(
            text.lines().all(|l| l.starts_with("{\"kind\":")),
            "kind comes first: {text}"
        );
        assert_eq!(History::read_jsonl(&buf[..]).unwrap(), history);
    }

    #[test]
    fn reading_shares_repeated_names_and_keeps_records_small() {
        let mut history = sample();
        let Record::Op(op) = history.records[0].clone() else {
            unreachable!()
        };
        for id in 2..5 {
            history
                .records
                .push(Record::Op(OpRecord { id, ..op.clone() }));
        }
        let mut buf = Vec::new();
        history.write_jsonl(&mut buf).unwrap();
        let back = History::read_jsonl(&buf[..]).unwrap();
        assert_eq!(back, history);
        let regions: Vec<&Sym> = back.ops().map(|o| &o.region).collect();
        assert!(regions
            .windows(2)
            .all(|w| std::ptr::eq(w[0].as_str(), w[1].as_str())));
        // The resident record, before any value's own allocation.
        assert!(
            std::mem::size_of::<Record>() <= 160,
            "{}",
            std::mem::size_of::<Record>()
        );
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let text = "{\"kind\":\"run\",\"version\":1,\"name\":\"n\",\"seed\":1,\"started_at\":\"t\"}\n\n{\"kind\":\"op\"}\n";
        let err = History::read_jsonl(text.as_bytes()).unwrap_err();
        assert!(err.to_string().starts_with("history line 3:"), "{err}");
    }

    #[test]
    fn a_history_without_a_run_header_is_rejected() {
        let line =
            br#"{"kind":"lag","marker":"m","from":"a","to":"b","written_ns":1,"seen_ns":null}"#;
        let err = History::read_jsonl(&line[..]).unwrap_err();
        assert!(err.to_string().contains("first record"), "{err}");
    }
}
