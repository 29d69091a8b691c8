//! The `faultline` binary: parse flags, install signal handling, call the library.

use clap::Parser;
use faultline_harness::cli::{self, Cli};
use tokio_util::sync::CancellationToken;

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                cli::ExitCode::Usage as i32
            } else {
                0
            };
            let _ = err.print();
            return std::process::ExitCode::from(code as u8);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FAULTLINE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("faultline: cannot start the runtime: {err}");
            return cli::ExitCode::Internal.into();
        }
    };
    runtime.block_on(async {
        let stop = CancellationToken::new();
        let signals = stop.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("faultline: stopping (signal received); healing every fault");
            signals.cancel();
            // A second signal means the user really wants out.
            wait_for_signal().await;
            std::process::exit(130);
        });
        cli::run(cli, stop).await.into()
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}
