//! The notable moments of a run, in time order: every fault change, and how
//! each region felt the faults (first failure, first unknown outcome, recovery).
//!
//! Region moments come from the workload operations of that region, ordered by
//! completion (when the client learnt the outcome). A region starts failing at
//! its first unsuccessful operation and recovers at the first success after its
//! last unsuccessful one; "last" is decided within each stretch between two
//! fault changes, so a region flapping under a lossy link yields one failure and
//! one recovery per stretch, not one per request.

use serde::Serialize;

use super::human::{self, describe_what};
use super::lanes::{lane_of, Lane};
use crate::check::sli::workload_ops;
use crate::check::sli::{Phase, PhaseKind};
use crate::check::window::history_end_ns;
use crate::history::{FaultAction, History, OpRecord, Outcome};

/// What kind of moment an [`Event`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The run began (T+0).
    RunStart,
    /// A fault was healed.
    FaultEnd,
    /// A fault began.
    FaultStart,
    /// A fault's attributes changed.
    FaultUpdate,
    /// A region's first definitely failed operation (since it last recovered).
    FirstFailure,
    /// A region's first operation with an unknown outcome (since it last recovered).
    FirstUnknown,
    /// A region's first success after its last unsuccessful operation.
    Recovered,
    /// The last moment the history records.
    RunEnd,
}

/// One notable moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// When, ns since the run started.
    pub at_ns: u64,
    /// What kind of moment.
    pub kind: EventKind,
    /// The region, for region moments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The schedule step, for fault changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// The headline, e.g. `partition [us-east] | [eu-west] begins`.
    pub text: String,
    /// Further lines, e.g. the links a fault touched.
    pub details: Vec<String>,
}

/// Every notable moment of the history, in time order.
pub fn events(history: &History) -> Vec<Event> {
    let mut events = vec![Event {
        at_ns: 0,
        kind: EventKind::RunStart,
        region: None,
        step: None,
        text: "run starts".into(),
        details: Vec::new(),
    }];
    let mut boundaries = Vec::new();
    for fault in history.faults() {
        let (kind, verb) = match fault.action {
            FaultAction::Start => (EventKind::FaultStart, "begins"),
            FaultAction::Update => (EventKind::FaultUpdate, "changes"),
            FaultAction::End => (EventKind::FaultEnd, "heals"),
        };
        if fault.action != FaultAction::Update {
            boundaries.push(fault.actual_ns);
        }
        let mut details = Vec::new();
        if !fault.links.is_empty() && fault.action != FaultAction::End {
            details.push(format!("links: {}", fault.links.join(", ")));
        }
        if !fault.regions.is_empty() && fault.action != FaultAction::End {
            details.push(format!("reaches: {}", fault.regions.join(", ")));
        }
        if !fault.placed_on.is_empty() {
            details.push(format!("applied on: {}", placed_on(&fault.placed_on)));
        }
        details.push(format!(
            "step {}, planned {}, applied {}",
            fault.step,
            relative_time(fault.planned_ns),
            schedule_error(fault.planned_ns, fault.actual_ns)
        ));
        events.push(Event {
            at_ns: fault.actual_ns,
            kind,
            region: None,
            step: Some(fault.step),
            text: format!("{} {verb}", describe_what(&fault.what)),
            details,
        });
    }
    boundaries.sort_unstable();
    boundaries.dedup();

    let mut regions: Vec<&str> = workload_ops(history, None)
        .map(|o| o.region.as_str())
        .collect();
    regions.sort_unstable();
    regions.dedup();
    for region in regions {
        let mut ops: Vec<&OpRecord> = workload_ops(history, None)
            .filter(|o| o.region == region)
            .collect();
        ops.sort_by_key(|o| (o.end_ns, o.id));
        region_events(region, &ops, &boundaries, &mut events);
    }

    events.push(Event {
        at_ns: history_end_ns(history),
        kind: EventKind::RunEnd,
        region: None,
        step: None,
        text: "history ends".into(),
        details: Vec::new(),
    });
    events.sort_by(|a, b| (a.at_ns, a.kind, &a.region).cmp(&(b.at_ns, b.kind, &b.region)));
    events
}

/// A region's episode of unsuccessful operations.
#[derive(Default)]
struct Episode {
    failed: u64,
    unknown: u64,
}

