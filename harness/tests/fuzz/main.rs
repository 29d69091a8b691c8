//! Property tests over every input faultline parses: scenario files, API
//! bodies, and the history `faultline check` reads. Arbitrary and
//! mutated-valid inputs never panic (a panic fails the case) and never hang
//! (each parse is bounded by its input); every rejection names a field (or,
//! for a document that is not JSON at all, the line and column); and a
//! corrupted history never turns a failing verdict into `pass`.
//!
//! Each property runs `PROPTEST_CASES` cases (default [`DEFAULT_CASES`], to
//! keep `scripts/test` quick); `PROPTEST_CASES=20000 cargo test -p
//! faultline-harness --test fuzz` runs them longer (CONTRIBUTING.md).

use std::collections::BTreeMap;

use faultline_harness::api::leases::{LeaseConfig, Leases};
use faultline_harness::api::schedules::ScheduleConfig;
use faultline_harness::check::{self, Verdict};
use faultline_harness::cli::drill::DEFAULT_SCENARIO;
use faultline_harness::history::History;
use faultline_harness::scenario::{Scenario, ScenarioError};
use faultline_harness::wire::shapes::{PopulateConfig, ProxyConfig, ToxicConfig};
use faultline_harness::wire::{self as shapes};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 96;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        // Failure persistence writes files next to the sources; the seed is
        // printed on failure instead.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Arbitrary JSON, a few levels deep, with the strings and numbers that
/// trip parsers (empty, huge, negative, fractional, unicode).
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON has no NaN", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop_oneof![
            Just(String::new()),
            Just("10ms".to_owned()),
            Just("-1s".to_owned()),
            Just("latency".to_owned()),
            Just("us-east".to_owned()),
            Just("127.0.0.1:0".to_owned()),
            "\\PC{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A mutation of a JSON document: replace, remove or add one value somewhere.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(Vec<usize>, Value),
    Remove(Vec<usize>),
    Add(Vec<usize>, String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let path = prop::collection::vec(any::<usize>(), 0..6);
    prop_oneof![
        (path.clone(), arbitrary_json()).prop_map(|(p, v)| Mutation::Replace(p, v)),
        path.clone().prop_map(Mutation::Remove),
        (path, "[a-z_]{1,10}", arbitrary_json()).prop_map(|(p, k, v)| Mutation::Add(p, k, v)),
    ]
}

/// Applies `mutation` to `doc`, walking `path` (each index taken modulo the
/// container's size) until a leaf or the path's end.
fn mutate(doc: &mut Value, mutation: &Mutation) {
    let path = match mutation {
        Mutation::Replace(p, _) | Mutation::Remove(p) | Mutation::Add(p, _, _) => p,
    };
    let mut at = doc;
    for (depth, step) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        let len = match &*at {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        };
        if len == 0 {
            break;
        }
        let index = step % len;
        if last {
            match (mutation, &mut *at) {
                (Mutation::Remove(_), Value::Array(a)) => {
                    a.remove(index);
                    return;
                }
                (Mutation::Remove(_), Value::Object(o)) => {
                    let key = o.keys().nth(index).cloned().unwrap_or_default();
                    o.remove(&key);
                    return;
                }
                _ => {}
            }
        }
        at = match at {
            Value::Array(a) => &mut a[index],
            Value::Object(o) => {
                let key = o.keys().nth(index).cloned().unwrap_or_default();
                o.get_mut(&key).expect("the key exists")
            }
            _ => unreachable!("len > 0"),
        };
    }
    match mutation {
        Mutation::Replace(_, value) => *at = value.clone(),
        Mutation::Remove(_) => *at = Value::Null,
        Mutation::Add(_, key, value) => match at {
            Value::Object(o) => {
                o.insert(key.clone(), value.clone());
            }
            Value::Array(a) => a.push(value.clone()),
            other => *other = value.clone(),
        },
    }
}

/// Every problem of a rejected scenario names its field path, or for a
/// syntax error, its line and column.
fn assert_scenario_rejection_is_placed(err: &ScenarioError, text: &str) {
    let problems = err.problems();
    assert!(
        !problems.is_empty(),
        "a rejection without problems: {err}\n{text}"
    );
    for problem in problems {
        assert!(
            !problem.path.is_empty() || problem.position.is_some(),
            "a problem naming neither field nor place: {problem}\n{text}"
        );
        assert!(!problem.message.is_empty(), "an empty message\n{text}");
    }
}

/// A rejected API body names the field, or is a whole-document syntax error
/// saying where (line and column) or what the document lacks.
fn assert_api_rejection_names_a_field(err: &shapes::ShapeError, body: &str) {
    let text = err.to_string();
    let placed = err.field_name().is_some()
        || text.contains(" at line ")
        || text.contains("empty body")
        || text.contains("expected a JSON");
    assert!(placed, "a rejection naming no field: {text}\n{body}");
}

