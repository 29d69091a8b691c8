// Longer than 700 lines: the drill from start to report, with the agents' leases, the run file and the client processes on every exit path; its pieces share the cleanup order.
//! The drill runner: bring the topology up, drive workloads and probes, apply
//! the expanded timeline on tokio's clock, and ALWAYS heal.
//!
//! Every fault the runner adds is tracked by a [`Healer`]; on success, failure,
//! a stop condition, the maximum duration, cancellation (Ctrl-C/SIGTERM reach
//! `stop`) or a panic, the faults still in place are removed and every spawned
//! process is stopped. The healer also heals on drop, so a drill future that is
//! dropped mid-run still leaves nothing behind.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use faultline_proxies::{Limits, Registry};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::apply::{apply_changes, sleep_precisely, ApplyError, Healer};
use crate::check::attribution::{self, Attributed, Attribution, BaselinePolicy};
use crate::check::{self, CheckResult, Invariant, Verdict};
use crate::clients::{ClientRole, ClientsError, DrillClients};
use crate::heartbeat::{self, Acquired, Heartbeat};
use crate::history::{History, Record};
use crate::plane::{InProcess, Plane, PlaneError, Recorded, Remote};
use crate::report::{self, BaselineReport, ReportInput};
use crate::runfile::{LeaseEntry, Phase, RunFile, RunFileError};
use crate::scenario::{Probe, Scenario, StopCondition};
use crate::schedule::TimelineEntry;
use crate::topology::{PlaneFor, SpawnOptions, Topology, TopologyError};
use crate::workload::client::HttpClient;
use crate::workload::custom::{CustomWorkload, WorkloadContext};
use crate::workload::{final_read, http, probe, process_workload, Recorder};

/// How a drill is run (not what it is: that is the [`Scenario`]).
#[derive(Debug, Clone, Default)]
pub struct DrillOptions {
    /// Where the report folder goes; `None` writes no files.
    pub report_dir: Option<PathBuf>,
    /// Extra folders to find spawned programs in.
    pub search: Vec<PathBuf>,
    /// Told of each step and of the time passing (the CLI's progress bar).
    pub progress: Option<Arc<dyn DrillProgress>>,
    /// Bearer token for remote agents.
    pub agent_token: Option<String>,
    /// Per agent URL, its own bearer token (what a scenario's
    /// `agents.REGION.token_env` names; `faultline drill` reads them from the
    /// environment with [`crate::scenario::agent::tokens_from`]). An agent
    /// without an entry gets `agent_token`.
    pub agent_tokens: BTreeMap<String, String>,
    /// The command that reproduces this run (printed in reports).
    pub reproduce: Option<String>,
    /// Where the run file goes (`<dir>/runs/`, see [`crate::runfile`]);
    /// `None` writes none (the default for the Rust API; `faultline drill`
    /// always writes one).
    pub state_dir: Option<PathBuf>,
    /// The TTL of the lease the drill holds on each agent (the agent's
    /// default, 10 s unless `faultline serve --lease-ttl` says otherwise,
    /// when `None`).
    pub lease_ttl: Option<Duration>,
    /// Also run the scenario without faults and attribute every verdict
    /// (what `faultline drill --baseline` and a scenario's `"baseline": true`
    /// ask for; see docs/baseline.md).
    pub baseline: bool,
    /// Whether a failure the baseline shares fails the drill
    /// ([`DrillReport::counted_verdict`], the exit code, junit.xml).
    pub baseline_policy: BaselinePolicy,
}

/// What a drill reports while it runs: the CLI draws it as a progress bar
/// on a terminal (`cli::progress`); tests may record it.
pub trait DrillProgress: Send + Sync + fmt::Debug {
    /// Timeline entry `index` (of `total`) is being applied; `next` follows.
    fn step(&self, index: usize, total: usize, entry: &TimelineEntry, next: Option<&TimelineEntry>);
    /// `elapsed` real time has passed since the drill started.
    fn tick(&self, elapsed: Duration);
    /// The schedule and the traffic are over (or the drill was cancelled).
    fn finish(&self);
}

/// A scenario plus what Rust code adds to it.
#[derive(Debug, Clone)]
pub struct Drill {
    /// The scenario.
    pub scenario: Scenario,
    /// Options.
    pub options: DrillOptions,
    /// Async closures run as workloads next to the scenario's.
    pub custom_workloads: Vec<CustomWorkload>,
    /// Invariants checked besides the scenario's (custom closures, say).
    pub extra_invariants: Vec<Invariant>,
}

