//! Part 5, Scenario 1's cascading failure: an API in us-east, eu-west and
//! ap-northeast that consults a rate limiter before serving, while us-east is
//! isolated.
//!
//! `global` asks one limiter in us-east and fails closed, so losing us-east
//! takes eu-west and ap-northeast down with it: `blast_radius` must fail for
//! the regions outside the fault, with the 503s that prove why. `regional`
//! keeps a limiter in every region and fails open: the regions outside the
//! fault keep their SLO.

use std::path::PathBuf;

use faultline_harness::check::attribution::Attribution;
use faultline_harness::check::{CheckResult, InvariantConfig, Verdict};
use faultline_harness::history::Outcome;
use faultline_harness::runner::DrillReport;
use faultline_harness::scenario::Scenario;
use faultline_suites::{
    assert_final_reads_from, edit, fault_window, final_state, load, ops, run_drill, with_flag,
    with_variant,
};

const BLAST_RADIUS: &str = "blast_radius(success_rate 0.95)";
const OUTSIDE: [&str; 2] = ["eu-west", "ap-northeast"];

fn report_dir(variant: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("suites/global-ratelimit-cascade")
        .join(variant)
}

/// The scenario file five times faster (us-east isolated for 8 s of a 14 s
/// drill), with the limiter timeout cut from 5 s to 1 s along with it, so the
/// isolation spans several timeouts. The regions outside the fault are
/// judged on their success rate: the cascade is an outage, not a slowdown,
/// and a busy test machine can stall any request past the file's 1 s p99.
fn compressed(variant: &str) -> Scenario {
    let scenario = load("global-ratelimit-cascade")
        .with_time_scale(0.2)
        .expect("a valid time scale");
    let scenario = with_flag(scenario, "ratelimit", "--timeout", "1s");
    let scenario = edit(scenario, |config| {
        for invariant in &mut config.invariants {
            if let InvariantConfig::BlastRadius(blast) = invariant {
                blast.slo.p99 = None;
            }
        }
    });
    let mut scenario = with_variant(scenario, "ratelimit", variant);
    // And again without the isolation, to attribute every verdict.
    scenario.baseline = true;
    scenario
}

/// The blast-radius cell of `region` during the isolation: its figures.
fn during_isolation<'a>(result: &'a CheckResult, region: &str) -> &'a serde_json::Value {
    let windows = result.figures["windows"]
        .as_object()
        .expect("blast_radius reports its windows");
    let (_, window) = windows
        .iter()
        .find(|(label, _)| label.starts_with("step 0 partition isolate=us-east"))
        .unwrap_or_else(|| {
            panic!(
                "no window of the isolation in {:?}",
                windows.keys().collect::<Vec<_>>()
            )
        });
    &window["regions"][region]
}

/// A region's limiter counters from its final `/state`.
fn final_counters<'a>(report: &'a DrillReport, region: &str) -> &'a serde_json::Value {
    &final_state(report, "ratelimit", region)["data"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_fail_closed_limiter_takes_every_region_down_with_us_east() {
    let report = run_drill(compressed("global"), report_dir("global")).await;
    assert_final_reads_from(&report, "ratelimit", "global");

    report.assert_verdict(BLAST_RADIUS, Verdict::Fail);
    let result = report
        .result(BLAST_RADIUS)
        .expect("the scenario checks the blast radius");
    assert!(
        result
            .message
            .starts_with("2 region-windows outside a fault's reach missed the SLO"),
        "{}",
        result.message
    );
    // The isolation caused it: without it, the same windows meet the SLO.
    let attributed = report.assert_attribution(BLAST_RADIUS, Attribution::FaultInduced);
    assert_eq!(attributed.drill_figure, Some(2.0), "{}", attributed.line());
    assert_eq!(
        attributed.baseline_figure,
        Some(0.0),
        "{}",
        attributed.line()
    );
    for region in OUTSIDE {
        report.assert_attribution(
            &format!("availability({region}, api)"),
            Attribution::FaultInduced,
        );
    }
    let isolation = fault_window(&report.history, 0);
    assert_eq!(
        isolation.regions.iter().collect::<Vec<_>>(),
        ["us-east"],
        "the fault is aimed at us-east only"
    );
    for region in OUTSIDE {
        assert!(
            result
                .message
                .contains(&format!("{region} during step 0 partition isolate=us-east")),
            "{}",
            result.message
        );
        let cell = during_isolation(result, region);
        assert_eq!(cell["judged"], 1, "{region}: {cell}");
        assert_eq!(cell["met_slo"], 0, "{region}: {cell}");
        // Requests that arrived during the isolation and queued are served
        // after the heal; the rest fail. Most of them: far below the SLO.
        let success = cell["success_rate"].as_f64().expect("a success rate");
        assert!(
            success < 0.75,
            "{region} served {success} during the isolation: {cell}"
        );

        // Why: the limiter in us-east did not answer and the region failed closed.
        let cut_off = ops(&report.history, "api", region, Some(&isolation));
        let fail_closed = cut_off
            .iter()
            .filter(|o| o.outcome == Outcome::Fail)
            .filter(|o| {
                o.detail.as_deref().is_some_and(|d| {
                    d.starts_with("503: rate limiter unavailable, request rejected (fail-closed)")
                })
            })
            .count();
        assert!(
            fail_closed >= 20,
            "{region}: {fail_closed} fail-closed 503s of {} requests:\n{}",
            cut_off.len(),
            report.summary
        );
        let counters = final_counters(&report, region);
        assert!(
            counters["rejected_unavailable"].as_u64() >= Some(fail_closed as u64),
            "{region}: {counters}"
        );
    }
    // The availability floors of the regions outside the fault fail as well.
    for region in OUTSIDE {
        report.assert_verdict(&format!("availability({region}, api)"), Verdict::Fail);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regional_fail_open_limiters_keep_the_isolation_inside_us_east() {
    let report = run_drill(compressed("regional"), report_dir("regional")).await;
    assert_final_reads_from(&report, "ratelimit", "regional");

    report.assert_pass();
    let result = report
        .result(BLAST_RADIUS)
        .expect("the scenario checks the blast radius");
    assert!(
        result
            .message
            .starts_with("2 region-windows outside a fault's reach met the SLO"),
        "{}",
        result.message
    );
    let isolation = fault_window(&report.history, 0);
    for region in OUTSIDE {
        let cell = during_isolation(result, region);
        assert_eq!(cell["met_slo"], 1, "{region}: {cell}");
        let cut_off = ops(&report.history, "api", region, Some(&isolation));
        assert!(
            cut_off.len() >= 100,
            "{region} got {} requests during the isolation",
            cut_off.len()
        );
        assert!(
            cut_off.iter().all(|o| o.outcome == Outcome::Ok),
            "{region}:\n{}",
            report.summary
        );
        // Served by its own limiter: nothing was rejected or waved through
        // for want of one.
        let counters = final_counters(&report, region);
        assert_eq!(counters["rejected_unavailable"], 0, "{region}: {counters}");
        assert!(
            counters["served"].as_u64() >= Some(cut_off.len() as u64),
            "{region}: {counters}"
        );
    }
}