fn region_events(region: &str, ops: &[&OpRecord], boundaries: &[u64], events: &mut Vec<Event>) {
    let mut episode: Option<Episode> = None;
    let mut rest = ops;
    while let Some(first) = rest.first() {
        // The stretch between two fault changes that this operation completed in.
        let stretch = boundaries.partition_point(|b| *b <= first.end_ns);
        let len = rest
            .iter()
            .position(|o| boundaries.partition_point(|b| *b <= o.end_ns) != stretch)
            .unwrap_or(rest.len());
        let (segment, tail) = rest.split_at(len);
        rest = tail;

        let last_bad = segment.iter().rposition(|o| o.outcome != Outcome::Ok);
        if let Some(last_bad) = last_bad {
            for op in segment[..=last_bad]
                .iter()
                .filter(|o| o.outcome != Outcome::Ok)
            {
                let current = episode.get_or_insert_with(Episode::default);
                let (first_of_kind, kind, what) = match op.outcome {
                    Outcome::Fail => (
                        current.failed == 0,
                        EventKind::FirstFailure,
                        "first failure",
                    ),
                    _ => (
                        current.unknown == 0,
                        EventKind::FirstUnknown,
                        "first unknown outcome",
                    ),
                };
                if op.outcome == Outcome::Fail {
                    current.failed += 1;
                } else {
                    current.unknown += 1;
                }
                if first_of_kind {
                    events.push(Event {
                        at_ns: op.end_ns,
                        kind,
                        region: Some(region.to_owned()),
                        step: None,
                        text: format!("{region}: {what}"),
                        details: vec![describe_op(op)],
                    });
                }
            }
        }
        let after = last_bad.map_or(0, |i| i + 1);
        if let (Some(done), Some(ok)) = (&episode, segment[after..].first()) {
            events.push(Event {
                at_ns: ok.end_ns,
                kind: EventKind::Recovered,
                region: Some(region.to_owned()),
                step: None,
                text: format!("{region}: recovered"),
                details: vec![format!(
                    "first success after {} failed, {} unknown",
                    done.failed, done.unknown
                )],
            });
            episode = None;
        }
    }
}

/// `order WIDGET-001 (invoked T+00:07.100, took 2s): timeout after 2s`.
fn describe_op(op: &OpRecord) -> String {
    let key = op
        .key
        .as_deref()
        .map(|k| format!(" {k}"))
        .unwrap_or_default();
    let outcome = op.detail.clone().unwrap_or_else(|| match op.outcome {
        Outcome::Ok => "ok".into(),
        Outcome::Fail => "failed".into(),
        Outcome::Unknown => "outcome unknown".into(),
    });
    format!(
        "{}{key} (invoked {}, took {}): {outcome}",
        op.op,
        relative_time(op.start_ns),
        human::duration_ns(op.end_ns.saturating_sub(op.start_ns))
    )
}

/// A phase of the run for people: `before faults`, `step 0 partition [a] | [b]`,
/// `step 1 degrade … latency=0s→2s` (a ramp's range, from its lane), `after heal`.
pub fn phase_label(phase: &Phase, lanes: &[Lane]) -> String {
    match &phase.kind {
        PhaseKind::Fault(window) => {
            let fault = lane_of(lanes, window.step, window.start_ns)
                .map_or_else(|| describe_what(&window.what), |lane| lane.fault.clone());
            format!("step {} {fault}", window.step)
        }
        _ => phase.label(),
    }
}

/// `T+00:05.000` (minutes, seconds, milliseconds); `T+1:02:05.000` past an hour.
pub fn relative_time(ns: u64) -> String {
    let total_ms = ns / 1_000_000;
    let (hours, rest) = (total_ms / 3_600_000, total_ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1_000, rest % 1_000);
    if hours > 0 {
        format!("T+{hours}:{minutes:02}:{seconds:02}.{millis:03}")
    } else {
        format!("T+{minutes:02}:{seconds:02}.{millis:03}")
    }
}

/// `on time`, `1.2ms late` or `300µs early`.
pub fn schedule_error(planned_ns: u64, actual_ns: u64) -> String {
    match actual_ns.cmp(&planned_ns) {
        std::cmp::Ordering::Equal => "on time".into(),
        std::cmp::Ordering::Greater => {
            format!("{} late", human::duration_ns(actual_ns - planned_ns))
        }
        std::cmp::Ordering::Less => format!("{} early", human::duration_ns(planned_ns - actual_ns)),
    }
}