impl Drill {
    /// A drill of `scenario` with default options.
    pub fn new(scenario: Scenario) -> Self {
        Self {
            scenario,
            options: DrillOptions::default(),
            custom_workloads: Vec::new(),
            extra_invariants: Vec::new(),
        }
    }

    /// Writes the report into `dir`.
    #[must_use]
    pub fn report_to(mut self, dir: impl Into<PathBuf>) -> Self {
        self.options.report_dir = Some(dir.into());
        self
    }

    /// Adds an async closure workload.
    #[must_use]
    pub fn workload(mut self, workload: CustomWorkload) -> Self {
        self.custom_workloads.push(workload);
        self
    }

    /// Adds an invariant (e.g. [`Invariant::custom`]).
    #[must_use]
    pub fn invariant(mut self, invariant: Invariant) -> Self {
        self.extra_invariants.push(invariant);
        self
    }

    /// Also runs the scenario without faults, after the drill, and attributes
    /// every verdict (see [`DrillReport::attribution`]).
    #[must_use]
    pub fn with_baseline(mut self) -> Self {
        self.options.baseline = true;
        self
    }

    /// Whether a baseline run goes with this drill (the option or the scenario's `baseline`).
    pub fn runs_baseline(&self) -> bool {
        self.options.baseline || self.scenario.baseline
    }

    /// The drill without faults: the same scenario with an empty schedule
    /// (every link at its static settings), reporting into `baseline/`.
    fn baseline(&self) -> Drill {
        let mut drill = self.clone();
        drill.scenario.schedule.clear();
        drill.scenario.config.schedule.clear();
        drill.scenario.stop_when.clear();
        drill.options.report_dir = self.options.report_dir.as_ref().map(|d| d.join("baseline"));
        drill
    }
}

