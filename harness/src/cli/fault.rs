//! `faultline fault …`: manage proxies and faults on a running `faultline
//! serve` (or any Toxiproxy server), like toxiproxy-cli but with typed flags.
//!
//! ```text
//! faultline fault list
//! faultline fault inspect NAME
//! faultline fault create NAME --listen 127.0.0.1:26379 --upstream 127.0.0.1:6379
//! faultline fault toggle NAME
//! faultline fault delete NAME
//! faultline fault add PROXY --type latency --latency 250ms --jitter 10ms [--stream upstream] [--toxicity 0.5] [--name N]
//! faultline fault update PROXY TOXIC --latency 500ms
//! faultline fault remove PROXY TOXIC
//! faultline fault reset
//! faultline fault links [--json]
//! faultline fault regions [--json]
//! faultline fault schedule FILE [--seed N] [--duration D] [--wait]
//! faultline fault schedules
//! faultline fault unschedule ID
//! ```
//!
//! The server is `--url` (or `FAULTLINE_URL`, default `http://127.0.0.1:8474`).
//! Durations take a unit (`250ms`, `2s`) and are sent in the API's units.
//! Exit codes: 0 done; 1 a waited-for schedule failed or was cancelled; 64
//! bad flags, a bad schedule file or a request the server refused (4xx); 70
//! the server unreachable or failing (5xx); 130 stopped while waiting (the
//! schedule is cancelled on the server, which heals).

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::builder::PossibleValuesParser;
use faultline_proxies::FaultKind;
use serde::Serialize;
use serde_json::{Map, Number, Value};
use tokio_util::sync::CancellationToken;

use super::ExitCode;
use crate::api::access::TOKEN_ENV;
use crate::api::client::{
    ApiClient, ClientError, ScheduleEntry, ScheduleState, StartedSchedule, DEFAULT_URL, URL_ENV,
};
use crate::api::links::{LinkJson, RegionJson};
use crate::api::shapes::{ProxyConfig, ProxyJson, ToxicConfig, ToxicJson};
use crate::scenario::{duration, ScenarioConfig, ScenarioError};
use crate::schedule::StepConfig;

/// How long `schedule --wait` waits past the schedule's end before it gives up.
const WAIT_MARGIN: Duration = Duration::from_secs(30);

