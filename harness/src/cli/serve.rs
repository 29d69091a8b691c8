//! `faultline serve`: the proxy server with its Toxiproxy-compatible HTTP API.
//!
//! ```text
//! faultline serve [--host 127.0.0.1] [--port 8474] [--config proxies.json] [--seed N] [--token T] [--insecure]
//! ```
//!
//! Stages: the config file is read and validated and the exposure rule checked
//! ([`check`]); then the API's port and the config's proxies are bound and the
//! config's toxics set ([`start`]), which Toxiproxy's `-config` cannot do; then
//! the API serves until the stop signal ([`Server::run`]), after which every
//! proxy is shut down. Bad input exits 64 with a message naming the file, the
//! field, and for syntax errors the line and column.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use faultline_proxies::{Limits, ProxyInfo, Registry};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::ExitCode;
use crate::api::access::{check_exposure, ExposureError, TOKEN_ENV};
use crate::api::populate::populate;
use crate::api::{serve, ApiError, ApiState};
use crate::wire::shapes::{PopulateConfig, ProxyPlan};
use crate::wire::ShapeError;

/// Arguments of `faultline serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address the API listens on. Anything but loopback needs a token (or
    /// `--insecure`).
    #[arg(long, default_value = "127.0.0.1", value_parser = parse_host)]
    pub host: IpAddr,
    /// Port the API listens on; 0 picks a free one (printed when ready).
    #[arg(long, default_value_t = 8474)]
    pub port: u16,
    /// Proxies to create at start, with their toxics, in `/populate` format
    /// (a JSON array of proxies, or `{"proxies": [...]}`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Seed of every proxy's fault randomness (toxicity rolls, jitter, loss).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Bearer token every mutating API request must carry.
    #[arg(long, env = TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,
    /// Serve on a non-loopback --host without a token anyway: anyone who can
    /// reach the port can then inject faults (a lab network you trust only).
    #[arg(long)]
    pub insecure: bool,
    /// TTL of a drill's lease that asks for none: what a drill creates under
    /// a lease is healed once it goes this long without a renewal.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s", value_name = "DURATION")]
    pub lease_ttl: std::time::Duration,
}

impl ServeArgs {
    /// Arguments for the API on `host:port` with everything else at its default.
    pub fn new(host: IpAddr, port: u16) -> Self {
        Self {
            host,
            port,
            config: None,
            seed: 0,
            token: None,
            insecure: false,
            lease_ttl: crate::api::leases::DEFAULT_TTL,
        }
    }
}

/// `localhost` or an IP address.
fn parse_host(text: &str) -> Result<IpAddr, String> {
    if text.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    text.parse()
        .map_err(|_| format!("{text:?} is not an IP address (or localhost)"))
}

/// Why `faultline serve` cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The config file cannot be read.
    #[error("{path}: {source}")]
    ReadConfig {
        /// The file.
        path: String,
        /// The OS error.
        source: io::Error,
    },
    /// The config file is not valid.
    #[error("{path}: {}", .error.in_document())]
    Config {
        /// The file.
        path: String,
        /// What is wrong, where.
        error: ShapeError,
    },
    /// A non-loopback host without a token (and without `--insecure`).
    #[error("{0}; or pass --insecure to serve without a token anyway (a network you trust only)")]
    Exposure(#[from] ExposureError),
    /// The API's address cannot be bound.
    #[error("cannot listen on {address}: {source} (choose another --host or --port)")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// `--lease-ttl` is outside what a lease may last.
    #[error("--lease-ttl: {ttl:?} is outside {:?}..={:?}", crate::api::leases::TTL_RANGE.0, crate::api::leases::TTL_RANGE.1)]
    LeaseTtl {
        /// The TTL given.
        ttl: std::time::Duration,
    },
    /// A proxy of the config cannot be created (e.g. its address is in use).
    #[error("{path}: {error}")]
    Populate {
        /// The file.
        path: String,
        /// What failed, naming the proxy.
        error: ApiError,
    },
}

impl ServeError {
    /// The exit code: 64 for bad input (file, flags, addresses), 70 when
    /// faultline itself failed.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ServeError::Populate {
                error: ApiError::Internal(_),
                ..
            } => ExitCode::Internal,
            _ => ExitCode::Usage,
        }
    }
}

/// A validated `faultline serve`: what [`check`] returns and [`start`] binds.
#[derive(Debug)]
pub struct ServePlan {
    args: ServeArgs,
    proxies: Vec<ProxyPlan>,
}

