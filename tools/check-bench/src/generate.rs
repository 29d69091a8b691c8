//! Seeded synthetic histories and the scenario that checks them.
//!
//! Ordinary cases: operations one per millisecond alternating between
//! us-east and eu-west, half `put` half `get` (or all `order` for
//! `no_oversell`), 99 % ok, 0.5 % failed, 0.5 % unknown, each taking 0.1–0.5 ms;
//! a partition of eu-west from 10 % to 30 % of the run; a replication marker
//! every 100 operations; and final reads of both regions holding, per key,
//! the value of the latest write that did not fail: every checker passes,
//! and `no_lost_writes` on hot keys must tell each overwritten write by
//! looking it up. Register cases (`linearizable`): three clients per key
//! issue reads and writes back to back with overlapping intervals; each
//! operation takes effect at a random instant inside its interval (1 % of the
//! writes are `unknown`, half of those never take effect), so reads return
//! what a linearizable register would.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

/// The checkers timed on ordinary histories.
pub const CHECKERS: &[&str] = &[
    "no_lost_writes",
    "convergence",
    "replication_lag",
    "blast_radius",
    "availability",
    "no_oversell",
];

/// How keys are spread over the operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// Every write its own key.
    Unique,
    /// Ten keys, round robin.
    Hot10,
    /// One key.
    One,
}

/// One measurement.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// The invariant checked.
    pub checker: &'static str,
    /// The key distribution.
    pub keys: Keys,
    /// Operations in the history (before final reads).
    pub ops: usize,
}

impl Case {
    /// `no_lost_writes-hot10-1000000`.
    pub fn name(&self) -> String {
        let keys = match self.keys {
            Keys::Unique => "unique",
            Keys::Hot10 => "hot10",
            Keys::One => "onekey",
        };
        format!("{}-{keys}-{}", self.checker, self.ops)
    }
}

const MS: u64 = 1_000_000;

fn invariant(case: &Case) -> Value {
    match case.checker {
        "no_lost_writes" => json!({"no_lost_writes": {"op": "put", "service": "kv"}}),
        "convergence" => json!({"convergence": {"within": "100h", "service": "kv"}}),
        "replication_lag" => json!({"replication_lag": {"max": "2s", "grace_after_heal": "5s"}}),
        "blast_radius" => json!({"blast_radius": {"slo": {"success_rate": 0.9, "p99": "500ms"}}}),
        "availability" => json!({"availability": {"min": 0.5}}),
        "no_oversell" => {
            json!({"no_oversell": {"op": "order", "key": "WIDGET", "stock": case.ops}})
        }
        _ => json!({"linearizable": {"write": "put", "read": "get"}}),
    }
}

fn scenario(case: &Case) -> Value {
    let instance = |region: &str| {
        json!({"command": ["fixture", "kv", "--region", region, "--listen", "{listen}"],
               "ready": {"http": "/health"}})
    };
    json!({
        "name": "check-bench",
        "description": "a synthetic history for faultline-check-bench",
        "seed": 1,
        "regions": ["us-east", "eu-west"],
        "services": {"kv": {"us-east": instance("us-east"), "eu-west": instance("eu-west")}},
        "links": [{"between": ["us-east", "eu-west"], "service": "kv", "latency": "40ms"}],
        "workload": [
            {"name": "put", "service": "kv", "rate": 10, "request": {"method": "PUT", "path": "/kv/k", "body": 1}},
            {"name": "get", "service": "kv", "rate": 10, "request": {"method": "GET", "path": "/kv/k"}},
            {"name": "order", "service": "kv", "rate": 10, "request": {"method": "GET", "path": "/kv/k"}}
        ],
        "probes": [{"replication": {"service": "kv",
            "write": {"method": "PUT", "path": "/kv/p-{marker}", "body": "{marker}"},
            "read": {"method": "GET", "path": "/kv/p-{marker}"}, "every": "1s", "timeout": "30s"}}],
        "final_reads": {"kv": {"path": "/state"}},
        "schedule": [{"at": "10s", "for": "20s", "fault": {"partition": {"isolate": "eu-west"}}}],
        "duration": "60s",
        "invariants": [invariant(case)]
    })
}