/// Why a drill could not run to a verdict.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The topology did not come up.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A remote agent's URL is unusable.
    #[error("agent: {0}")]
    Agent(PlaneError),
    /// A fault change could not be applied.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// Cancelled (Ctrl-C, SIGTERM) before it finished; everything was healed.
    #[error("cancelled; every fault was healed and every process stopped")]
    Cancelled,
    /// The report could not be written.
    #[error(transparent)]
    Report(#[from] report::ReportError),
    /// The run file could not be created.
    #[error(transparent)]
    RunFile(#[from] RunFileError),
    /// A client process of a workload, probe or final read did not start.
    #[error(transparent)]
    Clients(ClientsError),
}

/// What a finished drill found.
#[derive(Debug, Clone)]
pub struct DrillReport {
    /// Scenario name.
    pub name: String,
    /// The seed.
    pub seed: u64,
    /// The history recorded.
    pub history: History,
    /// Every invariant's result.
    pub results: Vec<CheckResult>,
    /// Fail beats unknown beats pass (the drill's own, whatever the baseline says).
    pub verdict: Verdict,
    /// The verdict as the baseline policy counts it (the exit code): the
    /// same as `verdict` without a baseline run or under
    /// [`BaselinePolicy::Fail`].
    pub counted_verdict: Verdict,
    /// The baseline run and the attribution of every verdict, if one ran.
    pub baseline: Option<BaselineReport>,
    /// The report folder, if one was written.
    pub report_dir: Option<PathBuf>,
    /// The text summary (what the terminal shows).
    pub summary: String,
    /// Why the drill stopped early, if it did.
    pub stopped_early: Option<String>,
    /// Faults that could not be removed while healing (should be empty).
    pub unhealed: Vec<String>,
    /// Spawned services that exited before the drill stopped them.
    pub exited: Vec<String>,
    /// What client processes did wrong: exits, lines that are no answers,
    /// answers to ids never sent (each naming the client, region and line).
    pub client_problems: Vec<String>,
}

impl DrillReport {
    /// The result of the invariant of that name.
    pub fn result(&self, name: &str) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.name == name)
    }

    /// The attribution of the invariant `name` (`None` without a baseline run).
    pub fn attribution(&self, name: &str) -> Option<&Attributed> {
        self.baseline.as_ref()?.of(name)
    }

    /// Panics unless the invariant `name` has `attribution`, printing both
    /// runs' verdicts and figures.
    #[track_caller]
    pub fn assert_attribution(&self, name: &str, attribution: Attribution) -> &Attributed {
        let Some(attributed) = self.attribution(name) else {
            panic!(
                "no attribution for {name:?} (was a baseline run?)\n{}",
                self.failure_message()
            );
        };
        if attributed.attribution != attribution {
            panic!(
                "invariant {name:?} is {} where {attribution} was expected\n{}",
                attributed.line(),
                self.failure_message()
            );
        }
        attributed
    }

    /// Panics with the seed, the failing verdicts' evidence and the report
    /// folder unless every invariant passed.
    #[track_caller]
    pub fn assert_pass(&self) {
        if self.verdict != Verdict::Pass {
            panic!("{}", self.failure_message());
        }
    }

    /// Panics unless the invariant `name` has `verdict`, printing the seed,
    /// its evidence and the report folder.
    #[track_caller]
    pub fn assert_verdict(&self, name: &str, verdict: Verdict) {
        let Some(result) = self.result(name) else {
            panic!(
                "no invariant named {name:?} (have: {:?})\n{}",
                self.results.iter().map(|r| &r.name).collect::<Vec<_>>(),
                self.failure_message()
            );
        };
        if result.verdict != verdict {
            panic!(
                "invariant {name:?} is {} where {verdict} was expected\n{}",
                result.verdict,
                self.failure_message()
            );
        }
    }

    fn failure_message(&self) -> String {
        let mut text = format!(
            "drill {:?} (seed {}) verdict: {}\n",
            self.name, self.seed, self.verdict
        );
        for result in &self.results {
            text.push_str(&format!(
                "- {} {}: {}\n",
                result.verdict, result.name, result.message
            ));
            for evidence in result.evidence.iter().take(5) {
                text.push_str(&format!("    {evidence}\n"));
            }
        }
        if let Some(baseline) = &self.baseline {
            text.push_str(&format!(
                "baseline (no faults) verdict: {}\n",
                baseline.verdict()
            ));
            for attributed in &baseline.attribution {
                text.push_str(&format!("- {}\n", attributed.line()));
            }
        }
        match &self.report_dir {
            Some(dir) => text.push_str(&format!("report: {}\n", dir.display())),
            None => text.push_str("no report folder (set DrillOptions::report_dir)\n"),
        }
        text
    }
}

/// The planes of one drill: in-process, plus one remote per agent URL.
#[derive(Debug)]
struct Planes {
    local: Arc<dyn Plane>,
    remote: BTreeMap<String, Arc<dyn Plane>>,
}

impl PlaneFor for Planes {
    fn plane_for(&self, agent: Option<&str>) -> Arc<dyn Plane> {
        agent
            .and_then(|a| self.remote.get(a))
            .cloned()
            .unwrap_or_else(|| self.local.clone())
    }
}

