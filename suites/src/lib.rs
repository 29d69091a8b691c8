//! faultline-suites: the chapter's incidents replayed as cargo tests, and the
//! scenario files (`suites/scenarios/*.json`) that CI chaos jobs run.
//!
//! Each incident is one integration-test binary, `tests/<incident>/main.rs`,
//! that runs the known-bad variant of a fixture and the known-good one through
//! the same drill: the bad one must be caught with evidence, the good one must
//! pass. This crate root holds only what those binaries share:
//!
//! - scenarios: [`load`] a file of `suites/scenarios/` by name; switch a
//!   fixture's variant or flag ([`with_variant`], [`with_flag`]); change
//!   anything else in its config and validate again ([`edit`]).
//! - drills: [`run_drill`] / [`run`] a drill with its report under a folder
//!   of the test's choosing and the workspace's `fixture` binary found, or a
//!   failure that says how to build it. A drill whose spawned service could
//!   not bind the port the runner reserved for it did not test that service:
//!   it fails, naming the service's log line.
//! - reading a history: [`assert_final_reads_from`] (the drill reached the
//!   processes it spawned), [`final_state`] (a region's state at the end),
//!   [`fault_window`] (when a step's fault was active)
//!   and [`ops`] (operations of one workload in one region, optionally only
//!   those invoked during a window), for assertions on the evidence.
//! - client processes: [`clients`] (client paths made absolute, and whether
//!   the Redis suites' programs are installed).

use std::path::{Path, PathBuf};

pub mod clients;

