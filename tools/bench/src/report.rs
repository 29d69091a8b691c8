//! The benchmark's report: samples, their medians, ratios to direct loopback,
//! verdicts against DESIGN.md §7, rendered as a table or as JSON.
//!
//! Over 700 lines because of data, not logic: [`ROWS`], the 33 table rows
//! with their labels and units, is 180 of them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use faultline_harness::check::percentiles::median;
use serde_json::json;

use crate::BenchOptions;

/// One measured value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The pass it belongs to (0-based).
    pub run: usize,
    /// Metric key (see [`ROWS`]).
    pub metric: String,
    /// Target column: `direct`, `faultline` or a peer's name.
    pub target: String,
    /// The value, in the row's unit.
    pub value: f64,
}

impl Sample {
    /// A sample.
    pub fn new(run: usize, metric: &str, target: &str, value: f64) -> Self {
        Self {
            run,
            metric: metric.to_owned(),
            target: target.to_owned(),
            value,
        }
    }
}

/// How a row compares a proxy with direct loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// value ÷ direct.
    Ratio,
    /// value − direct.
    Added,
    /// No comparison.
    Plain,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Metric key.
    pub metric: &'static str,
    /// What a reader sees.
    pub label: &'static str,
    /// Unit.
    pub unit: &'static str,
    /// Comparison with direct.
    pub compare: Compare,
}

const fn row(
    metric: &'static str,
    label: &'static str,
    unit: &'static str,
    compare: Compare,
) -> Row {
    Row {
        metric,
        label,
        unit,
        compare,
    }
}

/// Every row, in table order. Rows whose metric only faultline has show
/// only its column.
pub const ROWS: [Row; 33] = [
    row(
        "throughput_1",
        "throughput, 1 stream",
        "Gbit/s",
        Compare::Ratio,
    ),
    row(
        "throughput_8",
        "throughput, 8 streams",
        "Gbit/s",
        Compare::Ratio,
    ),
    row(
        "cpu_per_gib_1",
        "proxy CPU per GiB, 1 stream (threads)",
        "s/GiB",
        Compare::Plain,
    ),
    row(
        "cpu_per_gib_1_delta",
        "proxy CPU per GiB, 1 stream (process − direct)",
        "s/GiB",
        Compare::Plain,
    ),
    row(
        "cpu_per_gib_8",
        "proxy CPU per GiB, 8 streams (threads)",
        "s/GiB",
        Compare::Plain,
    ),
    row(
        "cpu_per_gib_8_delta",
        "proxy CPU per GiB, 8 streams (process − direct)",
        "s/GiB",
        Compare::Plain,
    ),
    row("rtt_p50", "round trip 1 KB, p50", "µs", Compare::Added),
    row("rtt_p99", "round trip 1 KB, p99", "µs", Compare::Added),
    row("rtt_p999", "round trip 1 KB, p99.9", "µs", Compare::Added),
    row("conn_per_s", "new connections", "conn/s", Compare::Ratio),
    row(
        "conn_cpu_us",
        "CPU per new connection (direct: client + server)",
        "µs",
        Compare::Plain,
    ),
    row(
        "conn_ceiling",
        "new conn/s ceiling, CPU-bound: direct ÷ (direct + proxy)",
        "×",
        Compare::Plain,
    ),
    row(
        "idle_kb",
        "memory per idle connection",
        "KB",
        Compare::Plain,
    ),
    row(
        "concurrent_ok",
        "concurrent connections answered",
        "conns",
        Compare::Plain,
    ),
    row(
        "concurrent_secs",
        "time to open and answer them all",
        "s",
        Compare::Plain,
    ),
    row(
        "latency_error_p50",
        "latency fault error, p50 (spinning client)",
        "ms",
        Compare::Plain,
    ),
    row(
        "latency_error_p99",
        "latency fault error, p99 (spinning client)",
        "ms",
        Compare::Plain,
    ),
    row(
        "latency_error_p50_blocking",
        "latency fault error, p50 (blocking client)",
        "ms",
        Compare::Plain,
    ),
    row(
        "latency_error_p99_blocking",
        "latency fault error, p99 (blocking client)",
        "ms",
        Compare::Plain,
    ),
    row(
        "latency_error_p50_tokio_timer",
        "latency fault error, p50 (tokio timer only, spinning client)",
        "ms",
        Compare::Plain,
    ),
    row(
        "latency_error_p99_tokio_timer",
        "latency fault error, p99 (tokio timer only, spinning client)",
        "ms",
        Compare::Plain,
    ),
    row(
        "propagation_p50",
        "fault change reaches open connection, p50",
        "ms",
        Compare::Plain,
    ),
    row(
        "propagation_p99",
        "fault change reaches open connection, p99",
        "ms",
        Compare::Plain,
    ),
    row(
        "propagation_max",
        "fault change reaches open connection, max",
        "ms",
        Compare::Plain,
    ),
    row(
        "latency_bulk",
        "bulk under 100 ms latency (8 MiB held)",
        "Gbit/s",
        Compare::Plain,
    ),
    row(
        "latency_bulk_raised",
        "bulk under 100 ms latency (raised bound)",
        "Gbit/s",
        Compare::Plain,
    ),
    row(
        "latency_bulk_ratio",
        "bulk under 100 ms latency ÷ zero-fault",
        "×",
        Compare::Plain,
    ),
    row(
        "latency_bulk_raised_ratio",
        "same, raised bound ÷ zero-fault",
        "×",
        Compare::Plain,
    ),
    row(
        "concurrent_attempted",
        "concurrent connections attempted",
        "conns",
        Compare::Plain,
    ),
    row(
        "schedule_error_p50",
        "schedule error (actual − planned), p50",
        "ms",
        Compare::Plain,
    ),
    row(
        "schedule_error_p99",
        "schedule error (actual − planned), p99",
        "ms",
        Compare::Plain,
    ),
    row(
        "schedule_error_max",
        "schedule error (actual − planned), max",
        "ms",
        Compare::Plain,
    ),
    row(
        "schedule_changes",
        "fault changes timed",
        "changes",
        Compare::Plain,
    ),
];

