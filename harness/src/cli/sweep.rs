//! `faultline sweep`: one scenario, many seeds, one summary.
//!
//! ```text
//! faultline sweep suites/scenarios/split-brain-oversell.json --seeds 1..20 [--report DIR] [--time-scale X]
//! ```
//!
//! Runs the drill once per seed (`--seeds 1..20` is 1 to 20 inclusive; a list
//! `3,7,11` works too) into `DIR/seed-N/`, each a complete report folder, then
//! writes `sweep.txt`, `sweep.svg` and `sweep.json` into `DIR`
//! ([`crate::report::sweep`]). Exits 1 if any seed failed, 2 if none failed
//! but one was unknown, 0 otherwise; 64 for a bad scenario or `--seeds`.

use std::fs;
use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::ExitCode;
use crate::check::attribution::BaselinePolicy;
use crate::check::Verdict;
use crate::report::sweep::{sweep_json, sweep_svg, sweep_text, SweepRun};
use crate::runner::{self, Drill, DrillError, DrillOptions};
use crate::scenario::validate::MAX_SEED;
use crate::scenario::Scenario;

/// The most seeds one sweep runs.
pub const MAX_SEEDS: usize = 1_000;

/// Arguments of `faultline sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The seeds: `A..B` (inclusive) or a list `A,B,C`.
    #[arg(long, value_parser = parse_seeds)]
    pub seeds: Seeds,
    /// Compresses (< 1) or stretches (> 1) the schedule; latencies stay real.
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// The sweep's folder (default: `reports/NAME-sweep-UTCTIME`).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Exit 0 rather than 2 when a seed's verdict is unknown.
    #[arg(long)]
    pub allow_unknown: bool,
    /// Bearer token for remote agents (`faultline serve --token`).
    #[arg(long, env = "FAULTLINE_TOKEN", hide_env_values = true)]
    pub agent_token: Option<String>,
    /// Folder to look for spawned programs in (repeatable), before PATH.
    #[arg(long = "bin-dir")]
    pub bin_dirs: Vec<PathBuf>,
    /// Run each seed again without faults and attribute its verdicts (as
    /// `faultline drill --baseline`; docs/baseline.md).
    #[arg(long)]
    pub baseline: bool,
    /// Whether a failure without faults too fails a seed: `fail` (default) or `pass`.
    #[arg(long, value_name = "fail|pass", value_parser = super::drill::parse_policy, default_value = "fail")]
    pub baseline_failures: BaselinePolicy,
    /// Print only the sweep's summary, no line per seed.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The seeds of a sweep, in order, without repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeds(pub Vec<u64>);

/// Parses `A..B` (inclusive), `A..=B` or `A,B,C`.
///
/// # Errors
/// A message naming what is wrong, for clap to print after `--seeds`.
pub fn parse_seeds(text: &str) -> Result<Seeds, String> {
    let number = |part: &str| -> Result<u64, String> {
        let seed: u64 = part
            .trim()
            .parse()
            .map_err(|_| format!("{part:?} is not a seed (a whole number from 0 to {MAX_SEED})"))?;
        if seed > MAX_SEED {
            return Err(format!(
                "{seed} is above the largest seed, 2^53 - 1 = {MAX_SEED}"
            ));
        }
        Ok(seed)
    };
    let seeds: Vec<u64> = if let Some((from, to)) = text.split_once("..") {
        let to = to.strip_prefix('=').unwrap_or(to);
        let (from, to) = (number(from)?, number(to)?);
        if to < from {
            return Err(format!(
                "{text}: the range is empty (write A..B with A <= B, both included)"
            ));
        }
        if to - from >= MAX_SEEDS as u64 {
            return Err(format!("{text}: more than {MAX_SEEDS} seeds"));
        }
        (from..=to).collect()
    } else {
        let mut seeds = Vec::new();
        for part in text.split(',') {
            let seed = number(part)?;
            if !seeds.contains(&seed) {
                seeds.push(seed);
            }
        }
        if seeds.len() > MAX_SEEDS {
            return Err(format!("more than {MAX_SEEDS} seeds"));
        }
        seeds
    };
    Ok(Seeds(seeds))
}

