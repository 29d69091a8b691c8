//! `faultline-bench`: direct loopback vs faultline (vs peer proxies) in one run.
//! Parses flags, installs signal handling and calls [`faultline_bench::run`].

use std::process::ExitCode;

use clap::Parser;
use faultline_bench::{self as bench, standalone, BenchOptions, PeerSpec};
use tokio_util::sync::CancellationToken;

const PROGRAM: &str = "faultline-bench";

/// Benchmark faultline's data path against direct loopback and peer proxies.
#[derive(Debug, Parser)]
#[command(name = "faultline-bench", version)]
struct Args {
    /// A short run (seconds) with small counts: a smoke test, not a measurement.
    #[arg(long)]
    quick: bool,
    /// A peer proxy to compare with, as a command template run by `sh -c`:
    /// `{listen}`, `{listen_port}` and `{upstream}` are filled in. Prefix
    /// `NAME=` to name its column. Repeatable.
    #[arg(long = "vs", value_name = "[NAME=]COMMAND")]
    vs: Vec<String>,
    /// Full passes over every measurement.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Throughput repetitions within a pass.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Connections of the concurrency load.
    #[arg(long, default_value_t = 10_000)]
    concurrent: usize,
    /// Worker threads of faultline's runtime.
    #[arg(long, default_value_t = 2)]
    proxy_threads: usize,
    /// Measure faultline's buffer copy instead of splice(2).
    #[arg(long)]
    no_splice: bool,
    /// Held-bytes bound (MiB) of the proxy for the raised-bound latency load.
    #[arg(long, default_value_t = 256)]
    raised_held_mib: usize,
    /// Run only these measurement groups (idle, throughput, rtt, connect,
    /// faults, concurrent); repeatable; all by default.
    #[arg(long, value_name = "GROUP", value_parser = clap::builder::PossibleValuesParser::new(bench::GROUPS))]
    only: Vec<String>,
    /// An extra faultline column with other data-path settings, for
    /// experiments: `NAME:KEY=VALUE,…`, keys `splice` (on/off), `pipe` and
    /// `buffer` (sizes, e.g. `256k`). Repeatable.
    #[arg(long, value_name = "NAME:SETTINGS", value_parser = bench::Variant::parse)]
    variant: Vec<bench::Variant>,
    /// Before each measurement, wait up to this many seconds for the machine
    /// to be quiet (for shared machines); 0 does not wait.
    #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = seconds)]
    quiet_wait: std::time::Duration,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args: Args = match standalone::parse_args() {
        Ok(args) => args,
        Err(code) => return code.into(),
    };
    let options = BenchOptions {
        quick: args.quick,
        runs: if args.quick { 1 } else { args.runs.max(1) },
        repetitions: if args.quick { 1 } else { args.reps.max(1) },
        peers: args.vs.iter().map(|v| PeerSpec::parse(v)).collect(),
        concurrent: args.concurrent,
        proxy_threads: args.proxy_threads.max(1),
        splice: !args.no_splice,
        raised_held_bytes: args.raised_held_mib.max(1) << 20,
        only: args.only,
        variants: args.variant,
        quiet_wait: args.quiet_wait,
    };
    let stop = CancellationToken::new();
    // A signal ends the run: peers are stopped and proxies shut down.
    standalone::cancel_on_signal(PROGRAM, stop.clone());
    match bench::run(&options, &stop) {
        Ok(report) => {
            if args.json {
                println!("{:#}", report.to_json());
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Err(err) => standalone::internal_failure(PROGRAM, &err).into(),
    }
}

/// A number of seconds from 0 to 3600.
fn seconds(text: &str) -> Result<std::time::Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.0..=3600.0).contains(&s) => Ok(std::time::Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{text:?} is not a number of seconds from 0 to 3600"
        )),
    }
}