use faultline_harness::check::{fault_windows, FaultWindow, FINAL_READ_OP};
use faultline_harness::history::{History, OpRecord, Outcome};
use faultline_harness::runner::{self, Drill, DrillReport};
use faultline_harness::scenario::{Scenario, ScenarioConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The folder of the scenario files.
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Every scenario file, sorted by name.
///
/// # Panics
/// If the folder cannot be read.
pub fn scenario_files() -> Vec<PathBuf> {
    let dir = scenarios_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// `suites/scenarios/{name}.json`, validated.
///
/// # Panics
/// If the file is missing or invalid (the message lists every problem with
/// its line, column and field).
pub fn load(name: &str) -> Scenario {
    let path = scenarios_dir().join(format!("{name}.json"));
    Scenario::load(&path).unwrap_or_else(|err| panic!("{err}"))
}

/// `scenario` with `change` made to its config, validated again. Overrides
/// already applied (seed, time scale) are part of the config and stay.
///
/// # Panics
/// If the changed scenario is invalid.
pub fn edit(scenario: Scenario, change: impl FnOnce(&mut ScenarioConfig)) -> Scenario {
    let mut config = scenario.config;
    change(&mut config);
    config
        .validate()
        .unwrap_or_else(|err| panic!("scenario {:?} after an edit: {err}", config.name))
}

/// Every spawned command of `service` runs its fixture with `--variant variant`.
///
/// # Panics
/// If `service` has no spawned command, or the result is invalid.
pub fn with_variant(scenario: Scenario, service: &str, variant: &str) -> Scenario {
    with_flag(scenario, service, "--variant", variant)
}

/// Every spawned command of `service` gets `flag value`: the value of a flag
/// already given is replaced, a missing one is appended.
///
/// # Panics
/// If `service` has no spawned command, or the result is invalid.
pub fn with_flag(scenario: Scenario, service: &str, flag: &str, value: &str) -> Scenario {
    edit(scenario, |config| {
        let instances = config
            .services
            .get_mut(service)
            .unwrap_or_else(|| panic!("no service {service:?} in scenario {:?}", config.name));
        let mut changed = 0;
        for instance in instances.values_mut() {
            let Some(command) = instance.command.as_mut() else {
                continue;
            };
            match command.iter().position(|arg| arg == flag) {
                Some(at) if at + 1 < command.len() => command[at + 1] = value.to_owned(),
                _ => command.extend([flag.to_owned(), value.to_owned()]),
            }
            changed += 1;
        }
        assert!(
            changed > 0,
            "service {service:?} has no spawned command to give {flag} {value}"
        );
    })
}

/// The `fixture` binary built with this workspace: next to the test binary's
/// folder (`target/<profile>/fixture`, tests living in `target/<profile>/deps`),
/// where the runner looks for it.
///
/// # Panics
/// If it is not there, saying how to build it.
pub fn fixture_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test binary");
    let mut dirs: Vec<PathBuf> = exe.parent().map(Path::to_path_buf).into_iter().collect();
    if let Some(up) = dirs
        .first()
        .filter(|dir| dir.ends_with("deps"))
        .and_then(|dir| dir.parent())
    {
        dirs.push(up.to_path_buf());
    }
    dirs.iter().map(|dir| dir.join("fixture")).find(|path| path.is_file()).unwrap_or_else(|| {
        panic!(
            "the `fixture` binary is not built (looked in {}): run `cargo build -p faultline-fixtures --bin fixture` \
             with the same CARGO_TARGET_DIR first (the project's test command builds every binary before testing)",
            dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    })
}

/// Runs `scenario` to its verdict, writing its report (and the spawned
/// services' logs) into `report_dir`.
///
/// # Panics
/// If the drill cannot run to a verdict (the fixture is not built, a service
/// does not come up, the report cannot be written), or a spawned service
/// could not bind the port it was given.
pub async fn run_drill(scenario: Scenario, report_dir: impl Into<PathBuf>) -> DrillReport {
    run(Drill::new(scenario), report_dir).await
}

/// Runs `drill` (a scenario plus custom workloads or invariants) to its
/// verdict, writing its report into `report_dir`.
///
/// # Panics
/// As [`run_drill`].
pub async fn run(mut drill: Drill, report_dir: impl Into<PathBuf>) -> DrillReport {
    let spawns_fixture = drill
        .scenario
        .config
        .services
        .values()
        .flat_map(|instances| instances.values())
        .any(|instance| {
            instance
                .command
                .as_ref()
                .and_then(|c| c.first())
                .is_some_and(|program| program == "fixture")
        });
    if spawns_fixture {
        let fixture = fixture_binary();
        drill
            .options
            .search
            .extend(fixture.parent().map(Path::to_path_buf));
    }
    let report_dir = report_dir.into();
    drill.options.report_dir = Some(report_dir.clone());
    if drill.options.reproduce.is_none() {
        // The scenario was changed in code (variant, time scale): the test,
        // not the file, reproduces it. Test binaries are named `{test}-{hash}`.
        let exe = std::env::current_exe().ok();
        let binary = exe
            .as_ref()
            .and_then(|exe| exe.file_stem())
            .map(|stem| stem.to_string_lossy().into_owned());
        if let Some(binary) = binary {
            let test = binary
                .rsplit_once('-')
                .map_or(binary.as_str(), |(test, _)| test);
            drill.options.reproduce = Some(format!("cargo test -p faultline-suites --test {test}"));
        }
    }
    let (name, seed) = (drill.scenario.name.clone(), drill.scenario.seed);
    // Logs left by an earlier run in this folder must not be read as this one's.
    let _ = std::fs::remove_dir_all(report_dir.join("logs"));
    let outcome = runner::run(drill, CancellationToken::new()).await;
    if let Some(stolen) = port_taken(&report_dir) {
        panic!(
            "drill {name:?} (seed {seed}) did not run its own services ({stolen}): a spawned service \
             could not bind the port the runner reserved for it; logs: {}",
            report_dir.join("logs").display()
        );
    }
    match outcome {
        Ok(report) => report,
        Err(err) => panic!(
            "drill {name:?} (seed {seed}) did not run to a verdict: {err}\nreport and logs: {}",
            report_dir.display()
        ),
    }
}

/// The first spawned service whose log says it could not bind the address
/// the runner gave it: the drill then talked to whatever took that port.
fn port_taken(report_dir: &Path) -> Option<String> {
    let logs = std::fs::read_dir(report_dir.join("logs")).ok()?;
    logs.filter_map(Result::ok).find_map(|entry| {
        let text = std::fs::read_to_string(entry.path()).ok()?;
        let line = text
            .lines()
            .find(|line| line.contains("Address already in use"))?;
        Some(format!("{}: {line}", entry.file_name().to_string_lossy()))
    })
}

/// Checks that every region's final read of `service` came from that
/// region's instance running `variant`: that the drill talked to the
/// processes it spawned. Call it before judging verdicts, so a drill that
/// reached some other instance (say, one that took a port the runner had
/// reserved and released) fails saying so rather than with a puzzling verdict.
///
/// # Panics
/// If a final read answered as another region, service or variant, or there
/// are none.
pub fn assert_final_reads_from(report: &DrillReport, service: &str, variant: &str) {
    let reads: Vec<&OpRecord> = report
        .history
        .ops()
        .filter(|o| {
            o.op == FINAL_READ_OP && o.key.as_deref() == Some(service) && o.outcome == Outcome::Ok
        })
        .collect();
    assert!(
        !reads.is_empty(),
        "no successful final read of {service} (report: {:?})",
        report.report_dir
    );
    for read in reads {
        let identity = (
            &read.value["region"],
            &read.value["service"],
            &read.value["variant"],
        );
        assert!(
            identity.0 == read.region.as_str() && identity.1 == service && identity.2 == variant,
            "the final read of {service} in {} answered as {} {} {} where {service} {variant} in {} was spawned: \
             the drill reached another process than its own (report: {:?})",
            read.region,
            identity.0,
            identity.1,
            identity.2,
            read.region,
            report.report_dir
        );
    }
}

/// The state `service` in `region` reported last (its latest successful
/// final read): the one the convergence and lost-write checkers judge.
///
/// # Panics
/// If there is none.
pub fn final_state<'a>(report: &'a DrillReport, service: &str, region: &str) -> &'a Value {
    report
        .history
        .ops()
        .filter(|o| {
            o.op == FINAL_READ_OP && o.key.as_deref() == Some(service) && o.region == region
        })
        .filter(|o| o.outcome == Outcome::Ok)
        .max_by_key(|o| (o.end_ns, o.id))
        .map(|o| &o.value)
        .unwrap_or_else(|| {
            panic!(
                "no successful final read of {service} in {region} (report: {:?})",
                report.report_dir
            )
        })
}

