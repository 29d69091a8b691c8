//! The schedules an agent runs on its own proxies (`/faultline/schedules`).
//!
//! A [`Scheduler`] keeps the runs, bounded, and plays each expanded timeline
//! on tokio's clock in its own task, the way a drill's runner does and with
//! the same code ([`apply_changes`], [`Healer`]): each change is
//! published through the plane (the registry), never into a running
//! pipeline, and every fault a run added is removed when it ends, is
//! cancelled, fails, or is dropped.
//!
//! Fault names get the run's id in front (`sched-3.s0-partition-upstream`),
//! so two schedules, or a schedule and a drill, may touch one link at once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::ApiError;
use crate::apply::{apply_changes, sleep_precisely, Healer};
use crate::base::LinkId;
use crate::history::FaultAction;
use crate::plane::LinkProxy;
use crate::schedule::{Change, Timeline, TimelineEntry};

/// Schedules running at once; one more is refused (409).
pub const MAX_RUNNING: usize = 64;

/// Schedules remembered, running or not; past it the oldest ended one is forgotten.
pub const MAX_KEPT: usize = 256;

/// Where a schedule is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Its timeline is being played.
    Running,
    /// It ran to its end and was healed.
    Finished,
    /// `DELETE` or the server's shutdown stopped it; it was healed.
    Cancelled,
    /// A change could not be applied (or a fault not removed); what it had
    /// applied was healed.
    Failed,
}

/// A run's state and, when something went wrong, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunStatus {
    /// The state.
    pub state: RunState,
    /// What failed, if anything did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One timeline entry as it was applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedChange {
    /// The schedule step.
    pub step: u32,
    /// Which activation of the step (a flap's cycle, a nemesis draw), if several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    /// `start`, `update` or `end`.
    pub action: FaultAction,
    /// The links it changed.
    pub links: Vec<String>,
    /// When it was due, in milliseconds after the run started.
    pub planned_ms: f64,
    /// When it was applied, in milliseconds after the run started.
    pub actual_ms: f64,
}

/// One schedule: its id, status and the changes applied so far.
#[derive(Debug)]
pub struct Run {
    id: String,
    started: Instant,
    started_at: SystemTime,
    status: watch::Sender<RunStatus>,
    changes: Mutex<Vec<AppliedChange>>,
    cancel: CancellationToken,
}

