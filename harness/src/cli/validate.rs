//! `faultline validate`: check scenario files without running anything.
//!
//! ```text
//! faultline validate suites/scenarios/*.json
//! ok: split-brain-oversell (2 regions, 2 links, 1 step)
//! ```
//!
//! A bad file prints every problem found, one per line, each with
//! `file:line:column: field.path: message`; the exit code is then 64.

use std::io::Write;
use std::path::PathBuf;

use super::ExitCode;
use crate::scenario::Scenario;

/// Arguments of `faultline validate`.
#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// Scenario files to check.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
}

/// Runs `faultline validate`.
pub async fn run(args: ValidateArgs) -> ExitCode {
    execute(
        &args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The line `validate` prints for a valid scenario.
pub fn summary(scenario: &Scenario) -> String {
    format!(
        "ok: {} ({}, {}, {})",
        scenario.name,
        count(scenario.regions.len(), "region"),
        count(scenario.links.len(), "link"),
        count(scenario.schedule.len(), "step")
    )
}

/// `faultline validate` with explicit outputs (for tests).
pub fn execute(args: &ValidateArgs, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    let mut code = ExitCode::Pass;
    for path in &args.scenarios {
        match Scenario::load(path) {
            Ok(scenario) => {
                let _ = writeln!(out, "{}", summary(&scenario));
            }
            Err(error) => {
                let _ = writeln!(err, "{error}");
                code = ExitCode::Usage;
            }
        }
    }
    code
}
