//! Service level indicators per region and per phase of a run.
//!
//! A run is cut into phases: before the first fault, during each fault window,
//! and after the last heal (or one phase for a run without faults). An operation
//! belongs to the phase in which it was invoked: a request sent while a region
//! was cut off is the one that felt it, however late it completed.
//!
//! Success rate counts `unknown` outcomes as not successful (a timeout is not a
//! success to the user who waited for it). Latency percentiles are those of the
//! successful operations; failures show in the success rate.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::percentiles::{ms, Percentiles};
use super::window::{fault_windows, history_end_ns, last_heal_ns, FaultWindow};
use super::FINAL_READ_OP;
use crate::history::{History, OpRecord, Outcome};

/// Which part of a run a phase is.
#[derive(Debug, Clone, PartialEq)]
pub enum PhaseKind {
    /// A run without faults, whole.
    WholeRun,
    /// Before the first fault started.
    BeforeFaults,
    /// While one fault was active.
    Fault(FaultWindow),
    /// After the last fault healed.
    AfterHeal,
}

/// A stretch of a run that SLIs are computed over.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// Which part of the run it is (and the fault, during one).
    pub kind: PhaseKind,
    /// Start, ns since the run started.
    pub start_ns: u64,
    /// End, ns since the run started (the end of the history for the last phase).
    pub end_ns: u64,
}

impl Phase {
    /// A short human label: `before faults`, `step 0 partition […]`, `after heal`.
    pub fn label(&self) -> String {
        match &self.kind {
            PhaseKind::WholeRun => "whole run".to_owned(),
            PhaseKind::BeforeFaults => "before faults".to_owned(),
            PhaseKind::Fault(window) => window.label(),
            PhaseKind::AfterHeal => "after heal".to_owned(),
        }
    }

    /// The fault window, for a phase during a fault.
    pub fn window(&self) -> Option<&FaultWindow> {
        match &self.kind {
            PhaseKind::Fault(window) => Some(window),
            _ => None,
        }
    }

    /// The invocation times `[from, to)` of the operations in this phase,
    /// agreeing with [`Phase::contains`].
    pub fn span(&self) -> (u64, u64) {
        match &self.kind {
            PhaseKind::WholeRun => (0, u64::MAX),
            PhaseKind::BeforeFaults => (0, self.end_ns),
            PhaseKind::Fault(window) => (window.start_ns, window.end_ns),
            PhaseKind::AfterHeal => (self.start_ns, u64::MAX),
        }
    }

    /// Whether an operation invoked at `ns` belongs to this phase.
    pub fn contains(&self, ns: u64) -> bool {
        match &self.kind {
            PhaseKind::WholeRun => true,
            PhaseKind::BeforeFaults => ns < self.end_ns,
            PhaseKind::Fault(window) => window.covers(ns, 0),
            PhaseKind::AfterHeal => ns >= self.start_ns,
        }
    }
}

/// The phases of a run with these fault windows, in time order.
pub fn phases(windows: &[FaultWindow], end_ns: u64) -> Vec<Phase> {
    let Some(first_start) = windows.iter().map(|w| w.start_ns).min() else {
        return vec![Phase {
            kind: PhaseKind::WholeRun,
            start_ns: 0,
            end_ns,
        }];
    };
    let mut phases = Vec::new();
    if first_start > 0 {
        phases.push(Phase {
            kind: PhaseKind::BeforeFaults,
            start_ns: 0,
            end_ns: first_start,
        });
    }
    phases.extend(windows.iter().map(|window| Phase {
        kind: PhaseKind::Fault(window.clone()),
        start_ns: window.start_ns,
        end_ns: window.end_ns,
    }));
    if let Some(heal) = last_heal_ns(windows) {
        if heal < end_ns {
            phases.push(Phase {
                kind: PhaseKind::AfterHeal,
                start_ns: heal,
                end_ns,
            });
        }
    }
    phases
}

/// What one region's operations looked like during one phase.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegionSli {
    /// Operations invoked.
    pub count: u64,
    /// Acknowledged.
    pub ok: u64,
    /// Definitely failed.
    pub failed: u64,
    /// Outcome unknown (timeouts).
    pub unknown: u64,
    /// Latency of the acknowledged operations.
    pub latency: Option<Percentiles>,
}

impl RegionSli {
    /// SLIs of these operations.
    pub fn of<'a>(ops: impl IntoIterator<Item = &'a OpRecord>) -> Self {
        let mut sli = Self::default();
        let mut latencies = Vec::new();
        for op in ops {
            sli.count += 1;
            match op.outcome {
                Outcome::Ok => {
                    sli.ok += 1;
                    latencies.push(op.end_ns.saturating_sub(op.start_ns));
                }
                Outcome::Fail => sli.failed += 1,
                Outcome::Unknown => sli.unknown += 1,
            }
        }
        sli.latency = Percentiles::of(latencies);
        sli
    }

    /// Acknowledged / invoked, or `None` without operations.
    pub fn success_rate(&self) -> Option<f64> {
        (self.count > 0).then(|| self.ok as f64 / self.count as f64)
    }

    /// `{"count","ok","errors","unknowns","success_rate","p50_ms","p99_ms"}`;
    /// rates and percentiles are `null` where there is nothing to measure.
    pub fn to_figures(&self) -> Value {
        json!({
            "count": self.count,
            "ok": self.ok,
            "errors": self.failed,
            "unknowns": self.unknown,
            "success_rate": self.success_rate().map(round4),
            "p50_ms": self.latency.map(|l| ms(l.p50_ns)),
            "p99_ms": self.latency.map(|l| ms(l.p99_ns)),
        })
    }
}

