//! `faultline demo-service`: the small regional service of the default drill.

use std::net::SocketAddr;

use faultline_fixtures::demo::{self, Config};
use faultline_fixtures::Peer;
use tokio_util::sync::CancellationToken;

use super::ExitCode;

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
    #[arg(long = "peer")]
    pub peers: Vec<Peer>,
}

/// Runs the demo service until `stop`. A configuration that cannot run (a
/// bad region name, a peer twice) is refused before anything is bound.
pub async fn run(args: DemoArgs, stop: CancellationToken) -> ExitCode {
    let config = Config {
        region: args.region,
        peers: args.peers,
    };
    if let Err(err) = config.validate() {
        eprintln!("demo-service: {err}");
        return ExitCode::Usage;
    }
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
    match demo::serve(config, listener, stop).await {
        Ok(()) => ExitCode::Pass,
        Err(err) => {
            let mut message = format!("demo-service: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::Internal
        }
    }
}