fn millis(duration: Duration) -> f64 {
    // Microsecond resolution: enough for a schedule, short in JSON.
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

impl Run {
    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When it started, as wall-clock time.
    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }

    /// Its status now.
    pub fn status(&self) -> RunStatus {
        self.status.borrow().clone()
    }

    /// The changes applied so far, in order.
    pub fn changes(&self) -> Vec<AppliedChange> {
        lock(&self.changes).clone()
    }

    fn is_running(&self) -> bool {
        self.status.borrow().state == RunState::Running
    }

    fn record(&self, entry: &TimelineEntry, actual: Duration) {
        lock(&self.changes).push(AppliedChange {
            step: entry.step,
            instance: entry.instance,
            action: entry.action,
            links: entry.links.iter().map(ToString::to_string).collect(),
            planned_ms: millis(entry.at),
            actual_ms: millis(actual),
        });
    }

    /// Ends the run, unless it has ended already.
    fn finish(&self, state: RunState, error: Option<String>) {
        self.status.send_if_modified(|status| {
            if status.state != RunState::Running {
                return false;
            }
            *status = RunStatus { state, error };
            true
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The schedules of one API: started, listed, cancelled, and all cancelled
/// and healed by [`Scheduler::shutdown`].
#[derive(Debug, Default)]
pub struct Scheduler {
    runs: Mutex<BTreeMap<u64, Arc<Run>>>,
    next: AtomicU64,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Scheduler {
    /// Starts playing `timeline` on `proxies` now. Fault names get the new
    /// run's id in front; the timeline as it will be applied is returned
    /// with the run.
    ///
    /// # Errors
    /// [`ApiError::Conflict`] when [`MAX_RUNNING`] schedules are running.
    pub fn start(
        &self,
        mut timeline: Timeline,
        proxies: BTreeMap<LinkId, LinkProxy>,
    ) -> Result<(Arc<Run>, Timeline), ApiError> {
        let mut runs = lock(&self.runs);
        if runs.values().filter(|run| run.is_running()).count() >= MAX_RUNNING {
            return Err(ApiError::Conflict(format!(
                "{MAX_RUNNING} schedules are running already; cancel one first"
            )));
        }
        while runs.len() >= MAX_KEPT {
            let Some(oldest) = runs
                .iter()
                .find(|(_, run)| !run.is_running())
                .map(|(number, _)| *number)
            else {
                break;
            };
            runs.remove(&oldest);
        }
        let number = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("sched-{number}");
        rename_faults(&mut timeline, &id);
        let (status, _) = watch::channel(RunStatus {
            state: RunState::Running,
            error: None,
        });
        let run = Arc::new(Run {
            id,
            started: Instant::now(),
            started_at: SystemTime::now(),
            status,
            changes: Mutex::new(Vec::new()),
            cancel: self.stop.child_token(),
        });
        runs.insert(number, run.clone());
        self.tasks
            .spawn(play(run.clone(), timeline.clone(), proxies));
        Ok((run, timeline))
    }

    /// Every run remembered, oldest first.
    pub fn list(&self) -> Vec<Arc<Run>> {
        lock(&self.runs).values().cloned().collect()
    }

    /// The run with this id.
    pub fn get(&self, id: &str) -> Option<Arc<Run>> {
        lock(&self.runs).values().find(|run| run.id == id).cloned()
    }

    /// Cancels the run with this id and waits until what it applied is
    /// healed; a run that has ended is left as it is. `None` for an unknown id.
    pub async fn cancel(&self, id: &str) -> Option<RunStatus> {
        let run = self.get(id)?;
        run.cancel.cancel();
        let mut status = run.status.subscribe();
        let ended = status
            .wait_for(|status| status.state != RunState::Running)
            .await
            .map(|status| status.clone());
        // The sender lives in `run`, so the channel cannot close while we wait.
        Some(ended.unwrap_or_else(|_| run.status()))
    }

    /// Cancels every running schedule and waits until each is healed.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Puts `id.` in front of every fault name, so runs never share a fault.
fn rename_faults(timeline: &mut Timeline, id: &str) {
    for change in timeline
        .entries
        .iter_mut()
        .flat_map(|entry| entry.changes.iter_mut())
    {
        match &mut change.change {
            Change::Add(fault) | Change::Update(fault) => {
                fault.name = format!("{id}.{}", fault.name);
            }
            Change::Remove { name, .. } => *name = format!("{id}.{name}"),
        }
    }
}

/// Marks a run failed if its task ends without finishing it (a panic).
struct Unfinished(Arc<Run>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        self.0.finish(
            RunState::Failed,
            Some("the schedule's task ended unexpectedly; its faults were healed".into()),
        );
    }
}

/// Plays the timeline; heals on every way out (the healer also heals on drop).
async fn play(run: Arc<Run>, timeline: Timeline, proxies: BTreeMap<LinkId, LinkProxy>) {
    let _unfinished = Unfinished(run.clone());
    let healer = Healer::default();
    let mut state = RunState::Finished;
    let mut error = None;
    for entry in &timeline.entries {
        tokio::select! {
            biased;
            () = run.cancel.cancelled() => {
                state = RunState::Cancelled;
                break;
            }
            () = sleep_precisely(run.started + entry.at) => {}
        }
        if let Err(err) = apply_changes(entry, &proxies, &healer).await {
            state = RunState::Failed;
            error = Some(err.to_string());
            break;
        }
        run.record(entry, run.started.elapsed());
    }
    if state == RunState::Finished {
        tokio::select! {
            biased;
            () = run.cancel.cancelled() => state = RunState::Cancelled,
            () = tokio::time::sleep_until(run.started + timeline.duration) => {}
        }
    }
    let unhealed = healer.heal().await;
    if !unhealed.is_empty() {
        let message = format!("could not heal: {}", unhealed.join("; "));
        error = Some(match error {
            Some(error) => format!("{error}; {message}"),
            None => message,
        });
        if state == RunState::Finished {
            state = RunState::Failed;
        }
    }
    run.finish(state, error);
}

#[cfg(test)]
mod tests {
    use faultline_proxies::{Direction, Fault, FaultKind};
    use serde_json::json;

    use super::*;
    use crate::schedule::LinkFaultChange;

    #[test]
    fn fault_names_carry_the_run_id() {
        let link = LinkId::new("a", "b", "kv");
        let fault =
            Fault::new(Direction::Upstream, FaultKind::Reject).named("s0-partition-upstream");
        let entry = |action, change| TimelineEntry {
            at: Duration::ZERO,
            step: 0,
            instance: None,
            action,
            what: json!({}),
            links: vec![link.clone()],
            regions: Vec::new(),
            changes: vec![LinkFaultChange {
                link: link.clone(),
                change,
            }],
        };
        let mut timeline = Timeline {
            seed: 0,
            time_scale: 1.0,
            duration: Duration::from_secs(1),
            entries: vec![
                entry(FaultAction::Start, Change::Add(fault)),
                entry(
                    FaultAction::End,
                    Change::Remove {
                        name: "s0-partition-upstream".into(),
                        direction: Direction::Upstream,
                    },
                ),
            ],
        };
        rename_faults(&mut timeline, "sched-2");
        let names: Vec<&str> = timeline
            .entries
            .iter()
            .map(|e| e.changes[0].change.name())
            .collect();
        assert_eq!(
            names,
            [
                "sched-2.s0-partition-upstream",
                "sched-2.s0-partition-upstream"
            ]
        );
    }

    #[test]
    fn times_are_milliseconds_to_the_microsecond() {
        assert_eq!(millis(Duration::from_micros(1_234_567)), 1234.567);
        assert_eq!(millis(Duration::from_nanos(1_499)), 0.001);
    }
}
