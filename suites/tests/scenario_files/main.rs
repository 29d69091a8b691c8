//! Every scenario file CI runs (`suites/scenarios/*.json`) is valid, plans,
//! and starts fixtures with flags the `fixture` binary accepts.
//!
//! Nothing here binds a port or spawns a process: a file that cannot run is
//! caught before a chaos job spends minutes finding out.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Parser;
use faultline_harness::check::Invariant;
use faultline_harness::cli::plan::{self, PlanArgs};
use faultline_harness::cli::validate::{self, ValidateArgs};
use faultline_harness::cli::ExitCode;
use faultline_harness::history::FaultAction;
use faultline_harness::scenario::{Scenario, ScenarioConfig};
use faultline_suites::{scenario_files, scenarios_dir};

fn stem(path: &Path) -> String {
    path.file_stem()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

fn plan_of(path: &Path, seed: Option<u64>, time_scale: Option<f64>, json: bool) -> String {
    let args = PlanArgs {
        scenario: path.to_owned(),
        seed,
        time_scale,
        json,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = plan::execute(&args, &mut out, &mut err);
    assert_eq!(
        code,
        ExitCode::Pass,
        "faultline plan {}: {}",
        path.display(),
        String::from_utf8_lossy(&err)
    );
    String::from_utf8(out).expect("a plan is text")
}

/// `arg` with the runner's placeholders filled in as it would (any address
/// will do: nothing is bound).
fn render(arg: &str, region: &str, service: &str) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .map(|at| open + at)
            .unwrap_or_else(|| panic!("unclosed brace in {arg:?}"));
        let name = &rest[open + 1..close];
        out.push_str(match name {
            "listen" => "127.0.0.1:0",
            "host" => "127.0.0.1",
            "port" => "0",
            "region" => region,
            "service" => service,
            link if link.starts_with("link:") => "127.0.0.1:9",
            other => panic!("unknown placeholder {{{other}}} in {arg:?}"),
        });
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_scenario_file_validates_and_is_named_after_its_file() {
    let files = scenario_files();
    assert!(
        files.len() >= 6,
        "only {} scenario files in {}",
        files.len(),
        scenarios_dir().display()
    );
    for file in &files {
        let scenario = Scenario::load(file).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(
            scenario.name,
            stem(file),
            "{}: the name should be the file's",
            file.display()
        );
        assert!(
            !scenario.invariants.is_empty(),
            "{}: a drill without invariants proves nothing",
            file.display()
        );
        assert!(
            scenario
                .description
                .as_deref()
                .is_some_and(|d| !d.is_empty()),
            "{}: say what it replays",
            file.display()
        );
    }

    // As `faultline validate suites/scenarios/*.json` reports them.
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = validate::execute(
        &ValidateArgs {
            scenarios: files.clone(),
        },
        &mut out,
        &mut err,
    );
    assert_eq!(code, ExitCode::Pass, "{}", String::from_utf8_lossy(&err));
    let out = String::from_utf8(out).expect("text");
    let names: Vec<String> = out
        .lines()
        .map(|line| {
            line.split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        files.iter().map(|f| stem(f)).collect::<Vec<_>>(),
        "{out}"
    );
    assert!(out.lines().all(|line| line.starts_with("ok: ")), "{out}");
}

#[test]
fn every_scenario_file_plans_every_fault_with_its_heal() {
    for file in scenario_files() {
        let scenario = Scenario::load(&file).unwrap_or_else(|err| panic!("{err}"));
        let text = plan_of(&file, None, None, false);
        assert!(
            text.starts_with(&format!("plan: {} (seed {}", scenario.name, scenario.seed)),
            "{text}"
        );

        let timeline = scenario.timeline();
        assert!(
            !timeline.entries.is_empty(),
            "{}: nothing happens",
            file.display()
        );
        let mut open: BTreeMap<(u32, Option<u32>), i32> = BTreeMap::new();
        for entry in &timeline.entries {
            assert!(
                entry.at <= timeline.duration,
                "{}: step {} after the end",
                file.display(),
                entry.label()
            );
            assert!(
                !entry.changes.is_empty(),
                "{}: step {} touches no link",
                file.display(),
                entry.label()
            );
            let count = open.entry((entry.step, entry.instance)).or_default();
            match entry.action {
                FaultAction::Start => *count += 1,
                FaultAction::End => *count -= 1,
                FaultAction::Update => assert_eq!(
                    *count,
                    1,
                    "{}: step {} updates no active fault",
                    file.display(),
                    entry.label()
                ),
            }
            assert!(
                (0..=1).contains(count),
                "{}: step {} ends without its start",
                file.display(),
                entry.label()
            );
        }
        assert!(
            open.values().all(|count| *count == 0),
            "{}: a fault is never healed: {open:?}",
            file.display()
        );

        // The JSON plan, compressed as the suites run it, says the same.
        let json: serde_json::Value = serde_json::from_str(&plan_of(&file, None, Some(0.25), true))
            .expect("the JSON plan parses");
        assert_eq!(json["name"], scenario.name.as_str(), "{json}");
        assert_eq!(json["time_scale"], 0.25, "{json}");
        assert_eq!(
            json["timeline"].as_array().map(Vec::len),
            Some(timeline.entries.len()),
            "{json}"
        );
    }
}

/// `convergence` takes the final reads that completed within `within` of the
/// last heal, and the runner reads only once traffic has stopped at the end
/// of the drill: a file whose drill runs on past that deadline could only
/// ever be `unknown`.
#[test]
fn every_convergence_deadline_reaches_past_the_end_of_its_drill() {
    for file in scenario_files() {
        let scenario = Scenario::load(&file).unwrap_or_else(|err| panic!("{err}"));
        let timeline = scenario.timeline();
        let Some(last_heal) = timeline
            .entries
            .iter()
            .filter(|e| e.action == FaultAction::End)
            .map(|e| e.at)
            .max()
        else {
            continue;
        };
        // In-flight requests finish (or time out) before the final reads.
        let drain = scenario
            .workloads
            .iter()
            .map(|w| w.timeout)
            .max()
            .unwrap_or_default();
        let needed = timeline.duration - last_heal + drain;
        for invariant in &scenario.invariants {
            if let Invariant::Convergence(convergence) = invariant {
                assert!(
                    convergence.within() >= needed,
                    "{}: {} cannot be judged: the last heal is at {last_heal:?}, the final reads come after {:?} (+{drain:?} draining)",
                    file.display(),
                    convergence.name(),
                    timeline.duration
                );
            }
        }
    }
}

/// The known-bad drills and their known-good twins: (service, bad file, its
/// variant, good file, its variant). CI runs both; the bad one must fail.
const TWINS: [(&str, &str, &str, &str, &str); 3] = [
    (
        "inventory",
        "split-brain-oversell",
        "naive",
        "split-brain-guarded",
        "guarded",
    ),
    (
        "ratelimit",
        "global-ratelimit-cascade",
        "global",
        "global-ratelimit-regional",
        "regional",
    ),
    ("feed", "slow-region", "sync", "slow-region-local", "local"),
];

fn config_of(name: &str) -> ScenarioConfig {
    let path = scenarios_dir().join(format!("{name}.json"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    ScenarioConfig::parse(&text, Some(&path.display().to_string()))
        .unwrap_or_else(|err| panic!("{err}"))
}

/// The `--variant` of every spawned instance of `service`.
fn variants(config: &ScenarioConfig, service: &str) -> Vec<String> {
    config.services[service]
        .values()
        .filter_map(|instance| instance.command.as_ref())
        .map(|command| {
            let at = command
                .iter()
                .position(|arg| arg == "--variant")
                .expect("an explicit --variant");
            command[at + 1].clone()
        })
        .collect()
}

#[test]
fn every_known_good_twin_is_its_known_bad_drill_with_the_other_variant() {
    for (service, bad, bad_variant, good, good_variant) in TWINS {
        let (bad_config, mut good_config) = (config_of(bad), config_of(good));
        assert!(
            variants(&bad_config, service)
                .iter()
                .all(|v| v == bad_variant),
            "{bad}"
        );
        assert!(
            variants(&good_config, service)
                .iter()
                .all(|v| v == good_variant),
            "{good}"
        );
        good_config.name = bad_config.name.clone();
        good_config.description = bad_config.description.clone();
        for instance in good_config
            .services
            .get_mut(service)
            .expect("the service")
            .values_mut()
        {
            for arg in instance.command.iter_mut().flatten() {
                if arg == good_variant {
                    *arg = bad_variant.to_owned();
                }
            }
        }
        assert_eq!(
            good_config, bad_config,
            "{good}.json differs from {bad}.json in more than the variant"
        );
    }
}

#[test]
fn a_seed_replays_the_same_plan() {
    for file in scenario_files() {
        let once = plan_of(&file, Some(99), None, true);
        assert_eq!(
            once,
            plan_of(&file, Some(99), None, true),
            "{}",
            file.display()
        );
    }
}

#[test]
fn every_fixture_a_scenario_spawns_accepts_its_flags() {
    for file in scenario_files() {
        let scenario = Scenario::load(&file).unwrap_or_else(|err| panic!("{err}"));
        for (service, instances) in &scenario.config.services {
            for (region, instance) in instances {
                let Some(command) = &instance.command else {
                    continue;
                };
                if command.first().map(String::as_str) != Some("fixture") {
                    continue;
                }
                let argv: Vec<String> = command
                    .iter()
                    .map(|arg| render(arg, region, service))
                    .collect();
                let parsed =
                    faultline_fixtures::cli::Cli::try_parse_from(&argv).unwrap_or_else(|err| {
                        panic!("{}: {service} in {region}: {err}", file.display())
                    });
                parsed.into_launch().unwrap_or_else(|err| {
                    panic!("{}: {service} in {region}: {err}", file.display())
                });
            }
        }
    }
}
