//! `faultline-check-bench`: how `faultline check` grows with a history.
//!
//! For every case (a checker, a history size, a key distribution) it writes a
//! seeded synthetic `history.jsonl` and a scenario holding that one invariant,
//! then runs `faultline check` on them as a child process, `--reps` times,
//! and reports the median wall time and the median peak RSS of the child.
//! Peak RSS is measured by re-running this binary as a one-child wrapper
//! (`measure`) that waits for `faultline` and reads `getrusage(RUSAGE_CHILDREN)`,
//! so each measurement sees exactly one child.

mod generate;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::{Parser, Subcommand};

use generate::{Case, Keys};

#[derive(Debug, Parser)]
#[command(name = "faultline-check-bench", about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// The `faultline` binary to time (a release build).
    #[arg(long, default_value = "target/release/faultline")]
    faultline: PathBuf,
    /// Where the generated histories and scenarios go.
    #[arg(long, default_value = "target/check-bench")]
    dir: PathBuf,
    /// Repetitions per case; medians are reported.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// The generator's seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Largest history size (ops) for the ordinary checkers.
    #[arg(long, default_value_t = 1_000_000)]
    max_ops: usize,
    /// Largest register history for `linearizable`.
    #[arg(long, default_value_t = 100_000)]
    max_register_ops: usize,
    /// Only cases whose name contains this.
    #[arg(long)]
    only: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs one command and prints `wall_s peak_rss_kb exit_code` (internal).
    Measure {
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Cmd::Measure { command }) = &cli.command {
        return measure(command);
    }
    match bench(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("faultline-check-bench: {err}");
            ExitCode::from(1)
        }
    }
}

// A benchmark measures real time; there is no runtime to pause here.
#[allow(clippy::disallowed_methods)]
fn measure(command: &[String]) -> ExitCode {
    let started = Instant::now();
    let status = Command::new(&command[0])
        .args(&command[1..])
        .stdout(std::process::Stdio::null())
        .status();
    let wall = started.elapsed().as_secs_f64();
    let Ok(status) = status else {
        eprintln!("cannot run {}", command[0]);
        return ExitCode::from(1);
    };
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN);
    let rss_kb = usage.map(|u| u.max_rss()).unwrap_or(-1);
    println!("{wall:.4} {rss_kb} {}", status.code().unwrap_or(-1));
    ExitCode::SUCCESS
}

struct Row {
    case: String,
    ops: usize,
    wall_s: f64,
    rss_mb: f64,
    verdict_exit: i32,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn bench(cli: &Cli) -> Result<(), String> {
    if !cli.faultline.exists() {
        return Err(format!(
            "{} not found: build it with `cargo build --release -p faultline-harness --bin faultline`",
            cli.faultline.display()
        ));
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&cli.dir).map_err(|e| format!("{}: {e}", cli.dir.display()))?;
    let mut cases = Vec::new();
    for checker in generate::CHECKERS {
        let keys: &[Keys] = if *checker == "no_oversell" {
            &[Keys::One]
        } else {
            &[Keys::Unique, Keys::Hot10]
        };
        for &keys in keys {
            for ops in [10_000, 100_000, 1_000_000] {
                if ops <= cli.max_ops {
                    cases.push(Case { checker, keys, ops });
                }
            }
        }
    }
    for keys in [Keys::One, Keys::Hot10] {
        for ops in [1_000, 10_000, 100_000] {
            if ops <= cli.max_register_ops {
                cases.push(Case {
                    checker: "linearizable",
                    keys,
                    ops,
                });
            }
        }
    }
    if let Some(only) = &cli.only {
        cases.retain(|c| c.name().contains(only.as_str()));
    }
    let started_load = loadavg();
    let mut rows = Vec::new();
    for case in &cases {
        let dir = cli.dir.join(case.name());
        let (history, scenario) = generate::write(case, cli.seed, &dir)?;
        let (mut walls, mut rsss) = (Vec::new(), Vec::new());
        let mut exit = 0;
        for _ in 0..cli.reps {
            let (wall, rss, code) = run_once(&me, &cli.faultline, &history, &scenario)?;
            if code == 64 || code < 0 {
                return Err(format!(
                    "faultline check refused {} (exit {code}); run it by hand to see why",
                    dir.display()
                ));
            }
            walls.push(wall);
            rsss.push(rss);
            exit = code;
        }
        let row = Row {
            case: case.name(),
            ops: case.ops,
            wall_s: median(walls),
            rss_mb: median(rsss) / 1024.0,
            verdict_exit: exit,
        };
        eprintln!(
            "{:48} {:>9} ops {:>8.3} s {:>8.1} MB exit {}",
            row.case, row.ops, row.wall_s, row.rss_mb, row.verdict_exit
        );
        rows.push(row);
        // Keep the disk free: the biggest histories are hundreds of MB.
        let _ = std::fs::remove_file(&history);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "faultline-check-bench — {} CPUs, load average at the start {started_load}, at the end {} — {} repetition(s), medians; seed {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        loadavg(),
        cli.reps,
        cli.seed
    );
    let _ = writeln!(
        out,
        "| case | ops | time (s) | peak RSS (MB) | bytes/op | exit | growth ×10 ops |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for (i, row) in rows.iter().enumerate() {
        let growth = i
            .checked_sub(1)
            .map(|j| &rows[j])
            .filter(|prev| {
                prev.case.rsplit_once('-').map(|p| p.0) == row.case.rsplit_once('-').map(|p| p.0)
                    && prev.ops * 10 == row.ops
            })
            .map(|prev| format!("{:.1}×", row.wall_s / prev.wall_s.max(1e-6)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {:.1} | {:.0} | {} | {growth} |",
            row.case,
            row.ops,
            row.wall_s,
            row.rss_mb,
            row.rss_mb * 1024.0 * 1024.0 / row.ops as f64,
            row.verdict_exit
        );
    }
    Ok(())
}

fn run_once(
    me: &Path,
    faultline: &Path,
    history: &Path,
    scenario: &Path,
) -> Result<(f64, f64, i32), String> {
    let output = Command::new(me)
        .arg("measure")
        .arg(faultline)
        .arg("check")
        .arg("--history")
        .arg(history)
        .arg("--scenario")
        .arg(scenario)
        .output()
        .map_err(|e| format!("running the measuring wrapper: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.as_slice() {
        [wall, rss, code] => Ok((
            wall.parse()
                .map_err(|_| format!("bad wall time {wall:?}"))?,
            rss.parse().map_err(|_| format!("bad rss {rss:?}"))?,
            code.parse().unwrap_or(-1),
        )),
        _ => Err(format!(
            "the measuring wrapper said {text:?} ({})",
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}
