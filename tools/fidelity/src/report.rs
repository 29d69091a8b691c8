//! The fidelity report: every experiment's runs, their medians, and the
//! side-by-side table (faultline, kernel, difference) as text, Markdown and JSON.

use std::fmt::Write as _;

use faultline_harness::check::percentiles::median;
use serde::Serialize;

use crate::bulk::BulkRun;
use crate::kernel::{self, KernelLatency, KernelPartition};
use crate::latency::{LatencyStats, CASES};
use crate::partition::PartitionRun;
use crate::reject::RejectRun;
use crate::Plan;

/// Everything one fidelity run measured.
#[derive(Debug, Clone, Serialize)]
pub struct FidelityReport {
    /// When the run started, RFC 3339 UTC.
    pub date_utc: String,
    /// The seed of the proxies' RNG streams (run `r` used `seed + r`).
    pub seed: u64,
    /// A `--quick` run (fewer requests, a shorter partition).
    pub quick: bool,
    /// Repetitions; figures are medians over them.
    pub runs: usize,
    /// Wall time of the run, s.
    pub elapsed_s: f64,
    /// The request/response latency table, FIDELITY.md's rows in order.
    pub latency: Vec<LatencyRow>,
    /// Every blackhole partition length, with each run's figures.
    pub partitions: Vec<PartitionRow>,
    /// Each run's reject partition.
    pub reject: Vec<RejectRun>,
    /// Bulk throughput per loss probability.
    pub bulk: Vec<BulkRow>,
    /// The partition, reject and bulk rows, side by side with the kernel.
    pub comparisons: Vec<Comparison>,
}

/// One row of the latency table.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRow {
    /// Stable key.
    pub key: String,
    /// The fault, as FIDELITY.md names it.
    pub label: String,
    /// Requests per second.
    pub rate_hz: u32,
    /// Each run's figures.
    pub runs: Vec<LatencyStats>,
    /// The median of each figure over the runs.
    pub median: LatencyStats,
    /// The kernel's row.
    pub kernel: Option<KernelLatency>,
}

/// One blackhole partition length.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionRow {
    /// Length, s.
    pub length_s: f64,
    /// Each run's figures.
    pub runs: Vec<PartitionRun>,
    /// The kernel's figures for this length.
    pub kernel: KernelPartition,
}

/// Bulk throughput at one loss probability.
#[derive(Debug, Clone, Serialize)]
pub struct BulkRow {
    /// Loss probability on each direction.
    pub loss: f64,
    /// Each run's stream.
    pub runs: Vec<BulkRun>,
    /// Median Mbit/s.
    pub median_mbit_s: f64,
    /// The kernel with bbr, Mbit/s.
    pub kernel_bbr_mbit_s: Option<f64>,
    /// The kernel with cubic, Mbit/s.
    pub kernel_cubic_mbit_s: Option<f64>,
}

/// One measure, faultline next to the kernel.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The experiment (`blackhole 10 s`, `reject`, `bulk 40 ms RTT`).
    pub section: String,
    /// What is measured, with its unit.
    pub measure: String,
    /// faultline's figure (median over runs) or outcome.
    pub faultline: String,
    /// The kernel's.
    pub kernel: String,
    /// faultline − kernel for numbers; `same` or `differs` for outcomes.
    pub difference: String,
    /// faultline's number, when the measure is one.
    pub faultline_value: Option<f64>,
    /// The kernel's number, when the measure is one.
    pub kernel_value: Option<f64>,
}

impl Comparison {
    fn seconds(
        section: &str,
        measure: &str,
        faultline: Option<f64>,
        kernel: Option<f64>,
        approx: bool,
    ) -> Self {
        let mark = if approx { "≈" } else { "" };
        Self {
            section: section.into(),
            measure: measure.into(),
            faultline: faultline.map_or_else(|| "never".into(), |v| format!("{v:.3}")),
            kernel: kernel.map_or_else(|| "—".into(), |v| format!("{mark}{v:.2}")),
            difference: match (faultline, kernel) {
                (Some(f), Some(k)) => format!("{:+.2}", f - k),
                _ => "—".into(),
            },
            faultline_value: faultline,
            kernel_value: kernel,
        }
    }

    fn outcome(section: &str, measure: &str, faultline: String, kernel: &str, same: bool) -> Self {
        Self {
            section: section.into(),
            measure: measure.into(),
            faultline,
            kernel: kernel.into(),
            difference: if same { "same" } else { "differs" }.into(),
            faultline_value: None,
            kernel_value: None,
        }
    }
}

