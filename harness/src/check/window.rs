//! Fault windows: the stretches of a run during which a fault was active.
//!
//! The history records fault changes one by one (`start`, `update`, `end`,
//! tagged with their schedule step). Checkers and reports want spans instead:
//! a `start` and the next `end` of the same step make one window; a step that
//! starts again after it ended (a flap) makes another. A `start` that never ends
//! lasts to the end of the history, which is what the system under test saw.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::history::{FaultAction, FaultRecord, History, Record};

/// One span of time during which one schedule step's fault was active.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultWindow {
    /// The schedule step the fault belongs to.
    pub step: u32,
    /// The fault as the scenario states it, from the `start` record.
    pub what: Value,
    /// When the fault was applied, ns since the run started.
    pub start_ns: u64,
    /// When it was healed, or the end of the history if it never was.
    pub end_ns: u64,
    /// Whether an `end` record closed the window.
    pub healed: bool,
    /// Regions the fault reaches (union over its `start` and `update` records;
    /// where a record names no regions, the endpoints of its links).
    pub regions: BTreeSet<String>,
    /// Links the fault touches, as `from->to:service` (union, sorted).
    pub links: BTreeSet<String>,
}

impl FaultWindow {
    /// Whether `region` is within the fault's reach.
    pub fn reaches(&self, region: &str) -> bool {
        self.regions.contains(region)
    }

    /// Whether the instant `ns` lies in the window, extended by `grace_ns` after its end.
    pub fn covers(&self, ns: u64, grace_ns: u64) -> bool {
        ns >= self.start_ns && ns < self.end_ns.saturating_add(grace_ns)
    }

    /// Whether the span `[from_ns, to_ns]` meets the window extended by `grace_ns`.
    pub fn overlaps(&self, from_ns: u64, to_ns: u64, grace_ns: u64) -> bool {
        from_ns < self.end_ns.saturating_add(grace_ns) && to_ns >= self.start_ns
    }

    /// A short human description, e.g. `step 0 partition [us-east] | [eu-west]`.
    pub fn label(&self) -> String {
        format!("step {} {}", self.step, describe_fault(&self.what))
    }
}

/// Pairs the history's fault records into windows, ordered by start time (then step).
///
/// An `end` without an open `start` of its step is ignored; an `update` widens
/// the open window's reach.
pub fn fault_windows(history: &History) -> Vec<FaultWindow> {
    let end_of_history = history_end_ns(history);
    let mut open: BTreeMap<u32, FaultWindow> = BTreeMap::new();
    let mut windows = Vec::new();
    for record in &history.records {
        let Record::Fault(fault) = record else {
            continue;
        };
        match fault.action {
            FaultAction::Start => {
                let window = FaultWindow {
                    step: fault.step,
                    what: fault.what.clone(),
                    start_ns: fault.actual_ns,
                    end_ns: end_of_history,
                    healed: false,
                    regions: reached(fault),
                    links: fault.links.iter().cloned().collect(),
                };
                // A second start of an open step closes the first at that instant.
                if let Some(mut previous) = open.insert(fault.step, window) {
                    previous.end_ns = fault.actual_ns;
                    windows.push(previous);
                }
            }
            FaultAction::Update => {
                if let Some(window) = open.get_mut(&fault.step) {
                    window.regions.extend(reached(fault));
                    window.links.extend(fault.links.iter().cloned());
                }
            }
            FaultAction::End => {
                if let Some(mut window) = open.remove(&fault.step) {
                    window.end_ns = fault.actual_ns.max(window.start_ns);
                    window.healed = true;
                    windows.push(window);
                }
            }
        }
    }
    windows.extend(open.into_values());
    windows.sort_by_key(|w| (w.start_ns, w.step, w.end_ns));
    windows
}

/// The regions a fault record reaches: as recorded, or else the endpoints of
/// its links (`from->to:service`).
fn reached(fault: &FaultRecord) -> BTreeSet<String> {
    if !fault.regions.is_empty() {
        return fault.regions.iter().cloned().collect();
    }
    fault
        .links
        .iter()
        .flat_map(|link| {
            let path = link.split_once(':').map_or(link.as_str(), |(path, _)| path);
            path.split("->").map(str::to_owned).collect::<Vec<_>>()
        })
        .filter(|region| !region.is_empty())
        .collect()
}

/// The last instant the history mentions, ns since the run started.
pub fn history_end_ns(history: &History) -> u64 {
    history
        .records
        .iter()
        .map(|record| match record {
            Record::Run(_) => 0,
            Record::Op(op) => op.end_ns.max(op.start_ns),
            Record::Fault(fault) => fault.actual_ns.max(fault.planned_ns),
            Record::Lag(lag) => lag.seen_ns.unwrap_or(0).max(lag.written_ns),
        })
        .max()
        .unwrap_or(0)
}

/// When the drill's traffic stopped: the last invocation of a workload
/// operation or the last probe marker written (final reads, and requests still
/// draining, come after it). Falls back to the end of the history.
pub fn traffic_end_ns(history: &History) -> u64 {
    history
        .records
        .iter()
        .filter_map(|record| match record {
            Record::Op(op) if op.op != super::FINAL_READ_OP => Some(op.start_ns),
            Record::Lag(lag) => Some(lag.written_ns),
            _ => None,
        })
        .max()
        .unwrap_or_else(|| history_end_ns(history))
}