/// Runs a drill to its verdict. Cancelling `stop` ends it early: faults are
/// healed, processes stopped, and [`DrillError::Cancelled`] returned.
///
/// # Errors
/// See [`DrillError`]. A violated invariant is not an error: it is a verdict.
pub async fn run(drill: Drill, stop: CancellationToken) -> Result<DrillReport, DrillError> {
    // The baseline runs after the drill, not beside it: both on one machine
    // would share its cores, and each run's latencies would measure the other
    // (docs/baseline.md). Each run picks its own ports.
    let ran = run_once(&drill, &stop).await?;
    let baseline = if drill.runs_baseline() {
        Some(run_once(&drill.baseline(), &stop).await?)
    } else {
        None
    };
    let scenario = &drill.scenario;
    let invariants = invariants_of(&drill);
    let baseline_report = baseline.as_ref().map(|base| {
        // Judged over the drill's fault windows: the same times, no fault.
        let results = attribution::check_baseline(&invariants, &base.history, &ran.history);
        BaselineReport {
            history: base.history.clone(),
            attribution: attribution::attribute(&invariants, &ran.results, &results),
            results,
            policy: drill.options.baseline_policy,
        }
    });
    let Ran {
        history,
        results,
        placements,
        stopped_early,
        unhealed,
        exited,
        client_problems,
    } = ran;
    let verdict = check::overall_verdict(&results);
    let counted_verdict = baseline_report
        .as_ref()
        .map_or(verdict, BaselineReport::counted_verdict);
    let reproduce = drill.options.reproduce.clone().unwrap_or_else(|| {
        format!(
            "faultline drill <scenario.json> --seed {} --time-scale {}{}",
            scenario.seed,
            scenario.time_scale,
            if baseline_report.is_some() {
                " --baseline"
            } else {
                ""
            }
        )
    });
    let input = ReportInput {
        name: scenario.name.clone(),
        seed: scenario.seed,
        scenario: serde_json::to_value(&scenario.config).unwrap_or_default(),
        regions: scenario.region_names(),
        reproduce,
        history: &history,
        results: &results,
        placements,
        baseline: baseline_report.as_ref(),
    };
    let mut summary = report::summary_text(&input);
    notes(
        &mut summary,
        "",
        &stopped_early,
        &unhealed,
        &exited,
        &client_problems,
    );
    let mut unhealed = unhealed;
    let mut exited = exited;
    let mut client_problems = client_problems;
    if let Some(base) = baseline {
        notes(
            &mut summary,
            "Baseline run: ",
            &base.stopped_early,
            &base.unhealed,
            &base.exited,
            &base.client_problems,
        );
        unhealed.extend(base.unhealed.into_iter().map(|u| format!("baseline: {u}")));
        exited.extend(base.exited.into_iter().map(|e| format!("baseline: {e}")));
        client_problems.extend(
            base.client_problems
                .into_iter()
                .map(|p| format!("baseline: {p}")),
        );
    }
    let report_dir = match &drill.options.report_dir {
        Some(dir) => Some(report::write(dir, &input)?.dir),
        None => None,
    };
    Ok(DrillReport {
        name: scenario.name.clone(),
        seed: scenario.seed,
        history,
        results,
        verdict,
        counted_verdict,
        baseline: baseline_report,
        report_dir,
        summary,
        stopped_early,
        unhealed,
        exited,
        client_problems,
    })
}

/// The scenario's invariants and the Rust code's, in the order results come.
fn invariants_of(drill: &Drill) -> Vec<Invariant> {
    drill
        .scenario
        .invariants
        .iter()
        .chain(&drill.extra_invariants)
        .cloned()
        .collect()
}

/// Appends what went wrong around a run to the summary (`who` names the run).
fn notes(
    summary: &mut String,
    who: &str,
    stopped_early: &Option<String>,
    unhealed: &[String],
    exited: &[String],
    client_problems: &[String],
) {
    if let Some(reason) = stopped_early {
        summary.push_str(&format!("\n{who}Stopped early: {reason}\n"));
    }
    if !unhealed.is_empty() {
        summary.push_str(&format!("\n{who}Could not heal: {}\n", unhealed.join("; ")));
    }
    if !exited.is_empty() {
        summary.push_str(&format!(
            "\n{who}Services that exited during the drill: {}\n",
            exited.join("; ")
        ));
    }
    if !client_problems.is_empty() {
        summary.push_str(&format!("\n{who}Client process problems:\n"));
        for problem in client_problems {
            summary.push_str(&format!("  {problem}\n"));
        }
    }
}

/// One run of a drill, before its report.
struct Ran {
    history: History,
    results: Vec<CheckResult>,
    placements: Vec<report::LinkPlacement>,
    stopped_early: Option<String>,
    unhealed: Vec<String>,
    exited: Vec<String>,
    client_problems: Vec<String>,
}

