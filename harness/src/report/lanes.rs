//! Fault lanes: the schedule as a person scans it, one lane per schedule step.
//!
//! Built from the history's fault records alone. Each activation of a step (a
//! `start` up to its `end`, or to the end of the history) is a [`Band`]; a
//! flap's cycles are bands of one lane, and a nemesis's draws are grouped under
//! their step with one lane per distinct fault drawn. Within a band, every
//! `update` (a ramp's jump) starts a new [`Level`], whose `intensity` (0..=1)
//! is its largest attribute relative to that attribute's peak in the band, so
//! a ramp from 0 to 2s of latency reads as a band growing darker.

use std::collections::BTreeMap;

use serde_json::Value;

use super::human::{self, describe_what};
use crate::base::duration;
use crate::check::window::history_end_ns;
use crate::history::{FaultAction, History};

/// One lane: the activations of one schedule step that did the same fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    /// The schedule step.
    pub step: u32,
    /// Which lane of the step this is (0 unless a nemesis drew several faults).
    pub index: usize,
    /// What a person reads beside the lane, e.g. `step 0 · partition [us-east] | [eu-west]`.
    pub label: String,
    /// The fault alone, as [`label`](Self::label) states it (`partition [us-east] | [eu-west]`).
    pub fault: String,
    /// The activations, in time order.
    pub bands: Vec<Band>,
}

/// One activation of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// When it was applied, ns since the run started.
    pub start_ns: u64,
    /// When it healed, or the end of the history.
    pub end_ns: u64,
    /// Whether an `end` record closed it.
    pub healed: bool,
    /// The fault as its `start` record states it.
    pub what: Value,
    /// The fault's successive values (one unless it was updated), in time order.
    pub levels: Vec<Level>,
}

/// A stretch of a band during which the fault kept its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// Start, ns since the run started.
    pub start_ns: u64,
    /// End, ns since the run started.
    pub end_ns: u64,
    /// The fault's values.
    pub what: Value,
    /// Its largest attribute relative to that attribute's peak in the band (0..=1).
    pub intensity: f64,
    /// The values that change over the band, e.g. `1.5s 48%` (empty if none change).
    pub text: String,
}

/// The lane holding the activation of `step` that started at `start_ns`.
pub fn lane_of(lanes: &[Lane], step: u32, start_ns: u64) -> Option<&Lane> {
    lanes
        .iter()
        .find(|l| l.step == step && l.bands.iter().any(|b| b.start_ns == start_ns))
}

/// Every lane of the history, by step, then by first activation.
pub fn lanes(history: &History) -> Vec<Lane> {
    let end_of_history = history_end_ns(history);
    let mut open: BTreeMap<u32, Band> = BTreeMap::new();
    let mut bands: Vec<(u32, Band)> = Vec::new();
    for fault in history.faults() {
        let at = fault.actual_ns;
        match fault.action {
            FaultAction::Start => {
                let band = Band {
                    start_ns: at,
                    end_ns: end_of_history,
                    healed: false,
                    what: fault.what.clone(),
                    levels: vec![level(at, &fault.what)],
                };
                if let Some(previous) = open.insert(fault.step, band) {
                    bands.push((fault.step, close(previous, at, false)));
                }
            }
            FaultAction::Update => {
                if let Some(band) = open.get_mut(&fault.step) {
                    if let Some(last) = band.levels.last_mut() {
                        last.end_ns = at.max(last.start_ns);
                    }
                    band.levels.push(level(at, &fault.what));
                }
            }
            FaultAction::End => {
                if let Some(band) = open.remove(&fault.step) {
                    bands.push((fault.step, close(band, at, true)));
                }
            }
        }
    }
    for (step, band) in open {
        bands.push((step, close(band, end_of_history, false)));
    }
    bands.sort_by_key(|(step, band)| (*step, band.start_ns));

    let mut lanes: Vec<Lane> = Vec::new();
    for (step, mut band) in bands {
        grade(&mut band);
        let key = describe_what(&band.what);
        let existing = lanes
            .iter_mut()
            .find(|lane| lane.step == step && describe_what(&lane.bands[0].what) == key);
        match existing {
            Some(lane) => lane.bands.push(band),
            None => {
                let index = lanes.iter().filter(|l| l.step == step).count();
                let fault = band_label(&band);
                lanes.push(Lane {
                    step,
                    index,
                    label: format!("step {step} · {fault}"),
                    fault,
                    bands: vec![band],
                });
            }
        }
    }
    lanes
}

fn level(at: u64, what: &Value) -> Level {
    Level {
        start_ns: at,
        end_ns: at,
        what: what.clone(),
        intensity: 1.0,
        text: String::new(),
    }
}

fn close(mut band: Band, at: u64, healed: bool) -> Band {
    band.end_ns = at.max(band.start_ns);
    band.healed = healed;
    if let Some(last) = band.levels.last_mut() {
        last.end_ns = band.end_ns.max(last.start_ns);
    }
    band
}

