//! A Redis failover that loses acknowledged writes
//! (suites/scenarios/redis-failover.json): during a partition a
//! Sentinel-like client next to the replica promotes it; after the heal it
//! re-attaches the old primary as a replica of the new one, and Redis
//! discards whatever the old primary acknowledged in between. The drill must
//! catch it: `no_lost_writes` fails, and its evidence is exactly writes that
//! us-east acknowledged during the partition.

use std::path::PathBuf;

use faultline_harness::check::Verdict;
use faultline_harness::history::Outcome;
use faultline_suites::clients::rooted;
use faultline_suites::{fault_window, final_state, load, require_redis, run_drill};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promoting_the_replica_during_a_partition_loses_acknowledged_writes() {
    require_redis!();
    let report = run_drill(
        rooted(load("redis-failover")),
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("suites/redis-failover"),
    )
    .await;
    assert!(
        report.client_problems.is_empty(),
        "{:#?}",
        report.client_problems
    );

    // The failover happened as scripted: eu-west promoted, us-east re-attached.
    let ticks: Vec<String> = report
        .history
        .ops()
        .filter(|o| o.op == "failover" && o.outcome == Outcome::Ok)
        .filter_map(|o| o.detail.as_ref().map(|d| d.to_string()))
        .collect();
    assert!(
        ticks.iter().any(|t| t.contains("promoted the replica")),
        "{ticks:?}"
    );
    assert!(ticks.iter().any(|t| t.contains("re-attached")), "{ticks:?}");
    assert_eq!(final_state(&report, "redis", "eu-west")["role"], "master");
    assert_eq!(final_state(&report, "redis", "us-east")["role"], "slave");

    report.assert_verdict("no_lost_writes(put)", Verdict::Fail);
    // Both replicas agree: on a history without the lost writes.
    report.assert_verdict("convergence(redis within 10s)", Verdict::Pass);
    let lost = report.result("no_lost_writes(put)").expect("the invariant");
    assert!(!lost.evidence.is_empty());
    // Only us-east's acknowledged writes are lost (eu-west's came after the
    // promotion and survive), and the partition is when they were made.
    let partition = fault_window(&report.history, 0);
    let mut during_partition = 0;
    for evidence in &lost.evidence {
        let id = evidence["id"].as_u64().expect("an operation id");
        let write = report
            .history
            .ops()
            .find(|o| o.id == id)
            .expect("the write");
        assert_eq!(write.region, "us-east", "{evidence}");
        assert_eq!(write.outcome, Outcome::Ok, "{evidence}");
        if partition.covers(write.start_ns, 0) {
            during_partition += 1;
        }
    }
    assert!(
        during_partition > 0,
        "no lost write was made during the partition: {}",
        lost.message
    );
    eprintln!("{}", lost.message);
}