fn default_scenario() -> Value {
    serde_json::from_str(DEFAULT_SCENARIO).expect("the default scenario is JSON")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics_the_scenario_parser(text in "\\PC{0,200}") {
        if let Err(err) = Scenario::parse(&text, Some("fuzz.json")) {
            assert_scenario_rejection_is_placed(&err, &text);
        }
    }

    #[test]
    fn arbitrary_json_never_panics_the_scenario_parser(doc in arbitrary_json()) {
        let text = doc.to_string();
        if let Err(err) = Scenario::parse(&text, Some("fuzz.json")) {
            assert_scenario_rejection_is_placed(&err, &text);
        }
    }

    #[test]
    fn a_mutated_valid_scenario_is_parsed_or_rejected_naming_the_field(
        mutations in prop::collection::vec(mutation(), 1..4),
        pretty in any::<bool>(),
    ) {
        let mut doc = default_scenario();
        for m in &mutations {
            mutate(&mut doc, m);
        }
        let text = if pretty { serde_json::to_string_pretty(&doc).unwrap() } else { doc.to_string() };
        if let Err(err) = Scenario::parse(&text, Some("fuzz.json")) {
            assert_scenario_rejection_is_placed(&err, &text);
        }
    }

    #[test]
    fn truncated_scenario_files_are_rejected_with_a_place(cut in any::<prop::sample::Index>()) {
        let text = DEFAULT_SCENARIO;
        let at = cut.index(text.len());
        let Some(prefix) = text.get(..at) else { return Ok(()); };
        if let Err(err) = Scenario::parse(prefix, Some("fuzz.json")) {
            assert_scenario_rejection_is_placed(&err, prefix);
        }
    }

    #[test]
    fn api_bodies_never_panic_and_name_the_field(
        doc in arbitrary_json(),
        base in 0usize..5,
        mutations in prop::collection::vec(mutation(), 0..3),
        raw in "\\PC{0,80}",
        use_raw in any::<bool>(),
    ) {
        // Mutated valid bodies of each route, or arbitrary JSON, or arbitrary text.
        let valid = [
            json!({"name": "web", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9", "enabled": true,
                   "toxics": [{"type": "latency", "attributes": {"latency": 5, "jitter": 1}}]}),
            json!({"name": "lat", "type": "latency", "stream": "upstream", "toxicity": 0.5,
                   "attributes": {"latency": 100}}),
            json!([{"name": "a", "upstream": "127.0.0.1:9"}, {"name": "b", "upstream": "127.0.0.1:9",
                    "toxics": [{"type": "bandwidth", "attributes": {"rate": 10}}]}]),
            json!({"schedule": [{"at": "1s", "for": "2s", "fault": {"partition": [["east"], ["west"]]}}],
                   "seed": 3}),
            json!({"holder": "drill", "ttl": "10s"}),
        ];
        let mut value = if mutations.is_empty() { doc } else { valid[base].clone() };
        for m in &mutations {
            mutate(&mut value, m);
        }
        let body = if use_raw { raw } else { value.to_string() };
        let bytes = body.as_bytes();

        match shapes::decode_object::<ProxyConfig>(bytes) {
            Ok(proxy) => {
                if let Err(err) = proxy.clone().into_plan() {
                    assert_api_rejection_names_a_field(&err, &body);
                }
                if let Err(err) = proxy.into_update("web") {
                    assert_api_rejection_names_a_field(&err, &body);
                }
            }
            Err(err) => assert_api_rejection_names_a_field(&err, &body),
        }
        match shapes::decode_object::<ToxicConfig>(bytes) {
            Ok(toxic) => {
                let existing = shapes::decode_object::<ToxicConfig>(
                    br#"{"type": "latency", "attributes": {"latency": 10}}"#,
                )
                .unwrap()
                .into_fault()
                .unwrap();
                if let Err(err) = toxic.clone().update(&existing) {
                    assert_api_rejection_names_a_field(&err, &body);
                }
                if let Err(err) = toxic.into_fault() {
                    assert_api_rejection_names_a_field(&err, &body);
                }
            }
            Err(err) => assert_api_rejection_names_a_field(&err, &body),
        }
        match PopulateConfig::decode(bytes) {
            Ok(config) => {
                if let Err(err) = config.into_plans() {
                    assert_api_rejection_names_a_field(&err, &body);
                }
            }
            Err(err) => assert_api_rejection_names_a_field(&err, &body),
        }
        match shapes::decode_object::<LeaseConfig>(bytes) {
            Ok(lease) => {
                if let Err(err) = Leases::default().create(lease) {
                    prop_assert!(err.to_string().starts_with("ttl: "), "{}\n{}", err, body);
                }
            }
            Err(err) => assert_api_rejection_names_a_field(&err, &body),
        }
        match shapes::decode_object::<ScheduleConfig>(bytes) {
            Ok(schedule) => {
                if let Err(err) = schedule.validate(&BTreeMap::new()) {
                    // The detail starts with the field path: `schedule[0].at: …`.
                    let detail = err.to_string();
                    let field = detail.split(": ").next().unwrap_or_default();
                    prop_assert!(
                        !field.is_empty() && field != detail,
                        "a schedule rejection naming no field: {detail}\n{body}"
                    );
                }
            }
            Err(err) => assert_api_rejection_names_a_field(&err, &body),
        }
    }
}

