//! Scenario files, validation errors, schedule expansion and the `plan` and
//! `validate` commands, end to end (no process, no socket).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use faultline_harness::cli::plan::{self, PlanArgs};
use faultline_harness::cli::validate::{self, ValidateArgs};
use faultline_harness::cli::ExitCode;
use faultline_harness::history::FaultAction;
use faultline_harness::scenario::{LinkConfig, Scenario, ScenarioConfig, ServiceConfig};
use faultline_harness::schedule::{
    Change, DegradeConfig, FlapConfig, Order, PartitionConfig, StepConfig, Timeline,
};
use faultline_proxies::{Direction, FaultKind};
use proptest::prelude::*;

const S: fn(u64) -> Duration = Duration::from_secs;

fn suites_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/scenarios")
}

/// Frozen copies of the example scenarios, so plan snapshots do not move
/// when the suites tune their scenario files.
fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenario/examples")
}

fn bad_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenario/bad")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

fn example(name: &str) -> Scenario {
    Scenario::load(examples_dir().join(name)).unwrap()
}

/// Three regions, `kv` everywhere, a link both ways between every pair.
fn mesh(regions: &[&str]) -> ScenarioConfig {
    let mut config = ScenarioConfig::new("mesh").regions(regions.iter().copied());
    for (port, region) in (7000..).zip(regions) {
        config = config.service(
            "kv",
            *region,
            ServiceConfig::address(format!("127.0.0.1:{port}")),
        );
    }
    config.link(LinkConfig::mesh("kv")).duration(S(60))
}

fn cut_links(timeline: &Timeline) -> BTreeSet<String> {
    timeline.entries[0]
        .changes
        .iter()
        .map(|c| format!("{} {}", c.link, c.change.direction()))
        .collect()
}

#[test]
fn every_example_scenario_validates() {
    let files = json_files(&suites_dir());
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "split-brain-oversell.json",
        "region-isolation.json",
        "slow-region.json",
        "global-ratelimit-cascade.json",
        "flapping-link.json",
        "random-nemesis.json",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "suites/scenarios lacks {expected}"
        );
    }
    for file in files {
        if let Err(error) = Scenario::load(&file) {
            panic!("{} does not validate:\n{error}", file.display());
        }
    }
}

/// Each bad file and the field path its error must name.
const BAD: &[(&str, &str)] = &[
    ("duplicate-region.json", "regions[2]"),
    ("duration-without-unit.json", "schedule[0].for"),
    ("flap-duty-out-of-range.json", "schedule[0].fault.flap.duty"),
    (
        "invariant-bad-value.json",
        "invariants[2].no_oversell.stock",
    ),
    ("link-to-itself.json", "links[0].to"),
    (
        "nemesis-faults-overlap.json",
        "schedule[0].fault.random.for",
    ),
    ("one-way-ring.json", "schedule[0].fault.partition.one_way"),
    (
        "partition-of-one-region.json",
        "schedule[0].fault.partition",
    ),
    (
        "placeholder-names-no-link.json",
        "services.inventory.us-east.command[7]",
    ),
    (
        "ramp-of-different-kinds.json",
        "schedule[0].fault.ramp.to.partition",
    ),
    ("seed-out-of-range.json", "seed"),
    ("step-after-duration.json", "schedule[1].at"),
    ("time-scale-out-of-range.json", "time_scale"),
    ("unknown-field.json", "links[0].latncy"),
    (
        "unknown-region-in-degrade.json",
        "schedule[0].fault.degrade.into",
    ),
    (
        "unknown-region-in-partition.json",
        "schedule[0].fault.partition[1][0]",
    ),
];

#[test]
fn every_bad_scenario_is_refused_naming_its_file_position_and_field() {
    let files = json_files(&bad_dir());
    assert!(files.len() >= 10, "at least ten bad scenarios");
    let expected: BTreeMap<&str, &str> = BAD.iter().copied().collect();
    let mut report = String::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let Some(path) = expected.get(name.as_str()) else {
            panic!("bad/{name} has no expected field path in BAD")
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let origin = format!("bad/{name}");
        let error = Scenario::parse(&text, Some(&origin))
            .expect_err(&name)
            .to_string();
        let problems: Vec<&str> = error.lines().collect();
        assert_eq!(
            problems.len(),
            1,
            "{name} should have exactly one problem:\n{error}"
        );
        let (location, rest) = problems[0].split_at(problems[0].find(": ").unwrap());
        let mut parts = location.split(':');
        assert_eq!(parts.next(), Some(origin.as_str()), "{error}");
        assert!(
            parts.all(|n| n.parse::<usize>().is_ok_and(|n| n > 0)),
            "no line:column in {error}"
        );
        assert!(
            rest.starts_with(&format!(": {path}: ")),
            "{name}: expected field {path}, got {error}"
        );
        report.push_str(&error);
        report.push('\n');
    }
    insta::assert_snapshot!("bad_scenarios", report);
}