/// One target of DESIGN.md §7 and whether faultline met it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The target, as DESIGN.md states it.
    pub target: &'static str,
    /// The measured figure.
    pub measured: String,
    /// Met, not met, or `None` when this run cannot tell.
    pub met: Option<bool>,
}

/// Facts about the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// CPUs available to this process.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
    /// CPU model.
    pub cpu_model: String,
    /// `/proc/loadavg` when the benchmark started: other work on the
    /// machine shows here.
    pub load: String,
}

impl Machine {
    /// Reads this machine's facts.
    pub fn read() -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            cpu_model,
            load: std::fs::read_to_string("/proc/loadavg")
                .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        }
    }
}

/// The benchmark's report.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// When it ran (UTC, RFC 3339).
    pub date: String,
    /// Where it ran.
    pub machine: Machine,
    /// How it ran.
    pub options: BenchOptions,
    /// Target columns, in order.
    pub columns: Vec<String>,
    /// Every sample.
    pub samples: Vec<Sample>,
    /// Things a reader should know (failures counted, limits hit).
    pub notes: Vec<String>,
}

impl BenchReport {
    /// A report of `samples` taken on `machine`; derived rows (ratios) are added here.
    pub fn new(
        machine: Machine,
        options: BenchOptions,
        columns: Vec<String>,
        samples: Vec<Sample>,
        notes: Vec<String>,
    ) -> Self {
        let mut report = Self {
            date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            machine,
            options,
            columns,
            samples,
            notes,
        };
        report.derive();
        report
    }