/// Reads and validates the config and checks the exposure rule; binds nothing.
///
/// # Errors
/// An unreadable or invalid config, or a non-loopback host without a token.
pub fn check(args: ServeArgs) -> Result<ServePlan, ServeError> {
    if let Err(exposure) = check_exposure(args.host, args.token.as_deref()) {
        if !args.insecure {
            return Err(exposure.into());
        }
    }
    let (min, max) = crate::api::leases::TTL_RANGE;
    if args.lease_ttl < min || args.lease_ttl > max {
        return Err(ServeError::LeaseTtl {
            ttl: args.lease_ttl,
        });
    }
    let proxies = match &args.config {
        None => Vec::new(),
        Some(path) => {
            let shown = path.display().to_string();
            let bytes = std::fs::read(path).map_err(|source| ServeError::ReadConfig {
                path: shown.clone(),
                source,
            })?;
            PopulateConfig::decode(&bytes)
                .and_then(PopulateConfig::into_plans)
                .map_err(|error| ServeError::Config { path: shown, error })?
        }
    };
    Ok(ServePlan { args, proxies })
}

/// A started server: the API bound, the config's proxies listening.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: ApiState,
    address: SocketAddr,
    proxies: Vec<ProxyInfo>,
}

/// Validates ([`check`]), binds the API and creates the config's proxies with
/// their toxics.
///
/// # Errors
/// As [`check`]; the API's address or a proxy's address cannot be bound.
pub async fn start(args: ServeArgs) -> Result<Server, ServeError> {
    let plan = check(args)?;
    let requested = SocketAddr::new(plan.args.host, plan.args.port);
    let listener = TcpListener::bind(requested)
        .await
        .map_err(|source| ServeError::Bind {
            address: requested,
            source,
        })?;
    let address = listener.local_addr().map_err(|source| ServeError::Bind {
        address: requested,
        source,
    })?;
    let registry = Arc::new(Registry::new(
        plan.args.seed,
        Limits::default(),
        CancellationToken::new(),
    ));
    let proxies =
        populate(&registry, plan.proxies)
            .await
            .map_err(|error| ServeError::Populate {
                path: plan
                    .args
                    .config
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                error,
            })?;
    let mut state = ApiState::new(registry).with_lease_ttl(plan.args.lease_ttl);
    if let Some(token) = plan.args.token.filter(|t| !t.is_empty()) {
        state = state.with_token(token);
    }
    Ok(Server {
        listener,
        state,
        address,
        proxies,
    })
}

impl Server {
    /// The address the API listens on (the real port when 0 was asked).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The API's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The proxies the config created, as they were at start.
    pub fn proxies(&self) -> &[ProxyInfo] {
        &self.proxies
    }

    /// The registry the API manages.
    pub fn registry(&self) -> &Arc<Registry> {
        self.state.registry()
    }

    /// Serves until `stop` is cancelled; then stops accepting, lets open
    /// requests finish, and shuts every proxy down.
    pub async fn run(self, stop: CancellationToken) {
        let registry = self.state.registry().clone();
        serve(self.listener, self.state, stop).await;
        registry.shutdown().await;
    }
}

/// Raises this process's soft descriptor limit to its hard limit, as proxy
/// servers do: every proxied connection takes two descriptors, and the usual
/// soft limit of 1024 would refuse connections long before memory runs out.
/// Returns the limit now in force.
fn raise_descriptor_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Some(hard);
    }
    Some(soft)
}

/// Runs `faultline serve` until `stop` is cancelled.
pub async fn run(args: ServeArgs, stop: CancellationToken) -> ExitCode {
    let seed = args.seed;
    let insecure = args.insecure && check_exposure(args.host, args.token.as_deref()).is_err();
    let descriptors = raise_descriptor_limit();
    let server = match start(args).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("faultline serve: {err}");
            return err.exit_code();
        }
    };
    if insecure {
        eprintln!(
            "faultline serve: WARNING: --insecure: the API on {} has no token; anyone who can reach it can inject faults",
            server.address()
        );
    }
    eprintln!(
        "faultline serve: seed {seed}; {} proxies from the config; descriptor limit {}",
        server.proxies().len(),
        descriptors.map_or_else(|| "unknown".to_owned(), |n| n.to_string())
    );
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "faultline serve listening on {}", server.url());
    let _ = stdout.flush();
    drop(stdout);
    server.run(stop).await;
    ExitCode::Pass
}