fn median_stats(runs: &[LatencyStats]) -> LatencyStats {
    let m = |f: fn(&LatencyStats) -> f64| median(runs.iter().map(|r| Some(f(r)))).unwrap_or(0.0);
    LatencyStats {
        requests: m(|r| r.requests as f64) as u64,
        answered: m(|r| r.answered as f64) as u64,
        p50_ms: m(|r| r.p50_ms),
        p90_ms: m(|r| r.p90_ms),
        p99_ms: m(|r| r.p99_ms),
        max_ms: m(|r| r.max_ms),
        over_200ms: m(|r| r.over_200ms as f64).round() as u64,
    }
}

/// "yes" when every run agrees, "k of n" otherwise.
fn all_of(flags: impl IntoIterator<Item = bool>) -> (String, bool) {
    let flags: Vec<bool> = flags.into_iter().collect();
    let yes = flags.iter().filter(|f| **f).count();
    match yes {
        y if y == flags.len() => ("yes".into(), true),
        0 => ("no".into(), false),
        y => (format!("{y} of {} runs", flags.len()), false),
    }
}

/// Builds the report from each run's results (`[run][row]`).
pub fn assemble(
    plan: &Plan,
    latency_runs: &[Vec<LatencyStats>],
    partition_runs: &[Vec<PartitionRun>],
    reject_runs: &[RejectRun],
    bulk_runs: &[Vec<BulkRun>],
) -> FidelityReport {
    let latency = CASES
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let runs: Vec<LatencyStats> = latency_runs
                .iter()
                .filter_map(|r| r.get(i).copied())
                .collect();
            LatencyRow {
                key: case.key.into(),
                label: case.label.into(),
                rate_hz: case.rate_hz,
                median: median_stats(&runs),
                runs,
                kernel: kernel::latency(case.key),
            }
        })
        .collect();
    let partitions: Vec<PartitionRow> = plan
        .partitions
        .iter()
        .enumerate()
        .map(|(i, length)| PartitionRow {
            length_s: length.as_secs_f64(),
            runs: partition_runs
                .iter()
                .filter_map(|r| r.get(i).cloned())
                .collect(),
            kernel: kernel::partition(length.as_secs_f64()),
        })
        .collect();
    let bulk: Vec<BulkRow> = crate::bulk::LOSSES
        .iter()
        .enumerate()
        .map(|(i, loss)| {
            let runs: Vec<BulkRun> = bulk_runs.iter().filter_map(|r| r.get(i).copied()).collect();
            let kernel = kernel::bulk(*loss);
            BulkRow {
                loss: *loss,
                median_mbit_s: median(runs.iter().map(|r| Some(r.mbit_s))).unwrap_or(0.0),
                runs,
                kernel_bbr_mbit_s: kernel.map(|k| k.0),
                kernel_cubic_mbit_s: kernel.map(|k| k.1),
            }
        })
        .collect();
    let mut comparisons = Vec::new();
    for row in &partitions {
        comparisons.extend(partition_comparisons(row));
    }
    comparisons.extend(reject_comparisons(reject_runs));
    for row in &bulk {
        let section = "bulk, 40 ms RTT";
        let measure = format!("{} % loss, Mbit/s", row.loss * 100.0);
        let (bbr, cubic) = (row.kernel_bbr_mbit_s, row.kernel_cubic_mbit_s);
        comparisons.push(Comparison {
            section: section.into(),
            measure,
            faultline: format!("{:.0}", row.median_mbit_s),
            kernel: match (bbr, cubic) {
                (Some(b), Some(c)) => format!("bbr {b} · cubic {c}"),
                _ => "—".into(),
            },
            difference: match (bbr, cubic) {
                (Some(b), Some(c)) => {
                    format!(
                        "×{:.1} of bbr · ×{:.0} of cubic",
                        row.median_mbit_s / b,
                        row.median_mbit_s / c
                    )
                }
                _ => "—".into(),
            },
            faultline_value: Some(row.median_mbit_s),
            kernel_value: bbr,
        });
    }
    FidelityReport {
        date_utc: String::new(),
        seed: 0,
        quick: false,
        runs: latency_runs.len(),
        elapsed_s: 0.0,
        latency,
        partitions,
        reject: reject_runs.to_vec(),
        bulk,
        comparisons,
    }
}

