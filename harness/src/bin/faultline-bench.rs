//! `faultline-bench`: direct loopback vs faultline (vs peer proxies) in one run.
//! Parses flags, installs signal handling and calls [`faultline_harness::bench`].

use std::process::ExitCode;

use clap::Parser;
use faultline_harness::bench::{self, BenchOptions, PeerSpec};
use tokio_util::sync::CancellationToken;

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
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    quiet_wait: f64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 64 } else { 0 });
        }
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
        quiet_wait: std::time::Duration::from_secs_f64(if args.quiet_wait.is_finite() {
            args.quiet_wait.clamp(0.0, 3600.0)
        } else {
            0.0
        }),
    };
    let stop = CancellationToken::new();
    watch_signals(stop.clone());
    match bench::run(&options, &stop) {
        Ok(report) => {
            if args.json {
                println!("{:#}", report.to_json());
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            let mut message = format!("faultline-bench: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::from(70)
        }
    }
}

/// Cancels `stop` on SIGINT or SIGTERM, so peers are killed and the run ends cleanly.
fn watch_signals(stop: CancellationToken) {
    let _ = std::thread::Builder::new()
        .name("fl-bench-signals".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut int), Ok(mut term)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) else {
                    return;
                };
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                eprintln!("faultline-bench: stopping");
                stop.cancel();
            });
        });
}
