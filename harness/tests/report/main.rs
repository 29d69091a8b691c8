//! The report folder of a fixed synthetic drill: a partition between us-east
//! and eu-west from 5s to 15s, ap-northeast outside its reach.

use std::fs;
use std::path::PathBuf;

use faultline_harness::check::{check_all, CheckResult, Invariant, InvariantConfig};
use faultline_harness::cli::{self, ExitCode};
use faultline_harness::history::{
    FaultAction, FaultRecord, History, LagRecord, OpRecord, Outcome, Record, RunRecord,
    HISTORY_VERSION,
};
use faultline_harness::report::browser::Browser;
use faultline_harness::report::html::report_html;
use faultline_harness::report::svg::{text_boxes, timeline_svg, WIDTH};
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
        placed_on: Default::default(),
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
        placements: Vec::new(),
        baseline: None,
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
        (&first.report_html, &second.report_html),
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
        &paths.report_html,
        &paths.junit_xml,
    ] {
        assert!(path.is_file(), "{}", path.display());
    }
    let (series, bands) = count_series_and_bands(&fs::read_to_string(&paths.timeline_svg).unwrap());
    assert_eq!((series.len(), bands), (3, 0));
    let report: Value = serde_json::from_slice(&fs::read(&paths.report_json).unwrap()).unwrap();
    assert_eq!(report["verdict"], "pass");
}

/// A 60-second synthetic drill with `steps` schedule steps side by side:
/// partitions, ramps (four jumps of latency and loss), flaps (three cycles)
/// and a nemesis that draws two different faults, with long labels, traffic
/// in three regions, a replication probe and an oversold stock.
fn many_steps(steps: u32) -> History {
    let mut history = drill();
    history.records.retain(|r| !matches!(r, Record::Fault(_)));
    let slot = 50 * SECOND / u64::from(steps);
    let change = |step: u32, action: FaultAction, what: Value, at: u64| {
        Record::Fault(FaultRecord {
            step,
            action,
            what,
            links: vec!["us-east->eu-west:kv".into()],
            regions: vec!["us-east".into(), "eu-west".into()],
            planned_ns: at,
            actual_ns: at,
            placed_on: Default::default(),
        })
    };
    let degrade = |latency: &str, loss: f64| {
        json!({"degrade": {"between": ["us-east", "eu-west"], "services": ["kv", "inventory"],
                           "latency": latency, "jitter": "10ms", "loss": loss}})
    };
    let cut = json!({"partition": [["us-east", "ap-northeast"], ["eu-west"]]});
    for step in 0..steps {
        let start = 2 * SECOND + slot * u64::from(step);
        let length = slot * 6 / 10;
        match step % 4 {
            0 => {
                history
                    .records
                    .push(change(step, FaultAction::Start, cut.clone(), start));
                history
                    .records
                    .push(change(step, FaultAction::End, cut.clone(), start + length));
            }
            1 => {
                let values = [
                    ("0ms", 0.0),
                    ("500ms", 0.16),
                    ("1s", 0.32),
                    ("1s 500ms", 0.48),
                ];
                for (jump, (latency, loss)) in values.iter().enumerate() {
                    let action = if jump == 0 {
                        FaultAction::Start
                    } else {
                        FaultAction::Update
                    };
                    let at = start + length * jump as u64 / 4;
                    history
                        .records
                        .push(change(step, action, degrade(latency, *loss), at));
                }
                history.records.push(change(
                    step,
                    FaultAction::End,
                    degrade("1s 500ms", 0.48),
                    start + length,
                ));
            }
            2 => {
                for cycle in 0..3 {
                    let at = start + length * cycle / 3;
                    history
                        .records
                        .push(change(step, FaultAction::Start, cut.clone(), at));
                    history.records.push(change(
                        step,
                        FaultAction::End,
                        cut.clone(),
                        at + length / 6,
                    ));
                }
            }
            _ => {
                let isolate = json!({"partition": {"isolate": "eu-west", "mode": "reject"}});
                let slow = degrade("750ms", 0.0);
                history
                    .records
                    .push(change(step, FaultAction::Start, isolate.clone(), start));
                history
                    .records
                    .push(change(step, FaultAction::End, isolate, start + length / 2));
                history.records.push(change(
                    step,
                    FaultAction::Start,
                    slow.clone(),
                    start + length / 2,
                ));
                history
                    .records
                    .push(change(step, FaultAction::End, slow, start + length));
            }
        }
    }
    history.records.sort_by_key(|r| match r {
        Record::Op(o) => o.start_ns,
        Record::Fault(f) => f.actual_ns,
        Record::Lag(l) => l.written_ns,
        Record::Run(_) => 0,
    });
    history
}

