//! The expanded timeline: every fault change of a drill, in order, with the
//! link-level proxy faults it adds, updates or removes.
//!
//! The runner applies each [`TimelineEntry`] at its time and writes one
//! history record per entry ([`TimelineEntry::record`]); `faultline plan`
//! prints the same entries without applying them.

use std::fmt::Write as _;
use std::time::Duration;

use faultline_proxies::{Direction, Fault, FaultKind};
use serde_json::{json, Value};

use crate::base::duration::{self, human};
use crate::base::LinkId;
use crate::history::{FaultAction, FaultRecord};

/// A drill's fault changes, in the order the runner applies them.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// The seed the random parts were drawn with.
    pub seed: u64,
    /// The time scale applied to every `at`.
    pub time_scale: f64,
    /// When the drill ends (scaled).
    pub duration: Duration,
    /// The changes, ordered by time; at one instant ends come before
    /// updates, updates before starts, then by step.
    pub entries: Vec<TimelineEntry>,
}

/// One region-level change and the link faults it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    /// When, after the drill starts (time scale applied).
    pub at: Duration,
    /// Index of the schedule step it belongs to.
    pub step: u32,
    /// Which activation of the step (a flap's cycle, a nemesis draw), if it has several.
    pub instance: Option<u32>,
    /// Start, update or end.
    pub action: FaultAction,
    /// The region-level fault as the scenario states it (a ramp's current values).
    pub what: Value,
    /// The links touched, in scenario order.
    pub links: Vec<LinkId>,
    /// The regions the fault is aimed at, in scenario order (an isolated
    /// region, a partition's groups, a degrade's named regions): the regions
    /// `blast_radius` does not judge while the fault is active.
    pub regions: Vec<String>,
    /// The proxy faults to add, update or remove, link by link.
    pub changes: Vec<LinkFaultChange>,
}

/// A change to one proxy's faults.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkFaultChange {
    /// The link (the proxy) changed.
    pub link: LinkId,
    /// What to do to it.
    pub change: Change,
}

/// What to do to a proxy's faults.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Add this fault (its name is unique on the proxy for as long as it lives).
    Add(Fault),
    /// Replace the attributes of the fault of the same name.
    Update(Fault),
    /// Remove the fault of this name.
    Remove {
        /// The fault's name.
        name: String,
        /// The stream it was on.
        direction: Direction,
    },
}

impl Change {
    /// The name of the fault changed.
    pub fn name(&self) -> &str {
        match self {
            Change::Add(fault) | Change::Update(fault) => &fault.name,
            Change::Remove { name, .. } => name,
        }
    }

    /// The stream of the fault changed.
    pub fn direction(&self) -> Direction {
        match self {
            Change::Add(fault) | Change::Update(fault) => fault.direction,
            Change::Remove { direction, .. } => *direction,
        }
    }

    fn sign(&self) -> char {
        match self {
            Change::Add(_) => '+',
            Change::Update(_) => '~',
            Change::Remove { .. } => '-',
        }
    }

    fn op(&self) -> &'static str {
        match self {
            Change::Add(_) => "add",
            Change::Update(_) => "update",
            Change::Remove { .. } => "remove",
        }
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn action_name(action: FaultAction) -> &'static str {
    match action {
        FaultAction::Start => "start",
        FaultAction::Update => "update",
        FaultAction::End => "end",
    }
}

impl TimelineEntry {
    /// The step label: `0`, or `2.3` for the fourth activation of step 2.
    pub fn label(&self) -> String {
        match self.instance {
            Some(instance) => format!("{}.{instance}", self.step),
            None => self.step.to_string(),
        }
    }

    /// The history record of this entry, applied at `actual` after the start.
    pub fn record(&self, actual: Duration) -> FaultRecord {
        FaultRecord {
            step: self.step,
            action: self.action,
            what: self.what.clone(),
            links: self.links.iter().map(ToString::to_string).collect(),
            regions: self.regions.clone(),
            planned_ns: nanos(self.at),
            actual_ns: nanos(actual),
            placed_on: std::collections::BTreeMap::new(),
        }
    }

