//! What the standalone measurement binaries (`faultline-bench`,
//! `faultline-fidelity`) share around their one library call: reading the
//! command line with the house exit codes, SIGINT/SIGTERM cancelling the
//! run's token, and a failure printed with its causes.
//!
//! Their library calls block and build their own runtimes, so signals are
//! watched from a thread of their own rather than from a task.

use std::error::Error;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use faultline_harness::cli::ExitCode;

/// Reads the process's command line into `A`.
///
/// # Errors
/// The exit code to leave with after clap printed its message:
/// [`ExitCode::Usage`] for a bad command line, [`ExitCode::Pass`] for
/// `--help` and `--version`.
pub fn parse_args<A: Parser>() -> Result<A, ExitCode> {
    parse_args_from(std::env::args_os())
}

/// [`parse_args`] over `args` (the program name first).
///
/// # Errors
/// As [`parse_args`].
pub fn parse_args_from<A, I, T>(args: I) -> Result<A, ExitCode>
where
    A: Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    A::try_parse_from(args).map_err(|err| {
        let _ = err.print();
        if err.use_stderr() {
            ExitCode::Usage
        } else {
            ExitCode::Pass
        }
    })
}

/// Cancels `stop` at the first SIGINT or SIGTERM, saying `{program}: stopping`
/// on stderr, so the run ends and heals what it changed. If the watcher cannot
/// start, signals keep their default effect.
pub fn cancel_on_signal(program: &str, stop: CancellationToken) {
    let message = format!("{program}: stopping");
    let _ = std::thread::Builder::new()
        .name(format!(
            "fl-{}-signals",
            program.trim_start_matches("faultline-")
        ))
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
                eprintln!("{message}");
                stop.cancel();
            });
        });
}

/// `{program}: {err}: {cause}: …`, the whole chain on one line.
pub fn failure_message(program: &str, err: &dyn Error) -> String {
    let mut message = format!("{program}: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// Prints [`failure_message`] on stderr; the run failed inside faultline.
pub fn internal_failure(program: &str, err: &dyn Error) -> ExitCode {
    eprintln!("{}", failure_message(program, err));
    ExitCode::Internal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Parser)]
    struct Args {
        #[arg(long, default_value_t = 3)]
        runs: usize,
    }

    #[test]
    fn a_good_command_line_is_read() {
        let args: Args = parse_args_from(["tool", "--runs", "5"]).unwrap();
        assert_eq!(args.runs, 5);
    }

    #[test]
    fn a_bad_command_line_is_a_usage_error_and_help_is_not() {
        assert_eq!(
            parse_args_from::<Args, _, _>(["tool", "--runz", "5"]).unwrap_err(),
            ExitCode::Usage
        );
        assert_eq!(
            parse_args_from::<Args, _, _>(["tool", "--help"]).unwrap_err(),
            ExitCode::Pass
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("measuring failed")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_failure_names_the_program_and_every_cause() {
        let err = Outer(std::io::Error::other("no port"));
        assert_eq!(
            failure_message("faultline-fidelity", &err),
            "faultline-fidelity: measuring failed: no port"
        );
    }
}