/// The window of schedule step `step` (its first, for a step that recurs).
///
/// # Panics
/// If the history has no fault of that step.
pub fn fault_window(history: &History, step: u32) -> FaultWindow {
    fault_windows(history)
        .into_iter()
        .find(|window| window.step == step)
        .unwrap_or_else(|| {
            panic!(
                "no fault of step {step} in the history of {:?}",
                history.run.name
            )
        })
}

/// Operations of workload `op` sent to `region`, in history order; with a
/// window, only those invoked while it was active.
pub fn ops<'a>(
    history: &'a History,
    op: &str,
    region: &str,
    during: Option<&FaultWindow>,
) -> Vec<&'a OpRecord> {
    history
        .ops()
        .filter(|o| o.op == op && o.region == region)
        .filter(|o| during.is_none_or(|window| window.covers(o.start_ns, 0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_with_log(name: &str, log: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("faultline-suites-{}-{name}", std::process::id()));
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        std::fs::write(dir.join("logs/kv-eu-west.log"), log).unwrap();
        dir
    }

    #[test]
    fn a_service_that_could_not_bind_its_port_is_noticed() {
        let dir = report_with_log(
            "taken",
            "fixture: cannot listen on 127.0.0.1:45697: Address already in use (os error 98)\n",
        );
        let found = port_taken(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            found.as_deref(),
            Some("kv-eu-west.log: fixture: cannot listen on 127.0.0.1:45697: Address already in use (os error 98)")
        );
    }

    #[test]
    fn a_service_that_bound_its_port_is_not() {
        let dir = report_with_log("bound", "listening on 127.0.0.1:45697\n");
        let found = port_taken(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found, None);
        assert_eq!(port_taken(&dir), None, "a report without logs");
    }
}
