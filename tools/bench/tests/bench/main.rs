//! The benchmark's smoke test: a quick run (seconds) against direct loopback
//! and faultline produces every row of the report. No timing is asserted:
//! numbers live in BENCHMARKS.md, never in tests.

use faultline_bench::{self as bench, report::ROWS, BenchOptions};
use tokio_util::sync::CancellationToken;

#[test]
fn a_quick_run_reports_every_row() {
    let options = BenchOptions {
        quick: true,
        runs: 1,
        repetitions: 1,
        ..BenchOptions::default()
    };
    let report = bench::run(&options, &CancellationToken::new()).expect("the benchmark runs");
    assert_eq!(report.columns, ["direct", "faultline"]);
    assert!(
        report.missing_metrics().is_empty(),
        "rows without a faultline figure: {:?}",
        report.missing_metrics()
    );
    let table = report.table();
    for row in ROWS {
        assert!(
            table.contains(row.label),
            "the table lacks {:?}:\n{table}",
            row.label
        );
    }
    for metric in [
        "throughput_1",
        "throughput_8",
        "rtt_p99",
        "conn_per_s",
        "conn_cpu_us",
        "idle_kb",
    ] {
        assert!(
            report.median(metric, "direct").is_some(),
            "direct has no {metric}"
        );
    }
    assert_eq!(report.verdicts().len(), 14);
    let json = report.to_json();
    assert!(json["medians"]["throughput_1"]["faultline"].is_number());
    assert_eq!(
        json["samples"].as_array().map(Vec::len),
        Some(report.samples.len())
    );
}

#[test]
fn a_cancelled_run_stops_with_cancelled() {
    let stop = CancellationToken::new();
    stop.cancel();
    let options = BenchOptions {
        quick: true,
        ..BenchOptions::default()
    };
    assert!(matches!(
        bench::run(&options, &stop),
        Err(bench::BenchError::Cancelled)
    ));
}