struct Out<W: Write> {
    w: W,
    line: String,
}

impl<W: Write> Out<W> {
    #[allow(clippy::too_many_arguments)]
    fn op(
        &mut self,
        id: u64,
        region: &str,
        op: &str,
        key: &str,
        value: &Value,
        start: u64,
        end: u64,
        outcome: &str,
    ) -> std::io::Result<()> {
        self.line.clear();
        let detail = match outcome {
            "ok" => "200",
            "fail" => "503",
            _ => "timeout after 2s",
        };
        let _ = writeln!(
            self.line,
            r#"{{"kind":"op","id":{id},"client":"{op}-{region}","region":"{region}","op":"{op}","key":"{key}","value":{value},"start_ns":{start},"end_ns":{end},"outcome":"{outcome}","detail":"{detail}"}}"#
        );
        self.w.write_all(self.line.as_bytes())
    }

    fn raw(&mut self, value: &Value) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.w, value)?;
        self.w.write_all(b"\n")
    }
}

/// Writes `history.jsonl` and `scenario.json` for `case` under `dir`.
///
/// # Errors
/// I/O errors, as text naming the file.
pub fn write(case: &Case, seed: u64, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let scenario_path = dir.join("scenario.json");
    std::fs::write(
        &scenario_path,
        serde_json::to_string_pretty(&scenario(case)).unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", scenario_path.display()))?;
    let history_path = dir.join("history.jsonl");
    let file = std::fs::File::create(&history_path)
        .map_err(|e| format!("{}: {e}", history_path.display()))?;
    let mut out = Out {
        w: BufWriter::with_capacity(1 << 20, file),
        line: String::new(),
    };
    let result = if case.checker == "linearizable" {
        registers(case, seed, &mut out)
    } else {
        ordinary(case, seed, &mut out)
    };
    result
        .and_then(|()| out.w.flush())
        .map_err(|e| format!("{}: {e}", history_path.display()))?;
    Ok((history_path, scenario_path))
}

fn header<W: Write>(out: &mut Out<W>) -> std::io::Result<()> {
    out.raw(&json!({"kind": "run", "version": 1, "name": "check-bench", "seed": 1, "started_at": "2026-12-04T00:00:00Z"}))
}

fn fault<W: Write>(out: &mut Out<W>, action: &str, at: u64) -> std::io::Result<()> {
    out.raw(&json!({"kind": "fault", "step": 0, "action": action,
        "what": {"partition": {"isolate": "eu-west"}},
        "links": ["us-east->eu-west:kv", "eu-west->us-east:kv"],
        "regions": ["eu-west"], "planned_ns": at, "actual_ns": at}))
}

fn ordinary<W: Write>(case: &Case, seed: u64, out: &mut Out<W>) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = case.ops as u64;
    let end = n * MS;
    let (fault_start, fault_end) = (end / 10, end * 3 / 10);
    header(out)?;
    // key → latest-starting write that did not fail.
    let mut state: Map<String, Value> = Map::new();
    let mut fault_started = false;
    for i in 0..n {
        let start = i * MS;
        if !fault_started && start >= fault_start {
            fault(out, "start", fault_start)?;
            fault_started = true;
        }
        if start == fault_end {
            fault(out, "end", fault_end)?;
        }
        let region = if i % 2 == 0 { "us-east" } else { "eu-west" };
        let roll: u32 = rng.gen_range(0..1000);
        let outcome = match roll {
            0..=4 => "fail",
            5..=9 => "unknown",
            _ => "ok",
        };
        let took = rng.gen_range(100_000..500_000);
        let (op, key, value) = match case.keys {
            Keys::One => ("order", "WIDGET".to_owned(), json!(1)),
            Keys::Unique if i % 2 == 0 => ("put", format!("k{i}"), json!(i)),
            Keys::Unique => ("get", format!("k{}", i - 1), Value::Null),
            Keys::Hot10 if i % 2 == 0 => ("put", format!("hot{}", (i / 2) % 10), json!(i)),
            Keys::Hot10 => ("get", format!("hot{}", (i / 2) % 10), Value::Null),
        };
        let end_ns = if outcome == "unknown" {
            start + 2_000 * MS
        } else {
            start + took
        };
        out.op(i + 1, region, op, &key, &value, start, end_ns, outcome)?;
        if op == "put" && outcome != "fail" {
            state.insert(key, value);
        }
        if i % 100 == 0 {
            let written = start + took;
            let during = (fault_start..fault_end).contains(&written);
            let seen = if during {
                fault_end + 300 * MS
            } else {
                written + 50 * MS
            };
            out.raw(&json!({"kind": "lag", "marker": format!("m{i}"), "from": "us-east", "to": "eu-west",
                "written_ns": written, "seen_ns": seen}))?;
        }
    }
    let state = Value::Object(state);
    for (k, region) in ["us-east", "eu-west"].into_iter().enumerate() {
        let at = end + 1_000 * MS;
        out.raw(&json!({"kind": "op", "id": n + 1 + k as u64, "client": "final-read-kv", "region": region,
            "op": "final_read", "key": "kv", "value": {"digest": "d", "data": &state},
            "start_ns": at, "end_ns": at + MS, "outcome": "ok", "detail": "200"}))?;
    }
    Ok(())
}

