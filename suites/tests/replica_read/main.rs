//! Part 3, reading from a replica: a register written in us-east, read from
//! eu-west's asynchronously replicated copy, with eu-west cut off for a while.
//!
//! Reading the replica returns values older than writes acknowledged before
//! the read began: `linearizable` must fail, naming a stale read (and the
//! history must confirm it is stale). Reading from us-east, where the writes
//! land, is linearizable and must pass.

use std::path::PathBuf;

use faultline_harness::check::Verdict;
use faultline_harness::history::Outcome;
use faultline_harness::scenario::Scenario;
use faultline_suites::{assert_final_reads_from, edit, load, ops, run_drill};

const LINEARIZABLE: &str = "linearizable(put/get register)";

fn report_dir(variant: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("suites/replica-read")
        .join(variant)
}

/// The scenario file, twice as fast, with its reads sent to `region`.
fn reading_from(region: &str) -> Scenario {
    let scenario = load("replica-read")
        .with_time_scale(0.5)
        .expect("a valid time scale");
    edit(scenario, |config| {
        let get = config
            .workload
            .iter_mut()
            .find(|w| w.name == "get")
            .expect("the scenario has a get workload");
        get.regions = Some(vec![region.to_owned()]);
    })
}

/// The sequence number of a value written as `us-east-{seq}`.
fn seq(value: &serde_json::Value) -> Option<u64> {
    value.as_str()?.strip_prefix("us-east-")?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_from_the_replica_are_caught_returning_stale_values() {
    let report = run_drill(reading_from("eu-west"), report_dir("replica")).await;
    assert_final_reads_from(&report, "kv", "lww");
    report.assert_verdict(LINEARIZABLE, Verdict::Fail);
    let result = report.result(LINEARIZABLE).expect("checked");
    let stale = &result.evidence[0];
    assert_eq!(stale["op"], "get", "{stale}");
    assert_eq!(stale["region"], "eu-west", "{stale}");
    assert_eq!(stale["outcome"], "ok", "{stale}");
    assert!(
        stale["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("register: not linearizable")),
        "{stale}"
    );

    // The history confirms it: a write acknowledged before the read began
    // is newer than what the read returned.
    let start = stale["start_ns"].as_u64().expect("start_ns");
    let read_seq = seq(&stale["value"]).unwrap_or(0);
    let puts = ops(&report.history, "put", "us-east", None);
    let newer = puts
        .iter()
        .find(|w| w.outcome == Outcome::Ok && w.end_ns < start && seq(&w.value) > Some(read_seq));
    assert!(
        newer.is_some(),
        "no acknowledged write newer than {} before the read began: {}",
        stale["value"],
        result.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_from_the_region_that_takes_the_writes_are_linearizable() {
    let report = run_drill(reading_from("us-east"), report_dir("primary")).await;
    assert_final_reads_from(&report, "kv", "lww");
    report.assert_verdict(LINEARIZABLE, Verdict::Pass);
    let result = report.result(LINEARIZABLE).expect("checked");
    let gets = ops(&report.history, "get", "us-east", None);
    assert!(
        gets.iter()
            .any(|g| g.outcome == Outcome::Ok && seq(&g.value).is_some()),
        "no read returned a written value: {}",
        result.message
    );
    assert!(
        result.figures["judged"].as_u64() > Some(20),
        "{}",
        result.figures
    );
}
