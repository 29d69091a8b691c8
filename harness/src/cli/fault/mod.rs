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
//! faultline fault schedule FILE [--seed N] [--duration D] [--time-scale F] [--wait]
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
//!
//! Module map: [`args`] (the clap definitions), this file (running a
//! command against the server), `table.rs` (what is printed) and
//! `schedule_file.rs` (the file `schedule` sends).

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::ExitCode;
use crate::scenario::ScenarioError;
use crate::schedule;
use crate::wire::client::{ApiClient, ClientError, ScheduleState};
use crate::wire::shapes::{ProxyConfig, ToxicConfig};

pub mod args;
mod schedule_file;
mod table;

pub use args::{AttributeArgs, FaultCommand, ServerArgs};
use schedule_file::ScheduleBody;
use table::{describe, inspect, links_table, list, plan_text, regions_table, schedules_table};

/// How long `schedule --wait` waits past the schedule's end before it gives up.
const WAIT_MARGIN: Duration = Duration::from_secs(30);

/// How often `schedule --wait` asks for the schedule's state.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

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
            time_scale,
            wait,
            server,
        } => {
            let mut body = ScheduleBody::load(&file)?;
            body.seed = seed.unwrap_or(body.seed);
            body.duration = duration.or(body.duration);
            body.time_scale = time_scale.unwrap_or(body.time_scale);
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
                    .max(schedule::scale(
                        body.duration.unwrap_or_default(),
                        body.time_scale,
                    ));
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