    fn derive(&mut self) {
        let mut derived = Vec::new();
        let runs = self
            .samples
            .iter()
            .map(|s| s.run)
            .max()
            .map_or(0, |r| r + 1);
        for run in 0..runs {
            let of = |metric: &str| {
                median(
                    self.samples
                        .iter()
                        .filter(|s| s.run == run && s.metric == metric && s.target == "faultline")
                        .map(|s| s.value),
                )
            };
            if let Some(zero) = of("throughput_1").filter(|z| *z > 0.0) {
                for (metric, ratio) in [
                    ("latency_bulk", "latency_bulk_ratio"),
                    ("latency_bulk_raised", "latency_bulk_raised_ratio"),
                ] {
                    if let Some(v) = of(metric) {
                        derived.push(Sample::new(run, ratio, "faultline", v / zero));
                    }
                }
            }
        }
        self.samples.extend(derived);
    }

    /// The median of a metric for a target over every run.
    pub fn median(&self, metric: &str, target: &str) -> Option<f64> {
        median(
            self.samples
                .iter()
                .filter(|s| s.metric == metric && s.target == target)
                .map(|s| s.value),
        )
    }

    /// `target`'s median ÷ direct's median.
    pub fn ratio(&self, metric: &str, target: &str) -> Option<f64> {
        let direct = self.median(metric, "direct").filter(|d| *d > 0.0)?;
        Some(self.median(metric, target)? / direct)
    }

    /// `target`'s median − direct's median.
    pub fn added(&self, metric: &str, target: &str) -> Option<f64> {
        Some(self.median(metric, target)? - self.median(metric, "direct")?)
    }

