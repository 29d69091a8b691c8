//! `ramp`: a `degrade` whose attributes move from one value to another.
//!
//! ```json
//! {"ramp": {"from": {"degrade": {"between": ["eu-west", "us-east"], "latency": "50ms"}},
//!           "to":   {"degrade": {"between": ["eu-west", "us-east"], "latency": "1s"}},
//!           "over": "30s", "steps": 10}}
//! ```
//!
//! `from` and `to` are two `degrade` faults with the same target and the same
//! attributes; only the values differ. At the step's `at` the fault starts
//! with `from`'s values; it then moves towards `to`'s in equal jumps, reaching
//! them `over` after the start (default: the whole step), and holds them until
//! the step ends. `steps: N` makes N jumps; otherwise the ramp is linear with
//! one jump every `every` (default `"1s"`), i.e. ⌈over / every⌉ jumps.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::degrade::{Degrade, DegradeConfig};
use super::RegionFaultConfig;
use super::{Context, MAX_CHANGES};
use crate::base::duration;
use crate::base::effects::Effects;
use crate::base::{FieldPath, Problems};

/// Time between the jumps of a linear ramp unless told otherwise.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(1);

/// A `ramp` as the scenario file writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RampConfig {
    /// The starting `degrade`.
    pub from: RegionFaultConfig,
    /// The final `degrade`: same target and attributes as `from`.
    pub to: RegionFaultConfig,
    /// Time from `from` to `to` (default: the step's whole window).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub over: Option<Duration>,
    /// Move in this many equal jumps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    /// Or (linear, the default) jump every this long (default `"1s"`).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub every: Option<Duration>,
}

impl RampConfig {
    /// From one `degrade` to another, linearly, over the whole step.
    pub fn new(from: RegionFaultConfig, to: RegionFaultConfig) -> Self {
        Self {
            from,
            to,
            over: None,
            steps: None,
            every: None,
        }
    }

    /// Reaching `to` after `over`.
    #[must_use]
    pub fn over(mut self, over: Duration) -> Self {
        self.over = Some(over);
        self
    }

    /// In `steps` equal jumps.
    #[must_use]
    pub fn steps(mut self, steps: u32) -> Self {
        self.steps = Some(steps);
        self
    }

    pub(crate) fn check(
        &self,
        path: &FieldPath,
        context: &Context<'_>,
        problems: &mut Problems,
    ) -> Option<Ramp> {
        let before = problems.len();
        fn degrade<'a>(
            fault: &'a RegionFaultConfig,
            path: &FieldPath,
            context: &Context<'_>,
            problems: &mut Problems,
        ) -> Option<(Degrade, &'a DegradeConfig)> {
            match fault {
                RegionFaultConfig::Degrade(config) => config
                    .check(&path.key("degrade"), context.network, problems)
                    .map(|d| (d, config)),
                other => {
                    problems.push(
                        &path.key(other.kind()),
                        format!(
                            "a ramp moves the attributes of a `degrade`; a `{}` has none to move",
                            other.kind()
                        ),
                    );
                    None
                }
            }
        }
        let from = degrade(&self.from, &path.key("from"), context, problems);
        let to = degrade(&self.to, &path.key("to"), context, problems);
        if self.from.kind() != self.to.kind() && problems.len() == before {
            problems.push(
                path,
                format!(
                    "`from` is a `{}` but `to` is a `{}`",
                    self.from.kind(),
                    self.to.kind()
                ),
            );
        }
        if let (Some((from, from_config)), Some((to, to_config))) = (&from, &to) {
            if !from_config.same_target(to_config) {
                problems.push(
                    &path.key("to").key("degrade"),
                    "must target the same links and streams as `from`",
                );
            }
            if from.effects.kinds() != to.effects.kinds() {
                problems.push(
                    &path.key("to").key("degrade"),
                    format!(
                        "sets {} but `from` sets {}: a ramp moves the same attributes",
                        to.effects.kinds().join(", "),
                        from.effects.kinds().join(", ")
                    ),
                );
            }
        }
        let over = self.over.unwrap_or(context.span);
        if over.is_zero() {
            problems.push(&path.key("over"), "must be greater than zero");
        } else if over > context.span {
            problems.push(
                &path.key("over"),
                format!(
                    "{} is longer than the step's window of {}",
                    duration::human(over),
                    duration::human(context.span)
                ),
            );
        }
        let steps = match (self.steps, self.every) {
            (Some(_), Some(_)) => {
                problems.push(path, "give `steps` or `every`, not both");
                0
            }
            (Some(steps), None) => {
                if steps == 0 || steps as usize > MAX_CHANGES {
                    problems.push(
                        &path.key("steps"),
                        format!("{steps} must be within 1..={MAX_CHANGES}"),
                    );
                }
                steps
            }
            (None, every) => {
                let every = every.unwrap_or(DEFAULT_EVERY);
                if every.is_zero() {
                    problems.push(&path.key("every"), "must be greater than zero");
                    0
                } else {
                    let steps = over.as_nanos().div_ceil(every.as_nanos()).max(1);
                    if steps > MAX_CHANGES as u128 {
                        problems.push(
                            &path.key("every"),
                            format!("makes {steps} jumps; at most {MAX_CHANGES} are allowed"),
                        );
                    }
                    steps.min(u32::MAX as u128) as u32
                }
            }
        };
        if problems.len() != before {
            return None;
        }
        let (from, _) = from?;
        let (to, _) = to?;
        Some(Ramp {
            from,
            to: to.effects,
            over,
            steps,
        })
    }
}