fn partition_comparisons(row: &PartitionRow) -> Vec<Comparison> {
    let section = format!("blackhole {} s", row.length_s);
    let s = section.as_str();
    let runs = &row.runs;
    let k = row.kernel;
    let derived = k.derived;
    let pick = |f: fn(&PartitionRun) -> Option<f64>| median(runs.iter().map(f));
    let mut out = vec![Comparison::seconds(
        s,
        "first client timeout, s after the start",
        pick(|r| r.first_timeout_s),
        Some(kernel::FIRST_TIMEOUT_S),
        false,
    )];
    let (survived, same) = all_of(runs.iter().map(|r| r.survived));
    let errors: Vec<String> = runs
        .iter()
        .filter_map(|r| r.connection_error.clone())
        .collect();
    let survived = if errors.is_empty() {
        survived
    } else {
        format!("{survived} ({})", errors.join(", "))
    };
    out.push(Comparison::outcome(
        s,
        "open connection survives",
        survived,
        "yes",
        same,
    ));
    let (in_order, same) = all_of(runs.iter().map(|r| r.in_order));
    let held = median(runs.iter().map(|r| Some(r.sent_during as f64))).unwrap_or(0.0);
    let stale = median(runs.iter().map(|r| Some(r.stale as f64))).unwrap_or(0.0);
    out.push(Comparison::outcome(
        s,
        "held requests answered in order after the heal",
        format!("{in_order}: {held:.0} held, {stale:.0} answered after their timeout"),
        "yes (stale answers arrive late)",
        same,
    ));
    out.push(Comparison::seconds(
        s,
        "first held request answered, s after the heal",
        pick(|r| r.first_answer_after_heal_s),
        Some(k.first_byte_after_heal_s),
        derived,
    ));
    let due = pick(|r| r.expected_release_after_heal_s);
    let early =
        median(runs.iter().map(|r| {
            Some((r.first_answer_after_heal_s? - r.expected_release_after_heal_s?) * 1000.0)
        }));
    out.push(Comparison {
        section: s.into(),
        measure: "  due by faultline's own schedule, s after the heal".into(),
        faultline: due.map_or_else(|| "—".into(), |v| format!("{v:.3}")),
        kernel: "—".into(),
        difference: early.map_or_else(|| "—".into(), |v| format!("answered − due: {v:+.1} ms")),
        faultline_value: due,
        kernel_value: None,
    });
    out.push(Comparison::seconds(
        s,
        "reconnecting client recovers, s after the heal",
        pick(|r| r.reconnect_recovery_s),
        Some(kernel::RECONNECT_RECOVERY_S),
        false,
    ));
    let abandoned =
        median(runs.iter().map(|r| Some(r.abandoned_connections as f64))).unwrap_or(0.0);
    let ghosts = median(runs.iter().map(|r| Some(r.ghost_requests as f64))).unwrap_or(0.0);
    let last = pick(|r| r.last_ghost_after_heal_s);
    out.push(Comparison::outcome(
        s,
        "  requests it wrote on connections it gave up, reaching the server",
        if ghosts > 0.0 {
            format!(
                "{ghosts:.0} (on {abandoned:.0} abandoned connections), the last {:.1} s after the heal",
                last.unwrap_or(f64::NAN)
            )
        } else {
            format!("0 (of {abandoned:.0} abandoned connections)")
        },
        "0 (connect() never returned)",
        ghosts == 0.0,
    ));
    let kernel_connect = row.length_s - kernel::NEW_CONNECT_AT_S + k.new_connect_after_heal_s;
    out.push(Comparison::seconds(
        s,
        "new connect() 0.5 s in returns after, s",
        pick(|r| r.new_connect_returned_s),
        Some(kernel_connect),
        derived,
    ));
    let connect_errors: Vec<String> = runs
        .iter()
        .filter_map(|r| r.new_connect_error.clone())
        .collect();
    let fires = runs.iter().any(|r| {
        r.new_connect_returned_s
            .is_none_or(|t| t >= kernel::CONNECT_TIMEOUT_FAILS_S)
    });
    out.push(Comparison::outcome(
        s,
        "  with a 3 s connect timeout",
        if fires {
            "times out".into()
        } else if connect_errors.is_empty() {
            "connect() succeeds at once; only reads hang".into()
        } else {
            format!("connect() fails: {}", connect_errors.join(", "))
        },
        "ETIMEDOUT at 3.0 s",
        fires,
    ));
    out.push(Comparison::seconds(
        s,
        "  its request answered, s after the heal",
        pick(|r| r.new_connect_answer_after_heal_s),
        Some(k.new_connect_after_heal_s),
        derived,
    ));
    out
}

