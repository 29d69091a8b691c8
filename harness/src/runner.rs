//! The drill runner: bring the topology up, drive workloads and probes, apply
//! the expanded timeline on tokio's clock, and ALWAYS heal.
//!
//! Every fault the runner adds is tracked by a [`Healer`]; on success, failure,
//! a stop condition, the maximum duration, cancellation (Ctrl-C/SIGTERM reach
//! `stop`) or a panic, the faults still in place are removed and every spawned
//! process is stopped. The healer also heals on drop, so a drill future that is
//! dropped mid-run still leaves nothing behind.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_proxies::{Limits, Registry};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::check::{self, CheckResult, Invariant, Verdict};
use crate::history::{History, Record};
use crate::plane::{InProcess, Plane, PlaneError, Remote};
use crate::report::{self, ReportInput};
use crate::scenario::{LinkId, Probe, Scenario, StopCondition, StopMetric};
use crate::schedule::{Change, TimelineEntry};
use crate::topology::{LinkProxy, PlaneFor, SpawnOptions, Topology, TopologyError};
use crate::workload::client::HttpClient;
use crate::workload::clients::{ClientRole, ClientsError, DrillClients};
use crate::workload::custom::{CustomWorkload, WorkloadContext};
use crate::workload::{final_read, http, probe, process_workload, Recorder};

/// How a drill is run (not what it is: that is the [`Scenario`]).
#[derive(Debug, Clone, Default)]
pub struct DrillOptions {
    /// Where the report folder goes; `None` writes no files.
    pub report_dir: Option<PathBuf>,
    /// Extra folders to find spawned programs in.
    pub search: Vec<PathBuf>,
    /// Show progress on stderr (only when it is a terminal).
    pub progress: bool,
    /// Bearer token for remote agents.
    pub agent_token: Option<String>,
    /// The command that reproduces this run (printed in reports).
    pub reproduce: Option<String>,
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
    #[error("step {step}: cannot apply {change} on {link}: {source}")]
    Apply {
        /// The step.
        step: String,
        /// The change.
        change: String,
        /// The link.
        link: String,
        /// What the plane said.
        #[source]
        source: PlaneError,
    },
    /// Cancelled (Ctrl-C, SIGTERM) before it finished; everything was healed.
    #[error("cancelled; every fault was healed and every process stopped")]
    Cancelled,
    /// The report could not be written.
    #[error(transparent)]
    Report(#[from] report::ReportError),
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
    /// Fail beats unknown beats pass.
    pub verdict: Verdict,
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
        match &self.report_dir {
            Some(dir) => text.push_str(&format!("report: {}\n", dir.display())),
            None => text.push_str("no report folder (set DrillOptions::report_dir)\n"),
        }
        text
    }
}

/// Per proxy: the plane it lives on and the faults the drill added to it.
type Applied = BTreeMap<String, (Arc<dyn Plane>, BTreeSet<String>)>;

/// Tracks the faults a drill added, to remove them on the way out.
#[derive(Debug, Default)]
pub struct Healer {
    applied: Mutex<Applied>,
}

impl Healer {
    fn added(&self, plane: &Arc<dyn Plane>, proxy: &str, fault: &str) {
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        applied
            .entry(proxy.to_owned())
            .or_insert_with(|| (plane.clone(), BTreeSet::new()))
            .1
            .insert(fault.to_owned());
    }

    fn removed(&self, proxy: &str, fault: &str) {
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, faults)) = applied.get_mut(proxy) {
            faults.remove(fault);
        }
    }

    fn take(&self) -> Vec<(Arc<dyn Plane>, String, String)> {
        let applied = std::mem::take(&mut *self.applied.lock().unwrap_or_else(|p| p.into_inner()));
        applied
            .into_iter()
            .flat_map(|(proxy, (plane, faults))| {
                faults
                    .into_iter()
                    .map(move |f| (plane.clone(), proxy.clone(), f))
            })
            .collect()
    }

    /// Removes every fault still in place; returns those that could not be removed.
    pub async fn heal(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for (plane, proxy, fault) in self.take() {
            if let Err(err) = plane.remove_fault(&proxy, &fault).await {
                failed.push(format!("{proxy}/{fault}: {err}"));
            }
        }
        failed
    }
}

