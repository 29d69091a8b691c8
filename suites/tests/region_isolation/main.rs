//! Part 5, Scenario 1 on a replicated key-value store: us-east is isolated
//! from eu-west and ap-northeast while writes keep landing in every region.
//!
//! During the isolation a cart is written in us-east and in eu-west at the
//! same moment (two users, one key, neither region able to see the other's
//! write). `merge` keeps both; `lww` keeps one everywhere and the other
//! acknowledged write is gone: `no_lost_writes` must fail for it, even though
//! its replicas converge. For `merge`, replication catches up after the heal,
//! markers outside the fault meet the lag bound, and nothing is lost.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use faultline_harness::check::no_lost_writes::NoLostWritesConfig;
use faultline_harness::check::{Invariant, InvariantConfig, Verdict};
use faultline_harness::history::{FaultAction, OpRecord, Outcome};
use faultline_harness::runner::{Drill, DrillReport};
use faultline_harness::scenario::Scenario;
use faultline_harness::workload::client::HttpClient;
use faultline_harness::workload::custom::{CustomWorkload, WorkloadContext};
use faultline_harness::workload::Recorder;
use faultline_suites::{
    assert_final_reads_from, edit, fault_window, final_state, load, run, with_variant,
};
use serde_json::{json, Value};

const CART: &str = "cart";
const NO_LOST_CARTS: &str = "no_lost_writes(cart)";
const REPLICATION_LAG: &str = "replication_lag(max 2s)";
const CONVERGENCE: &str = "convergence(kv within 30s)";
const BLAST_RADIUS: &str = "blast_radius(success_rate 0.99)";
/// The regions that write each cart at once: the isolated one and one of the others.
const WRITERS: [&str; 2] = ["us-east", "eu-west"];

fn report_dir(variant: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("suites/region-isolation")
        .join(variant)
}

/// The scenario file four times faster (us-east isolated from 2.5 s to 10 s
/// of a 15 s drill), running `variant`. The lag bound's grace after the heal
/// is real time: its 15 s would excuse every marker to the end of the
/// compressed drill, so markers written from 3 s after the heal are judged.
/// The regions outside the isolation are judged on their success rate only:
/// a busy test machine can stall any request past the file's 500 ms p99.
fn compressed(variant: &str) -> Scenario {
    let scenario = load("region-isolation")
        .with_time_scale(0.25)
        .expect("a valid time scale");
    let scenario = edit(scenario, |config| {
        for invariant in &mut config.invariants {
            match invariant {
                InvariantConfig::ReplicationLag(lag) => {
                    lag.grace_after_heal = Duration::from_secs(3)
                }
                InvariantConfig::BlastRadius(blast) => blast.slo.p99 = None,
                _ => {}
            }
        }
    });
    with_variant(scenario, "kv", variant)
}

/// When the isolation starts and ends, after the drill starts, as planned.
fn isolation_plan(scenario: &Scenario) -> (Duration, Duration) {
    let timeline = scenario.timeline();
    let at = |action: FaultAction| {
        timeline
            .entries
            .iter()
            .find(|entry| entry.step == 0 && entry.action == action)
            .map(|entry| entry.at)
            .expect("step 0 starts and ends")
    };
    (at(FaultAction::Start), at(FaultAction::End))
}

/// Writes `value` to `key` in `region` and records it as a `cart` operation
/// invoked at `invoked_ns`.
async fn put(
    client: &HttpClient,
    recorder: &Recorder,
    address: &str,
    region: &str,
    key: &str,
    value: Value,
    invoked_ns: u64,
) {
    let reply = client
        .send(
            address,
            "PUT",
            &format!("/kv/{key}"),
            Some(&value),
            &Default::default(),
            Duration::from_secs(2),
        )
        .await;
    recorder.op(OpRecord {
        id: recorder.next_id(),
        client: format!("{CART}-{region}").into(),
        region: region.into(),
        op: CART.into(),
        key: Some(key.into()),
        value,
        start_ns: invoked_ns,
        end_ns: recorder.now_ns(),
        outcome: reply.outcome(|status| (200..300).contains(&status)),
        detail: Some(reply.detail.into()),
    });
}

