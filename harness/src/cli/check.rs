//! `faultline check`: re-run a scenario's invariants over a recorded history.
//! The verdicts are the live run's: checkers read only the history. With
//! `--baseline-history`, the verdicts are attributed against a run without
//! faults, and the verdict (and exit code) follows `--baseline-failures`.

use std::path::PathBuf;

use super::ExitCode;
use crate::check::attribution::{attribute, check_baseline, BaselinePolicy};
use crate::check::{self, Verdict};
use crate::history::History;
use crate::scenario::Scenario;

/// Arguments of `faultline check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The recorded history (`history.jsonl` of a report folder).
    #[arg(long)]
    pub history: PathBuf,
    /// The scenario whose invariants to check.
    #[arg(long)]
    pub scenario: PathBuf,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit 0 rather than 2 when an invariant is unknown.
    #[arg(long)]
    pub allow_unknown: bool,
    /// The history of the run without faults (`baseline/history.jsonl` of a
    /// report folder made with `--baseline`): every verdict is attributed
    /// against it (docs/baseline.md).
    #[arg(long, value_name = "FILE")]
    pub baseline_history: Option<PathBuf>,
    /// With `--baseline-history`: whether a failure without faults too
    /// fails the check, `fail` (default) or `pass`.
    #[arg(long, value_name = "fail|pass", value_parser = super::drill::parse_policy, default_value = "fail")]
    pub baseline_failures: BaselinePolicy,
}

fn read_history(path: &std::path::Path, flag: &str) -> Result<History, ExitCode> {
    let file = std::fs::File::open(path).map_err(|err| {
        eprintln!("{flag} {}: {err}", path.display());
        ExitCode::Usage
    })?;
    History::read_jsonl(std::io::BufReader::new(file)).map_err(|err| {
        eprintln!("{flag} {}: {err}", path.display());
        ExitCode::Usage
    })
}

/// Runs `faultline check`.
pub async fn run(args: CheckArgs) -> ExitCode {
    let scenario = match Scenario::load(&args.scenario) {
        Ok(scenario) => scenario,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::Usage;
        }
    };
    let history = match read_history(&args.history, "--history") {
        Ok(history) => history,
        Err(code) => return code,
    };
    let baseline = match &args.baseline_history {
        Some(path) => match read_history(path, "--baseline-history") {
            Ok(history) => Some(history),
            Err(code) => return code,
        },
        None => None,
    };
    let results = check::check_all(&scenario.invariants, &history);
    let mut verdict = check::overall_verdict(&results);
    let attributed = baseline.map(|base| {
        let base_results = check_baseline(&scenario.invariants, &base, &history);
        attribute(&scenario.invariants, &results, &base_results)
    });
    if let Some(attributed) = &attributed {
        verdict = args.baseline_failures.overall(attributed);
    }
    if args.json {
        let out = serde_json::json!({
            "verdict": verdict,
            "results": results,
            "attribution": attributed,
            "baseline_policy": attributed.as_ref().map(|_| args.baseline_failures),
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for result in &results {
            println!(
                "{:7} {}: {}",
                result.verdict.to_string(),
                result.name,
                result.message
            );
        }
        for a in attributed.iter().flatten() {
            println!("attribution: {}", a.line());
        }
        println!("verdict: {verdict}");
    }
    match verdict {
        Verdict::Pass => ExitCode::Pass,
        Verdict::Fail => ExitCode::Fail,
        Verdict::Unknown if args.allow_unknown => ExitCode::Pass,
        Verdict::Unknown => ExitCode::Unknown,
    }
}
