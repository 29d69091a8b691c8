//! `faultline check`: re-run a scenario's invariants over a recorded history.
//! The verdicts are the live run's: checkers read only the history.

use std::path::PathBuf;

use super::ExitCode;
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
    let history = match std::fs::File::open(&args.history) {
        Ok(file) => match History::read_jsonl(std::io::BufReader::new(file)) {
            Ok(history) => history,
            Err(err) => {
                eprintln!("{}: {err}", args.history.display());
                return ExitCode::Usage;
            }
        },
        Err(err) => {
            eprintln!("{}: {err}", args.history.display());
            return ExitCode::Usage;
        }
    };
    let results = check::check_all(&scenario.invariants, &history);
    let verdict = check::overall_verdict(&results);
    if args.json {
        let out = serde_json::json!({"verdict": verdict, "results": results});
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
        println!("verdict: {verdict}");
    }
    match verdict {
        Verdict::Pass => ExitCode::Pass,
        Verdict::Fail => ExitCode::Fail,
        Verdict::Unknown if args.allow_unknown => ExitCode::Pass,
        Verdict::Unknown => ExitCode::Unknown,
    }
}