/// Every 100 ms while the isolation is planned (a margin inside at both
/// ends), cart `cart-N` is written in both [`WRITERS`] at once: both writes
/// are invoked before either is acknowledged, so they are concurrent.
fn concurrent_carts(isolation: (Duration, Duration)) -> CustomWorkload {
    let margin = Duration::from_millis(250);
    let (from, until) = (isolation.0 + margin, isolation.1 - margin);
    CustomWorkload::new(CART, move |ctx: WorkloadContext| async move {
        let addresses = WRITERS.map(|region| {
            ctx.address("kv", region)
                .expect("kv runs in both writers")
                .to_owned()
        });
        let client = HttpClient::new();
        let recorder: Arc<Recorder> = ctx.recorder.clone();
        let start = recorder.start();
        tokio::select! {
            () = ctx.stop.cancelled() => return,
            () = tokio::time::sleep_until(start + from) => {}
        }
        let mut every = tokio::time::interval(Duration::from_millis(100));
        for n in 1u64.. {
            tokio::select! {
                () = ctx.stop.cancelled() => break,
                _ = every.tick() => {}
            }
            if tokio::time::Instant::now() >= start + until {
                break;
            }
            let key = format!("{CART}-{n}");
            let invoked = recorder.now_ns();
            let write = |i: usize| {
                let value = json!(format!("{}-{n}", WRITERS[i]));
                put(
                    &client,
                    &recorder,
                    &addresses[i],
                    WRITERS[i],
                    &key,
                    value,
                    invoked,
                )
            };
            tokio::join!(write(0), write(1));
        }
    })
}

/// The drill: the scenario file plus the concurrent carts and `no_lost_writes` over them.
async fn drill(variant: &str) -> DrillReport {
    let scenario = compressed(variant);
    let carts = concurrent_carts(isolation_plan(&scenario));
    let no_lost_carts = NoLostWritesConfig {
        op: CART.into(),
        service: Some("kv".into()),
    }
    .validate()
    .expect("a valid invariant");
    let drill = Drill::new(scenario)
        .workload(carts)
        .invariant(Invariant::NoLostWrites(no_lost_carts));
    run(drill, report_dir(variant)).await
}