/// Runs `faultline sweep`.
pub async fn run(args: SweepArgs, stop: CancellationToken) -> ExitCode {
    let mut scenario = match Scenario::load(&args.scenario) {
        Ok(scenario) => scenario,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::Usage;
        }
    };
    if let Some(scale) = args.time_scale {
        scenario = match scenario.with_time_scale(scale) {
            Ok(scenario) => scenario,
            Err(err) => {
                eprintln!("--time-scale {scale}: {err}");
                return ExitCode::Usage;
            }
        };
    }
    let dir = args.report.clone().unwrap_or_else(|| {
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace(':', "");
        PathBuf::from("reports").join(format!("{}-sweep-{stamp}", scenario.name))
    });
    let mut search = args.bin_dirs.clone();
    if let Ok(cwd) = std::env::current_dir() {
        search.push(cwd);
    }
    // Each agent whose entry names a `token_env` gets that variable's token,
    // as in `faultline drill`.
    let agent_tokens = match crate::scenario::agent::tokens_from(&scenario.config.agents, |name| {
        std::env::var(name).ok()
    }) {
        Ok(tokens) => tokens,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::Usage;
        }
    };
    let seeds = &args.seeds.0;
    eprintln!(
        "faultline sweep: {} over {} seed{} ({:.1}s each) into {}",
        scenario.name,
        seeds.len(),
        if seeds.len() == 1 { "" } else { "s" },
        scenario.scaled_duration().as_secs_f64(),
        dir.display()
    );
    let mut runs: Vec<SweepRun> = Vec::new();
    // Each seed's verdict as the baseline policy counts it (the exit code).
    let mut counted: Vec<Verdict> = Vec::new();
    let mut cancelled = false;
    for &seed in seeds {
        let seeded = scenario.clone().with_seed(seed);
        let subdir = format!("seed-{seed}");
        let reproduce = format!(
            "faultline drill {} --seed {seed} --time-scale {}",
            args.scenario.display(),
            seeded.time_scale
        );
        let drill = Drill {
            options: DrillOptions {
                report_dir: Some(dir.join(&subdir)),
                search: search.clone(),
                progress: None,
                agent_token: args.agent_token.clone(),
                agent_tokens: agent_tokens.clone(),
                state_dir: Some(crate::runfile::default_state_dir()),
                lease_ttl: None,
                reproduce: Some(reproduce),
                baseline: args.baseline || seeded.baseline,
                baseline_policy: args.baseline_failures,
            },
            ..Drill::new(seeded)
        };
        let run = match runner::run(drill, stop.clone()).await {
            Ok(report) => {
                counted.push(report.counted_verdict);
                SweepRun {
                    seed,
                    dir: subdir,
                    results: report.results,
                    error: None,
                    attribution: report.baseline.map(|b| b.attribution).unwrap_or_default(),
                }
            }
            Err(DrillError::Cancelled) => {
                cancelled = true;
                break;
            }
            Err(err) => SweepRun {
                seed,
                dir: subdir,
                results: Vec::new(),
                error: Some(err.to_string()),
                attribution: Vec::new(),
            },
        };
        if !args.quiet {
            eprintln!(
                "  seed {seed}: {}{}",
                run.verdict(),
                run.error
                    .as_deref()
                    .map(|e| format!(" (drill failed: {e})"))
                    .unwrap_or_default()
            );
        }
        runs.push(run);
    }
    if let Err(err) = write(&dir, &scenario.name, &runs) {
        eprintln!("faultline sweep: writing {}: {err}", dir.display());
        return ExitCode::Internal;
    }
    print!("{}", sweep_text(&scenario.name, &runs));
    println!("sweep: {}", dir.display());
    if cancelled {
        eprintln!(
            "faultline sweep: cancelled after {} seeds; every fault was healed",
            runs.len()
        );
        return ExitCode::Interrupted;
    }
    let verdicts: Vec<Verdict> = runs
        .iter()
        .filter(|r| r.error.is_some())
        .map(SweepRun::verdict)
        .chain(counted)
        .collect();
    if verdicts.contains(&Verdict::Fail) {
        ExitCode::Fail
    } else if verdicts.contains(&Verdict::Unknown) && !args.allow_unknown {
        ExitCode::Unknown
    } else {
        ExitCode::Pass
    }
}

/// Writes `sweep.txt`, `sweep.svg` and `sweep.json` into `dir`.
///
/// # Errors
/// Any I/O error.
pub fn write(dir: &std::path::Path, name: &str, runs: &[SweepRun]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join("sweep.txt"), sweep_text(name, runs))?;
    fs::write(dir.join("sweep.svg"), sweep_svg(name, runs))?;
    let mut json =
        serde_json::to_string_pretty(&sweep_json(name, runs)).map_err(std::io::Error::other)?;
    json.push('\n');
    fs::write(dir.join("sweep.json"), json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_an_inclusive_range_or_a_list() {
        assert_eq!(parse_seeds("1..3"), Ok(Seeds(vec![1, 2, 3])));
        assert_eq!(parse_seeds("4..=5"), Ok(Seeds(vec![4, 5])));
        assert_eq!(parse_seeds("7, 3,7"), Ok(Seeds(vec![7, 3])));
        assert!(parse_seeds("5..1").unwrap_err().contains("empty"));
        assert!(parse_seeds("1..x")
            .unwrap_err()
            .contains("\"x\" is not a seed"));
        assert!(parse_seeds("0..5000")
            .unwrap_err()
            .contains("more than 1000"));
        assert!(parse_seeds("9007199254740992")
            .unwrap_err()
            .contains("largest seed"));
    }
}
