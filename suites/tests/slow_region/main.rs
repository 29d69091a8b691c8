//! Part 5, Scenario 3, the slow dependency: the round trip of eu-west's calls
//! into us-east climbs from 100 ms to 2 s in ten jumps, then holds.
//!
//! The fault is aimed at us-east, so eu-west is outside its reach and must
//! keep its SLO. The `sync` feed calls us-east on every request, so eu-west's
//! feed slows with the link and `blast_radius` must fail there; the `local`
//! feed reads a replica, which goes stale but never slow, so it passes.

use std::path::PathBuf;

use faultline_harness::check::{CheckResult, Verdict};
use faultline_harness::history::Outcome;
use faultline_harness::runner::DrillReport;
use faultline_harness::scenario::Scenario;
use faultline_suites::{
    assert_final_reads_from, fault_window, final_state, load, ops, run_drill, with_variant,
};

const BLAST_RADIUS: &str = "blast_radius(success_rate 0.99, p99 1s)";
/// How reports label the ramp's window: by its step (then the fault it
/// starts with, `degrade into=us-east latency=0s …`).
const RAMP: &str = "step 0 ";

fn report_dir(variant: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("suites/slow-region")
        .join(variant)
}

/// The scenario file four times faster: the ramp takes 7.5 s instead of 30 s
/// (latencies stay real: the round trip still reaches 2 s) and holds 2.5 s.
fn compressed(variant: &str) -> Scenario {
    let scenario = load("slow-region")
        .with_time_scale(0.25)
        .expect("a valid time scale");
    with_variant(scenario, "feed", variant)
}

/// The blast-radius figures of `region` in the window whose label starts with `label`.
fn cell<'a>(result: &'a CheckResult, label: &str, region: &str) -> &'a serde_json::Value {
    let windows = result.figures["windows"]
        .as_object()
        .expect("blast_radius reports its windows");
    let (_, window) = windows
        .iter()
        .find(|(name, _)| name.starts_with(label))
        .unwrap_or_else(|| {
            panic!(
                "no window {label:?} in {:?}",
                windows.keys().collect::<Vec<_>>()
            )
        });
    &window["regions"][region]
}

/// Ids of the posts a region holds, from its final `/state`.
fn posts_held(report: &DrillReport, region: &str) -> Vec<String> {
    final_state(report, "feed", region)["data"]
        .as_object()
        .map(|posts| posts.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_calls_the_slow_region_on_every_request_slows_down_with_it() {
    let report = run_drill(compressed("sync"), report_dir("sync")).await;
    assert_final_reads_from(&report, "feed", "sync");

    report.assert_verdict(BLAST_RADIUS, Verdict::Fail);
    let result = report
        .result(BLAST_RADIUS)
        .expect("the scenario checks the blast radius");
    assert!(
        result.message.contains(&format!("eu-west during {RAMP}")),
        "{}",
        result.message
    );
    let ramp = fault_window(&report.history, 0);
    assert_eq!(
        ramp.regions.iter().collect::<Vec<_>>(),
        ["us-east"],
        "the fault is aimed at us-east only"
    );

    // eu-west met the SLO before the ramp and missed it during, on latency:
    // its feed waits for us-east's answer, one round trip per request.
    let before = cell(result, "before faults", "eu-west");
    assert_eq!(
        before["success_rate"], 1.0,
        "eu-west before the ramp: {before}"
    );
    let during = cell(result, RAMP, "eu-west");
    assert_eq!(during["met_slo"], 0, "eu-west during the ramp: {during}");
    let p99_ms = during["p99_ms"]
        .as_f64()
        .expect("eu-west served feeds during the ramp");
    assert!(
        p99_ms > 1_000.0,
        "eu-west p99 {p99_ms} ms during the ramp: {during}"
    );
    // The slowest feeds took at least the 2 s round trip the ramp ends at.
    let slowest_ms = ops(&report.history, "read_feed", "eu-west", Some(&ramp))
        .iter()
        .filter(|o| o.outcome == Outcome::Ok)
        .map(|o| (o.end_ns - o.start_ns) / 1_000_000)
        .max()
        .unwrap_or_default();
    assert!(
        slowest_ms >= 1_900,
        "eu-west's slowest feed took {slowest_ms} ms:\n{}",
        report.summary
    );

    // A sync feed keeps no replica: eu-west holds its own posts only.
    let held = posts_held(&report, "eu-west");
    assert!(
        !held.is_empty() && held.iter().all(|id| id.starts_with("eu-west-")),
        "{held:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_reads_a_local_replica_keeps_its_slo_while_the_other_region_is_slow() {
    let report = run_drill(compressed("local"), report_dir("local")).await;
    assert_final_reads_from(&report, "feed", "local");

    report.assert_pass();
    let result = report
        .result(BLAST_RADIUS)
        .expect("the scenario checks the blast radius");
    let during = cell(result, RAMP, "eu-west");
    assert_eq!(during["judged"], 1, "eu-west during the ramp: {during}");
    assert_eq!(during["met_slo"], 1, "eu-west during the ramp: {during}");
    let ramp = fault_window(&report.history, 0);
    let served = ops(&report.history, "read_feed", "eu-west", Some(&ramp));
    assert!(
        served.len() >= 100,
        "eu-west got {} feed requests during the ramp",
        served.len()
    );
    assert!(
        served.iter().all(|o| o.outcome == Outcome::Ok),
        "{}",
        report.summary
    );

    // Not by leaving us-east out: eu-west's replica holds us-east's posts.
    let held = posts_held(&report, "eu-west");
    assert!(held.iter().any(|id| id.starts_with("us-east-")), "{held:?}");
}