/// A validated `ramp`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ramp {
    /// The starting degrade (its target is the ramp's target).
    pub from: Degrade,
    /// The final values.
    pub to: Effects,
    /// Time from `from` to `to`.
    pub over: Duration,
    /// Number of jumps.
    pub steps: u32,
}

impl Ramp {
    /// The values in force from each time on: `from`'s at `start`, then one
    /// entry per jump, the last one (`to`'s values) at `start + over`.
    pub fn points(&self, start: Duration) -> Vec<(Duration, Effects)> {
        (0..=self.steps)
            .map(|k| {
                let t = f64::from(k) / f64::from(self.steps);
                let at = start
                    + Duration::from_nanos(
                        (self.over.as_nanos() * u128::from(k) / u128::from(self.steps)) as u64,
                    );
                let effects = if k == self.steps {
                    self.to
                } else {
                    self.from.effects.interpolate(&self.to, t)
                };
                (at, effects)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schedule::synthetic::{checked, mesh};

    fn ramp(value: serde_json::Value) -> Result<Ramp, Vec<String>> {
        let network = mesh(&["eu-west", "us-east"], "feed");
        checked(value, "ramp", &network, RampConfig::check)
    }

    fn latency(from: &str, to: &str) -> serde_json::Value {
        json!({
            "from": {"degrade": {"between": ["eu-west", "us-east"], "latency": from}},
            "to": {"degrade": {"between": ["eu-west", "us-east"], "latency": to}},
        })
    }

    fn latencies(points: &[(Duration, Effects)]) -> Vec<(u64, u64)> {
        points
            .iter()
            .map(|(at, e)| {
                (
                    at.as_millis() as u64,
                    e.latency.unwrap().0.as_millis() as u64,
                )
            })
            .collect()
    }

    #[test]
    fn a_stepped_ramp_jumps_in_equal_parts() {
        let mut config = latency("100ms", "2s");
        config["over"] = json!("20s");
        config["steps"] = json!(4);
        let points = ramp(config).unwrap().points(Duration::from_secs(10));
        assert_eq!(
            latencies(&points),
            [
                (10_000, 100),
                (15_000, 575),
                (20_000, 1050),
                (25_000, 1525),
                (30_000, 2000)
            ]
        );
    }

    #[test]
    fn a_linear_ramp_jumps_every_second_by_default_over_the_whole_step() {
        let points = ramp(latency("0s", "60ms")).unwrap().points(Duration::ZERO);
        assert_eq!(points.len(), 61);
        assert_eq!(latencies(&points)[1], (1000, 1));
        assert_eq!(latencies(&points)[60], (60_000, 60));
    }

    #[test]
    fn a_ramp_between_different_kinds_is_refused() {
        let config = json!({
            "from": {"degrade": {"between": ["eu-west", "us-east"], "latency": "1s"}},
            "to": {"partition": [["eu-west"], ["us-east"]]},
        });
        assert_eq!(
            ramp(config).unwrap_err(),
            ["ramp.to.partition: a ramp moves the attributes of a `degrade`; a `partition` has none to move"]
        );
        let config = json!({
            "from": {"degrade": {"between": ["eu-west", "us-east"], "latency": "1s"}},
            "to": {"degrade": {"between": ["eu-west", "us-east"], "loss": 0.5}},
        });
        assert_eq!(
            ramp(config).unwrap_err(),
            ["ramp.to.degrade: sets loss but `from` sets latency: a ramp moves the same attributes"]
        );
    }

    #[test]
    fn a_ramp_must_keep_its_target_and_fit_its_step() {
        let mut config = latency("1s", "2s");
        config["to"]["degrade"]["between"] = json!(["us-east", "eu-west"]);
        config["over"] = json!("2m");
        assert_eq!(
            ramp(config).unwrap_err(),
            [
                "ramp.to.degrade: must target the same links and streams as `from`",
                "ramp.over: 2m is longer than the step's window of 60s"
            ]
        );
    }
}