/// When the last fault was healed, if every fault was (`None` if a fault never
/// healed or there were no faults).
pub fn last_heal_ns(windows: &[FaultWindow]) -> Option<u64> {
    if windows.iter().any(|w| !w.healed) {
        return None;
    }
    windows.iter().map(|w| w.end_ns).max()
}

/// A one-line description of a region-level fault as the scenario states it:
/// `{"partition": [["us-east"], ["eu-west"]]}` becomes `partition [us-east] | [eu-west]`.
pub fn describe_fault(what: &Value) -> String {
    let Value::Object(map) = what else {
        return compact(what);
    };
    if map.len() != 1 {
        return compact(what);
    }
    let Some((kind, body)) = map.iter().next() else {
        return compact(what);
    };
    match body {
        Value::Array(groups) if groups.iter().all(Value::is_array) => {
            let groups: Vec<String> = groups
                .iter()
                .map(|group| {
                    let names: Vec<String> = group
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|name| name.as_str().map_or_else(|| compact(name), str::to_owned))
                        .collect();
                    format!("[{}]", names.join(", "))
                })
                .collect();
            format!("{kind} {}", groups.join(" | "))
        }
        Value::Object(attrs) => {
            let attrs: Vec<String> = attrs
                .iter()
                .map(|(name, value)| match value {
                    Value::String(text) => format!("{name}={text}"),
                    other => format!("{name}={}", compact(other)),
                })
                .collect();
            format!("{kind} {}", attrs.join(" "))
        }
        Value::Null => kind.clone(),
        Value::String(text) => format!("{kind} {text}"),
        other => format!("{kind} {}", compact(other)),
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::check::synthetic::{fault, history, op};
    use crate::history::Outcome;

    #[test]
    fn a_start_and_an_end_of_one_step_make_one_window() {
        let h = history(vec![
            fault(0, FaultAction::Start, &["us-east", "eu-west"], 5_000),
            op(1, "us-east", "order", Outcome::Ok, 6_000, 7_000),
            fault(0, FaultAction::End, &["us-east", "eu-west"], 9_000),
        ]);
        let windows = fault_windows(&h);
        assert_eq!(windows.len(), 1);
        assert_eq!((windows[0].start_ns, windows[0].end_ns), (5_000, 9_000));
        assert!(windows[0].healed);
        assert!(windows[0].reaches("eu-west") && !windows[0].reaches("ap-northeast"));
        assert_eq!(last_heal_ns(&windows), Some(9_000));
    }

    #[test]
    fn a_start_that_never_ends_lasts_to_the_end_of_the_history() {
        let h = history(vec![
            fault(3, FaultAction::Start, &["eu-west"], 1_000),
            op(1, "us-east", "order", Outcome::Ok, 2_000, 40_000),
        ]);
        let windows = fault_windows(&h);
        assert_eq!(windows[0].end_ns, 40_000);
        assert!(!windows[0].healed);
        assert_eq!(last_heal_ns(&windows), None);
    }

    #[test]
    fn a_flapping_step_makes_one_window_per_flap() {
        let h = history(vec![
            fault(1, FaultAction::Start, &["a"], 0),
            fault(1, FaultAction::End, &["a"], 10),
            fault(1, FaultAction::Start, &["a"], 20),
            fault(1, FaultAction::Update, &["b"], 25),
            fault(1, FaultAction::End, &["a"], 30),
        ]);
        let windows = fault_windows(&h);
        assert_eq!(windows.len(), 2);
        assert_eq!((windows[1].start_ns, windows[1].end_ns), (20, 30));
        assert!(windows[1].reaches("b"), "an update widens the reach");
    }

    #[test]
    fn a_fault_record_without_regions_reaches_the_ends_of_its_links() {
        let mut start = fault(0, FaultAction::Start, &[], 0);
        if let Record::Fault(f) = &mut start {
            f.links = vec![
                "us-east->eu-west:kv".into(),
                "ap-northeast->eu-west:kv".into(),
            ];
        }
        let windows = fault_windows(&history(vec![start]));
        let regions: Vec<&str> = windows[0].regions.iter().map(String::as_str).collect();
        assert_eq!(regions, ["ap-northeast", "eu-west", "us-east"]);
    }

    #[test]
    fn grace_extends_a_window_past_its_end() {
        let h = history(vec![
            fault(0, FaultAction::Start, &["a"], 100),
            fault(0, FaultAction::End, &["a"], 200),
        ]);
        let window = &fault_windows(&h)[0];
        assert!(!window.covers(250, 0));
        assert!(window.covers(250, 100));
        assert!(!window.covers(99, 100));
        assert!(window.overlaps(50, 100, 0));
        assert!(!window.overlaps(50, 99, 0));
    }

    #[test]
    fn faults_are_described_the_way_the_scenario_states_them() {
        assert_eq!(
            describe_fault(&json!({"partition": [["us-east"], ["eu-west", "ap-northeast"]]})),
            "partition [us-east] | [eu-west, ap-northeast]"
        );
        assert_eq!(
            describe_fault(&json!({"degrade": {"region": "eu-west", "latency": "2s"}})),
            "degrade latency=2s region=eu-west"
        );
    }
}