fn reject_comparisons(runs: &[RejectRun]) -> Vec<Comparison> {
    let s = "reject";
    let mut out = Vec::new();
    let errors = distinct(runs.iter().map(|r| {
        r.open_error.as_ref().map_or_else(
            || "no error".to_owned(),
            |e| format!("{e} on {}", r.open_error_on.clone().unwrap_or_default()),
        )
    }));
    let at = median(runs.iter().map(|r| r.open_error_after_s));
    let after_send = median(runs.iter().map(|r| r.open_error_after_send_ms));
    out.push(Comparison {
        section: s.into(),
        measure: "open connection, next send: error, s after the start".into(),
        faultline: format!(
            "{errors}, {} ({} ms after the send)",
            at.map_or_else(|| "—".into(), |v| format!("{v:.3}")),
            after_send.map_or_else(|| "—".into(), |v| format!("{v:.2}"))
        ),
        kernel: format!(
            "ECONNRESET at its next send, {:.2}",
            kernel::REJECT_OPEN_RESET_S
        ),
        difference: at.map_or_else(
            || "—".into(),
            |v| format!("{:+.2}", v - kernel::REJECT_OPEN_RESET_S),
        ),
        faultline_value: at,
        kernel_value: Some(kernel::REJECT_OPEN_RESET_S),
    });
    let (quiet, same) = all_of(runs.iter().map(|r| r.idle_quiet));
    let idle_errors = distinct(
        runs.iter()
            .map(|r| r.idle_error.clone().unwrap_or_else(|| "no error".into())),
    );
    out.push(Comparison::outcome(
        s,
        "idle connection notices nothing until it sends",
        format!("{quiet}; then {idle_errors}"),
        "yes",
        same,
    ));
    let refused = runs
        .iter()
        .all(|r| r.new_connect_outcome == "connect() fails: ECONNREFUSED");
    let outcomes = counted(runs.iter().map(|r| r.new_connect_outcome.clone()));
    let error_after = median(runs.iter().map(|r| r.new_connect_error_after_ms));
    out.push(Comparison::outcome(
        s,
        "new connect()",
        format!(
            "{outcomes}; the error {:.2} ms after the call",
            error_after.unwrap_or(f64::NAN)
        ),
        kernel::REJECT_NEW_CONNECT,
        refused,
    ));
    let through: u64 = runs.iter().map(|r| r.succeeded_during).sum();
    out.push(Comparison::outcome(
        s,
        "requests that got through during the reject",
        through.to_string(),
        "0",
        through == 0,
    ));
    out.push(Comparison::seconds(
        s,
        "first success after the heal, s",
        median(runs.iter().map(|r| r.first_success_after_heal_s)),
        Some(kernel::REJECT_FIRST_SUCCESS_S),
        false,
    ));
    out
}