    /// The entry as JSON (the `--json` plan and report.json).
    pub fn to_json(&self) -> Value {
        json!({
            "at": duration::format(self.at),
            "at_ns": nanos(self.at),
            "step": self.step,
            "instance": self.instance,
            "action": action_name(self.action),
            "what": self.what,
            "links": self.links.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "regions": self.regions,
            "changes": self.changes.iter().map(|change| {
                let mut value = json!({"link": change.link.to_string(), "op": change.change.op()});
                match &change.change {
                    Change::Add(fault) | Change::Update(fault) => value["fault"] = fault_json(fault),
                    Change::Remove { name, direction } => {
                        value["name"] = json!(name);
                        value["stream"] = json!(direction.as_str());
                    }
                }
                value
            }).collect::<Vec<_>>(),
        })
    }
}

impl Timeline {
    /// The timeline as JSON: `{"seed", "time_scale", "duration", "entries": […]}`.
    pub fn to_json(&self) -> Value {
        json!({
            "seed": self.seed,
            "time_scale": self.time_scale,
            "duration": duration::format(self.duration),
            "entries": self.entries.iter().map(TimelineEntry::to_json).collect::<Vec<_>>(),
        })
    }

    /// The timeline for people: one block per entry, one line per link change.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        if self.entries.is_empty() {
            out.push_str("  (no faults)\n");
        }
        let at_width = self
            .entries
            .iter()
            .map(|e| human(e.at).len())
            .max()
            .unwrap_or(0);
        let label_width = self
            .entries
            .iter()
            .map(|e| e.label().len())
            .max()
            .unwrap_or(0);
        for entry in &self.entries {
            let what = crate::report::human::describe_what(&entry.what);
            let _ = writeln!(
                out,
                "  {:>at_width$}  step {:<label_width$}  {:<6}  {what}",
                human(entry.at),
                entry.label(),
                action_name(entry.action),
            );
            let link_width = entry
                .changes
                .iter()
                .map(|c| c.link.to_string().len())
                .max()
                .unwrap_or(0);
            let name_width = entry
                .changes
                .iter()
                .map(|c| c.change.name().len())
                .max()
                .unwrap_or(0);
            for change in &entry.changes {
                let description = match &change.change {
                    Change::Add(fault) | Change::Update(fault) => describe_fault(fault),
                    Change::Remove { .. } => String::new(),
                };
                let line = format!(
                    "      {} {:<link_width$}  {:<name_width$}  {description}",
                    change.change.sign(),
                    change.link.to_string(),
                    change.change.name(),
                );
                let _ = writeln!(out, "{}", line.trim_end());
            }
        }
        out
    }
}

use crate::report::human::percent;

/// A one-line description of a proxy fault: `latency 40ms ±5ms`,
/// `blackhole on_heal=deliver`, `loss 30% correlation 0% rto 200ms`.
pub fn describe_fault(fault: &Fault) -> String {
    let mut text = match &fault.kind {
        FaultKind::Latency { latency, jitter } if jitter.is_zero() => {
            format!("latency {}", human(*latency))
        }
        FaultKind::Latency { latency, jitter } => {
            format!("latency {} ±{}", human(*latency), human(*jitter))
        }
        FaultKind::Bandwidth { rate_kb } => format!("bandwidth {rate_kb} KB/s"),
        FaultKind::SlowClose { delay } => format!("slow_close {}", human(*delay)),
        FaultKind::Timeout { timeout } => format!("timeout {}", human(*timeout)),
        FaultKind::ResetPeer { timeout } => format!("reset_peer {}", human(*timeout)),
        FaultKind::Slicer {
            average_size,
            size_variation,
            delay,
        } => {
            format!(
                "slicer {average_size}±{size_variation} bytes every {}",
                human(*delay)
            )
        }
        FaultKind::LimitData { bytes } => format!("limit_data {bytes} bytes"),
        FaultKind::Loss {
            probability,
            correlation,
            rto,
            throughput,
        } => {
            format!(
                "loss {} correlation {} rto {} throughput {}",
                percent(*probability),
                percent(*correlation),
                human(*rto),
                throughput.as_str()
            )
        }
        FaultKind::Blackhole { on_heal } => format!("blackhole on_heal={}", on_heal.as_str()),
        FaultKind::Reject => "reject".into(),
    };
    if fault.toxicity < 1.0 {
        let _ = write!(text, " toxicity {}", fault.toxicity);
    }
    text
}