/// `placed_on` grouped by where the change went: `http://a:8474 (x->y:s),
/// in-process (y->x:s)`.
fn placed_on(placed: &std::collections::BTreeMap<String, String>) -> String {
    let mut by_plane: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (link, plane) in placed {
        by_plane.entry(plane).or_default().push(link);
    }
    by_plane
        .iter()
        .map(|(plane, links)| format!("{plane} ({})", links.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_a_change_was_applied_is_grouped_by_agent() {
        let placed = [
            ("a->b:kv", "http://10.200.1.22:8474"),
            ("b->a:kv", "http://10.200.1.21:8474"),
            ("c->b:kv", "http://10.200.1.22:8474"),
        ]
        .into_iter()
        .map(|(l, p)| (l.to_owned(), p.to_owned()))
        .collect();
        assert_eq!(
            placed_on(&placed),
            "http://10.200.1.21:8474 (b->a:kv), http://10.200.1.22:8474 (a->b:kv, c->b:kv)"
        );
    }
    use crate::check::synthetic::{fault, history, ms as millis, op};

    fn kinds(events: &[Event], region: &str) -> Vec<(EventKind, u64)> {
        events
            .iter()
            .filter(|e| e.region.as_deref() == Some(region))
            .map(|e| (e.kind, e.at_ns / 1_000_000))
            .collect()
    }

    #[test]
    fn relative_times_read_like_an_incident_timeline() {
        assert_eq!(relative_time(millis(5_000)), "T+00:05.000");
        assert_eq!(relative_time(millis(61_250)), "T+01:01.250");
        assert_eq!(relative_time(millis(3_725_000)), "T+1:02:05.000");
    }

    #[test]
    fn a_region_fails_and_recovers_once_per_stretch_despite_flapping() {
        let h = history(vec![
            op(1, "eu-west", "get", Outcome::Ok, 0, millis(100)),
            fault(0, FaultAction::Start, &["eu-west"], millis(1_000)),
            op(
                2,
                "eu-west",
                "get",
                Outcome::Fail,
                millis(1_100),
                millis(1_200),
            ),
            op(
                3,
                "eu-west",
                "get",
                Outcome::Ok,
                millis(1_300),
                millis(1_400),
            ),
            op(
                4,
                "eu-west",
                "get",
                Outcome::Unknown,
                millis(1_500),
                millis(1_600),
            ),
            op(
                5,
                "eu-west",
                "get",
                Outcome::Fail,
                millis(1_700),
                millis(1_800),
            ),
            fault(0, FaultAction::End, &["eu-west"], millis(2_000)),
            op(
                6,
                "eu-west",
                "get",
                Outcome::Ok,
                millis(2_100),
                millis(2_200),
            ),
            op(
                7,
                "eu-west",
                "get",
                Outcome::Ok,
                millis(2_300),
                millis(2_400),
            ),
        ]);
        let events = events(&h);
        assert_eq!(
            kinds(&events, "eu-west"),
            [
                (EventKind::FirstFailure, 1_200),
                (EventKind::FirstUnknown, 1_600),
                (EventKind::Recovered, 2_200),
            ]
        );
        let recovered = events
            .iter()
            .find(|e| e.kind == EventKind::Recovered)
            .unwrap();
        assert_eq!(
            recovered.details,
            ["first success after 2 failed, 1 unknown"]
        );
    }

    #[test]
    fn fault_changes_carry_their_links_and_schedule_error() {
        let mut h = history(vec![fault(
            0,
            FaultAction::Start,
            &["us-east", "eu-west"],
            millis(5_000),
        )]);
        if let crate::history::Record::Fault(f) = &mut h.records[0] {
            f.actual_ns += 1_200_000;
        }
        let events = events(&h);
        let start = events
            .iter()
            .find(|e| e.kind == EventKind::FaultStart)
            .unwrap();
        assert_eq!(start.text, "partition [us-east] | [eu-west] begins");
        assert_eq!(
            start.details,
            [
                "links: us-east->eu-west:kv, eu-west->us-east:kv",
                "reaches: us-east, eu-west",
                "step 0, planned T+00:05.000, applied 1.2ms late",
            ]
        );
    }
}
