//! `random`: a seeded nemesis, drawn into a concrete timeline before the run.
//!
//! ```json
//! {"random": {"faults": [{"partition": {"isolate": "us-east"}},
//!                        {"degrade": {"into": "eu-west", "latency": "500ms"}}],
//!             "every": "10s", "for": ["3s", "8s"]}}
//! ```
//!
//! The step's window is cut into slots: one every `every`, or `count` equal
//! slots. In each slot the nemesis picks one of `faults` uniformly, a length
//! uniformly from `for` (a duration or a `[min, max]` range) and a start
//! uniformly among those that keep the fault inside its slot. Faults therefore
//! never overlap, and every start has its end. The draws come from the step's
//! RNG stream (ChaCha8 seeded with the scenario seed, stream = step index), so
//! one seed always gives the same plan.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BasicFault, RegionFaultConfig};
use super::{Context, MAX_CHANGES};
use crate::base::duration::{self, DurationRange};
use crate::base::{FieldPath, Problems};

/// A `random` nemesis as the scenario file writes it. Exactly one of `count`
/// and `every`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomConfig {
    /// The faults to draw from: `partition`s and `degrade`s.
    pub faults: Vec<RegionFaultConfig>,
    /// Draw this many faults, one per equal slot of the step's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Or draw one fault per slot of this length.
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub every: Option<Duration>,
    /// How long each drawn fault lasts: `"5s"` or `["3s", "8s"]`.
    #[serde(rename = "for")]
    pub lasting: DurationRange,
}

impl RandomConfig {
    /// One of `faults`, for `lasting`, in every slot of `every`.
    pub fn every(faults: Vec<RegionFaultConfig>, every: Duration, lasting: DurationRange) -> Self {
        Self {
            faults,
            count: None,
            every: Some(every),
            lasting,
        }
    }

    /// `count` of `faults`, for `lasting` each, spread over the step.
    pub fn count(faults: Vec<RegionFaultConfig>, count: u32, lasting: DurationRange) -> Self {
        Self {
            faults,
            count: Some(count),
            every: None,
            lasting,
        }
    }

    pub(crate) fn check(
        &self,
        path: &FieldPath,
        context: &Context<'_>,
        problems: &mut Problems,
    ) -> Option<Nemesis> {
        let before = problems.len();
        if self.faults.is_empty() {
            problems.push(
                &path.key("faults"),
                "must list at least one fault to draw from",
            );
        }
        let faults: Vec<Option<(BasicFault, Value)>> = self
            .faults
            .iter()
            .enumerate()
            .map(|(index, fault)| {
                let basic = fault.check_basic(
                    &path.key("faults").index(index),
                    context.network,
                    "a random nemesis",
                    problems,
                )?;
                Some((basic, serde_json::to_value(fault).unwrap_or_default()))
            })
            .collect();
        let DurationRange { min, max } = self.lasting;
        if min.is_zero() {
            problems.push(&path.key("for"), "must be greater than zero");
        } else if min > max {
            problems.push(
                &path.key("for"),
                format!(
                    "[{}, {}] is not a range: min > max",
                    duration::human(min),
                    duration::human(max)
                ),
            );
        }
        let slot = match (self.count, self.every) {
            (Some(_), Some(_)) => {
                problems.push(path, "give `count` or `every`, not both");
                None
            }
            (None, None) => {
                problems.push(path, "needs `count` (how many faults) or `every` (one fault per slot of this length)");
                None
            }
            (Some(count), None) => {
                if count == 0 || count as usize > MAX_CHANGES {
                    problems.push(
                        &path.key("count"),
                        format!("{count} must be within 1..={MAX_CHANGES}"),
                    );
                    None
                } else {
                    Some((Cadence::Count(count), context.span / count, "count"))
                }
            }
            (None, Some(every)) => {
                if every.is_zero() {
                    problems.push(&path.key("every"), "must be greater than zero");
                    None
                } else {
                    let slots = context.span.as_nanos().div_ceil(every.as_nanos());
                    if slots > MAX_CHANGES as u128 {
                        problems.push(
                            &path.key("every"),
                            format!("makes {slots} slots; at most {MAX_CHANGES} are allowed"),
                        );
                    }
                    Some((Cadence::Every(every), every, "every"))
                }
            }
        };
        if let Some((_, slot, field)) = slot {
            if max > slot {
                problems.push(
                    &path.key("for"),
                    format!(
                        "lasts up to {} but each slot is {} long (`{field}`): faults would overlap",
                        duration::human(max),
                        duration::human(slot)
                    ),
                );
            }
        }
        if problems.len() != before {
            return None;
        }
        Some(Nemesis {
            faults: faults.into_iter().collect::<Option<_>>()?,
            cadence: slot?.0,
            lasting: self.lasting,
        })
    }
}

