//! The fidelity run in its quick mode: the report has every row of
//! FIDELITY.md's experiments, and each figure has the shape the fault's
//! definition gives it. No upper timing bounds: a loaded machine makes
//! everything slower; only lower bounds that follow from the faults are checked.

use std::sync::OnceLock;

use faultline_fidelity::{self as fidelity, FidelityOptions, FidelityReport};
use tokio_util::sync::CancellationToken;

/// One quick run shared by every test of this binary (it takes ~15 s).
fn report() -> &'static FidelityReport {
    static REPORT: OnceLock<FidelityReport> = OnceLock::new();
    REPORT.get_or_init(|| {
        let options = FidelityOptions {
            quick: true,
            ..FidelityOptions::default()
        };
        fidelity::run(&options, &CancellationToken::new()).expect("the quick fidelity run finishes")
    })
}

#[test]
fn the_latency_table_has_every_kernel_row_and_every_request_answered() {
    let report = report();
    let keys: Vec<&str> = report.latency.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "none",
            "delay50",
            "delay50_loss1",
            "delay50_loss5",
            "loss5",
            "loss5_sparse"
        ]
    );
    for row in &report.latency {
        let m = &row.median;
        assert!(row.kernel.is_some(), "{}: no kernel row", row.key);
        assert!(m.requests > 0, "{}: no requests", row.key);
        assert_eq!(
            m.answered, m.requests,
            "{}: loss must delay, never drop",
            row.key
        );
        assert!(
            m.p50_ms <= m.p90_ms && m.p90_ms <= m.p99_ms && m.p99_ms <= m.max_ms + 0.01,
            "{}: percentiles out of order: {m:?}",
            row.key
        );
        assert!(m.over_200ms <= m.requests);
    }
}

#[test]
fn delayed_rows_are_never_faster_than_the_delay_both_ways() {
    for row in report()
        .latency
        .iter()
        .filter(|r| r.key.starts_with("delay50"))
    {
        // 50 ms each way: no answer can come in under 100 ms.
        for run in &row.runs {
            assert!(
                run.p50_ms >= 100.0,
                "{}: p50 {} ms < 100 ms",
                row.key,
                run.p50_ms
            );
        }
    }
}

#[test]
fn a_blackhole_partition_holds_then_delivers_and_the_connection_survives() {
    let report = report();
    assert_eq!(report.partitions.len(), 1, "quick mode runs one partition");
    let row = &report.partitions[0];
    assert!(
        row.kernel.derived,
        "the quick partition's kernel figures are derived"
    );
    for run in &row.runs {
        assert!(run.survived, "the open connection died: {run:?}");
        assert!(run.in_order, "held requests answered out of order: {run:?}");
        assert!(run.sent_during > 0, "no request was held");
        // The first request held leaves 0.08 s in; its 5 s timeout is later.
        let timeout = run.first_timeout_s.expect("a request timed out");
        assert!(timeout >= 5.0, "first timeout at {timeout} s, before 5 s");
        // Nothing comes through before the heal, nor before the retransmission
        // point the blackhole's definition gives.
        let answered = run
            .first_answer_after_heal_s
            .expect("held requests answered");
        let due = run
            .expected_release_after_heal_s
            .expect("a first held byte");
        assert!(
            answered >= 0.0 && answered + 0.002 >= due,
            "answered {answered} s, due {due} s"
        );
        assert!(
            run.reconnect_recovery_s.is_some(),
            "the reconnecting client never recovered"
        );
        // The documented gap: a userspace listener completes the handshake.
        assert!(run.new_connect_returned_s.is_some());
        assert!(
            run.new_connect_answer_after_heal_s
                .is_some_and(|a| a >= 0.0),
            "the new connection's request must be held until after the heal: {run:?}"
        );
    }
}

#[test]
fn a_reject_partition_resets_and_lets_nothing_through() {
    let report = report();
    assert!(!report.reject.is_empty());
    for run in &report.reject {
        assert_eq!(run.open_error.as_deref(), Some("ECONNRESET"), "{run:?}");
        assert!(
            run.idle_quiet,
            "an idle connection must notice nothing until it sends"
        );
        assert!(
            run.new_connect_error.is_some(),
            "a new connection must fail: {run:?}"
        );
        assert_eq!(run.succeeded_during, 0, "requests got through a reject");
        assert!(
            run.first_success_after_heal_s.is_some(),
            "connects never succeeded after the heal"
        );
    }
}

#[test]
fn bulk_rows_cover_the_kernel_loss_table() {
    let report = report();
    let losses: Vec<f64> = report.bulk.iter().map(|b| b.loss).collect();
    assert_eq!(losses, [0.0, 0.01, 0.05]);
    for row in &report.bulk {
        assert!(
            row.median_mbit_s > 0.0,
            "{} loss: nothing went through",
            row.loss
        );
        assert!(row.kernel_bbr_mbit_s.is_some() && row.kernel_cubic_mbit_s.is_some());
    }
}

#[test]
fn the_table_names_every_row_next_to_the_kernel() {
    let report = report();
    let table = report.table();
    for label in report.latency.iter().map(|r| r.label.as_str()) {
        assert!(table.contains(label), "table lacks {label}");
    }
    for measure in [
        "first client timeout",
        "open connection survives",
        "first held request answered",
        "reconnecting client recovers",
        "new connect() 0.5 s in",
        "with a 3 s connect timeout",
        "open connection, next send",
        "idle connection",
        "new connect()",
        "first success after the heal",
        "1 % loss, Mbit/s",
    ] {
        assert!(table.contains(measure), "table lacks {measure}");
    }
    assert!(report.comparisons.iter().all(|c| !c.kernel.is_empty()));
    let markdown = report.markdown();
    assert!(markdown.contains("| fault (each direction) |"));
    let json = report.to_json();
    assert_eq!(json["latency"].as_array().map(Vec::len), Some(6));
    assert!(json["comparisons"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));
}