/// A history whose `no_lost_writes` fails three times over (three
/// acknowledged writes missing from every region), so that no single
/// corruption can make it pass honestly.
fn failing_history() -> String {
    let mut lines = vec![
        json!({"kind": "run", "version": 1, "name": "fuzz", "seed": 1, "started_at": "2026-12-01T00:00:00Z"}),
    ];
    let lost = [3u64, 11, 17];
    let mut data = serde_json::Map::new();
    for i in 0..20u64 {
        let region = if i % 2 == 0 { "us-east" } else { "eu-west" };
        lines.push(json!({"kind": "op", "id": i, "client": format!("write-{region}"), "region": region,
                          "op": "write", "key": format!("k{i}"), "value": format!("v{i}"),
                          "start_ns": i * 1_000_000, "end_ns": i * 1_000_000 + 500_000, "outcome": "ok"}));
        if !lost.contains(&i) {
            data.insert(format!("k{i}"), json!(format!("v{i}")));
        }
    }
    for (n, region) in ["us-east", "eu-west"].iter().enumerate() {
        lines.push(
            json!({"kind": "op", "id": 100 + n as u64, "client": format!("final-{region}"),
                          "region": region, "op": "final_read", "key": "demo",
                          "value": {"digest": "d", "data": data},
                          "start_ns": 30_000_000, "end_ns": 31_000_000, "outcome": "ok"}),
        );
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// One corruption of a history file.
#[derive(Debug, Clone)]
enum Corruption {
    FlipByte(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
    Insert(prop::sample::Index, String),
    DeleteLine(prop::sample::Index),
    DuplicateLine(prop::sample::Index),
    SwapLines(prop::sample::Index, prop::sample::Index),
}

fn corruption() -> impl Strategy<Value = Corruption> {
    let index = any::<prop::sample::Index>;
    prop_oneof![
        (index(), any::<u8>()).prop_map(|(i, b)| Corruption::FlipByte(i, b)),
        index().prop_map(Corruption::Truncate),
        (index(), "\\PC{0,12}|\\n|\\{\\}|null|\"kind\":\"op\"")
            .prop_map(|(i, s)| Corruption::Insert(i, s)),
        index().prop_map(Corruption::DeleteLine),
        index().prop_map(Corruption::DuplicateLine),
        (index(), index()).prop_map(|(a, b)| Corruption::SwapLines(a, b)),
    ]
}

fn corrupt(text: &str, corruption: &Corruption) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    let mut lines: Vec<&str> = text.lines().collect();
    let join = |lines: &[&str]| {
        lines
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .into_bytes()
    };
    match corruption {
        Corruption::FlipByte(i, b) => {
            let at = i.index(bytes.len());
            bytes[at] = *b;
            bytes
        }
        Corruption::Truncate(i) => {
            bytes.truncate(i.index(bytes.len()));
            bytes
        }
        Corruption::Insert(i, s) => {
            let at = i.index(bytes.len() + 1);
            bytes.splice(at..at, s.bytes());
            bytes
        }
        Corruption::DeleteLine(i) => {
            lines.remove(i.index(lines.len()));
            join(&lines)
        }
        Corruption::DuplicateLine(i) => {
            let at = i.index(lines.len());
            lines.insert(at, lines[at]);
            join(&lines)
        }
        Corruption::SwapLines(a, b) => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
            join(&lines)
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic_the_history_reader(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = History::read_jsonl(&bytes[..]);
    }

    #[test]
    fn a_corrupted_history_never_turns_a_failing_verdict_into_pass(
        corruptions in prop::collection::vec(corruption(), 1..2),
    ) {
        let scenario = Scenario::parse(DEFAULT_SCENARIO, None).unwrap();
        let text = failing_history();
        let original = History::read_jsonl(text.as_bytes()).unwrap();
        let verdict = check::overall_verdict(&check::check_all(&scenario.invariants, &original));
        prop_assert_eq!(verdict, Verdict::Fail, "the unmutated history must fail");
        let mut bytes = text.into_bytes();
        for c in &corruptions {
            bytes = corrupt(&String::from_utf8_lossy(&bytes), c);
        }
        match History::read_jsonl(&bytes[..]) {
            // A rejected file: `faultline check` exits 64, no verdict.
            Err(err) => prop_assert!(err.to_string().starts_with("history line") || err.to_string().starts_with("reading history"), "{}", err),
            Ok(history) => {
                let results = check::check_all(&scenario.invariants, &history);
                let verdict = check::overall_verdict(&results);
                prop_assert_ne!(
                    verdict,
                    Verdict::Pass,
                    "a corrupted history passes: {:?}\n{}",
                    results,
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
    }
}