/// How often `schedule --wait` asks for the schedule's state.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Subcommands of `faultline fault`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum FaultCommand {
    /// List proxies and their faults.
    List {
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show one proxy and its faults in detail.
    Inspect {
        /// The proxy.
        name: String,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Create a proxy.
    Create {
        /// Its name.
        name: String,
        /// Address to listen on (`host:port`; port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Address to forward to (`host:port`).
        #[arg(long)]
        upstream: String,
        /// Create it disabled (not listening).
        #[arg(long)]
        disabled: bool,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Disable an enabled proxy (closing its connections), or enable a disabled one.
    Toggle {
        /// The proxy.
        name: String,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete a proxy.
    Delete {
        /// The proxy.
        name: String,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Add a fault (a toxic) to a proxy.
    Add {
        /// The proxy.
        proxy: String,
        /// The kind of fault.
        #[arg(long = "type", value_name = "TYPE", value_parser = PossibleValuesParser::new(FaultKind::TYPE_NAMES))]
        kind: String,
        /// Its name (default `<type>_<stream>`).
        #[arg(long)]
        name: Option<String>,
        /// The direction it acts on.
        #[arg(long, default_value = "downstream", value_parser = PossibleValuesParser::new(["upstream", "downstream"]))]
        stream: String,
        /// Probability that it applies to a connection, 0..=1 (default 1).
        #[arg(long, value_parser = parse_probability)]
        toxicity: Option<f64>,
        /// Its attributes.
        #[command(flatten)]
        attributes: Box<AttributeArgs>,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Change a fault's toxicity or attributes; the others are kept.
    Update {
        /// The proxy.
        proxy: String,
        /// The fault.
        toxic: String,
        /// Probability that it applies to a connection, 0..=1.
        #[arg(long, value_parser = parse_probability)]
        toxicity: Option<f64>,
        /// The attributes to change.
        #[command(flatten)]
        attributes: Box<AttributeArgs>,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Remove a fault.
    Remove {
        /// The proxy.
        proxy: String,
        /// The fault.
        toxic: String,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Remove every fault of every proxy and enable every proxy.
    Reset {
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the links (proxies named `FROM->TO:SERVICE`) and their faults.
    Links {
        /// Print the server's JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the regions the links name, with their outbound and inbound links.
    Regions {
        /// Print the server's JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Play a schedule on the server's links; prints its id and plan.
    Schedule {
        /// A JSON array of schedule steps, or a scenario file (its
        /// `schedule`, `seed` and `duration` are used).
        file: PathBuf,
        /// The seed of the random parts (overrides the file's).
        #[arg(long)]
        seed: Option<u64>,
        /// How long the schedule lasts (overrides the file's; e.g. 30s).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Wait until the schedule ends: exit 0 when it finished, 1 when it
        /// failed or was cancelled.
        #[arg(long)]
        wait: bool,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the schedules the server remembers, oldest first.
    Schedules {
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print the server's version (`GET /version`); exits 0 only when it
    /// answers, so it is the container image's health check.
    Version {
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Cancel a running schedule; the server removes every fault it applied.
    Unschedule {
        /// The schedule's id (`sched-1`).
        id: String,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Which server to talk to.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// The API's base URL.
    #[arg(long, env = URL_ENV, default_value = DEFAULT_URL)]
    pub url: String,
    /// Bearer token for a server that requires one.
    #[arg(long, env = TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,
}

/// Fault attributes, typed, with units; each applies to the kinds named.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AttributeArgs {
    /// latency: delay added to each chunk (e.g. 250ms).
    #[arg(long, value_parser = parse_duration, help_heading = "Attributes")]
    pub latency: Option<Duration>,
    /// latency: uniform jitter around the delay.
    #[arg(long, value_parser = parse_duration, help_heading = "Attributes")]
    pub jitter: Option<Duration>,
    /// bandwidth: rate in KB/s (0 stalls the stream).
    #[arg(long, value_name = "KB_PER_S", help_heading = "Attributes")]
    pub rate: Option<u64>,
    /// slow_close: delay of the close; slicer: pause between pieces.
    #[arg(long, value_parser = parse_duration, help_heading = "Attributes")]
    pub delay: Option<Duration>,
    /// timeout: time until the connection closes (0: never); reset_peer: time until the reset.
    #[arg(long, value_parser = parse_duration, help_heading = "Attributes")]
    pub timeout: Option<Duration>,
    /// slicer: mean piece size in bytes.
    #[arg(long, value_name = "BYTES", help_heading = "Attributes")]
    pub average_size: Option<u64>,
    /// slicer: variation of the piece size in bytes.
    #[arg(long, value_name = "BYTES", help_heading = "Attributes")]
    pub size_variation: Option<u64>,
    /// limit_data: bytes after which the connection closes.
    #[arg(long, help_heading = "Attributes")]
    pub bytes: Option<u64>,
    /// loss: probability that a chunk is lost, 0..=1.
    #[arg(long, value_parser = parse_probability, help_heading = "Attributes")]
    pub probability: Option<f64>,
    /// loss: probability that a chunk after a lost one is lost too, 0..=1.
    #[arg(long, value_parser = parse_probability, help_heading = "Attributes")]
    pub correlation: Option<f64>,
    /// loss: initial retransmission timeout (default 200ms).
    #[arg(long, value_parser = parse_duration, help_heading = "Attributes")]
    pub rto: Option<Duration>,
    /// blackhole: what healing does with held bytes.
    #[arg(long, help_heading = "Attributes", value_parser = PossibleValuesParser::new(["deliver", "deliver_now", "reset"]))]
    pub on_heal: Option<String>,
}

impl AttributeArgs {
    /// The attributes given, in the API's units for a fault of `kind` (the
    /// slicer's `delay` is in µs, every other duration in ms).
    pub fn to_attributes(&self, kind: &str) -> Map<String, Value> {
        let mut map = Map::new();
        let mut put = |name: &str, value: Option<Value>| {
            if let Some(value) = value {
                map.insert(name.to_owned(), value);
            }
        };
        let millis = |d: Option<Duration>| d.map(|d| units(d, 1_000_000));
        put("latency", millis(self.latency));
        put("jitter", millis(self.jitter));
        put("rate", self.rate.map(Value::from));
        let delay_unit = if kind == "slicer" { 1_000 } else { 1_000_000 };
        put("delay", self.delay.map(|d| units(d, delay_unit)));
        put("timeout", millis(self.timeout));
        put("average_size", self.average_size.map(Value::from));
        put("size_variation", self.size_variation.map(Value::from));
        put("bytes", self.bytes.map(Value::from));
        put(
            "probability",
            self.probability
                .and_then(Number::from_f64)
                .map(Value::Number),
        );
        put(
            "correlation",
            self.correlation
                .and_then(Number::from_f64)
                .map(Value::Number),
        );
        put("rto", millis(self.rto));
        put("on_heal", self.on_heal.clone().map(Value::from));
        map
    }
}

/// A duration in units of `nanos_per_unit`: an integer when whole, else a fraction.
fn units(duration: Duration, nanos_per_unit: u128) -> Value {
    let nanos = duration.as_nanos();
    match u64::try_from(nanos / nanos_per_unit) {
        Ok(whole) if nanos.is_multiple_of(nanos_per_unit) => Value::from(whole),
        _ => Number::from_f64(nanos as f64 / nanos_per_unit as f64)
            .map_or(Value::Null, Value::Number),
    }
}

/// A duration with a unit (`250ms`, `2s`, `1m30s`), or `0`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text)
        .map_err(|err| format!("{err} (write a duration with a unit, e.g. 250ms or 2s)"))
}

/// A probability within 0..=1.
fn parse_probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{text:?} is not a probability within 0..=1")),
    }
}

/// Why a `faultline fault` command failed.
#[derive(Debug, thiserror::Error)]
pub enum FaultCliError {
    /// The API call failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
    /// A schedule file is unreadable or not a schedule.
    #[error("{}: {reason}", .file.display())]
    File {
        /// The file.
        file: PathBuf,
        /// What is wrong, with the field path when there is one.
        reason: String,
    },
    /// A scenario file's schedule is not valid (the error names the file,
    /// line, column and field path).
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A waited-for schedule failed or was cancelled.
    #[error("schedule {id} {}{}", .state.as_str(), .error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    ScheduleEnded {
        /// The schedule.
        id: String,
        /// How it ended.
        state: ScheduleState,
        /// Why, when the server says.
        error: Option<String>,
    },
    /// A waited-for schedule did not end in time; it was cancelled.
    #[error("schedule {id} did not end within {waited:?}; cancelled it")]
    WaitTimedOut {
        /// The schedule.
        id: String,
        /// How long the wait was.
        waited: Duration,
    },
    /// Stopped while waiting; the schedule was cancelled.
    #[error("stopped while waiting; cancelled schedule {id}")]
    Interrupted {
        /// The schedule.
        id: String,
    },
}

impl FaultCliError {
    /// 64 for a bad URL, a bad schedule file or a request the server refused
    /// (4xx); 1 for a waited-for schedule that failed or was cancelled; 130
    /// when stopped while waiting; 70 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            FaultCliError::Client(ClientError::Url { .. })
            | FaultCliError::File { .. }
            | FaultCliError::Scenario(_) => ExitCode::Usage,
            FaultCliError::ScheduleEnded { .. } => ExitCode::Fail,
            FaultCliError::Interrupted { .. } => ExitCode::Interrupted,
            FaultCliError::Client(ClientError::Api { status, .. }) if status.is_client_error() => {
                ExitCode::Usage
            }
            _ => ExitCode::Internal,
        }
    }
}

/// Runs `faultline fault …`, printing to stdout and errors to stderr.
pub async fn run(command: FaultCommand) -> ExitCode {
    run_until(command, CancellationToken::new()).await
}

/// [`run`], with `stop` ending a `schedule --wait` (which cancels the
/// schedule on the server).
pub async fn run_until(command: FaultCommand, stop: CancellationToken) -> ExitCode {
    // Straight to stdout, so `schedule --wait` shows the plan while it waits.
    let mut out = io::stdout();
    let result = execute_until(command, &mut out, stop).await;
    let _ = out.flush();
    match result {
        Ok(()) => ExitCode::Pass,
        Err(err) => {
            eprintln!("faultline fault: {err}");
            err.exit_code()
        }
    }
}

/// Runs one command against its server, writing what it reports to `out`.
///
/// # Errors
/// A bad URL, an unreachable server, an error answer (with the server's
/// message), or an output that cannot be written.
pub async fn execute(command: FaultCommand, out: &mut dyn Write) -> Result<(), FaultCliError> {
    execute_until(command, out, CancellationToken::new()).await
}

/// [`execute`], with `stop` ending a `schedule --wait`: the schedule is then
/// cancelled on the server, which heals.
///
/// # Errors
/// As [`execute`]; a bad schedule file; a waited-for schedule that failed,
/// was cancelled, did not end in time, or was stopped.
pub async fn execute_until(
    command: FaultCommand,
    out: &mut dyn Write,
    stop: CancellationToken,
) -> Result<(), FaultCliError> {
    let client = |server: &ServerArgs| ApiClient::new(&server.url, server.token.clone());
    match command {
        FaultCommand::List { server } => {
            let proxies = client(&server)?.proxies().await?;
            out.write_all(list(proxies.values()).as_bytes())?;
        }
        FaultCommand::Inspect { name, server } => {
            let proxy = client(&server)?.proxy(&name).await?;
            out.write_all(inspect(&proxy).as_bytes())?;
        }
        FaultCommand::Create {
            name,
            listen,
            upstream,
            disabled,
            server,
        } => {
            let config = ProxyConfig {
                name: Some(name),
                listen: Some(listen),
                upstream: Some(upstream),
                enabled: Some(!disabled),
                toxics: None,
            };
            let proxy = client(&server)?.create_proxy(&config).await?;
            writeln!(
                out,
                "created proxy {} listening on {} → {}",
                proxy.name, proxy.listen, proxy.upstream
            )?;
        }
        FaultCommand::Toggle { name, server } => {
            let client = client(&server)?;
            let enabled = !client.proxy(&name).await?.enabled;
            let update = ProxyConfig {
                enabled: Some(enabled),
                ..ProxyConfig::default()
            };
            let proxy = client.update_proxy(&name, &update).await?;
            let state = if proxy.enabled { "enabled" } else { "disabled" };
            writeln!(
                out,
                "proxy {} is now {state} (listen {})",
                proxy.name, proxy.listen
            )?;
        }
        FaultCommand::Delete { name, server } => {
            client(&server)?.delete_proxy(&name).await?;
            writeln!(out, "deleted proxy {name}")?;
        }
        FaultCommand::Add {
            proxy,
            kind,
            name,
            stream,
            toxicity,
            attributes,
            server,
        } => {
            let config = ToxicConfig {
                name,
                attributes: Some(attributes.to_attributes(&kind)),
                kind: Some(kind),
                stream: Some(stream),
                toxicity,
            };
            let toxic = client(&server)?.add_toxic(&proxy, &config).await?;
            writeln!(out, "added to {proxy}: {}", describe(&toxic))?;
        }
        FaultCommand::Update {
            proxy,
            toxic,
            toxicity,
            attributes,
            server,
        } => {
            let client = client(&server)?;
            // The kind decides the unit of `--delay`.
            let current = client
                .toxics(&proxy)
                .await?
                .into_iter()
                .find(|t| t.name == toxic);
            let kind = current.map(|t| t.kind).unwrap_or_default();
            let config = ToxicConfig {
                toxicity,
                attributes: Some(attributes.to_attributes(&kind)),
                ..Default::default()
            };
            let updated = client.update_toxic(&proxy, &toxic, &config).await?;
            writeln!(out, "updated on {proxy}: {}", describe(&updated))?;
        }
        FaultCommand::Remove {
            proxy,
            toxic,
            server,
        } => {
            client(&server)?.remove_toxic(&proxy, &toxic).await?;
            writeln!(out, "removed {toxic} from {proxy}")?;
        }
        FaultCommand::Reset { server } => {
            client(&server)?.reset().await?;
            writeln!(out, "reset: every fault removed, every proxy enabled")?;
        }
        FaultCommand::Links { json, server } => {
            let links = client(&server)?.links().await?;
            if json {
                print_json(out, &links)?;
            } else {
                out.write_all(links_table(&links).as_bytes())?;
            }
        }
        FaultCommand::Regions { json, server } => {
            let regions = client(&server)?.regions().await?;
            if json {
                print_json(out, &regions)?;
            } else {
                out.write_all(regions_table(&regions).as_bytes())?;
            }
        }
        FaultCommand::Schedule {
            file,
            seed,
            duration,
            wait,
            server,
        } => {
            let mut body = ScheduleBody::load(&file)?;
            body.seed = seed.unwrap_or(body.seed);
            body.duration = duration.or(body.duration);
            let client = client(&server)?;
            let started = client.start_schedule(&body).await?;
            out.write_all(plan_text(&started).as_bytes())?;
            if wait {
                let end = started
                    .plan
                    .iter()
                    .map(|row| Duration::from_secs_f64(row.at_ms.max(0.0) / 1000.0))
                    .max()
                    .unwrap_or_default()
                    .max(body.duration.unwrap_or_default());
                wait_for(&client, &started.id, end + WAIT_MARGIN, &stop).await?;
                writeln!(out, "schedule {} finished", started.id)?;
            }
        }
        FaultCommand::Schedules { server } => {
            let schedules = client(&server)?.schedules().await?;
            out.write_all(schedules_table(&schedules).as_bytes())?;
        }
        FaultCommand::Version { server } => {
            let version = client(&server)?.version().await?;
            writeln!(out, "{}", version.trim())?;
        }
        FaultCommand::Unschedule { id, server } => {
            let client = client(&server)?;
            client.cancel_schedule(&id).await?;
            let state = client.schedule(&id).await?.state;
            writeln!(
                out,
                "schedule {id} is {}; its faults are removed",
                state.as_str()
            )?;
        }
    }
    Ok(())
}

/// The body `schedule` sends: a scenario's `schedule`, `seed` and `duration`.
#[derive(Debug, Serialize)]
struct ScheduleBody {
    schedule: Vec<StepConfig>,
    seed: u64,
    #[serde(with = "duration::opt", skip_serializing_if = "Option::is_none")]
    duration: Option<Duration>,
}

impl ScheduleBody {
    /// Reads a JSON array of steps or a whole scenario file; a scenario is
    /// parsed as `faultline validate` parses it (shape only: the server
    /// checks the schedule against its own links).
    fn load(file: &Path) -> Result<Self, FaultCliError> {
        let bad = |reason: String| FaultCliError::File {
            file: file.to_owned(),
            reason,
        };
        let text =
            std::fs::read_to_string(file).map_err(|err| bad(format!("cannot read: {err}")))?;
        if text.trim_start().starts_with('[') {
            let mut deserializer = serde_json::Deserializer::from_str(&text);
            let schedule: Vec<StepConfig> = serde_path_to_error::deserialize(&mut deserializer)
                .map_err(|err| {
                    let path = err.path().to_string();
                    let path = if path == "." { String::new() } else { path };
                    bad(format!("schedule{path}: {}", err.into_inner()))
                })?;
            deserializer
                .end()
                .map_err(|err| bad(format!("after the schedule: {err}")))?;
            return Ok(Self {
                schedule,
                seed: 0,
                duration: None,
            });
        }
        let origin = file.display().to_string();
        let config = ScenarioConfig::parse(&text, Some(&origin))?;
        if config.schedule.is_empty() {
            return Err(bad("schedule: must list at least one step".to_owned()));
        }
        // The agent plays a schedule as written: refuse rather than run a
        // compressed drill's schedule at full length.
        if config.time_scale != 1.0 {
            return Err(bad(format!(
                "time_scale: {} is not applied by `faultline fault schedule` (the agent \
                 plays the schedule as written); scale the step times or set it to 1",
                config.time_scale
            )));
        }
        Ok(Self {
            schedule: config.schedule,
            seed: config.seed,
            duration: Some(config.duration),
        })
    }
}

/// Polls schedule `id` until it ends, for at most `limit`; cancels it on the
/// server when `stop` fires or the limit passes.
async fn wait_for(
    client: &ApiClient,
    id: &str,
    limit: Duration,
    stop: &CancellationToken,
) -> Result<(), FaultCliError> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let detail = client.schedule(id).await?;
        match detail.state {
            ScheduleState::Running => {}
            ScheduleState::Finished => return Ok(()),
            state => {
                return Err(FaultCliError::ScheduleEnded {
                    id: id.to_owned(),
                    state,
                    error: detail.error,
                })
            }
        }
        tokio::select! {
            () = stop.cancelled() => {
                client.cancel_schedule(id).await?;
                return Err(FaultCliError::Interrupted { id: id.to_owned() });
            }
            () = tokio::time::sleep_until(deadline) => {
                client.cancel_schedule(id).await?;
                return Err(FaultCliError::WaitTimedOut { id: id.to_owned(), waited: limit });
            }
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

/// Pretty JSON and a newline.
fn print_json<T: Serialize>(out: &mut dyn Write, value: &T) -> Result<(), FaultCliError> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::from)?;
    writeln!(out, "{text}")?;
    Ok(())
}

/// `-` for nothing, else the items comma-separated.
fn joined<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The table of `links`.
fn links_table(links: &[LinkJson]) -> String {
    if links.is_empty() {
        return "no links\n".to_owned();
    }
    let rows = links
        .iter()
        .map(|l| proxy_row(&l.link, &l.listen, &l.upstream, l.enabled, &l.faults));
    table(&["LINK", "LISTEN", "UPSTREAM", "ENABLED", "FAULTS"], rows)
}

/// The table of `regions`.
fn regions_table(regions: &[RegionJson]) -> String {
    if regions.is_empty() {
        return "no regions\n".to_owned();
    }
    let rows = regions
        .iter()
        .map(|r| vec![r.name.clone(), joined(&r.outbound), joined(&r.inbound)]);
    table(&["REGION", "OUTBOUND", "INBOUND"], rows)
}

/// The table of `schedules`.
fn schedules_table(schedules: &[ScheduleEntry]) -> String {
    if schedules.is_empty() {
        return "no schedules\n".to_owned();
    }
    let rows = schedules.iter().map(|s| {
        vec![
            s.id.clone(),
            s.state.as_str().to_owned(),
            s.started_at.clone(),
        ]
    });
    table(&["ID", "STATE", "STARTED"], rows)
}

/// What `schedule` prints: the id, then the plan as a table.
fn plan_text(started: &StartedSchedule) -> String {
    let mut out = format!("started schedule {}\n", started.id);
    let rows = started.plan.iter().map(|row| {
        let step = match row.instance {
            Some(instance) => format!("{}.{instance}", row.step),
            None => row.step.to_string(),
        };
        vec![
            format!("{}ms", row.at_ms),
            step,
            row.action.clone(),
            row.link.clone(),
            row.op.clone(),
            describe(&row.fault),
        ]
    });
    out.push_str(&table(
        &["AT", "STEP", "ACTION", "LINK", "OP", "FAULT"],
        rows,
    ));
    out
}

/// The table of `list`.
fn list<'a>(proxies: impl Iterator<Item = &'a ProxyJson>) -> String {
    let rows: Vec<Vec<String>> = proxies
        .map(|p| proxy_row(&p.name, &p.listen, &p.upstream, p.enabled, &p.toxics))
        .collect();
    if rows.is_empty() {
        return "no proxies\n".to_owned();
    }
    table(&["NAME", "LISTEN", "UPSTREAM", "ENABLED", "FAULTS"], rows)
}

/// One proxy (or link) as a row of `list` or `links`.
fn proxy_row(
    name: &str,
    listen: &str,
    upstream: &str,
    enabled: bool,
    faults: &[ToxicJson],
) -> Vec<String> {
    let faults: Vec<&str> = faults.iter().map(|t| t.name.as_str()).collect();
    vec![
        name.to_owned(),
        listen.to_owned(),
        upstream.to_owned(),
        if enabled { "yes" } else { "no" }.to_owned(),
        joined(&faults),
    ]
}

/// Rows under a header, columns padded to their widest cell, the last unpadded.
fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let rows: Vec<Vec<String>> = rows.into_iter().collect();
    let mut widths: Vec<usize> = header.iter().map(String::len).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The detail of `inspect`.
fn inspect(proxy: &ProxyJson) -> String {
    let mut out = String::new();
    let state = if proxy.enabled { "enabled" } else { "disabled" };
    let _ = writeln!(
        out,
        "{}: {state}, listen {}, upstream {}",
        proxy.name, proxy.listen, proxy.upstream
    );
    for stream in ["upstream", "downstream"] {
        let faults: Vec<&ToxicJson> = proxy.toxics.iter().filter(|t| t.stream == stream).collect();
        let _ = writeln!(out, "  {stream} faults:");
        if faults.is_empty() {
            let _ = writeln!(out, "    none");
        }
        for toxic in faults {
            let _ = writeln!(out, "    {}", describe(toxic));
        }
    }
    out
}

/// One fault on one line: name, kind, stream, toxicity, attributes.
fn describe(toxic: &ToxicJson) -> String {
    let mut text = format!(
        "{} ({} {}, toxicity {})",
        toxic.name, toxic.kind, toxic.stream, toxic.toxicity
    );
    for (name, value) in &toxic.attributes {
        let _ = write!(text, " {name}={value}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_sent_in_the_kinds_units() {
        let args = AttributeArgs {
            latency: Some(Duration::from_millis(250)),
            jitter: Some(Duration::from_micros(500)),
            delay: Some(Duration::from_millis(2)),
            ..Default::default()
        };
        let attrs = args.to_attributes("latency");
        assert_eq!(attrs["latency"], Value::from(250));
        assert_eq!(attrs["jitter"], serde_json::json!(0.5));
        assert_eq!(args.to_attributes("slicer")["delay"], Value::from(2000));
        assert_eq!(args.to_attributes("slow_close")["delay"], Value::from(2));
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("250").is_err());
    }

    #[test]
    fn a_scenario_file_gives_its_schedule_seed_and_duration() {
        let file = std::env::temp_dir().join(format!(
            "faultline-fault-schedule-{}.json",
            std::process::id()
        ));
        let scenario = r#"{"name": "x", "seed": 5, "duration": "2s", "regions": ["a", "b"], "services": {},
            "schedule": [{"at": "1s", "fault": {"partition": [["a"], ["b"]]}}]}"#;
        std::fs::write(&file, scenario).expect("write the scenario");
        let body = ScheduleBody::load(&file);
        let _ = std::fs::remove_file(&file);
        let body = body.expect("a scenario's schedule");
        assert_eq!(body.seed, 5);
        assert_eq!(body.duration, Some(Duration::from_secs(2)));
        let sent = serde_json::to_value(&body).expect("serializable");
        assert_eq!(sent["duration"], "2s");
        assert_eq!(sent["schedule"][0]["at"], "1s");
    }

    #[test]
    fn a_scenario_file_with_a_time_scale_is_refused_naming_the_field() {
        let file = std::env::temp_dir().join(format!(
            "faultline-fault-schedule-scaled-{}.json",
            std::process::id()
        ));
        let scenario = r#"{"name": "x", "time_scale": 0.25, "duration": "2s", "regions": ["a", "b"],
            "services": {}, "schedule": [{"at": "1s", "fault": {"partition": [["a"], ["b"]]}}]}"#;
        std::fs::write(&file, scenario).expect("write the scenario");
        let body = ScheduleBody::load(&file);
        let _ = std::fs::remove_file(&file);
        let err = body.expect_err("a scaled schedule would run at full length");
        assert_eq!(err.exit_code(), ExitCode::Usage);
        assert!(err.to_string().contains("time_scale: 0.25"), "{err}");
    }

    #[test]
    fn probabilities_are_checked_locally() {
        assert_eq!(parse_probability("0.5"), Ok(0.5));
        assert!(parse_probability("1.5").is_err());
        assert!(parse_probability("NaN").is_err());
    }
}