/// A proxy fault as JSON, in Toxiproxy's toxic shape with durations as text:
/// `{"name", "type", "stream", "toxicity", "attributes": {…}}`.
pub fn fault_json(fault: &Fault) -> Value {
    let text = |d: &Duration| duration::format(*d);
    let attributes = match &fault.kind {
        FaultKind::Latency { latency, jitter } => {
            json!({"latency": text(latency), "jitter": text(jitter)})
        }
        FaultKind::Bandwidth { rate_kb } => json!({"rate": rate_kb}),
        FaultKind::SlowClose { delay } => json!({"delay": text(delay)}),
        FaultKind::Timeout { timeout } | FaultKind::ResetPeer { timeout } => {
            json!({"timeout": text(timeout)})
        }
        FaultKind::Slicer {
            average_size,
            size_variation,
            delay,
        } => {
            json!({"average_size": average_size, "size_variation": size_variation, "delay": text(delay)})
        }
        FaultKind::LimitData { bytes } => json!({"bytes": bytes}),
        FaultKind::Loss {
            probability,
            correlation,
            rto,
            throughput,
        } => {
            json!({"probability": probability, "correlation": correlation, "rto": text(rto), "throughput": throughput.as_str()})
        }
        FaultKind::Blackhole { on_heal } => json!({"on_heal": on_heal.as_str()}),
        FaultKind::Reject => json!({}),
    };
    json!({
        "name": fault.name,
        "type": fault.kind.type_name(),
        "stream": fault.direction.as_str(),
        "toxicity": fault.toxicity,
        "attributes": attributes,
    })
}

#[cfg(test)]
mod tests {
    use faultline_proxies::OnHeal;

    use super::*;

    fn entry() -> TimelineEntry {
        let link = LinkId::new("us-east", "eu-west", "kv");
        TimelineEntry {
            at: Duration::from_secs(5),
            step: 1,
            instance: None,
            action: FaultAction::Start,
            what: json!({"partition": [["us-east"], ["eu-west"]]}),
            links: vec![link.clone()],
            regions: vec!["us-east".into(), "eu-west".into()],
            changes: vec![LinkFaultChange {
                link,
                change: Change::Add(
                    Fault::new(
                        Direction::Upstream,
                        FaultKind::Blackhole {
                            on_heal: OnHeal::Deliver,
                        },
                    )
                    .named("s1-partition-upstream"),
                ),
            }],
        }
    }

    #[test]
    fn an_entry_becomes_the_history_record_the_runner_writes() {
        let record = entry().record(Duration::from_millis(5001));
        assert_eq!(record.step, 1);
        assert_eq!(record.action, FaultAction::Start);
        assert_eq!(record.links, ["us-east->eu-west:kv"]);
        assert_eq!(record.regions, ["us-east", "eu-west"]);
        assert_eq!(record.planned_ns, 5_000_000_000);
        assert_eq!(record.actual_ns, 5_001_000_000);
    }

    #[test]
    fn faults_are_described_with_their_units() {
        let latency = Fault::new(
            Direction::Downstream,
            FaultKind::Latency {
                latency: Duration::from_millis(40),
                jitter: Duration::from_millis(5),
            },
        );
        assert_eq!(describe_fault(&latency), "latency 40ms ±5ms");
        let loss = Fault::new(
            Direction::Upstream,
            FaultKind::Loss {
                probability: 0.3,
                correlation: 0.25,
                rto: Duration::from_millis(200),
                throughput: faultline_proxies::Throughput::Cubic,
            },
        )
        .with_toxicity(0.5);
        assert_eq!(
            describe_fault(&loss),
            "loss 30% correlation 25% rto 200ms throughput cubic toxicity 0.5"
        );
    }

    #[test]
    fn the_json_form_names_link_operation_and_fault() {
        let value = entry().to_json();
        assert_eq!(value["action"], "start");
        assert_eq!(value["changes"][0]["op"], "add");
        assert_eq!(value["changes"][0]["fault"]["type"], "blackhole");
        assert_eq!(
            value["changes"][0]["fault"]["attributes"]["on_heal"],
            "deliver"
        );
    }
}
