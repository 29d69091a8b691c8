//! `faultline-fidelity`: how faultline's faults look to an application, next
//! to the kernel's ground truth (FIDELITY.md). Parses flags, installs signal
//! handling and calls [`faultline_fidelity::run`].

use std::process::ExitCode;

use clap::Parser;
use faultline_bench::standalone;
use faultline_fidelity::{self as fidelity, FidelityOptions};
use tokio_util::sync::CancellationToken;

const PROGRAM: &str = "faultline-fidelity";

/// Measure faultline's faults as an application sees them and compare with the kernel.
#[derive(Debug, Parser)]
#[command(name = "faultline-fidelity", version)]
struct Args {
    /// Fewer requests, one 6 s partition, short bulk streams: a smoke test
    /// (about 12 s), not a measurement.
    #[arg(long)]
    quick: bool,
    /// Repetitions of every experiment (ignored with --quick); figures are medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seed of the proxies' RNG streams (run r uses seed + r).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads of the proxy's runtime.
    #[arg(long, default_value_t = 2)]
    proxy_threads: usize,
    /// Print the report as JSON.
    #[arg(long, conflicts_with = "markdown")]
    json: bool,
    /// Print the table as Markdown (for docs/fidelity.md).
    #[arg(long)]
    markdown: bool,
}

fn main() -> ExitCode {
    let args: Args = match standalone::parse_args() {
        Ok(args) => args,
        Err(code) => return code.into(),
    };
    let options = FidelityOptions {
        quick: args.quick,
        runs: args.runs.max(1),
        seed: args.seed,
        proxy_threads: args.proxy_threads.max(1),
    };
    let stop = CancellationToken::new();
    // A signal ends the run, and its proxies heal.
    standalone::cancel_on_signal(PROGRAM, stop.clone());
    match fidelity::run(&options, &stop) {
        Ok(report) => {
            if args.json {
                println!("{:#}", report.to_json());
            } else if args.markdown {
                print!("{}", report.markdown());
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Err(err) => standalone::internal_failure(PROGRAM, &err).into(),
    }
}