/// Runs `drill` once to its verdicts (no report written; the service logs go
/// to its report folder).
async fn run_once(drill: &Drill, stop: &CancellationToken) -> Result<Ran, DrillError> {
    let scenario = &drill.scenario;
    let registry = Arc::new(Registry::new(
        scenario.seed,
        Limits::default(),
        stop.child_token(),
    ));
    let run_file = match &drill.options.state_dir {
        Some(dir) => Some(Arc::new(RunFile::create(
            dir,
            &scenario.name,
            drill.options.report_dir.clone(),
        )?)),
        None => None,
    };
    let record = |plane: Arc<dyn Plane>| -> Arc<dyn Plane> {
        match &run_file {
            Some(run_file) => Arc::new(Recorded::new(plane, run_file.clone())),
            None => plane,
        }
    };
    let mut remote: BTreeMap<String, Arc<dyn Plane>> = BTreeMap::new();
    let mut held = Vec::new();
    let holder = format!(
        "faultline drill {} (pid {})",
        scenario.name,
        std::process::id()
    );
    for link in &scenario.links {
        if let Some(agent) = &link.agent {
            if !remote.contains_key(agent) {
                let token = drill
                    .options
                    .agent_tokens
                    .get(agent)
                    .or(drill.options.agent_token.as_ref())
                    .cloned();
                let mut plane = Remote::new(agent, token).map_err(DrillError::Agent)?;
                match heartbeat::acquire(plane.client(), &holder, drill.options.lease_ttl).await {
                    Ok(Acquired::Lease(lease)) => {
                        plane = plane.leased(&lease.id);
                        if let Some(run_file) = &run_file {
                            run_file.update(|r| {
                                r.leases.push(LeaseEntry {
                                    agent: lease.client.url().to_owned(),
                                    id: lease.id.clone(),
                                })
                            });
                        }
                        held.push(*lease);
                    }
                    Ok(Acquired::Unsupported) => tracing::warn!(
                        %agent,
                        "the agent has no leases (Toxiproxy?): faults there stay if this drill dies; `faultline heal` removes them"
                    ),
                    Err(err) => {
                        Heartbeat::start(held).release().await;
                        finish(run_file);
                        return Err(DrillError::Agent(err.into()));
                    }
                }
                remote.insert(agent.clone(), record(Arc::new(plane)));
            }
        }
    }
    let heartbeat = Heartbeat::start(held);
    let planes = Planes {
        local: record(Arc::new(InProcess::new(registry.clone()))),
        remote,
    };
    let spawn = SpawnOptions {
        log_dir: drill.options.report_dir.clone(),
        search: drill.options.search.clone(),
        run_file: run_file.clone(),
    };

    // Not raced against `stop`: dropping a half-built topology would leave
    // proxies on remote agents. `start` watches `stop` itself and cleans up.
    let started = Topology::start(scenario, &planes, &spawn, stop).await;
    let mut topology = match started {
        Ok(topology) => topology,
        Err(err) => {
            release(heartbeat, &run_file).await;
            finish(run_file);
            return Err(match err {
                TopologyError::Cancelled => DrillError::Cancelled,
                err => err.into(),
            });
        }
    };
    let placements: Vec<report::LinkPlacement> = topology
        .proxies
        .iter()
        .map(|(id, proxy)| report::LinkPlacement {
            link: id.to_string(),
            plane: proxy.plane.location(),
            listen: proxy.listen.clone(),
        })
        .collect();
    if let Some(run_file) = &run_file {
        run_file.phase(Phase::Running);
    }
    let healer = Healer::default();
    let outcome = drive(drill, &topology, &healer, &spawn, stop).await;
    if let Some(run_file) = &run_file {
        run_file.phase(Phase::Healing);
    }
    let unhealed = healer.heal().await;
    let exited = topology.exited();
    topology.stop().await;
    registry.shutdown().await;
    release(heartbeat, &run_file).await;
    // A fault that could not be removed stays in the run file for `faultline heal`.
    if unhealed.is_empty() {
        finish(run_file);
    }
    let (recorder, stopped_early, client_problems) = outcome?;

    let history = recorder.history(&scenario.name, scenario.seed);
    let results = check::check_all(&invariants_of(drill), &history);
    Ok(Ran {
        history,
        results,
        placements,
        stopped_early,
        unhealed,
        exited,
        client_problems,
    })
}

/// Releases the drill's leases (what they still cover is healed by the agents).
async fn release(heartbeat: Heartbeat, run_file: &Option<Arc<RunFile>>) {
    for failed in heartbeat.release().await {
        tracing::warn!(%failed, "could not release a lease; it lapses on its own");
    }
    if let Some(run_file) = run_file {
        run_file.update(|r| r.leases.clear());
    }
}

/// Removes the run file of a drill that left nothing behind.
fn finish(run_file: Option<Arc<RunFile>>) {
    if let Some(run_file) = run_file {
        match Arc::try_unwrap(run_file) {
            Ok(run_file) => run_file.finish(),
            Err(shared) => {
                let _ = std::fs::remove_file(shared.path());
            }
        }
    }
}

