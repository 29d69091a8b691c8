//! `faultline demo-service`: the small regional service of the default drill.

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

use super::ExitCode;
use crate::demo::{self, DemoConfig};

/// Arguments of `faultline demo-service`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// This instance's region.
    #[arg(long)]
    pub region: String,
    /// Where to listen (port 0: any free port, printed on stdout).
    #[arg(long)]
    pub listen: SocketAddr,
    /// `REGION=ADDR` of another region's instance (repeatable).
    #[arg(long = "peer", value_parser = parse_peer)]
    pub peers: Vec<(String, String)>,
}

fn parse_peer(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((region, address)) if !region.is_empty() && !address.is_empty() => {
            Ok((region.to_owned(), address.to_owned()))
        }
        _ => Err(format!("{text:?} is not REGION=ADDR")),
    }
}

/// Runs the demo service until `stop`.
pub async fn run(args: DemoArgs, stop: CancellationToken) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("demo-service: cannot listen on {}: {err}", args.listen);
            return ExitCode::Internal;
        }
    };
    if let Ok(address) = listener.local_addr() {
        println!("listening on {address}");
    }
    match demo::serve(
        DemoConfig {
            region: args.region,
            peers: args.peers,
        },
        listener,
        stop,
    )
    .await
    {
        Ok(()) => ExitCode::Pass,
        Err(err) => {
            eprintln!("demo-service: {err}");
            ExitCode::Internal
        }
    }
}