fn registers<W: Write>(case: &Case, seed: u64, out: &mut Out<W>) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keys = if case.keys == Keys::Hot10 { 10 } else { 1 };
    let per_key = case.ops / keys;
    header(out)?;
    // (start, end, key, is_write, value, outcome)
    let mut ops: Vec<(u64, u64, usize, bool, Value, &str)> = Vec::with_capacity(case.ops);
    let mut next_value = 0u64;
    for key in 0..keys {
        // (effect time, index into ops); reads get their value afterwards.
        let mut effects: Vec<(u64, usize)> = Vec::with_capacity(per_key);
        let mut clocks = [0u64; 3];
        for i in 0..per_key {
            let client = i % 3;
            let start = clocks[client] + rng.gen_range(0..MS);
            let end = start + rng.gen_range(MS..3 * MS);
            clocks[client] = end;
            let write = rng.gen_bool(0.5);
            let mut outcome = "ok";
            let mut takes_effect = true;
            if write && rng.gen_bool(0.01) {
                outcome = "unknown";
                takes_effect = rng.gen_bool(0.5);
            }
            let value = if write {
                next_value += 1;
                json!(next_value)
            } else {
                Value::Null
            };
            let index = ops.len();
            let recorded_end = if outcome == "unknown" {
                end + 2_000 * MS
            } else {
                end
            };
            ops.push((start, recorded_end, key, write, value, outcome));
            if takes_effect {
                effects.push((rng.gen_range(start..end), index));
            }
        }
        effects.sort_unstable();
        let mut register = Value::Null;
        for (_, index) in effects {
            if ops[index].3 {
                register = ops[index].4.clone();
            } else {
                ops[index].4 = register.clone();
            }
        }
    }
    ops.sort_by_key(|o| o.0);
    for (id, (start, end, key, write, value, outcome)) in ops.iter().enumerate() {
        let region = if id % 2 == 0 { "us-east" } else { "eu-west" };
        let op = if *write { "put" } else { "get" };
        out.op(
            id as u64 + 1,
            region,
            op,
            &format!("reg{key}"),
            value,
            *start,
            *end,
            outcome,
        )?;
    }
    Ok(())
}