/// What [`drive`] returns: the recorder, why the drill ended early (if it
/// did), and the client processes' problems.
type Driven = (Arc<Recorder>, Option<String>, Vec<String>);

/// Workloads, probes and the schedule; then final reads.
async fn drive(
    drill: &Drill,
    topology: &Topology,
    healer: &Healer,
    spawn: &SpawnOptions,
    stop: &CancellationToken,
) -> Result<Driven, DrillError> {
    let scenario = &drill.scenario;
    // Client processes start before the clock: their start-up is not traffic.
    let clients = match DrillClients::start(scenario, topology, spawn, stop).await {
        Ok(clients) => clients,
        Err(ClientsError::Cancelled) => return Err(DrillError::Cancelled),
        Err(err) => return Err(DrillError::Clients(err)),
    };
    let (recorder, stopped_early) = drive_traffic(drill, topology, healer, &clients, stop).await?;
    clients.stop().await;
    Ok((recorder, stopped_early, clients.problems.all()))
}

/// [`drive`] once the client processes run.
async fn drive_traffic(
    drill: &Drill,
    topology: &Topology,
    healer: &Healer,
    clients: &DrillClients,
    stop: &CancellationToken,
) -> Result<(Arc<Recorder>, Option<String>), DrillError> {
    let scenario = &drill.scenario;
    let recorder = Arc::new(Recorder::new());
    let client = HttpClient::new();
    let traffic_stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    for (index, workload) in scenario.workloads.iter().enumerate() {
        let workload = Arc::new(workload.clone());
        for region in &workload.regions {
            if workload.client.is_some() {
                if let Some(process) = clients.get(&ClientRole::Workload(index), region) {
                    tasks.spawn(process_workload::run(
                        workload.clone(),
                        region.clone(),
                        process,
                        recorder.clone(),
                        traffic_stop.clone(),
                    ));
                }
                continue;
            }
            let Some(address) = topology.address(&workload.service, region) else {
                continue;
            };
            tasks.spawn(http::run(
                workload.clone(),
                region.clone(),
                address.to_owned(),
                recorder.clone(),
                client.clone(),
                traffic_stop.clone(),
            ));
        }
    }
    for (index, probe_config) in scenario.probes.iter().enumerate() {
        let Probe::Replication(replication) = probe_config;
        if replication.client.is_some() {
            let processes = Arc::new(clients.of(&ClientRole::Probe(index)));
            tasks.spawn(probe::run_with(
                Arc::new(replication.clone()),
                probe::ProbeIo::Clients { processes },
                recorder.clone(),
                traffic_stop.clone(),
            ));
            continue;
        }
        let addresses = Arc::new(topology.addresses_of(&replication.service));
        tasks.spawn(probe::run(
            Arc::new(replication.clone()),
            addresses,
            recorder.clone(),
            client.clone(),
            traffic_stop.clone(),
        ));
    }
    for custom in &drill.custom_workloads {
        let context = WorkloadContext {
            recorder: recorder.clone(),
            addresses: topology.services.clone(),
            links: topology
                .proxies
                .iter()
                .map(|(id, proxy)| (id.to_string(), proxy.listen.clone()))
                .collect(),
            stop: traffic_stop.clone(),
        };
        tasks.spawn((custom.run)(context));
    }
    tasks.close();

    let timeline = scenario.timeline();
    let start = recorder.start();
    let end = start + scenario.scaled_duration();
    let hard_end = start + scenario.max_duration;
    let progress = Progress(drill.options.progress.as_deref());
    let mut stopped_early = None;
    let mut entries = timeline.entries.iter().enumerate().peekable();
    let mut check_every = tokio::time::interval(Duration::from_millis(250));
    check_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next_at = entries
            .peek()
            .map(|(_, e)| start + e.at)
            .filter(|at| *at <= end);
        let wake = next_at.unwrap_or(end).min(hard_end);
        tokio::select! {
            biased;
            () = stop.cancelled() => {
                traffic_stop.cancel();
                progress.finish();
                return Err(DrillError::Cancelled);
            }
            () = sleep_precisely(wake) => {
                if hard_end < next_at.unwrap_or(end) && Instant::now() >= hard_end {
                    stopped_early = Some(format!("the maximum duration ({:?}) was reached", scenario.max_duration));
                    break;
                }
                match next_at {
                    Some(_) => {
                        let (index, entry) = entries.next().expect("peeked");
                        progress.step(index, timeline.entries.len(), entry, timeline.entries.get(index + 1));
                        apply(entry, topology, healer, &recorder).await?;
                    }
                    None => break,
                }
            }
            _ = check_every.tick() => {
                if let Some(reason) = scenario.stop_when.iter().find_map(|c| breached(c, &recorder)) {
                    stopped_early = Some(reason);
                    break;
                }
                progress.tick(Duration::from_nanos(recorder.now_ns()));
            }
        }
    }
    // The schedule is over: heal what is left (steps lasting to the end), then
    // stop traffic and let in-flight requests finish or time out.
    let heal_at = Instant::now();
    for (_, entry) in entries {
        if entry.action == crate::history::FaultAction::End {
            apply_at(entry, topology, healer, &recorder, heal_at).await?;
        }
    }
    for failed in healer.heal().await {
        tracing::warn!(%failed, "could not heal");
    }
    traffic_stop.cancel();
    tokio::select! {
        () = stop.cancelled() => return Err(DrillError::Cancelled),
        () = tasks.wait() => {}
    }
    progress.finish();
    // Final reads, until the replicas agree or the convergence deadline passes.
    let within = scenario
        .invariants
        .iter()
        .filter_map(|i| match i {
            Invariant::Convergence(c) => Some(c.within()),
            _ => None,
        })
        .max()
        .unwrap_or(Duration::from_secs(5));
    for read in &scenario.final_reads {
        if read.client.is_some() {
            let processes = clients.of(&ClientRole::FinalRead(read.service.clone()));
            tokio::select! {
                () = stop.cancelled() => return Err(DrillError::Cancelled),
                () = final_read::run_clients(&read.service, read.timeout, within, &processes, &recorder, stop) => {}
            }
            continue;
        }
        let addresses = topology.addresses_of(&read.service);
        tokio::select! {
            () = stop.cancelled() => return Err(DrillError::Cancelled),
            () = final_read::run(
                final_read::FinalReads { service: &read.service, path: &read.path, timeout: read.timeout, within, addresses: &addresses },
                &recorder,
                &client,
                stop,
            ) => {}
        }
    }
    Ok((recorder, stopped_early))
}