/// How a nemesis spaces its faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// This many equal slots over the step.
    Count(u32),
    /// One slot of this length after another.
    Every(Duration),
}

/// A validated `random` nemesis.
#[derive(Debug, Clone, PartialEq)]
pub struct Nemesis {
    /// The faults to draw from, each with its statement.
    pub faults: Vec<(BasicFault, Value)>,
    /// Slot spacing.
    pub cadence: Cadence,
    /// Length of each drawn fault.
    pub lasting: DurationRange,
}

/// One fault the nemesis drew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// Index into [`Nemesis::faults`].
    pub fault: usize,
    /// When it starts.
    pub start: Duration,
    /// When it ends.
    pub end: Duration,
}

fn uniform(rng: &mut ChaCha8Rng, low: Duration, high: Duration) -> Duration {
    if high <= low {
        return low;
    }
    Duration::from_nanos(rng.gen_range(low.as_nanos() as u64..=high.as_nanos() as u64))
}

impl Nemesis {
    /// Draws the faults for the window `[start, end)`.
    pub fn draws(&self, start: Duration, end: Duration, rng: &mut ChaCha8Rng) -> Vec<Draw> {
        let slots: Vec<(Duration, Duration)> = match self.cadence {
            Cadence::Count(count) => {
                let length = (end - start) / count;
                (0..count)
                    .map(|k| {
                        (
                            start + length * k,
                            if k + 1 == count {
                                end
                            } else {
                                start + length * (k + 1)
                            },
                        )
                    })
                    .collect()
            }
            Cadence::Every(every) => {
                let mut slots = Vec::new();
                let mut slot = start;
                while slot < end {
                    slots.push((slot, (slot + every).min(end)));
                    slot += every;
                }
                slots
            }
        };
        let mut draws = Vec::new();
        for (slot_start, slot_end) in slots {
            let fault = rng.gen_range(0..self.faults.len());
            let room = slot_end - slot_start;
            let length = uniform(rng, self.lasting.min, self.lasting.max).min(room);
            let offset = uniform(rng, Duration::ZERO, room - length);
            if !length.is_zero() {
                draws.push(Draw {
                    fault,
                    start: slot_start + offset,
                    end: slot_start + offset + length,
                });
            }
        }
        draws
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schedule::step_rng;
    use crate::schedule::synthetic::{checked, mesh};

    fn nemesis(value: Value) -> Result<Nemesis, Vec<String>> {
        checked(
            value,
            "random",
            &mesh(&["a", "b", "c"], "kv"),
            RandomConfig::check,
        )
    }

    fn faults() -> Value {
        json!([{"partition": {"isolate": "a"}}, {"partition": {"isolate": "b"}}, {"degrade": {"into": "c", "latency": "1s"}}])
    }

    #[test]
    fn draws_stay_inside_their_slots_and_within_their_length() {
        let n = nemesis(json!({"faults": faults(), "every": "10s", "for": ["3s", "8s"]})).unwrap();
        let draws = n.draws(Duration::ZERO, Duration::from_secs(60), &mut step_rng(7, 2));
        assert_eq!(draws.len(), 6);
        for (k, draw) in draws.iter().enumerate() {
            let slot = Duration::from_secs(10 * k as u64);
            assert!(
                draw.start >= slot && draw.end <= slot + Duration::from_secs(10),
                "{draw:?}"
            );
            let length = draw.end - draw.start;
            assert!(
                length >= Duration::from_secs(3) && length <= Duration::from_secs(8),
                "{draw:?}"
            );
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_faults_and_another_seed_others() {
        let n = nemesis(json!({"faults": faults(), "count": 5, "for": ["1s", "5s"]})).unwrap();
        let window = (Duration::from_secs(5), Duration::from_secs(65));
        let draw = |seed| n.draws(window.0, window.1, &mut step_rng(seed, 0));
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn a_nemesis_whose_faults_could_overlap_is_refused() {
        assert_eq!(
            nemesis(json!({"faults": faults(), "every": "5s", "for": ["3s", "8s"]})).unwrap_err(),
            ["random.for: lasts up to 8s but each slot is 5s long (`every`): faults would overlap"]
        );
        assert_eq!(
            nemesis(json!({"faults": faults(), "for": "1s"})).unwrap_err(),
            ["random: needs `count` (how many faults) or `every` (one fault per slot of this length)"]
        );
        assert_eq!(
            nemesis(json!({"faults": [], "count": 2, "for": ["5s", "1s"]})).unwrap_err(),
            [
                "random.faults: must list at least one fault to draw from",
                "random.for: [5s, 1s] is not a range: min > max"
            ]
        );
    }
}
