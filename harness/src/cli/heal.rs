//! `faultline heal`: undo what drills that died left behind.
//!
//! ```text
//! faultline heal [--state-dir DIR] [--dry-run] [--agent-token T]
//! ```
//!
//! Reads every run file (see [`crate::runfile`]) whose drill is no longer
//! alive; for each: kills the process groups of its spawned services (SIGTERM,
//! then SIGKILL), removes the faults and then the proxies it placed on agents
//! (an agent that answers 404 no longer has them), ends its leases (an agent
//! heals what a lease still covers; a lapsed one is already healed), and
//! removes the run file once nothing is left. It prints one line per action.
//! `--dry-run` prints what it would do and changes nothing. A run file of a
//! drill still running is left alone. Exit 0 when everything stale was healed
//! (or there was nothing to heal), 70 when something could not be undone (the
//! run file then stays, for a later `faultline heal`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::StatusCode;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::ExitCode;
use crate::runfile::{self, ProcessEntry, RunRecord};
use crate::wire::client::{ApiClient, ClientError};

/// How long a process group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// Arguments of `faultline heal`.
#[derive(Debug, Clone, clap::Args)]
pub struct HealArgs {
    /// The state dir the drills wrote their run files to (as `faultline drill --state-dir`).
    #[arg(long, env = "FAULTLINE_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Bearer token for the agents (`faultline serve --token`).
    #[arg(long, env = "FAULTLINE_TOKEN", hide_env_values = true)]
    pub agent_token: Option<String>,
}

/// One line about a stale run: file, scenario, owner, what it holds.
pub fn describe(path: &Path, record: &RunRecord) -> String {
    format!(
        "{} (drill {:?}, pid {}, started {}, died while {}: {} process(es), {} fault(s) and {} proxy(ies) on agents)",
        path.display(),
        record.scenario,
        record.owner.pid,
        record.started_at,
        match record.phase {
            runfile::Phase::Starting => "starting",
            runfile::Phase::Running => "running",
            runfile::Phase::Healing => "healing",
        },
        record.processes.len(),
        record.remote_faults().count(),
        record.remote_proxies().count(),
    )
}

/// Runs `faultline heal`.
pub async fn run(args: HealArgs) -> ExitCode {
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(runfile::default_state_dir);
    let mut failed = false;
    let mut healed = 0;
    for (path, record) in runfile::list(&state_dir) {
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                println!("skip {}: {err}", path.display());
                continue;
            }
        };
        if !record.is_stale() {
            continue;
        }
        healed += 1;
        println!("stale run {}", describe(&path, &record));
        let left = heal_run(&record, &args).await;
        if args.dry_run {
            println!("  would remove {}", path.display());
        } else if left == 0 {
            match std::fs::remove_file(&path) {
                Ok(()) => println!("  removed {}", path.display()),
                Err(err) => {
                    println!("  could not remove {}: {err}", path.display());
                    failed = true;
                }
            }
        } else {
            println!(
                "  {left} thing(s) could not be undone; {} kept for another `faultline heal`",
                path.display()
            );
            failed = true;
        }
    }
    if healed == 0 {
        println!(
            "nothing to heal: no run file of a dead drill in {}",
            runfile::runs_dir(&state_dir).display()
        );
    }
    if failed {
        ExitCode::Internal
    } else {
        ExitCode::Pass
    }
}

/// Undoes one stale run; returns how many things could not be undone.
async fn heal_run(record: &RunRecord, args: &HealArgs) -> usize {
    let mut left = 0;
    for process in &record.processes {
        left += heal_process(process, args.dry_run).await;
    }
    let mut clients: std::collections::BTreeMap<String, ApiClient> = Default::default();
    let mut client = |agent: &str| -> Result<ApiClient, ClientError> {
        if let Some(client) = clients.get(agent) {
            return Ok(client.clone());
        }
        let client = ApiClient::new(agent, args.agent_token.clone())?;
        clients.insert(agent.to_owned(), client.clone());
        Ok(client)
    };
    for fault in record.remote_faults() {
        let what = format!(
            "fault {} on {} at {}",
            fault.fault, fault.proxy, fault.plane
        );
        if args.dry_run {
            println!("  would remove {what}");
            continue;
        }
        let result = match client(&fault.plane) {
            Ok(c) => c.remove_toxic(&fault.proxy, &fault.fault).await,
            Err(err) => Err(err),
        };
        left += report(&what, result);
    }
    for proxy in record.remote_proxies() {
        let what = format!("proxy {} at {}", proxy.name, proxy.plane);
        if args.dry_run {
            println!("  would remove {what}");
            continue;
        }
        let result = match client(&proxy.plane) {
            Ok(c) => c.delete_proxy(&proxy.name).await,
            Err(err) => Err(err),
        };
        left += report(&what, result);
    }
    for lease in &record.leases {
        let what = format!("lease {} at {}", lease.id, lease.agent);
        if args.dry_run {
            println!("  would end {what}");
            continue;
        }
        let result = match client(&lease.agent) {
            Ok(c) => c.end_lease(&lease.id).await,
            Err(err) => Err(err),
        };
        left += report(&what, result);
    }
    left
}

/// Prints the outcome of one removal; 1 if it failed (404 counts as done).
fn report(what: &str, result: Result<(), ClientError>) -> usize {
    match result {
        Ok(()) => {
            println!("  removed {what}");
            0
        }
        Err(ClientError::Api {
            status: StatusCode::NOT_FOUND,
            ..
        }) => {
            println!("  {what}: already gone");
            0
        }
        Err(err) => {
            println!("  could not remove {what}: {err}");
            1
        }
    }
}

/// Kills what is left of one service's process group; 1 if some survived.
async fn heal_process(process: &ProcessEntry, dry_run: bool) -> usize {
    let what = format!(
        "{} in {} (pid {}, process group {})",
        process.service, process.region, process.process.pid, process.pgid
    );
    // The group is the drill's only if its leader (the supervisor) or the
    // service itself is the very process recorded (not a reused pid).
    let ours = process.supervisor.is_some_and(|s| s.is_alive())
        || (process.process.is_alive()
            && runfile::process_group_of(process.process.pid) == Some(process.pgid));
    let members = if ours {
        runfile::members_of_group(process.pgid)
    } else {
        Vec::new()
    };
    if members.is_empty() {
        println!("  {what}: no process left");
        return 0;
    }
    if dry_run {
        println!(
            "  would kill {what}: {} process(es) {members:?}",
            members.len()
        );
        return 0;
    }
    let group = Pid::from_raw(process.pgid);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + GRACE;
    let supervisor = process.supervisor.map(|s| s.pid);
    // The supervisor ignores SIGTERM: wait for the others only.
    while runfile::members_of_group(process.pgid)
        .iter()
        .any(|pid| Some(*pid) != supervisor)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = killpg(group, Signal::SIGKILL);
    let deadline = tokio::time::Instant::now() + GRACE;
    loop {
        let alive = runfile::members_of_group(process.pgid);
        if alive.is_empty() {
            println!("  killed {what}: {} process(es)", members.len());
            return 0;
        }
        if tokio::time::Instant::now() >= deadline {
            println!("  could not kill {what}: {alive:?} still alive");
            return 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