impl Drop for Healer {
    fn drop(&mut self) {
        let left = self.take();
        if left.is_empty() {
            return;
        }
        // Dropped mid-drill (the future was cancelled or a task panicked):
        // heal on the runtime, if there still is one.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                for (plane, proxy, fault) in left {
                    let _ = plane.remove_fault(&proxy, &fault).await;
                }
            });
        }
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
    let scenario = &drill.scenario;
    let registry = Arc::new(Registry::new(
        scenario.seed,
        Limits::default(),
        stop.child_token(),
    ));
    let mut remote: BTreeMap<String, Arc<dyn Plane>> = BTreeMap::new();
    for link in &scenario.links {
        if let Some(agent) = &link.agent {
            if !remote.contains_key(agent) {
                let plane = Remote::new(agent, drill.options.agent_token.clone())
                    .map_err(DrillError::Agent)?;
                remote.insert(agent.clone(), Arc::new(plane));
            }
        }
    }
    let planes = Planes {
        local: Arc::new(InProcess::new(registry.clone())),
        remote,
    };
    let spawn = SpawnOptions {
        log_dir: drill.options.report_dir.clone(),
        search: drill.options.search.clone(),
    };

    // Not raced against `stop`: dropping a half-built topology would leave
    // proxies on remote agents. `start` watches `stop` itself and cleans up.
    let mut topology = match Topology::start(scenario, &planes, &spawn, &stop).await {
        Ok(topology) => topology,
        Err(TopologyError::Cancelled) => return Err(DrillError::Cancelled),
        Err(err) => return Err(err.into()),
    };
    let healer = Healer::default();
    let outcome = drive(&drill, &topology, &healer, &stop).await;
    let unhealed = healer.heal().await;
    let exited = topology.exited();
    topology.stop().await;
    registry.shutdown().await;
    let (recorder, stopped_early, client_problems) = outcome?;

    let history = recorder.history(&scenario.name, scenario.seed);
    let invariants: Vec<Invariant> = scenario
        .invariants
        .iter()
        .chain(&drill.extra_invariants)
        .cloned()
        .collect();
    let results = check::check_all(&invariants, &history);
    let verdict = check::overall_verdict(&results);
    let reproduce = drill.options.reproduce.clone().unwrap_or_else(|| {
        format!(
            "faultline drill <scenario.json> --seed {} --time-scale {}",
            scenario.seed, scenario.time_scale
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
    };
    let mut summary = report::summary_text(&input);
    if let Some(reason) = &stopped_early {
        summary.push_str(&format!("\nStopped early: {reason}\n"));
    }
    if !unhealed.is_empty() {
        summary.push_str(&format!("\nCould not heal: {}\n", unhealed.join("; ")));
    }
    if !exited.is_empty() {
        summary.push_str(&format!(
            "\nServices that exited during the drill: {}\n",
            exited.join("; ")
        ));
    }
    if !client_problems.is_empty() {
        summary.push_str("\nClient process problems:\n");
        for problem in &client_problems {
            summary.push_str(&format!("  {problem}\n"));
        }
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
        report_dir,
        summary,
        stopped_early,
        unhealed,
        exited,
        client_problems,
    })
}

/// What [`drive`] returns: the recorder, why the drill ended early (if it
/// did), and the client processes' problems.
type Driven = (Arc<Recorder>, Option<String>, Vec<String>);