/// Cart writes, each checked to have been written during the isolation:
/// (acknowledged writes, carts, carts whose two writes were both acknowledged).
fn carts(report: &DrillReport) -> (usize, usize, usize) {
    let isolation = fault_window(&report.history, 0);
    let carts: Vec<&OpRecord> = report.history.ops().filter(|o| o.op == CART).collect();
    assert!(
        carts.iter().all(|o| isolation.covers(o.start_ns, 0)),
        "a cart was written outside the isolation"
    );
    let mut acknowledged_per_cart: BTreeMap<&str, usize> = BTreeMap::new();
    for cart in &carts {
        *acknowledged_per_cart
            .entry(cart.key.as_deref().unwrap_or_default())
            .or_default() += usize::from(cart.outcome == Outcome::Ok);
    }
    let both = acknowledged_per_cart.values().filter(|n| **n == 2).count();
    (
        acknowledged_per_cart.values().sum(),
        acknowledged_per_cart.len(),
        both,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_writer_wins_converges_but_loses_one_of_two_concurrent_writes() {
    let report = drill("lww").await;
    assert_final_reads_from(&report, "kv", "lww");
    let (acknowledged, written, both) = carts(&report);
    assert!(
        both >= 20,
        "{both} of {written} carts had both writes acknowledged:\n{}",
        report.summary
    );

    report.assert_verdict(NO_LOST_CARTS, Verdict::Fail);
    let result = report
        .result(NO_LOST_CARTS)
        .expect("the drill checks no_lost_writes");
    // One write of every cart whose two writes were acknowledged loses, in
    // every region (and at most one per cart).
    let lost = result.figures["lost"].as_u64().expect("lost is a number") as usize;
    assert!(
        (both..=written).contains(&lost),
        "{lost} lost of {acknowledged} acknowledged writes to {written} carts, {both} acknowledged twice: {}",
        result.message
    );
    assert!(
        result.message.starts_with(&format!(
            "{lost} of {acknowledged} acknowledged writes lost in ap-northeast, eu-west, us-east"
        )),
        "{}",
        result.message
    );
    for evidence in &result.evidence {
        assert_eq!(evidence["op"], CART, "{evidence}");
        assert_eq!(evidence["outcome"], "ok", "{evidence}");
    }

    // The replicas agree, on one value per cart: convergence alone does not
    // prove that nothing was lost.
    report.assert_verdict(CONVERGENCE, Verdict::Pass);
    for region in ["us-east", "eu-west", "ap-northeast"] {
        let state = final_state(&report, "kv", region);
        let kept = state["data"]
            .as_object()
            .expect("kv data")
            .iter()
            .filter(|(key, _)| key.starts_with("cart-"));
        assert!(
            kept.clone().all(|(_, value)| value.is_string()),
            "{region}: a cart holds more than one value"
        );
        assert_eq!(kept.count(), written, "{region} holds one value per cart");
        // The fixture knows it: it recorded every cart it dropped.
        let dropped = state["lost"].as_array().expect("lww lists lost writes");
        let dropped_carts = dropped
            .iter()
            .filter(|w| w["key"].as_str().is_some_and(|k| k.starts_with("cart-")))
            .count();
        assert!(
            dropped_carts >= lost,
            "{region} recorded {dropped_carts} lost carts of {lost}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_replicas_catch_up_after_the_isolation_and_keep_every_write() {
    let report = drill("merge").await;
    assert_final_reads_from(&report, "kv", "merge");
    let (acknowledged, written, both) = carts(&report);
    assert!(
        both >= 20,
        "{both} of {written} carts had both writes acknowledged:\n{}",
        report.summary
    );

    report.assert_pass();
    let result = report
        .result(NO_LOST_CARTS)
        .expect("the drill checks no_lost_writes");
    assert_eq!(result.figures["lost"], 0, "{}", result.message);
    assert_eq!(
        result.figures["acknowledged"], acknowledged,
        "{}",
        result.message
    );

    // Replication: the isolation delayed markers to and from us-east past the
    // bound (excused); markers outside it arrived in time.
    let lag = report
        .result(REPLICATION_LAG)
        .expect("the scenario checks replication lag");
    assert_eq!(lag.figures["violations"], 0, "{}", lag.message);
    let judged = lag.figures["judged"].as_u64().unwrap_or_default();
    // Six pairs of regions: the first round before the isolation, and the
    // rounds from 3 s after the heal to the end.
    assert!(
        judged >= 18,
        "only {judged} markers judged: {}",
        lag.message
    );
    let isolation = fault_window(&report.history, 0);
    let slowest_across = report
        .history
        .lags()
        .filter(|l| {
            isolation.covers(l.written_ns, 0) && (l.from == "us-east") != (l.to == "us-east")
        })
        .filter_map(|l| l.seen_ns.map(|seen| seen - l.written_ns))
        .max()
        .unwrap_or_default();
    assert!(
        slowest_across > 2_000_000_000,
        "no marker across the isolation was delayed: {}",
        lag.message
    );
    // After the heal, every marker arrived, bar those the end of the drill cut short.
    let last_written = report
        .history
        .lags()
        .map(|l| l.written_ns)
        .max()
        .unwrap_or_default();
    let unseen: Vec<_> = report
        .history
        .lags()
        .filter(|l| l.seen_ns.is_none() && l.written_ns + 2_000_000_000 < last_written)
        .collect();
    assert!(unseen.is_empty(), "markers never seen: {unseen:?}");

    // The regions outside the isolation kept their SLO; after the heal the
    // replicas agree, every cart holding both values.
    report.assert_verdict(BLAST_RADIUS, Verdict::Pass);
    report.assert_verdict(CONVERGENCE, Verdict::Pass);
    let conv = report
        .result(CONVERGENCE)
        .expect("the scenario checks convergence");
    assert_eq!(
        conv.figures["services"]["kv"]["distinct_digests"], 1,
        "{}",
        conv.figures
    );
    for region in ["us-east", "eu-west", "ap-northeast"] {
        let state = final_state(&report, "kv", region);
        let carts: Vec<&Value> = state["data"]
            .as_object()
            .expect("kv data")
            .iter()
            .filter(|(key, _)| key.starts_with("cart-"))
            .map(|(_, values)| values)
            .collect();
        assert_eq!(carts.len(), written, "{region} holds every cart");
        let both_kept = carts
            .iter()
            .filter(|values| values.as_array().map(Vec::len) == Some(2))
            .count();
        assert!(
            both_kept >= both,
            "{region} kept both values of {both_kept} carts, {both} had two acknowledged writes"
        );
        assert_eq!(state["lost_count"], 0, "{region}");
    }
}