/// The attributes of a fault (`{"degrade": {…}}` → the inner object's scalar values).
fn attributes(what: &Value) -> BTreeMap<String, Value> {
    let body = match what {
        Value::Object(map) if map.len() == 1 => map.values().next(),
        _ => None,
    };
    body.and_then(Value::as_object)
        .map(|attrs| {
            attrs
                .iter()
                .filter(|(_, v)| !v.is_object() && !v.is_array())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// An attribute as a magnitude: a duration in seconds, or the number itself.
fn magnitude(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) => duration::parse(text).ok().map(|d| d.as_secs_f64()),
        _ => None,
    }
}

/// Sets each level's intensity and text from the attributes that vary over the band.
fn grade(band: &mut Band) {
    let per_level: Vec<BTreeMap<String, Value>> =
        band.levels.iter().map(|l| attributes(&l.what)).collect();
    let mut varying: Vec<String> = Vec::new();
    if let Some(first) = per_level.first() {
        for key in first.keys() {
            if per_level
                .iter()
                .any(|attrs| attrs.get(key) != first.get(key))
            {
                varying.push(key.clone());
            }
        }
    }
    let peaks: BTreeMap<&str, f64> = varying
        .iter()
        .map(|key| {
            let peak = per_level
                .iter()
                .filter_map(|attrs| attrs.get(key).and_then(magnitude))
                .fold(0.0, f64::max);
            (key.as_str(), peak)
        })
        .collect();
    for (level, attrs) in band.levels.iter_mut().zip(&per_level) {
        if varying.is_empty() {
            continue;
        }
        level.intensity = varying
            .iter()
            .filter_map(|key| {
                let peak = peaks.get(key.as_str()).copied().unwrap_or(0.0);
                let value = attrs.get(key).and_then(magnitude)?;
                (peak > 0.0).then(|| (value / peak).clamp(0.0, 1.0))
            })
            .fold(0.0, f64::max);
        level.text = varying
            .iter()
            .filter_map(|key| attrs.get(key).map(|v| attribute_text(key, v)))
            .collect::<Vec<_>>()
            .join(" ");
    }
}

fn attribute_text(key: &str, value: &Value) -> String {
    human::attribute(key, value)
}

/// The band's fault, with each varying attribute as `first→last`:
/// `degrade between us-east, eu-west latency=0s→1.5s loss=0%→48%`.
fn band_label(band: &Band) -> String {
    let (Some(first), Some(last)) = (band.levels.first(), band.levels.last()) else {
        return describe_what(&band.what);
    };
    if band.levels.len() < 2 {
        return describe_what(&band.what);
    }
    let mut what = first.what.clone();
    let last_attrs = attributes(&last.what);
    if let Some(Value::Object(attrs)) = what.as_object_mut().and_then(|m| m.values_mut().next()) {
        for (key, value) in attrs.iter_mut() {
            let Some(end) = last_attrs.get(key) else {
                continue;
            };
            if end != value {
                let text = format!(
                    "{}→{}",
                    attribute_text(key, value),
                    attribute_text(key, end)
                );
                *value = Value::String(text);
            }
        }
    }
    describe_what(&what)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::check::synthetic::{history, ms};
    use crate::history::{FaultRecord, Record};

    fn change(step: u32, action: FaultAction, what: Value, at_ms: u64) -> Record {
        Record::Fault(FaultRecord {
            step,
            action,
            what,
            links: vec!["a->b:kv".into()],
            regions: vec!["a".into(), "b".into()],
            planned_ns: ms(at_ms),
            actual_ns: ms(at_ms),
            placed_on: Default::default(),
        })
    }

    fn degrade(latency: &str, loss: f64) -> Value {
        json!({"degrade": {"between": ["a", "b"], "latency": latency, "loss": loss}})
    }

    #[test]
    fn a_ramp_is_one_band_whose_levels_grow_in_intensity() {
        let h = history(vec![
            change(0, FaultAction::Start, degrade("0ms", 0.0), 1_000),
            change(0, FaultAction::Update, degrade("1s", 0.32), 2_000),
            change(0, FaultAction::Update, degrade("2s", 0.64), 3_000),
            change(0, FaultAction::End, degrade("2s", 0.64), 4_000),
            change(
                1,
                FaultAction::Start,
                json!({"partition": [["a"], ["b"]]}),
                5_000,
            ),
            change(
                1,
                FaultAction::End,
                json!({"partition": [["a"], ["b"]]}),
                6_000,
            ),
        ]);
        let lanes = lanes(&h);
        assert_eq!(lanes.len(), 2, "a ramp and a partition are two lanes");
        let levels = &lanes[0].bands[0].levels;
        let intensities: Vec<f64> = levels.iter().map(|l| l.intensity).collect();
        assert_eq!(intensities, [0.0, 0.5, 1.0]);
        assert_eq!(levels[1].text, "1s 32%");
        assert_eq!(
            lanes[0].label,
            "step 0 · degrade between a, b latency=0s→2s loss=0%→64%"
        );
        assert_eq!(lanes[1].label, "step 1 · partition [a] | [b]");
        assert_eq!(lanes[1].bands[0].levels[0].intensity, 1.0);
    }

    #[test]
    fn flap_cycles_share_a_lane_and_nemesis_draws_get_one_lane_per_fault() {
        let cut = json!({"partition": [["a"], ["b"]]});
        let slow = degrade("500ms", 0.0);
        let h = history(vec![
            change(0, FaultAction::Start, cut.clone(), 0),
            change(0, FaultAction::End, cut.clone(), 10),
            change(0, FaultAction::Start, cut.clone(), 20),
            change(0, FaultAction::End, cut.clone(), 30),
            change(0, FaultAction::Start, slow.clone(), 40),
            change(0, FaultAction::End, slow, 50),
            change(0, FaultAction::Start, cut, 60),
        ]);
        let lanes = lanes(&h);
        assert_eq!(lanes.len(), 2);
        assert_eq!(lanes[0].bands.len(), 3);
        assert!(!lanes[0].bands[2].healed, "the last cycle lasts to the end");
        assert_eq!((lanes[1].step, lanes[1].index), (0, 1));
    }
}