fn assert_no_text_overlaps(svg: &str, what: &str) {
    let boxes = text_boxes(svg);
    assert!(!boxes.is_empty(), "{what}: no text found");
    let width: f64 = svg
        .split_once(" width=\"")
        .and_then(|(_, rest)| rest.split('"').next())
        .and_then(|w| w.parse().ok())
        .unwrap_or(WIDTH);
    for (i, (a_text, a)) in boxes.iter().enumerate() {
        assert!(
            a.x0 >= 0.0 && a.x1 <= width,
            "{what}: {a_text:?} leaves the picture: {a:?}"
        );
        for (b_text, b) in &boxes[i + 1..] {
            assert!(
                !a.overlaps(b),
                "{what}: {a_text:?} {a:?} overlaps {b_text:?} {b:?}"
            );
        }
    }
}

#[test]
fn no_two_labels_of_the_timeline_overlap_with_1_5_or_40_steps() {
    for steps in [1, 5, 40] {
        let history = many_steps(steps);
        let results = results(&history);
        let svg = timeline_svg(&input(&history, &results));
        assert_no_text_overlaps(&svg, &format!("{steps} steps"));
        let lanes = svg.matches(r#"<g class="lane" "#).count();
        // Nemesis steps (every fourth, from the fourth) draw two faults: two lanes.
        let expected = steps as usize + steps as usize / 4;
        assert_eq!(lanes, expected, "{steps} steps");
        for step in 0..steps {
            assert!(
                svg.contains(&format!(
                    r#"<g class="lane" data-step="{step}" data-lane="0">"#
                )),
                "{steps} steps: no lane for step {step}"
            );
        }
    }
}

#[test]
fn the_overlap_rule_catches_labels_drawn_on_top_of_each_other() {
    // What the old timeline did: every step's label at the same top edge.
    let svg = r#"<svg><text x="300.0" y="52.0" font-size="11" text-anchor="start">step 0 ramp</text>
<text x="310.0" y="52.0" font-size="11" text-anchor="start">step 1 partition</text></svg>"#;
    let outcome = std::panic::catch_unwind(|| assert_no_text_overlaps(svg, "old layout"));
    assert!(outcome.is_err(), "two labels at one place must be caught");
}

#[test]
fn a_ramp_is_drawn_darker_as_it_grows_with_its_values_in_the_lane() {
    let history = many_steps(5);
    let results = results(&history);
    let svg = timeline_svg(&input(&history, &results));
    let lane = svg
        .split(r#"<g class="lane" data-step="1" data-lane="0">"#)
        .nth(1)
        .unwrap()
        .split(r#"<g class="lane" "#)
        .next()
        .unwrap();
    let opacities: Vec<f64> = lane
        .split(r#"class="fault-level""#)
        .skip(1)
        .map(|piece| {
            let value = piece.split(r#"fill-opacity=""#).nth(1).unwrap();
            value.split('"').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(opacities.len(), 4, "{lane}");
    assert!(opacities.windows(2).all(|w| w[0] < w[1]), "{opacities:?}");
    assert!(lane.contains(r#"class="intensity""#), "{lane}");
    assert!(lane.contains("latency=0s→1.5s loss=0%→48%"), "{lane}");
}

#[test]
fn first_violations_are_marked_with_the_invariant_name_and_time() {
    let (paths, _, _) = write_report("violations");
    let report: Value = serde_json::from_slice(&fs::read(&paths.report_json).unwrap()).unwrap();
    let marks = report["first_violations"].as_array().unwrap();
    let names: Vec<&str> = marks.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "no_oversell(order WIDGET-001)",
            "replication_lag(max 1s)",
            "availability(eu-west)"
        ]
    );
    // eu-west's first unsuccessful order completed at 9.1s (timed out after 2s).
    assert_eq!(marks[2]["at_ns"], 9 * SECOND + 100 * MS);
    // The marker that never arrived was written at 18s.
    assert_eq!(marks[1]["at_ns"], 18 * SECOND);
    let svg = fs::read_to_string(&paths.timeline_svg).unwrap();
    assert_eq!(svg.matches(r#"<g class="violation" "#).count(), 3);
    assert!(svg.contains("first violated T+00:09.100"), "{svg}");
    assert_eq!(svg.matches(r#"class="violation-line""#).count(), 3);
    assert_eq!(
        svg.matches(r#"<g class="lag" data-from="us-east" data-to="eu-west">"#)
            .count(),
        1
    );
    assert_eq!(svg.matches(r#"class="never-seen""#).count(), 1);
}

#[test]
fn timeline_svg_of_a_fixed_history() {
    let (paths, _, _) = write_report("svg-snapshot");
    let svg = fs::read_to_string(&paths.timeline_svg).unwrap();
    assert_no_text_overlaps(&svg, "fixed history");
    insta::assert_snapshot!("timeline_svg", svg);
}

#[test]
fn report_html_of_a_fixed_history() {
    let dir = scratch("html-snapshot");
    fs::create_dir_all(dir.join("logs")).unwrap();
    fs::write(dir.join("logs/kv-us-east.log"), b"listening\n").unwrap();
    let history = drill();
    let results = results(&history);
    let paths = report::write(&dir, &input(&history, &results)).unwrap();
    let html = fs::read_to_string(&paths.report_html).unwrap();
    assert_eq!(
        html,
        report_html(&input(&history, &results), &["logs/kv-us-east.log".into()])
    );
    assert_eq!(
        html.matches(r#"<tr class="verdict-row "#).count(),
        results.len()
    );
    assert!(
        html.contains(r#"<a href="history.jsonl">"#)
            && html.contains(r#"<a href="logs/kv-us-east.log">"#)
    );
    let outside_namespaces = html.replace("http://www.w3.org/2000/svg", "");
    assert!(
        !outside_namespaces.contains("http://")
            && !outside_namespaces.contains("https://")
            && !html.contains("<script"),
        "self-contained: no fetch, no script"
    );
    let verdicts = html.find(r#"id="verdicts""#).unwrap();
    let timeline = html.find(r#"id="timeline""#).unwrap();
    let slis = html.find(r#"id="slis""#).unwrap();
    let faults = html.find(r#"id="faults""#).unwrap();
    assert!(verdicts < timeline && timeline < slis && slis < faults);
    insta::assert_snapshot!("report_html", html);
}

#[test]
fn faultline_report_redraws_an_old_run_from_its_json_and_history() {
    let (paths, _, _) = write_report("redraw");
    let views = [
        &paths.summary_txt,
        &paths.timeline_svg,
        &paths.report_html,
        &paths.junit_xml,
    ];
    let before: Vec<Vec<u8>> = views.iter().map(|p| fs::read(p).unwrap()).collect();
    for view in views {
        fs::remove_file(view).unwrap();
    }
    let args = cli::report::ReportArgs {
        dir: paths.dir.clone(),
        png: false,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        cli::report::execute(&args, &mut out, &mut err),
        ExitCode::Pass,
        "{}",
        String::from_utf8_lossy(&err)
    );
    let after: Vec<Vec<u8>> = views.iter().map(|p| fs::read(p).unwrap()).collect();
    assert_eq!(before, after, "a redraw writes the same bytes");
    assert!(String::from_utf8_lossy(&out).contains("report.html"));
}

#[test]
fn faultline_report_refuses_a_folder_that_is_not_a_report() {
    let dir = scratch("not-a-report");
    fs::create_dir_all(&dir).unwrap();
    let run = |dir: &std::path::Path| {
        let args = cli::report::ReportArgs {
            dir: dir.to_path_buf(),
            png: false,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = cli::report::execute(&args, &mut out, &mut err);
        (code, String::from_utf8_lossy(&err).into_owned())
    };
    let (code, err) = run(&dir);
    assert_eq!(code, ExitCode::Usage);
    assert!(err.contains("report.json"), "{err}");

    let (paths, _, _) = write_report("old-version");
    let mut report: Value = serde_json::from_slice(&fs::read(&paths.report_json).unwrap()).unwrap();
    report["version"] = json!(99);
    fs::write(&paths.report_json, report.to_string()).unwrap();
    let (code, err) = run(&paths.dir);
    assert_eq!(code, ExitCode::Usage);
    assert!(err.contains("version: 99"), "{err}");

    let (paths, _, _) = write_report("bad-history");
    fs::write(&paths.history_jsonl, "{\"kind\": \"op\"}\n").unwrap();
    let (code, err) = run(&paths.dir);
    assert_eq!(code, ExitCode::Usage);
    assert!(
        err.contains("history.jsonl") && err.contains("line 1"),
        "{err}"
    );
}

/// The browser, or a loud message why the browser tests cannot run (and a
/// failure when `FAULTLINE_REQUIRE_BROWSER` is set, as `scripts/test` does).
fn browser(test: &str) -> Option<Browser> {
    match Browser::find() {
        Ok(browser) => Some(browser),
        Err(err) => {
            let message = format!(
                "\n!!!!!!!! {test}: CANNOT RUN: {err}\n!!!!!!!! report.html was NOT checked in a browser\n"
            );
            if std::env::var_os("FAULTLINE_REQUIRE_BROWSER").is_some() {
                panic!("{message}");
            }
            eprintln!("{message}");
            None
        }
    }
}

#[test]
fn report_html_loads_in_headless_chromium_without_console_errors() {
    let Some(browser) = browser("report_html_loads_in_headless_chromium_without_console_errors")
    else {
        return;
    };
    let (paths, _, results) = write_report("browser");
    let page = browser.load(&paths.report_html).unwrap();
    assert!(
        page.console.is_empty(),
        "console messages: {:#?}",
        page.console
    );
    assert_eq!(
        page.dom.matches(r#"<tr class="verdict-row "#).count(),
        results.len(),
        "one verdict row per invariant in the loaded page"
    );
    assert!(page
        .dom
        .contains(r#"<g class="region" data-region="ap-northeast">"#));
    let png = paths.dir.join("report.png");
    browser
        .screenshot(&paths.report_html, &png, 1150, 1400)
        .unwrap();
    let bytes = fs::read(&png).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "a PNG screenshot in the report folder"
    );
}

#[test]
fn the_browser_check_sees_a_page_that_logs_an_error() {
    let Some(browser) = browser("the_browser_check_sees_a_page_that_logs_an_error") else {
        return;
    };
    let dir = scratch("browser-control");
    fs::create_dir_all(&dir).unwrap();
    let page = dir.join("broken.html");
    fs::write(
        &page,
        "<!DOCTYPE html><html><head><title>x</title><link rel=\"icon\" href=\"data:,\"></head>\
         <body><script>console.error('broken on purpose');</script></body></html>",
    )
    .unwrap();
    let loaded = browser.load(&page).unwrap();
    assert!(
        loaded
            .console
            .iter()
            .any(|l| l.contains("broken on purpose")),
        "{:#?}",
        loaded.console
    );
    let missing = browser.load(&dir.join("missing.html"));
    assert!(
        missing
            .map(|p| !p.console.is_empty() || !p.dom.contains("verdict-row"))
            .unwrap_or(true),
        "a missing page never passes for a report"
    );
}

#[test]
fn faultline_sweep_runs_each_seed_into_its_folder_and_summarizes_the_verdicts() {
    let dir = scratch("sweep");
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_faultline"));
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/default.json");
    let output = std::process::Command::new(&binary)
        .args([
            "sweep",
            scenario.to_str().unwrap(),
            "--seeds",
            "3..4",
            "--time-scale",
            "0.25",
            "--report",
        ])
        .arg(&dir)
        .arg("--bin-dir")
        .arg(binary.parent().unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        matches!(output.status.code(), Some(0..=2)),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("faultline sweep: default-two-region-partition over 2 seeds"),
        "{stdout}"
    );
    for seed in [3, 4] {
        let sub = dir.join(format!("seed-{seed}"));
        for file in [
            "report.json",
            "history.jsonl",
            "timeline.svg",
            "report.html",
        ] {
            assert!(sub.join(file).is_file(), "{}", sub.join(file).display());
        }
        let report: Value =
            serde_json::from_slice(&fs::read(sub.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["seed"], seed);
    }
    let (text, _) = stdout.rsplit_once("sweep: ").unwrap();
    assert_eq!(fs::read_to_string(dir.join("sweep.txt")).unwrap(), text);
    let sweep: Value = serde_json::from_slice(&fs::read(dir.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(sweep["seeds"], json!([3, 4]));
    let invariants = sweep["invariants"].as_array().unwrap();
    assert_eq!(invariants.len(), 4, "the default drill's four invariants");
    for invariant in invariants {
        let total = ["caught", "passed", "unknown"]
            .iter()
            .map(|k| invariant[*k].as_u64().unwrap())
            .sum::<u64>();
        assert_eq!(total, 2, "{invariant}");
    }
    let svg = fs::read_to_string(dir.join("sweep.svg")).unwrap();
    assert_eq!(svg.matches(r#"<rect class="cell""#).count(), 2 * (4 + 1));
    assert_no_text_overlaps(&svg, "sweep.svg");
}

#[test]
fn faultline_sweep_refuses_bad_seeds_with_exit_64() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["sweep", "missing.json", "--seeds", "9..2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--seeds") && stderr.contains("empty"),
        "{stderr}"
    );
}

#[test]
fn sweep_summary_and_svg_of_fixed_runs() {
    use faultline_harness::report::sweep::{sweep_svg, sweep_text, SweepRun};
    let history = drill();
    let failing = results(&history);
    let mut passing = failing.clone();
    for result in &mut passing {
        result.verdict = faultline_harness::check::Verdict::Pass;
    }
    let runs: Vec<SweepRun> = (1..=4)
        .map(|seed| SweepRun {
            seed,
            dir: format!("seed-{seed}"),
            results: if seed % 2 == 0 {
                passing.clone()
            } else {
                failing.clone()
            },
            error: None,
            attribution: Vec::new(),
        })
        .chain(std::iter::once(SweepRun {
            seed: 5,
            dir: "seed-5".into(),
            results: Vec::new(),
            error: Some("starting service inventory in us-east: no such file".into()),
            attribution: Vec::new(),
        }))
        .collect();
    let text = sweep_text("split-brain-oversell", &runs);
    assert!(
        text.contains(
            "no_oversell(order WIDGET-001)                   2/5       2/5       1/5  yes"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "convergence(within 10s)                         0/5       4/5       1/5  no"
        ),
        "{text}"
    );
    assert!(
        text.contains("drill failed: starting service inventory"),
        "{text}"
    );
    insta::assert_snapshot!("sweep_txt", text);
    let svg = sweep_svg("split-brain-oversell", &runs);
    assert_no_text_overlaps(&svg, "sweep.svg");
    assert_eq!(
        svg.matches(r#"<rect class="cell""#).count(),
        5 * (failing.len() + 1)
    );
    insta::assert_snapshot!("sweep_svg", svg);
}