/// The distinct values with how many runs gave each, joined with " / ".
fn counted(values: impl IntoIterator<Item = String>) -> String {
    let values: Vec<String> = values.into_iter().collect();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for value in &values {
        match seen.iter_mut().find(|(v, _)| v == value) {
            Some((_, n)) => *n += 1,
            None => seen.push((value.clone(), 1)),
        }
    }
    if seen.len() == 1 {
        return seen.remove(0).0;
    }
    seen.iter()
        .map(|(v, n)| format!("{v} ({n} of {} runs)", values.len()))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The distinct values, joined with " / ".
fn distinct(values: impl IntoIterator<Item = String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for value in values {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen.join(" / ")
}

impl FidelityReport {
    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("the report serializes")
    }

    fn heading(&self) -> String {
        format!(
            "faultline fidelity, {} (seed {}, {} run{}, medians{})",
            self.date_utc,
            self.seed,
            self.runs,
            if self.runs == 1 { "" } else { "s" },
            if self.quick {
                "; --quick: a smoke test, not a measurement"
            } else {
                ""
            },
        )
    }

    /// The side-by-side table for a terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.heading());
        let _ = writeln!(
            out,
            "faultline: in-process proxy on loopback; kernel: FIDELITY.md (veth, iptables, NFQUEUE, bbr; one run)\n"
        );
        let _ = writeln!(
            out,
            "1. Request/response latency, 1 KB each way, one connection (ms)"
        );
        let _ = writeln!(
            out,
            "{:<22} {:>5}  {:<9} {:>8} {:>8} {:>8} {:>8} {:>10}",
            "fault (each direction)", "req/s", "", "p50", "p90", "p99", "max", ">200 ms"
        );
        for row in &self.latency {
            let m = &row.median;
            let _ = writeln!(
                out,
                "{:<22} {:>5}  {:<9} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>10}",
                row.label,
                row.rate_hz,
                "faultline",
                m.p50_ms,
                m.p90_ms,
                m.p99_ms,
                m.max_ms,
                format!("{}/{}", m.over_200ms, m.requests)
            );
            if let Some(k) = &row.kernel {
                let _ = writeln!(
                    out,
                    "{:<22} {:>5}  {:<9} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>10}",
                    "",
                    "",
                    "kernel",
                    k.p50_ms,
                    k.p90_ms,
                    k.p99_ms,
                    k.max_ms,
                    format!("{}/{}", k.over_200ms, k.requests)
                );
                let over = m.over_200ms as f64 / m.requests.max(1) as f64
                    - k.over_200ms as f64 / k.requests as f64;
                let _ = writeln!(
                    out,
                    "{:<22} {:>5}  {:<9} {:>+8.1} {:>+8.1} {:>+8.1} {:>+8.1} {:>9.1}%",
                    "",
                    "",
                    "Δ",
                    m.p50_ms - k.p50_ms,
                    m.p90_ms - k.p90_ms,
                    m.p99_ms - k.p99_ms,
                    m.max_ms - k.max_ms,
                    over * 100.0
                );
            }
            if m.answered < m.requests {
                let _ = writeln!(
                    out,
                    "{:<32} {} of {} unanswered at the deadline",
                    "",
                    m.requests - m.answered,
                    m.requests
                );
            }
        }
        let mut number = 1;
        let mut rest = self.comparisons.as_slice();
        while let Some(first) = rest.first() {
            let len = rest
                .iter()
                .take_while(|c| c.section == first.section)
                .count();
            let (section, tail) = rest.split_at(len);
            rest = tail;
            number += 1;
            let width = |f: fn(&Comparison) -> &str, title: &str| {
                section
                    .iter()
                    .map(|c| f(c).chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(title.len())
            };
            let (wm, wf, wk) = (
                width(|c| &c.measure, "measure"),
                width(|c| &c.faultline, "faultline"),
                width(|c| &c.kernel, "kernel"),
            );
            let _ = writeln!(out, "\n{number}. {}", first.section);
            let _ = writeln!(
                out,
                "{:<wm$}  {:<wf$}  {:<wk$}  difference",
                "measure", "faultline", "kernel"
            );
            for c in section {
                let _ = writeln!(
                    out,
                    "{:<wm$}  {:<wf$}  {:<wk$}  {}",
                    c.measure, c.faultline, c.kernel, c.difference
                );
            }
        }
        let _ = writeln!(out, "\nran {:.0} s", self.elapsed_s);
        out
    }

    /// The same table in Markdown, for docs/fidelity.md.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}\n", self.heading());
        let _ = writeln!(
            out,
            "Request/response latency, ms: faultline / kernel (difference)\n"
        );
        let _ = writeln!(
            out,
            "| fault (each direction) | req/s | p50 | p90 | p99 | max | > 200 ms |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for row in &self.latency {
            let m = &row.median;
            let cell = |f: f64, k: Option<f64>| match k {
                Some(k) => format!("{f:.1} / {k} ({:+.1})", f - k),
                None => format!("{f:.1}"),
            };
            let k = row.kernel;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                row.label,
                row.rate_hz,
                cell(m.p50_ms, k.map(|k| k.p50_ms)),
                cell(m.p90_ms, k.map(|k| k.p90_ms)),
                cell(m.p99_ms, k.map(|k| k.p99_ms)),
                cell(m.max_ms, k.map(|k| k.max_ms)),
                match k {
                    Some(k) => format!(
                        "{} of {} / {} of {}",
                        m.over_200ms, m.requests, k.over_200ms, k.requests
                    ),
                    None => format!("{} of {}", m.over_200ms, m.requests),
                }
            );
        }
        let _ = writeln!(
            out,
            "\n| experiment | measure | faultline | kernel | difference |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        for c in &self.comparisons {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                c.section,
                c.measure.trim(),
                c.faultline,
                c.kernel,
                c.difference
            );
        }
        out
    }
}
