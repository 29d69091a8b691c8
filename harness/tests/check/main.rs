//! The checkers through the public API: scenario JSON in, verdicts out, on
//! histories shaped like the chapter's incidents, and re-checked from JSON Lines
//! as `faultline check` does.

use std::time::Duration;

use faultline_harness::check::{
    check_all, overall_verdict, CheckResult, Invariant, InvariantConfig, Verdict,
};
use faultline_harness::history::{
    FaultAction, FaultRecord, History, LagRecord, OpRecord, Outcome, Record, RunRecord,
    HISTORY_VERSION,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const SECOND: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn header() -> History {
    History::new(RunRecord {
        version: HISTORY_VERSION,
        name: "split-brain-oversell".into(),
        seed: 7,
        started_at: "2026-11-27T00:00:00Z".into(),
    })
}

#[allow(clippy::too_many_arguments)]
fn op(
    id: u64,
    region: &str,
    name: &str,
    key: &str,
    value: Value,
    outcome: Outcome,
    start_ns: u64,
    end_ns: u64,
) -> Record {
    Record::Op(OpRecord {
        id,
        client: format!("{name}-{region}").into(),
        region: region.into(),
        op: name.into(),
        key: Some(key.into()),
        value,
        start_ns,
        end_ns,
        outcome,
        detail: None,
    })
}

fn partition(action: FaultAction, at_ns: u64) -> Record {
    Record::Fault(FaultRecord {
        step: 0,
        action,
        what: json!({"partition": [["us-east"], ["eu-west"]]}),
        links: vec![
            "us-east->eu-west:inventory".into(),
            "eu-west->us-east:inventory".into(),
        ],
        regions: vec!["us-east".into(), "eu-west".into()],
        planned_ns: at_ns,
        actual_ns: at_ns,
        placed_on: Default::default(),
    })
}

/// The chapter's Part 10 incident, compressed: a partition from 5s to 25s; the
/// `naive` inventory keeps selling in both regions, `guarded` refuses in the
/// region that cannot reach the owner (us-east).
fn inventory_drill(guarded: bool) -> History {
    let mut history = header();
    let mut id = 0;
    let mut records = vec![partition(FaultAction::Start, 5 * SECOND)];
    // 500 orders in us-east and 400 in eu-west, spread over 40s.
    for (region, count) in [("us-east", 500u64), ("eu-west", 400)] {
        for i in 0..count {
            id += 1;
            let start = i * 40 * SECOND / count;
            let cut_off = (5 * SECOND..25 * SECOND).contains(&start);
            let outcome = if guarded && cut_off && region == "eu-west" {
                Outcome::Fail
            } else {
                Outcome::Ok
            };
            records.push(op(
                id,
                region,
                "order",
                "WIDGET-001",
                json!(1),
                outcome,
                start,
                start + 40 * MS,
            ));
        }
    }
    // Replication markers every second from us-east to eu-west; those written
    // during the partition arrive after the heal.
    for s in 0..40u64 {
        let written = s * SECOND;
        let seen = if (5..25).contains(&s) {
            25 * SECOND + 300 * MS
        } else {
            written + 90 * MS
        };
        records.push(Record::Lag(LagRecord {
            marker: format!("m{s}"),
            from: "us-east".into(),
            to: "eu-west".into(),
            written_ns: written,
            seen_ns: Some(seen),
        }));
    }
    records.push(partition(FaultAction::End, 25 * SECOND));
    records.sort_by_key(|r| match r {
        Record::Op(o) => o.start_ns,
        Record::Fault(f) => f.actual_ns,
        Record::Lag(l) => l.written_ns,
        Record::Run(_) => 0,
    });
    history.records = records;
    history
}

fn invariants(json: Value) -> Vec<Invariant> {
    let configs: Vec<InvariantConfig> = serde_json::from_value(json).expect("valid invariants");
    configs
        .iter()
        .map(|c| c.validate().expect("valid values"))
        .collect()
}

/// The chapter's invariants: no oversell of `stock` units, lag within 1s outside faults.
fn chapter_invariants(stock: u64) -> Vec<Invariant> {
    invariants(json!([
        {"no_oversell": {"op": "order", "key": "WIDGET-001", "stock": stock}},
        {"replication_lag": {"max": "1s", "grace_after_heal": "2s"}},
    ]))
}

#[test]
fn the_naive_inventory_is_caught_overselling_with_evidence() {
    let results = check_all(&chapter_invariants(600), &inventory_drill(false));
    assert_eq!(results[0].verdict, Verdict::Fail);
    assert_eq!(
        results[0].message,
        "definitely oversold by 300 of 600: 900 acknowledged, 0 unknown"
    );
    assert!(!results[0].evidence.is_empty());
    assert_eq!(results[1].verdict, Verdict::Pass, "{}", results[1].message);
    assert_eq!(overall_verdict(&results), Verdict::Fail);
}

#[test]
fn the_guarded_inventory_passes_the_same_invariants() {
    let results = check_all(&chapter_invariants(700), &inventory_drill(true));
    assert!(
        results.iter().all(|r| r.verdict == Verdict::Pass),
        "{:#?}",
        results.iter().map(|r| &r.message).collect::<Vec<_>>()
    );
    assert_eq!(results[0].figures["failed_ops"], 200);
}

#[test]
fn a_recorded_history_gives_the_same_verdicts_when_checked_again() {
    let history = inventory_drill(false);
    let mut jsonl = Vec::new();
    history.write_jsonl(&mut jsonl).unwrap();
    let reread = History::read_jsonl(&jsonl[..]).unwrap();
    let checks = chapter_invariants(600);
    assert_eq!(check_all(&checks, &reread), check_all(&checks, &history));
}

#[test]
fn check_results_serialize_with_verdict_evidence_and_figures() {
    let results = check_all(&chapter_invariants(600), &inventory_drill(false));
    let value = serde_json::to_value(&results[0]).unwrap();
    assert_eq!(value["verdict"], "fail");
    assert_eq!(value["name"], "no_oversell(order WIDGET-001)");
    assert_eq!(value["figures"]["oversold_by"], 300);
    assert_eq!(
        value["evidence"][0]["note"],
        "acknowledged 601 of 600 in stock"
    );
    let back: CheckResult = serde_json::from_value(value).unwrap();
    assert_eq!(back, results[0]);
}

#[test]
fn bad_values_are_refused_naming_the_field() {
    let cases = [
        (
            json!({"no_oversell": {"op": "order", "key": "k", "stock": 0}}),
            "no_oversell: stock must be > 0",
        ),
        (
            json!({"blast_radius": {"slo": {"success_rate": 1.2}}}),
            "blast_radius: slo.success_rate must be within 0..=1",
        ),
        (
            json!({"availability": {"min": 2}}),
            "availability: min must be within 0..=1",
        ),
        (
            json!({"replication_lag": {"max": "0s"}}),
            "replication_lag: max must be > 0",
        ),
        (
            json!({"convergence": {"within": "0ms"}}),
            "convergence: within must be > 0",
        ),
        (
            json!({"no_lost_writes": {"op": " "}}),
            "no_lost_writes: op must be a non-empty name",
        ),
    ];
    for (json, expected) in cases {
        let config: InvariantConfig = serde_json::from_value(json).unwrap();
        assert_eq!(config.validate().unwrap_err().to_string(), expected);
    }
}

#[test]
fn defaults_fill_in_what_a_scenario_leaves_out() {
    let config: InvariantConfig =
        serde_json::from_value(json!({"replication_lag": {"max": "2s"}})).unwrap();
    let InvariantConfig::ReplicationLag(lag) = &config else {
        panic!("{config:?}")
    };
    assert_eq!(lag.grace_after_heal, Duration::ZERO);
    assert_eq!(lag.pairs, None);
    assert_eq!(
        serde_json::to_value(&config).unwrap(),
        json!({"replication_lag": {"max": "2s", "grace_after_heal": "0s"}})
    );
}

#[test]
fn a_custom_invariant_runs_beside_the_built_ins() {
    let mut checks = chapter_invariants(600);
    checks.push(Invariant::custom(
        "eu-west sells something",
        |history: &History| {
            let sold = history
                .ops()
                .filter(|o| o.region == "eu-west" && o.outcome == Outcome::Ok)
                .count();
            if sold > 0 {
                CheckResult::pass("", format!("{sold} sold"))
            } else {
                CheckResult::fail("", "nothing sold")
            }
        },
    ));
    let results = check_all(&checks, &inventory_drill(false));
    assert_eq!(results[2].name, "eu-west sells something");
    assert_eq!(results[2].verdict, Verdict::Pass);
}

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Pass),
        Just(Verdict::Fail),
        Just(Verdict::Unknown)
    ]
}