async fn apply(
    entry: &TimelineEntry,
    topology: &Topology,
    healer: &Healer,
    recorder: &Recorder,
) -> Result<(), DrillError> {
    apply_at(
        entry,
        topology,
        healer,
        recorder,
        recorder.start() + entry.at,
    )
    .await
}

/// Applies one timeline entry's link changes and records it (planned time
/// `planned`, actual time now).
async fn apply_at(
    entry: &TimelineEntry,
    topology: &Topology,
    healer: &Healer,
    recorder: &Recorder,
    planned: Instant,
) -> Result<(), DrillError> {
    apply_changes(entry, &topology.proxies, healer).await?;
    let actual = recorder.now_ns();
    let mut record = entry.record(Duration::from_nanos(actual));
    record.planned_ns = recorder.ns_at(planned);
    if topology.has_remote_links() {
        record.placed_on = entry
            .links
            .iter()
            .filter_map(|link| {
                let proxy = topology.proxies.get(link)?;
                Some((link.to_string(), proxy.plane.location()))
            })
            .collect();
    }
    recorder.push(Record::Fault(record));
    Ok(())
}

/// Whether a stop condition holds over its trailing window; the reason if so.
fn breached(condition: &StopCondition, recorder: &Recorder) -> Option<String> {
    let since = condition.window_start(recorder.now_ns())?;
    condition.breached(&recorder.ops_since(since))
}

/// The drill's [`DrillProgress`], if it has one.
struct Progress<'a>(Option<&'a dyn DrillProgress>);

impl Progress<'_> {
    fn step(
        &self,
        index: usize,
        total: usize,
        entry: &TimelineEntry,
        next: Option<&TimelineEntry>,
    ) {
        if let Some(progress) = self.0 {
            progress.step(index, total, entry, next);
        }
    }

    fn tick(&self, elapsed: Duration) {
        if let Some(progress) = self.0 {
            progress.tick(elapsed);
        }
    }

    fn finish(&self) {
        if let Some(progress) = self.0 {
            progress.finish();
        }
    }
}