    /// Metrics of [`ROWS`] for which faultline has no sample (the smoke test
    /// checks this is empty).
    pub fn missing_metrics(&self) -> Vec<&'static str> {
        ROWS.iter()
            .map(|r| r.metric)
            .filter(|m| self.median(m, "faultline").is_none())
            .collect()
    }

    /// faultline against each target of DESIGN.md §7.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let fl = |m: &str| self.median(m, "faultline");
        let at_least =
            |target, value: Option<f64>, min: f64, show: &dyn Fn(f64) -> String| Verdict {
                target,
                measured: value.map_or_else(|| "—".into(), show),
                met: value.map(|v| v >= min),
            };
        let at_most =
            |target, value: Option<f64>, max: f64, show: &dyn Fn(f64) -> String| Verdict {
                target,
                measured: value.map_or_else(|| "—".into(), show),
                met: value.map(|v| v <= max),
            };
        let times = |v: f64| format!("{v:.2}× direct");
        let mut out = vec![
            at_least(
                "throughput, 1 stream ≥ 0.7× direct",
                self.ratio("throughput_1", "faultline"),
                0.7,
                &times,
            ),
            at_least(
                "throughput, 8 streams ≥ 0.5× direct",
                self.ratio("throughput_8", "faultline"),
                0.5,
                &times,
            ),
            at_most(
                "proxy CPU ≤ 0.2 s per GiB (1 stream)",
                fl("cpu_per_gib_1"),
                0.2,
                &|v| format!("{v:.3} s/GiB"),
            ),
            at_most(
                "proxy CPU ≤ 0.2 s per GiB (8 streams)",
                fl("cpu_per_gib_8"),
                0.2,
                &|v| format!("{v:.3} s/GiB"),
            ),
        ];
        let haproxy = self.columns.iter().find(|c| c.contains("haproxy"));
        let added = self.added("rtt_p99", "faultline");
        out.push(match (haproxy, added) {
            (Some(h), Some(ours)) => {
                let theirs = self.added("rtt_p99", h);
                Verdict {
                    target: "added round-trip p99 ≤ haproxy's",
                    measured: format!(
                        "+{ours:.1} µs vs haproxy +{}",
                        theirs.map_or_else(|| "—".into(), |t| format!("{t:.1} µs"))
                    ),
                    met: theirs.map(|t| ours <= t),
                }
            }
            (None, ours) => Verdict {
                target: "added round-trip p99 ≤ haproxy's",
                measured: format!(
                    "+{} (no haproxy in this run)",
                    ours.map_or_else(|| "—".into(), |o| format!("{o:.1} µs"))
                ),
                met: None,
            },
            (Some(_), None) => Verdict {
                target: "added round-trip p99 ≤ haproxy's",
                measured: "—".into(),
                met: None,
            },
        });
        let mut connections = at_least(
            "new connections/s ≥ 0.6× direct",
            self.ratio("conn_per_s", "faultline"),
            0.6,
            &times,
        );
        if let Some(ceiling) = fl("conn_ceiling") {
            // What the proxy's own CPU per connection allows on a saturated machine.
            let _ = write!(connections.measured, " (CPU ceiling {ceiling:.2}×)");
        }
        out.push(connections);
        out.push(at_most(
            "≤ 4 KB user memory per idle connection",
            fl("idle_kb"),
            4.0,
            &|v| format!("{v:.2} KB"),
        ));
        out.push(at_least(
            "bulk under 100 ms latency ≥ 0.5× zero-fault (8 MiB held bound)",
            fl("latency_bulk_ratio"),
            0.5,
            &|v| format!("{v:.3}×"),
        ));
        out.push(at_least(
            "bulk under 100 ms latency ≥ 0.5× zero-fault (raised bound)",
            fl("latency_bulk_raised_ratio"),
            0.5,
            &|v| format!("{v:.3}×"),
        ));
        // Both clients: the blocking one waits as an application does (its
        // own wake-up counts against the proxy); the spinning one sees the
        // arrival at once but keeps one of the machine's cores busy.
        out.push(at_most(
            "latency-fault error ≤ 0.2 ms p99 (blocking client)",
            fl("latency_error_p99_blocking"),
            0.2,
            &|v| format!("{v:.3} ms"),
        ));
        out.push(at_most(
            "latency-fault error ≤ 0.2 ms p99 (spinning client)",
            fl("latency_error_p99"),
            0.2,
            &|v| format!("{v:.3} ms"),
        ));
        out.push(at_most(
            "fault change reaches an open connection ≤ 1 ms (p99)",
            fl("propagation_p99"),
            1.0,
            &|v| format!("{v:.3} ms"),
        ));
        out.push(at_most(
            "schedule error (actual − planned) ≤ 2 ms (p99)",
            fl("schedule_error_p99"),
            2.0,
            &|v| format!("{v:.3} ms"),
        ));
        // Through one proxy: the faultline column that held the most
        // (in-process, or `faultline serve` as a peer process).
        let best = self
            .columns
            .iter()
            .filter(|c| c.starts_with("faultline"))
            .filter_map(|c| {
                let ok = self.median("concurrent_ok", c)?;
                let attempted = self.median("concurrent_attempted", c)?;
                Some((c, ok, attempted))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        out.push(Verdict {
            target: "10 000 concurrent connections through one proxy",
            measured: best.map_or_else(
                || "—".into(),
                |(column, ok, attempted)| format!("{ok:.0} of {attempted:.0} ({column})"),
            ),
            met: best.map(|(_, ok, attempted)| ok >= attempted && attempted >= 10_000.0),
        });
        out
    }

    /// The report as a table a person reads.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "faultline-bench {} — {} CPUs ({}), Linux {}, load average at the start {} — {} run(s) × {} repetition(s){} — medians",
            self.date,
            self.machine.cpus,
            self.machine.cpu_model,
            self.machine.kernel,
            self.machine.load,
            self.options.runs,
            self.options.repetitions,
            if self.options.quick { " — QUICK (smoke test, not a measurement)" } else { "" },
        );
        let mut header = vec!["metric".to_owned(), "unit".to_owned()];
        header.extend(self.columns.iter().cloned());
        let mut lines = vec![header];
        for row in ROWS {
            if self
                .columns
                .iter()
                .all(|c| self.median(row.metric, c).is_none())
            {
                continue;
            }
            let mut line = vec![row.label.to_owned(), row.unit.to_owned()];
            for column in &self.columns {
                let cell = match self.median(row.metric, column) {
                    None => String::new(),
                    Some(v) => {
                        let base = format_value(v);
                        match (row.compare, column.as_str()) {
                            (_, "direct") | (Compare::Plain, _) => base,
                            (Compare::Ratio, _) => match self.ratio(row.metric, column) {
                                Some(r) => format!("{base} ({r:.2}×)"),
                                None => base,
                            },
                            (Compare::Added, _) => match self.added(row.metric, column) {
                                Some(a) => format!("{base} (+{})", format_value(a)),
                                None => base,
                            },
                        }
                    }
                };
                line.push(cell);
            }
            lines.push(line);
        }
        out.push_str(&render(&lines));
        out.push_str("\nTargets (DESIGN.md §7), faultline:\n");
        let verdicts: Vec<Vec<String>> = std::iter::once(vec![
            "target".to_owned(),
            "measured".to_owned(),
            "verdict".to_owned(),
        ])
        .chain(self.verdicts().into_iter().map(|v| {
            vec![
                v.target.to_owned(),
                v.measured,
                match v.met {
                    Some(true) => "met".into(),
                    Some(false) => "NOT MET".into(),
                    None => "n/a".into(),
                },
            ]
        }))
        .collect();
        out.push_str(&render(&verdicts));
        if !self.notes.is_empty() {
            out.push_str("\nNotes:\n");
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }

    /// The report as JSON: options, machine, medians, verdicts and every sample.
    pub fn to_json(&self) -> serde_json::Value {
        let mut medians: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
        for row in ROWS {
            for column in &self.columns {
                if let Some(v) = self.median(row.metric, column) {
                    medians.entry(row.metric).or_default().insert(column, v);
                }
            }
        }
        json!({
            "version": 1,
            "date": self.date,
            "machine": {
                "cpus": self.machine.cpus,
                "kernel": self.machine.kernel,
                "cpu_model": self.machine.cpu_model,
                "load": self.machine.load,
            },
            "options": {
                "quick": self.options.quick,
                "runs": self.options.runs,
                "repetitions": self.options.repetitions,
                "peers": self.options.peers.iter().map(|p| json!({"name": p.name, "command": p.command})).collect::<Vec<_>>(),
                "concurrent": self.options.concurrent,
                "proxy_threads": self.options.proxy_threads,
                "splice": self.options.splice,
                "raised_held_bytes": self.options.raised_held_bytes,
            },
            "columns": self.columns,
            "units": ROWS.iter().map(|r| (r.metric, r.unit)).collect::<BTreeMap<_, _>>(),
            "medians": medians,
            "verdicts": self.verdicts().iter().map(|v| json!({
                "target": v.target,
                "measured": v.measured,
                "met": v.met,
            })).collect::<Vec<_>>(),
            "samples": self.samples.iter().map(|s| json!({
                "run": s.run,
                "metric": s.metric,
                "target": s.target,
                "value": s.value,
            })).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }
}

fn format_value(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn render(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            lines
                .iter()
                .filter_map(|l| l.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (n, line) in lines.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        if n == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            let _ = writeln!(out, "{}", rule.join("  "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_verdicts_come_from_medians() {
        let samples = vec![
            Sample::new(0, "throughput_1", "direct", 20.0),
            Sample::new(0, "throughput_1", "faultline", 15.0),
            Sample::new(1, "throughput_1", "direct", 30.0),
            Sample::new(1, "throughput_1", "faultline", 13.0),
        ];
        let report = BenchReport::new(
            Machine::read(),
            BenchOptions::default(),
            vec!["direct".into(), "faultline".into()],
            samples,
            vec![],
        );
        assert_eq!(report.ratio("throughput_1", "faultline"), Some(14.0 / 25.0));
        let verdict = &report.verdicts()[0];
        assert_eq!(verdict.met, Some(false));
        assert!(report.table().contains("(0.56×)"));
    }
}
