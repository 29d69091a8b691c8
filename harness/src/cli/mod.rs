//! The `faultline` command line: one file per subcommand.
//!
//! `main.rs` parses [`Cli`], installs signal handling and calls [`run`]. Every
//! subcommand returns an [`ExitCode`] so tests can drive it without a process;
//! the measurement binaries (`faultline-bench`, `faultline-fidelity`) exit
//! with the same codes. [`progress`] draws a drill's progress on a terminal
//! (the runner only knows its `DrillProgress` trait).

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

pub mod check;
pub mod demo;
pub mod drill;
pub mod fault;
pub mod heal;
pub mod plan;
pub mod progress;
pub mod report;
pub mod serve;
pub mod sweep;
pub mod validate;

/// faultline: recreate multi-region failures on one machine and in CI.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy server with its Toxiproxy-compatible HTTP API.
    Serve(serve::ServeArgs),
    /// Run a scenario: topology, schedule, workloads, checkers, report.
    Drill(drill::DrillArgs),
    /// Undo what drills that died left behind: processes, faults, proxies.
    Heal(heal::HealArgs),
    /// Print a scenario's expanded timeline; injects nothing.
    Plan(plan::PlanArgs),
    /// Run a scenario once per seed and summarize the verdicts.
    Sweep(sweep::SweepArgs),
    /// Redraw a run's report (summary, SVG, HTML) from its report.json and history.jsonl.
    Report(report::ReportArgs),
    /// Re-run a scenario's invariants over a recorded history.
    Check(check::CheckArgs),
    /// Validate a scenario file.
    Validate(validate::ValidateArgs),
    /// Manage proxies and faults on a running `faultline serve`.
    #[command(subcommand)]
    Fault(fault::FaultCommand),
    /// Run the small regional service of the default drill (used by it).
    #[command(hide = true)]
    DemoService(demo::DemoArgs),
}

/// Process exit codes (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every invariant passed (or the command succeeded).
    Pass = 0,
    /// An invariant failed.
    Fail = 1,
    /// An invariant could not be decided.
    Unknown = 2,
    /// Bad input: a scenario file, a flag, a request body.
    Usage = 64,
    /// faultline itself failed.
    Internal = 70,
    /// Stopped by SIGINT or SIGTERM (after healing everything), as shells count it.
    Interrupted = 130,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// Runs one parsed command line until it finishes or `stop` is cancelled.
pub async fn run(cli: Cli, stop: CancellationToken) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve::run(args, stop).await,
        Command::Drill(args) => drill::run(args, stop).await,
        Command::Heal(args) => heal::run(args).await,
        Command::Plan(args) => plan::run(args).await,
        Command::Sweep(args) => sweep::run(args, stop).await,
        Command::Report(args) => report::run(args).await,
        Command::Check(args) => check::run(args).await,
        Command::Validate(args) => validate::run(args).await,
        Command::Fault(command) => fault::run_until(command, stop).await,
        Command::DemoService(args) => demo::run(args, stop).await,
    }
}
