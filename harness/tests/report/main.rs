//! The report folder of a fixed synthetic drill: a partition between us-east
//! and eu-west from 5s to 15s, ap-northeast outside its reach.

use std::fs;
use std::path::PathBuf;

use faultline_harness::check::{check_all, CheckResult, Invariant, InvariantConfig};
use faultline_harness::history::{
    FaultAction, FaultRecord, History, LagRecord, OpRecord, Outcome, Record, RunRecord,
    HISTORY_VERSION,
};
use faultline_harness::report::{self, summary_text, ReportError, ReportInput, REPORT_VERSION};
use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{json, Value};

const SECOND: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
const REGIONS: [&str; 3] = ["us-east", "eu-west", "ap-northeast"];

fn fault(step: u32, action: FaultAction, planned_ns: u64, late_ns: u64) -> Record {
    Record::Fault(FaultRecord {
        step,
        action,
        what: json!({"partition": [["us-east"], ["eu-west"]]}),
        links: vec!["us-east->eu-west:kv".into(), "eu-west->us-east:kv".into()],
        regions: vec!["us-east".into(), "eu-west".into()],
        planned_ns,
        actual_ns: planned_ns + late_ns,
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
    latency_ns: u64,
    detail: Option<&str>,
) -> Record {
    Record::Op(OpRecord {
        id,
        client: format!("{name}-{region}-0").into(),
        region: region.into(),
        op: name.into(),
        key: Some(key.into()),
        value,
        start_ns,
        end_ns: start_ns + latency_ns,
        outcome,
        detail: detail.map(Into::into),
    })
}

/// One order per region per second for 20s; eu-west times out twice and is
/// refused once while cut off; us-east → eu-west markers every second, those
/// written during the partition seen after it, one at 18s never.
fn drill() -> History {
    let mut history = History::new(RunRecord {
        version: HISTORY_VERSION,
        name: "split-brain-oversell".into(),
        seed: 7,
        started_at: "2026-11-27T00:00:00Z".into(),
    });
    let mut records = vec![
        fault(0, FaultAction::Start, 5 * SECOND, 1_200_000),
        fault(0, FaultAction::End, 15 * SECOND, 800_000),
    ];
    let mut id = 0;
    for s in 0..20u64 {
        for (region, latency_ms) in [("us-east", 40), ("eu-west", 60), ("ap-northeast", 30)] {
            id += 1;
            let (outcome, latency, detail) = match (region, s) {
                ("eu-west", 7 | 8) => (Outcome::Unknown, 2 * SECOND, Some("timeout after 2s")),
                ("eu-west", 9) => (Outcome::Fail, 5 * MS, Some("503 Service Unavailable")),
                ("eu-west", 6..=14) => (Outcome::Ok, 450 * MS, Some("200")),
                _ => (Outcome::Ok, latency_ms * MS, Some("200")),
            };
            let start = s * SECOND + 100 * MS;
            records.push(op(
                id,
                region,
                "order",
                "WIDGET-001",
                json!(1),
                outcome,
                start,
                latency,
                detail,
            ));
        }
        let seen = match s {
            5..=14 => Some(15 * SECOND + 200 * MS),
            18 => None,
            _ => Some(s * SECOND + 80 * MS),
        };
        records.push(Record::Lag(LagRecord {
            marker: format!("m{s}"),
            from: "us-east".into(),
            to: "eu-west".into(),
            written_ns: s * SECOND,
            seen_ns: seen,
        }));
    }
    records.push(op(
        1_000,
        "us-east",
        "put",
        "a",
        json!(1),
        Outcome::Ok,
        1_500 * MS,
        10 * MS,
        None,
    ));
    for (n, region) in ["us-east", "eu-west"].into_iter().enumerate() {
        records.push(op(
            2_000 + n as u64,
            region,
            "final_read",
            "kv",
            json!({"digest": "5d41402abc4b", "data": {"a": 1}}),
            Outcome::Ok,
            21 * SECOND,
            5 * MS,
            None,
        ));
    }
    records.sort_by_key(|r| match r {
        Record::Op(o) => o.start_ns,
        Record::Fault(f) => f.actual_ns,
        Record::Lag(l) => l.written_ns,
        Record::Run(_) => 0,
    });
    history.records = records;
    history
}

fn results(history: &History) -> Vec<CheckResult> {
    let configs: Vec<InvariantConfig> = serde_json::from_value(json!([
        {"no_oversell": {"op": "order", "key": "WIDGET-001", "stock": 50}},
        {"replication_lag": {"max": "1s", "grace_after_heal": "1s"}},
        {"blast_radius": {"slo": {"success_rate": 0.9, "p99": "500ms"}}},
        {"convergence": {"within": "10s"}},
        {"no_lost_writes": {"op": "put"}},
        {"availability": {"region": "eu-west", "min": 0.9}},
    ]))
    .unwrap();
    let mut invariants: Vec<Invariant> = configs.iter().map(|c| c.validate().unwrap()).collect();
    invariants.push(Invariant::custom("orders reconciled", |_: &History| {
        CheckResult::unknown("", "no reconciliation records in the history")
    }));
    check_all(&invariants, history)
}

fn input<'a>(history: &'a History, results: &'a [CheckResult]) -> ReportInput<'a> {
    ReportInput {
        name: "split-brain-oversell".into(),
        seed: 7,
        scenario: json!({"name": "split-brain-oversell", "seed": 7, "regions": REGIONS}),
        regions: REGIONS.iter().map(|r| (*r).to_owned()).collect(),
        reproduce: "faultline drill suites/scenarios/split-brain-oversell.json --seed 7".into(),
        history,
        results,
    }
}

/// A fresh folder for one test under cargo's scratch space for integration tests.
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("report-tests")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn write_report(test: &str) -> (report::ReportPaths, History, Vec<CheckResult>) {
    let history = drill();
    let results = results(&history);
    let paths = report::write(&scratch(test), &input(&history, &results)).unwrap();
    (paths, history, results)
}

#[test]
fn summary_reads_like_an_incident_timeline() {
    let (paths, history, results) = write_report("summary");
    let text = fs::read_to_string(&paths.summary_txt).unwrap();
    assert_eq!(text, summary_text(&input(&history, &results)));
    insta::assert_snapshot!("summary_txt", text);
}

#[test]
fn junit_has_one_test_case_per_invariant_with_the_message_and_evidence() {
    let (paths, _, results) = write_report("junit");
    let xml = fs::read_to_string(&paths.junit_xml).unwrap();
    let mut reader = Reader::from_str(&xml);
    let (mut cases, mut failures, mut errors) = (0, 0, 0);
    loop {
        match reader.read_event().expect("junit.xml is well-formed XML") {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testcase" => cases += 1,
                b"failure" => failures += 1,
                b"error" => errors += 1,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(cases, results.len());
    assert_eq!((failures, errors), (3, 1));
    insta::assert_snapshot!("junit_xml", xml);
}

#[test]
fn timeline_svg_has_one_series_per_region_and_one_band_per_fault_window() {
    let (paths, _, _) = write_report("svg");
    let svg = fs::read_to_string(&paths.timeline_svg).unwrap();
    let (series, bands) = count_series_and_bands(&svg);
    assert_eq!(
        series,
        REGIONS.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>()
    );
    assert_eq!(bands, 1);
}

#[test]
fn a_flapping_fault_shades_one_band_per_flap() {
    let mut history = drill();
    history.records.retain(|r| !matches!(r, Record::Fault(_)));
    for (action, at) in [
        (FaultAction::Start, 2),
        (FaultAction::End, 4),
        (FaultAction::Start, 8),
        (FaultAction::End, 10),
        (FaultAction::Start, 16),
    ] {
        history.records.push(fault(1, action, at * SECOND, 0));
    }
    let results = results(&history);
    let paths = report::write(&scratch("flap"), &input(&history, &results)).unwrap();
    let (series, bands) = count_series_and_bands(&fs::read_to_string(paths.timeline_svg).unwrap());
    assert_eq!(series.len(), 3);
    assert_eq!(bands, 3, "two healed flaps and one still open at the end");
}

fn count_series_and_bands(svg: &str) -> (Vec<String>, usize) {
    let mut reader = Reader::from_str(svg);
    let mut series = Vec::new();
    let mut bands = 0;
    let mut root = None;
    loop {
        match reader
            .read_event()
            .expect("timeline.svg is well-formed XML")
        {
            Event::Start(e) | Event::Empty(e) => {
                root.get_or_insert_with(|| e.name().as_ref().to_vec());
                let class = e
                    .try_get_attribute("class")
                    .unwrap()
                    .map(|a| a.unescape_value().unwrap().into_owned());
                match (e.name().as_ref(), class.as_deref()) {
                    (b"g", Some("series")) => {
                        let region = e.try_get_attribute("data-region").unwrap().unwrap();
                        series.push(region.unescape_value().unwrap().into_owned());
                    }
                    (b"rect", Some("fault-window")) => bands += 1,
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(root.as_deref(), Some(&b"svg"[..]));
    (series, bands)
}

#[test]
fn report_json_round_trips_with_the_expected_fields() {
    let (paths, history, results) = write_report("json");
    let text = fs::read_to_string(&paths.report_json).unwrap();
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["version"], REPORT_VERSION);
    assert_eq!(report["name"], "split-brain-oversell");
    assert_eq!(report["seed"], 7);
    assert_eq!(report["started_at"], "2026-11-27T00:00:00Z");
    assert_eq!(report["regions"], json!(REGIONS));
    assert_eq!(report["scenario"]["seed"], 7);
    assert_eq!(
        report["reproduce"],
        "faultline drill suites/scenarios/split-brain-oversell.json --seed 7"
    );
    assert_eq!(report["verdict"], "fail");

    let timeline = report["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[0]["action"], "start");
    assert_eq!(timeline[0]["planned_ns"], 5 * SECOND);
    assert_eq!(timeline[0]["actual_ns"], 5 * SECOND + 1_200_000);
    assert_eq!(timeline[0]["error_ns"], 1_200_000);
    assert_eq!(
        timeline[0]["description"],
        "partition [us-east] | [eu-west]"
    );

    let windows = report["windows"].as_array().unwrap();
    let kinds: Vec<&str> = windows
        .iter()
        .map(|w| w["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["before_faults", "fault", "after_heal"]);
    let during = &windows[1]["slis"]["eu-west"];
    assert_eq!(
        (
            during["count"].as_u64(),
            during["errors"].as_u64(),
            during["unknowns"].as_u64()
        ),
        (Some(10), Some(1), Some(2))
    );
    assert_eq!(during["success_rate"], 0.7);
    assert!(windows[1]["slis"]["ap-northeast"]["p99_ms"].is_number());
    assert_eq!(windows[1]["reaches"], json!(["eu-west", "us-east"]));

    let events = report["events"].as_array().unwrap();
    assert!(events
        .iter()
        .any(|e| e["kind"] == "first_unknown" && e["region"] == "eu-west"));
    assert!(events
        .iter()
        .any(|e| e["kind"] == "recovered" && e["region"] == "eu-west"));

    let verdicts: Vec<CheckResult> = serde_json::from_value(report["verdicts"].clone()).unwrap();
    assert_eq!(verdicts, results);

    let reread = History::read_jsonl(fs::read(&paths.history_jsonl).unwrap().as_slice()).unwrap();
    assert_eq!(reread, history);
}

#[test]
fn the_same_input_writes_the_same_bytes() {
    let (first, _, _) = write_report("same-bytes-1");
    let (second, _, _) = write_report("same-bytes-2");
    for (a, b) in [
        (&first.report_json, &second.report_json),
        (&first.summary_txt, &second.summary_txt),
        (&first.timeline_svg, &second.timeline_svg),
        (&first.junit_xml, &second.junit_xml),
        (&first.history_jsonl, &second.history_jsonl),
    ] {
        assert_eq!(
            fs::read(a).unwrap(),
            fs::read(b).unwrap(),
            "{}",
            a.display()
        );
    }
}

#[test]
fn a_folder_that_cannot_be_created_is_an_error_naming_it() {
    let dir = scratch("blocked");
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("not-a-folder");
    fs::write(&file, b"").unwrap();
    let history = drill();
    let err = report::write(&file.join("report"), &input(&history, &[])).unwrap_err();
    assert!(matches!(err, ReportError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("not-a-folder"), "{err}");
}

#[test]
fn an_empty_history_still_writes_every_file() {
    let history = History::new(RunRecord {
        version: HISTORY_VERSION,
        name: "empty".into(),
        seed: 1,
        started_at: "2026-11-27T00:00:00Z".into(),
    });
    let paths = report::write(&scratch("empty"), &input(&history, &[])).unwrap();
    for path in [
        &paths.report_json,
        &paths.history_jsonl,
        &paths.summary_txt,
        &paths.timeline_svg,
        &paths.junit_xml,
    ] {
        assert!(path.is_file(), "{}", path.display());
    }
    let (series, bands) = count_series_and_bands(&fs::read_to_string(&paths.timeline_svg).unwrap());
    assert_eq!((series.len(), bands), (3, 0));
    let report: Value = serde_json::from_slice(&fs::read(&paths.report_json).unwrap()).unwrap();
    assert_eq!(report["verdict"], "pass");
}