/// Workloads, probes and the schedule; then final reads.
async fn drive(
    drill: &Drill,
    topology: &Topology,
    healer: &Healer,
    stop: &CancellationToken,
) -> Result<Driven, DrillError> {
    let scenario = &drill.scenario;
    // Client processes start before the clock: their start-up is not traffic.
    let spawn = SpawnOptions {
        log_dir: drill.options.report_dir.clone(),
        search: drill.options.search.clone(),
    };
    let clients = match DrillClients::start(scenario, topology, &spawn, stop).await {
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
    let progress = Progress::new(drill.options.progress, scenario.scaled_duration());
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
                progress.tick(&recorder);
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
    recorder.push(Record::Fault(record));
    Ok(())
}

/// Publishes one timeline entry's link changes through the planes of
/// `proxies` (links without a proxy are skipped), telling `healer` what was
/// added and removed. Shared by drills and the API's schedules.
///
/// # Errors
/// [`DrillError::Apply`] for the first change a plane refuses; the changes
/// before it stay applied (and tracked by `healer`).
pub(crate) async fn apply_changes(
    entry: &TimelineEntry,
    proxies: &BTreeMap<LinkId, LinkProxy>,
    healer: &Healer,
) -> Result<(), DrillError> {
    for change in &entry.changes {
        let Some(proxy) = proxies.get(&change.link) else {
            continue;
        };
        let result = match &change.change {
            Change::Add(fault) => proxy
                .plane
                .add_fault(&proxy.name, fault.clone())
                .await
                .map(|()| healer.added(&proxy.plane, &proxy.name, &fault.name)),
            Change::Update(fault) => proxy.plane.update_fault(&proxy.name, fault.clone()).await,
            Change::Remove { name, .. } => {
                let removed = proxy.plane.remove_fault(&proxy.name, name).await;
                healer.removed(&proxy.name, name);
                removed
            }
        };
        result.map_err(|source| DrillError::Apply {
            step: entry.label(),
            change: format!("{:?} {}", change.change.direction(), change.change.name()),
            link: change.link.to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Sleeps until `at` with better than the timer wheel's 1 ms granularity:
/// the timer wakes us a millisecond early and the rest is spent yielding, a
/// bounded cost paid once per schedule entry.
pub(crate) async fn sleep_precisely(at: Instant) {
    let early = Duration::from_millis(1);
    if let Some(before) = at.checked_sub(early) {
        tokio::time::sleep_until(before).await;
    }
    while Instant::now() < at {
        tokio::task::yield_now().await;
    }
}

/// Whether a stop condition holds over its trailing window; the reason if so.
fn breached(condition: &StopCondition, recorder: &Recorder) -> Option<String> {
    let now = recorder.now_ns();
    let window = condition.window.as_nanos() as u64;
    if now < window {
        return None;
    }
    let ops: Vec<_> = recorder
        .ops_since(now - window)
        .into_iter()
        .filter(|op| op.op != check::FINAL_READ_OP)
        .filter(|op| condition.region.as_ref().is_none_or(|r| *r == op.region))
        .filter(|op| condition.workload.as_ref().is_none_or(|w| *w == op.op))
        .collect();
    if ops.is_empty() {
        return None;
    }
    let scope = match (&condition.region, &condition.workload) {
        (Some(r), Some(w)) => format!(" ({w} in {r})"),
        (Some(r), None) => format!(" (in {r})"),
        (None, Some(w)) => format!(" ({w})"),
        (None, None) => String::new(),
    };
    match condition.metric {
        StopMetric::SuccessRateBelow(min) => {
            let ok = ops
                .iter()
                .filter(|op| op.outcome == crate::history::Outcome::Ok)
                .count();
            let rate = ok as f64 / ops.len() as f64;
            (rate < min).then(|| {
                format!(
                    "success rate {rate:.3} below {min} over the last {:?}{scope}",
                    condition.window
                )
            })
        }
        StopMetric::P99Above(max) => {
            let mut latencies: Vec<u64> = ops
                .iter()
                .map(|op| op.end_ns.saturating_sub(op.start_ns))
                .collect();
            latencies.sort_unstable();
            let p99 = latencies[((latencies.len() as f64 * 0.99).ceil() as usize)
                .saturating_sub(1)
                .min(latencies.len() - 1)];
            (Duration::from_nanos(p99) > max).then(|| {
                format!(
                    "p99 latency {:?} above {max:?} over the last {:?}{scope}",
                    Duration::from_nanos(p99),
                    condition.window
                )
            })
        }
    }
}

/// Progress on a terminal: elapsed time, the current step and the next one.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(enabled: bool, total: Duration) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Self { bar: None };
        }
        let bar = indicatif::ProgressBar::new(total.as_millis() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar: Some(bar) }
    }

    fn step(
        &self,
        index: usize,
        total: usize,
        entry: &TimelineEntry,
        next: Option<&TimelineEntry>,
    ) {
        if let Some(bar) = &self.bar {
            bar.set_position(entry.at.as_millis() as u64);
            let next = next
                .map(|n| format!("; next at {:.1}s", n.at.as_secs_f64()))
                .unwrap_or_default();
            bar.set_message(format!(
                "step {}/{total}: {}{next}",
                index + 1,
                entry.label()
            ));
        }
    }

    fn tick(&self, recorder: &Recorder) {
        if let Some(bar) = &self.bar {
            bar.set_position(recorder.now_ns() / 1_000_000);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