#[test]
fn validate_prints_one_line_per_good_file_and_every_error_of_a_bad_one() {
    let args = ValidateArgs {
        scenarios: vec![examples_dir().join("split-brain-oversell.json")],
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(validate::execute(&args, &mut out, &mut err), ExitCode::Pass);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "ok: split-brain-oversell (2 regions, 2 links, 1 step)\n"
    );
    assert!(err.is_empty());

    let args = ValidateArgs {
        scenarios: vec![
            bad_dir().join("duplicate-region.json"),
            suites_dir().join("slow-region.json"),
        ],
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        validate::execute(&args, &mut out, &mut err),
        ExitCode::Usage
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "ok: slow-region (2 regions, 2 links, 1 step)\n"
    );
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.contains("duplicate-region.json:3:37: regions[2]: region \"us-east\" is listed twice"),
        "{err}"
    );
}

#[test]
fn validate_reports_all_the_problems_of_a_file_at_once() {
    let config = mesh(&["a", "b", "c"])
        .seed(u64::MAX)
        .step(StepConfig::at(S(90), PartitionConfig::isolate("d")))
        .step(StepConfig::at(S(5), PartitionConfig::isolate("z")));
    let error = config.validate().unwrap_err().to_string();
    assert_eq!(
        error,
        "seed: 18446744073709551615 is above the largest seed, 2^53 - 1 = 9007199254740991\n\
         schedule[0].at: 90s is not before the end of the drill (duration 60s)\n\
         schedule[1].fault.partition.isolate: unknown region \"z\" (regions: a, b, c)"
    );
}

