//! Redis, a primary in us-east and a replica in eu-west replicating through
//! the link eu-west->us-east:redis, driven by a Python client with the
//! `redis` package (suites/scenarios/redis-replication.json).
//!
//! A partition stops replication: every marker written on the primary while
//! it lasts reaches the replica only after the heal. A degrade (latency and
//! loss) slows it. Replication recovers after both (`replication_lag`
//! outside the fault windows), the replicas agree (`convergence`) and every
//! acknowledged write is on the replica (`no_lost_writes`).

use std::path::PathBuf;

use faultline_harness::history::Outcome;
use faultline_suites::clients::rooted;
use faultline_suites::{fault_window, final_state, load, require_redis, run_drill};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_lags_under_a_partition_and_a_degrade_recovers_and_loses_nothing() {
    require_redis!();
    let report = run_drill(
        rooted(load("redis-replication")),
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("suites/redis-replication"),
    )
    .await;
    assert!(
        report.client_problems.is_empty(),
        "{:#?}",
        report.client_problems
    );
    report.assert_pass();

    // The drill talked to real Redis processes in their roles.
    assert_eq!(final_state(&report, "redis", "us-east")["role"], "master");
    assert_eq!(final_state(&report, "redis", "eu-west")["role"], "slave");
    let acknowledged = report
        .history
        .ops()
        .filter(|o| o.op == "put" && o.outcome == Outcome::Ok)
        .count();
    let replicated = final_state(&report, "redis", "eu-west")["data"]
        .as_object()
        .map_or(0, |data| data.len());
    assert!(
        acknowledged > 0 && replicated >= acknowledged,
        "{replicated} keys on the replica for {acknowledged} acknowledged writes"
    );

    // Lag grew: markers written during the partition waited for its heal.
    let partition = fault_window(&report.history, 0);
    let during: Vec<_> = report
        .history
        .lags()
        .filter(|lag| partition.covers(lag.written_ns, 0))
        .collect();
    assert!(
        !during.is_empty(),
        "no marker was written during the partition"
    );
    for lag in &during {
        let seen = lag
            .seen_ns
            .unwrap_or_else(|| panic!("marker {} never reached the replica", lag.marker));
        assert!(
            seen >= partition.end_ns,
            "marker {} crossed a partitioned link",
            lag.marker
        );
    }
    // And recovered: every marker written up to the end of the degrade
    // reached the replica, and so did markers written after it (the last
    // few may be cut off by the end of the drill).
    let degrade = fault_window(&report.history, 1);
    for lag in report
        .history
        .lags()
        .filter(|lag| lag.written_ns < degrade.end_ns)
    {
        assert!(
            lag.seen_ns.is_some(),
            "marker {} never reached the replica",
            lag.marker
        );
    }
    assert!(report
        .history
        .lags()
        .any(|lag| lag.written_ns > degrade.end_ns && lag.seen_ns.is_some()));
    let lag_result = report
        .result("replication_lag(max 3s)")
        .expect("the lag invariant");
    eprintln!("replication_lag figures: {}", lag_result.figures);
}