/// One phase and the SLIs of every region in it.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSlis {
    /// The phase.
    pub phase: Phase,
    /// SLIs per region; a region without operations has an empty entry.
    pub regions: BTreeMap<String, RegionSli>,
}

/// The workload operations of a history: everything but final reads, and only
/// those named `op` if given.
pub fn workload_ops<'a>(
    history: &'a History,
    op: Option<&'a str>,
) -> impl Iterator<Item = &'a OpRecord> + 'a {
    history
        .ops()
        .filter(move |o| o.op != FINAL_READ_OP && op.is_none_or(|name| o.op == name))
}

/// The regions that workload operations were sent to.
pub fn workload_regions(history: &History, op: Option<&str>) -> BTreeSet<String> {
    workload_ops(history, op)
        .map(|o| o.region.to_string())
        .collect()
}

/// SLIs per phase and region, for `regions` (every region gets an entry in every phase).
///
/// Each region's operations are sorted by invocation time once; a phase's
/// operations are then a range found by binary search, so the cost is
/// O(n log n) plus the operations each phase holds, not phases × regions × n.
pub fn slis_by_phase(
    history: &History,
    op: Option<&str>,
    regions: &BTreeSet<String>,
) -> Vec<PhaseSlis> {
    let windows = fault_windows(history);
    let mut by_region: BTreeMap<&str, Vec<&OpRecord>> = regions
        .iter()
        .map(|region| (region.as_str(), Vec::new()))
        .collect();
    for o in workload_ops(history, op) {
        if let Some(ops) = by_region.get_mut(o.region.as_str()) {
            ops.push(o);
        }
    }
    for ops in by_region.values_mut() {
        ops.sort_by_key(|o| o.start_ns);
    }
    phases(&windows, history_end_ns(history))
        .into_iter()
        .map(|phase| {
            let (from, to) = phase.span();
            let regions = by_region
                .iter()
                .map(|(region, ops)| {
                    let lo = ops.partition_point(|o| o.start_ns < from);
                    let hi = ops.partition_point(|o| o.start_ns < to);
                    let in_phase = ops[lo..hi.max(lo)].iter().copied();
                    debug_assert!(ops[lo..hi.max(lo)]
                        .iter()
                        .all(|o| phase.contains(o.start_ns)));
                    ((*region).to_owned(), RegionSli::of(in_phase))
                })
                .collect();
            PhaseSlis { phase, regions }
        })
        .collect()
}

fn round4(rate: f64) -> f64 {
    (rate * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::synthetic::{fault, history, op};
    use crate::history::FaultAction;

    #[test]
    fn a_healed_fault_cuts_the_run_into_before_during_and_after() {
        let h = history(vec![
            op(1, "us-east", "order", Outcome::Ok, 0, 10),
            fault(0, FaultAction::Start, &["eu-west"], 100),
            op(2, "us-east", "order", Outcome::Unknown, 150, 400),
            op(3, "eu-west", "order", Outcome::Fail, 160, 170),
            fault(0, FaultAction::End, &["eu-west"], 200),
            op(4, "us-east", "order", Outcome::Ok, 300, 310),
        ]);
        let slis = slis_by_phase(&h, None, &workload_regions(&h, None));
        let labels: Vec<String> = slis.iter().map(|p| p.phase.label()).collect();
        assert_eq!(
            labels,
            [
                "before faults",
                "step 0 partition [us-east] | [eu-west]",
                "after heal"
            ]
        );
        let during = &slis[1].regions;
        assert_eq!((during["us-east"].count, during["us-east"].unknown), (1, 1));
        assert_eq!(during["us-east"].success_rate(), Some(0.0));
        assert_eq!(during["eu-west"].failed, 1);
        assert_eq!(slis[2].regions["eu-west"].count, 0);
        assert_eq!(slis[2].regions["eu-west"].success_rate(), None);
    }

    #[test]
    fn final_reads_are_not_workload() {
        let h = history(vec![
            op(1, "us-east", "order", Outcome::Ok, 0, 10),
            op(2, "us-east", FINAL_READ_OP, Outcome::Fail, 20, 30),
        ]);
        let slis = slis_by_phase(&h, None, &workload_regions(&h, None));
        assert_eq!(slis.len(), 1);
        assert_eq!(slis[0].regions["us-east"].count, 1);
    }
}
