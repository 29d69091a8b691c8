//! `faultline drill`: run a scenario (or the embedded default) to a verdict.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::progress::TerminalProgress;
use super::ExitCode;
use crate::check::attribution::BaselinePolicy;
use crate::check::Verdict;
use crate::runner::{self, Drill, DrillError, DrillOptions, DrillProgress};
use crate::scenario::Scenario;

/// The scenario `faultline drill` runs when given none.
pub const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/default.json");

/// Arguments of `faultline drill`.
#[derive(Debug, clap::Args)]
pub struct DrillArgs {
    /// The scenario file; without one, a built-in two-region drill runs.
    pub scenario: Option<PathBuf>,
    /// Overrides the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Compresses (< 1) or stretches (> 1) the schedule; latencies stay real.
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// The report folder (default: `reports/NAME-UTCTIME`, the scenario name and the start time).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Exit 0 rather than 2 when an invariant is unknown.
    #[arg(long)]
    pub allow_unknown: bool,
    /// Bearer token for remote agents (`faultline serve --token`); an
    /// `agents` entry with a `token_env` uses that variable's instead.
    #[arg(long, env = "FAULTLINE_TOKEN", hide_env_values = true)]
    pub agent_token: Option<String>,
    /// Folder to look for spawned programs in (repeatable), before PATH.
    #[arg(long = "bin-dir")]
    pub bin_dirs: Vec<PathBuf>,
    /// Where the run file goes (what the drill holds, for `faultline heal`);
    /// default `$XDG_STATE_HOME/faultline` (`~/.local/state/faultline`).
    #[arg(long, env = "FAULTLINE_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The TTL of the lease held on each agent (`10s`, `500ms`): if the
    /// drill dies, the agent heals its faults once this passes without a
    /// renewal (default: the agent's, 10 s).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lease_ttl: Option<std::time::Duration>,
    /// Also run the scenario without faults (same seed, workload and
    /// duration), after the drill, and attribute every verdict:
    /// fault-induced, fails without faults too, masked by the fault, holds
    /// (docs/baseline.md). A scenario's `"baseline": true` does the same.
    #[arg(long)]
    pub baseline: bool,
    /// Whether an invariant that fails without faults too fails the drill
    /// (exit code 1 and a junit failure): `fail` (the default: it is still a
    /// violation) or `pass` (only what the fault induced fails).
    #[arg(long, value_name = "fail|pass", value_parser = parse_policy, default_value = "fail")]
    pub baseline_failures: BaselinePolicy,
    /// Print no progress and no summary, only the verdict line.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `fail` or `pass`, the values of `--baseline-failures`.
pub(crate) fn parse_policy(text: &str) -> Result<BaselinePolicy, String> {
    match text {
        "fail" => Ok(BaselinePolicy::Fail),
        "pass" => Ok(BaselinePolicy::Pass),
        other => Err(format!("{other:?} is neither `fail` nor `pass`")),
    }
}

/// The exit code of a counted verdict.
pub(crate) fn exit_code(verdict: Verdict, allow_unknown: bool) -> ExitCode {
    match verdict {
        Verdict::Pass => ExitCode::Pass,
        Verdict::Fail => ExitCode::Fail,
        Verdict::Unknown if allow_unknown => ExitCode::Pass,
        Verdict::Unknown => ExitCode::Unknown,
    }
}

/// Runs `faultline drill`.
pub async fn run(args: DrillArgs, stop: CancellationToken) -> ExitCode {
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(crate::runfile::default_state_dir);
    let stale = crate::runfile::stale(&state_dir);
    if !stale.is_empty() {
        eprintln!(
            "faultline drill: {} earlier drill(s) died without cleaning up:",
            stale.len()
        );
        for (path, record) in &stale {
            eprintln!("  {}", super::heal::describe(path, record));
        }
        eprintln!(
            "  run `faultline heal{}` to stop what they left and remove their faults",
            args.state_dir
                .as_ref()
                .map(|d| format!(" --state-dir {}", d.display()))
                .unwrap_or_default()
        );
    }
    let loaded = match &args.scenario {
        Some(path) => Scenario::load(path),
        None => Scenario::parse(DEFAULT_SCENARIO, Some("<built-in default scenario>")),
    };
    let mut scenario = match loaded {
        Ok(scenario) => scenario,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::Usage;
        }
    };
    if let Some(seed) = args.seed {
        scenario = scenario.with_seed(seed);
    }
    if let Some(scale) = args.time_scale {
        scenario = match scenario.with_time_scale(scale) {
            Ok(scenario) => scenario,
            Err(err) => {
                eprintln!("--time-scale {scale}: {err}");
                return ExitCode::Usage;
            }
        };
    }
    let report_dir = args.report.clone().unwrap_or_else(|| {
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace(':', "");
        PathBuf::from("reports").join(format!("{}-{stamp}", scenario.name))
    });
    let scenario_arg = args
        .scenario
        .as_ref()
        .map(|p| format!(" {}", p.display()))
        .unwrap_or_default();
    let baseline = args.baseline || scenario.baseline;
    let mut reproduce = format!(
        "faultline drill{scenario_arg} --seed {} --time-scale {}",
        scenario.seed, scenario.time_scale
    );
    if args.baseline {
        reproduce.push_str(" --baseline");
    }
    if baseline && args.baseline_failures == BaselinePolicy::Pass {
        reproduce.push_str(" --baseline-failures pass");
    }
    let mut search = args.bin_dirs.clone();
    if let Ok(dir) = std::env::current_dir() {
        search.push(dir);
    }
    // Each agent whose entry names a `token_env` gets that variable's token.
    let agent_tokens = match crate::scenario::agent::tokens_from(&scenario.config.agents, |name| {
        std::env::var(name).ok()
    }) {
        Ok(tokens) => tokens,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::Usage;
        }
    };
    let drill = Drill {
        options: DrillOptions {
            report_dir: Some(report_dir),
            search,
            progress: if args.quiet {
                None
            } else {
                TerminalProgress::new(scenario.scaled_duration())
                    .map(|bar| Arc::new(bar) as Arc<dyn DrillProgress>)
            },
            agent_token: args.agent_token.clone(),
            agent_tokens,
            reproduce: Some(reproduce),
            state_dir: Some(state_dir.clone()),
            lease_ttl: args.lease_ttl,
            baseline,
            baseline_policy: args.baseline_failures,
        },
        ..Drill::new(scenario)
    };
    if !args.quiet {
        eprintln!(
            "faultline drill: {} (seed {}, {:.1}s{})",
            drill.scenario.name,
            drill.scenario.seed,
            drill.scenario.scaled_duration().as_secs_f64(),
            if baseline {
                ", then again without faults for the baseline"
            } else {
                ""
            }
        );
    }
    match runner::run(drill, stop).await {
        Ok(report) => {
            if !args.quiet {
                println!("{}", report.summary);
            }
            if let Some(dir) = &report.report_dir {
                println!("report: {}", dir.display());
            }
            match &report.baseline {
                Some(base) => {
                    for attributed in &base.attribution {
                        println!("attribution: {}", attributed.line());
                    }
                    println!(
                        "verdict: {} (baseline without faults: {}; counted as {} under --baseline-failures {})",
                        report.verdict,
                        base.verdict(),
                        report.counted_verdict,
                        base.policy.as_str()
                    );
                }
                None => println!("verdict: {}", report.verdict),
            }
            exit_code(report.counted_verdict, args.allow_unknown)
        }
        Err(DrillError::Cancelled) => {
            eprintln!("faultline drill: cancelled; every fault was healed and every spawned process stopped");
            ExitCode::Interrupted
        }
        Err(err) => {
            eprintln!("faultline drill: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::Internal
        }
    }
}