fn plan_text(file: &str, seed: Option<u64>, time_scale: Option<f64>) -> (ExitCode, String, String) {
    let args = PlanArgs {
        scenario: examples_dir().join(file),
        seed,
        time_scale,
        json: false,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = plan::execute(&args, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn the_plan_of_the_split_brain_scenario_reads_well() {
    let (code, out, err) = plan_text("split-brain-oversell.json", None, None);
    assert_eq!(code, ExitCode::Pass, "{err}");
    insta::assert_snapshot!("plan_split_brain_oversell", out);
}

#[test]
fn the_plan_of_the_slow_region_ramp_reads_well() {
    let (code, out, err) = plan_text("slow-region.json", None, Some(0.5));
    assert_eq!(code, ExitCode::Pass, "{err}");
    insta::assert_snapshot!("plan_slow_region_half_time", out);
}

#[test]
fn the_plan_of_the_flapping_link_reads_well() {
    let (code, out, err) = plan_text("flapping-link.json", None, None);
    assert_eq!(code, ExitCode::Pass, "{err}");
    insta::assert_snapshot!("plan_flapping_link", out);
}

#[test]
fn plan_refuses_a_bad_file_or_flag_with_exit_64() {
    let args = PlanArgs {
        scenario: bad_dir().join("link-to-itself.json"),
        seed: None,
        time_scale: None,
        json: false,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(plan::execute(&args, &mut out, &mut err), ExitCode::Usage);
    assert!(out.is_empty());
    assert!(String::from_utf8(err)
        .unwrap()
        .contains("link-to-itself.json:11:31: links[0].to: "));

    let (code, out, err) = plan_text("split-brain-oversell.json", None, Some(0.0));
    assert_eq!(code, ExitCode::Usage);
    assert!(out.is_empty());
    assert_eq!(err, "time_scale: 0 must be within 0.001..=1000\n");

    let (code, _, err) = plan_text("split-brain-oversell.json", Some(u64::MAX), None);
    assert_eq!(code, ExitCode::Usage);
    assert!(err.starts_with("--seed: "), "{err}");

    let args = PlanArgs {
        scenario: bad_dir().join("missing.json"),
        seed: None,
        time_scale: None,
        json: false,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(plan::execute(&args, &mut out, &mut err), ExitCode::Usage);
    assert!(String::from_utf8(err)
        .unwrap()
        .contains("missing.json: cannot read the scenario"));
}

#[test]
fn the_json_plan_lists_every_change_with_its_fault() {
    let args = PlanArgs {
        scenario: examples_dir().join("split-brain-oversell.json"),
        seed: None,
        time_scale: None,
        json: true,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(plan::execute(&args, &mut out, &mut err), ExitCode::Pass);
    let plan: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(plan["seed"], 7);
    assert_eq!(
        plan["links"][0]["baseline"][0]["attributes"]["latency"],
        "40ms"
    );
    let start = &plan["timeline"][0];
    assert_eq!(start["action"], "start");
    assert_eq!(start["at_ns"], 5_000_000_000u64);
    assert_eq!(
        start["what"],
        serde_json::json!({"partition": [["us-east"], ["eu-west"]]})
    );
    assert_eq!(start["changes"].as_array().unwrap().len(), 4);
    assert_eq!(start["changes"][0]["fault"]["type"], "blackhole");
    assert_eq!(plan["timeline"][1]["changes"][0]["op"], "remove");
}

#[test]
fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
    let scenario = example("random-nemesis.json");
    assert_eq!(scenario.timeline(), scenario.timeline());
    assert_eq!(
        scenario.clone().with_seed(42).timeline(),
        example("random-nemesis.json").timeline()
    );
    let other = scenario.clone().with_seed(43).timeline();
    assert_ne!(other.entries, scenario.timeline().entries);
    let (_, first, _) = plan_text("random-nemesis.json", Some(1), None);
    let (_, again, _) = plan_text("random-nemesis.json", Some(1), None);
    let (_, second, _) = plan_text("random-nemesis.json", Some(2), None);
    assert_eq!(first, again);
    assert_ne!(first, second);
}

#[test]
fn a_ramp_starts_jumps_and_ends_at_the_expected_times_and_values() {
    let timeline = example("slow-region.json").timeline();
    let steps: Vec<(u64, FaultAction, Option<u64>)> = timeline
        .entries
        .iter()
        .map(|entry| {
            let latency = entry.changes.iter().find_map(|c| match &c.change {
                Change::Add(f) | Change::Update(f) => match f.kind {
                    FaultKind::Latency { latency, .. } => Some(latency.as_millis() as u64),
                    _ => None,
                },
                Change::Remove { .. } => None,
            });
            (entry.at.as_secs(), entry.action, latency)
        })
        .collect();
    let mut expected = vec![(10, FaultAction::Start, Some(0))];
    expected.extend((1..=10).map(|k| (10 + 3 * k, FaultAction::Update, Some(95 * k))));
    expected.push((50, FaultAction::End, None));
    assert_eq!(steps, expected);
    // Every update touches the same four faults: both streams of both links.
    for entry in &timeline.entries {
        assert_eq!(entry.changes.len(), 4);
    }
}

#[test]
fn a_flap_switches_on_and_off_at_duty_times_period() {
    let config = mesh(&["a", "b"]).step(
        StepConfig::at(
            S(10),
            FlapConfig::new(PartitionConfig::isolate("a").into(), S(10), 0.25),
        )
        .lasting(S(30)),
    );
    let timeline = config.validate().unwrap().timeline();
    let edges: Vec<(String, u64, FaultAction)> = timeline
        .entries
        .iter()
        .map(|e| (e.label(), e.at.as_millis() as u64, e.action))
        .collect();
    assert_eq!(
        edges,
        [
            ("0.0".into(), 10_000, FaultAction::Start),
            ("0.0".into(), 12_500, FaultAction::End),
            ("0.1".into(), 20_000, FaultAction::Start),
            ("0.1".into(), 22_500, FaultAction::End),
            ("0.2".into(), 30_000, FaultAction::Start),
            ("0.2".into(), 32_500, FaultAction::End),
        ]
    );
    assert_eq!(
        timeline.entries[2].changes[0].change.name(),
        "s0.1-partition-upstream"
    );
}

#[test]
fn isolating_one_of_three_regions_leaves_the_other_two_connected() {
    let timeline = example("region-isolation.json").timeline();
    let start = &timeline.entries[0];
    assert_eq!(start.action, FaultAction::Start);
    assert_eq!(start.regions, ["us-east"]);
    let links: BTreeSet<String> = start.links.iter().map(ToString::to_string).collect();
    assert_eq!(
        links,
        [
            "us-east->eu-west:kv",
            "eu-west->us-east:kv",
            "us-east->ap-northeast:kv",
            "ap-northeast->us-east:kv"
        ]
        .map(String::from)
        .into()
    );
    assert_eq!(start.changes.len(), 8, "both streams of four links");
    assert!(start.links.iter().all(|link| link.touches("us-east")));
}

#[test]
fn a_one_way_partition_cuts_only_the_streams_carrying_bytes_out_of_the_first_group() {
    let config = mesh(&["us-east", "eu-west", "ap-northeast"]).step(StepConfig::at(
        S(5),
        PartitionConfig::groups([vec!["us-east"], vec!["eu-west"]]).one_way(),
    ));
    let timeline = config.validate().unwrap().timeline();
    assert_eq!(
        cut_links(&timeline),
        [
            "us-east->eu-west:kv upstream",
            "eu-west->us-east:kv downstream"
        ]
        .map(String::from)
        .into()
    );
    // ap-northeast is in no group: untouched.
    assert!(timeline.entries[0]
        .links
        .iter()
        .all(|l| !l.touches("ap-northeast")));
}

#[test]
fn a_majorities_ring_on_five_regions_cuts_five_pairs_both_ways() {
    let config = mesh(&["a", "b", "c", "d", "e"])
        .step(StepConfig::at(S(5), PartitionConfig::majorities_ring(Order::Ordered)).lasting(S(5)));
    let timeline = config.validate().unwrap().timeline();
    let pairs: BTreeSet<(String, String)> = timeline.entries[0]
        .links
        .iter()
        .map(|l| {
            if l.from < l.to {
                (l.from.clone(), l.to.clone())
            } else {
                (l.to.clone(), l.from.clone())
            }
        })
        .collect();
    let expected: BTreeSet<(String, String)> =
        [("a", "c"), ("a", "d"), ("b", "d"), ("b", "e"), ("c", "e")]
            .map(|(x, y)| (x.to_owned(), y.to_owned()))
            .into();
    assert_eq!(pairs, expected);
    assert_eq!(
        timeline.entries[0].changes.len(),
        20,
        "two links per pair, two streams per link"
    );
}

#[test]
fn a_bridge_joins_two_halves_only_through_its_region() {
    let config =
        mesh(&["a", "b", "c", "d", "e"]).step(StepConfig::at(S(5), PartitionConfig::bridge("c")));
    let timeline = config.validate().unwrap().timeline();
    let start = &timeline.entries[0];
    assert!(
        start.links.iter().all(|l| !l.touches("c")),
        "the bridge keeps every link"
    );
    // The others, in order, split into [a, b] and [d, e]; only links across are cut.
    assert_eq!(start.links.len(), 8);
    assert!(start
        .links
        .iter()
        .all(|l| (l.from.as_str() < "c") != (l.to.as_str() < "c")));
    assert_eq!(start.regions, ["a", "b", "d", "e"]);
}

#[test]
fn time_scale_compresses_times_but_not_latencies() {
    let normal = example("slow-region.json");
    let fast = normal.clone().with_time_scale(0.1).unwrap();
    let (a, b) = (normal.timeline(), fast.timeline());
    assert_eq!(a.entries.len(), b.entries.len());
    assert_eq!(b.duration, S(6));
    for (slow, quick) in a.entries.iter().zip(&b.entries) {
        assert_eq!(quick.at, slow.at / 10);
        assert_eq!(
            quick.changes, slow.changes,
            "fault attributes must not scale"
        );
    }
    assert_eq!(fast.links[0].baseline, normal.links[0].baseline);
}

#[test]
fn degrading_a_region_picks_the_links_into_it_and_names_faults_per_attribute() {
    let config = mesh(&["us-east", "eu-west", "ap-northeast"]).step(
        StepConfig::at(
            S(5),
            DegradeConfig::into_region("eu-west")
                .latency(Duration::from_millis(300))
                .loss(0.1),
        )
        .lasting(S(10)),
    );
    let timeline = config.validate().unwrap().timeline();
    let start = &timeline.entries[0];
    let links: Vec<String> = start.links.iter().map(ToString::to_string).collect();
    assert_eq!(links, ["us-east->eu-west:kv", "ap-northeast->eu-west:kv"]);
    let names: BTreeSet<&str> = start.changes.iter().map(|c| c.change.name()).collect();
    assert_eq!(
        names,
        [
            "s0-degrade-latency-upstream",
            "s0-degrade-latency-downstream",
            "s0-degrade-loss-upstream",
            "s0-degrade-loss-downstream"
        ]
        .into()
    );
    assert_eq!(start.regions, ["eu-west"]);
}

/// Applies a timeline to per-link sets of fault names, as a proxy would:
/// adding an existing name or removing a missing one is an error.
fn replay(timeline: &Timeline) -> Result<(), String> {
    let mut installed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut previous = Duration::ZERO;
    for entry in &timeline.entries {
        if entry.at < previous {
            return Err(format!(
                "entry at {:?} comes after one at {previous:?}",
                entry.at
            ));
        }
        previous = entry.at;
        if entry.at > timeline.duration {
            return Err(format!(
                "entry at {:?} after the end {:?}",
                entry.at, timeline.duration
            ));
        }
        for change in &entry.changes {
            let names = installed.entry(change.link.to_string()).or_default();
            let name = change.change.name().to_owned();
            let ok = match &change.change {
                Change::Add(_) => names.insert(name.clone()),
                Change::Update(_) => names.contains(&name),
                Change::Remove { .. } => names.remove(&name),
            };
            if !ok {
                return Err(format!(
                    "{:?} of {name} on {} at {:?} does not fit",
                    change.change, change.link, entry.at
                ));
            }
        }
    }
    match installed.iter().find(|(_, names)| !names.is_empty()) {
        Some((link, names)) => Err(format!("{link} keeps {names:?} after the last entry")),
        None => Ok(()),
    }
}

#[test]
fn every_example_plan_ends_every_fault_it_starts_and_never_reuses_a_live_name() {
    for file in json_files(&suites_dir()) {
        let timeline = Scenario::load(&file).unwrap().timeline();
        assert!(
            !timeline.entries.is_empty(),
            "{} plans nothing",
            file.display()
        );
        let starts = timeline
            .entries
            .iter()
            .filter(|e| e.action == FaultAction::Start)
            .count();
        let ends = timeline
            .entries
            .iter()
            .filter(|e| e.action == FaultAction::End)
            .count();
        assert_eq!(starts, ends, "{}", file.display());
        if let Err(problem) = replay(&timeline) {
            panic!("{}: {problem}", file.display());
        }
    }
}

#[test]
fn overlapping_faults_on_one_link_stay_apart() {
    // flapping-link.json runs a flap and a loss on the same links at once.
    let timeline = example("flapping-link.json").timeline();
    let link = "us-east->eu-west:kv";
    let live: BTreeSet<&str> = timeline
        .entries
        .iter()
        .take_while(|e| e.action != FaultAction::End)
        .flat_map(|e| &e.changes)
        .filter(|c| c.link.to_string() == link)
        .map(|c| c.change.name())
        .collect();
    assert!(
        live.contains("s1-degrade-loss-upstream") && live.contains("s0.0-partition-upstream"),
        "{live:?}"
    );
    replay(&timeline).unwrap();
}

#[test]
fn history_records_carry_the_entry_as_planned() {
    let timeline = example("split-brain-oversell.json").timeline();
    let record = timeline.entries[1].record(Duration::from_millis(25_003));
    assert_eq!(record.action, FaultAction::End);
    assert_eq!(record.step, 0);
    assert_eq!(record.planned_ns, 25_000_000_000);
    assert_eq!(record.actual_ns, 25_003_000_000);
    assert_eq!(
        record.links,
        ["us-east->eu-west:inventory", "eu-west->us-east:inventory"]
    );
    assert_eq!(record.regions, ["us-east", "eu-west"]);
}

#[test]
fn a_blackhole_heals_as_configured_and_reject_resets() {
    let config = mesh(&["a", "b"])
        .step(StepConfig::at(S(1), PartitionConfig::isolate("a").reject()).lasting(S(1)))
        .step(
            StepConfig::at(
                S(5),
                PartitionConfig::isolate("b")
                    .on_heal(faultline_harness::schedule::OnHealConfig::DeliverNow),
            )
            .lasting(S(1)),
        );
    let timeline = config.validate().unwrap().timeline();
    let kind = |entry: usize| match &timeline.entries[entry].changes[0].change {
        Change::Add(fault) => fault.kind.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(kind(0), FaultKind::Reject);
    assert_eq!(
        kind(2),
        FaultKind::Blackhole {
            on_heal: faultline_proxies::OnHeal::DeliverNow
        }
    );
    assert_eq!(
        timeline.entries[0].changes[0].change.direction(),
        Direction::Upstream
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_seed_gives_a_well_formed_plan(seed in 0u64..(1 << 53)) {
        let scenario = example("random-nemesis.json").with_seed(seed);
        let timeline = scenario.timeline();
        prop_assert!(replay(&timeline).is_ok(), "{:?}", replay(&timeline));
        prop_assert_eq!(timeline.entries.len(), 10, "one start and one end per 20 s slot");
        for pair in timeline.entries.chunks(2) {
            let length = pair[1].at - pair[0].at;
            prop_assert!(length >= S(4) && length <= S(12), "{:?}", length);
        }
    }
}