proptest! {
    #[test]
    fn combining_verdicts_is_order_free_and_fail_dominates(verdicts in proptest::collection::vec(verdict(), 0..8)) {
        let forward = verdicts.iter().fold(Verdict::Pass, |a, b| a.combine(*b));
        let backward = verdicts.iter().rev().fold(Verdict::Pass, |a, b| a.combine(*b));
        prop_assert_eq!(forward, backward);
        let expected = if verdicts.contains(&Verdict::Fail) {
            Verdict::Fail
        } else if verdicts.contains(&Verdict::Unknown) {
            Verdict::Unknown
        } else {
            Verdict::Pass
        };
        prop_assert_eq!(forward, expected);
    }

    #[test]
    fn oversell_verdicts_follow_the_arithmetic(
        ok in 0u64..40, unknown in 0u64..10, failed in 0u64..10, stock in 1u64..50,
    ) {
        let mut history = header();
        let outcomes = (0..ok).map(|_| Outcome::Ok)
            .chain((0..unknown).map(|_| Outcome::Unknown))
            .chain((0..failed).map(|_| Outcome::Fail));
        for (id, outcome) in outcomes.enumerate() {
            let id = id as u64;
            history.records.push(op(id, "us-east", "order", "k", json!(1), outcome, id, id + 1));
        }
        let checks = invariants(json!([{"no_oversell": {"op": "order", "key": "k", "stock": stock}}]));
        let result = &check_all(&checks, &history)[0];
        let expected = if ok + unknown + failed == 0 {
            Verdict::Unknown
        } else if ok > stock {
            Verdict::Fail
        } else if ok + unknown > stock {
            Verdict::Unknown
        } else {
            Verdict::Pass
        };
        prop_assert_eq!(result.verdict, expected, "{}", result.message);
    }
}
