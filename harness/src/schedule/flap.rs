//! `flap`: a fault switched on and off, over and over.
//!
//! `{"flap": {"fault": {"partition": …}, "period": "10s", "duty": 0.3, "jitter": "1s"}}`
//! cuts the step's window into cycles of `period`. In cycle k the fault turns
//! on at `at + k·period + δk`, δk drawn uniformly from `[0, jitter]` by the
//! step's seeded RNG, and stays on for `duty × period`; the last cycle is cut
//! short at the step's end. `jitter ≤ (1 − duty) × period` is required, so a
//! cycle never runs into the next and every on has its off.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{BasicFault, RegionFaultConfig};
use super::{Context, MAX_CHANGES};
use crate::base::duration;
use crate::base::{FieldPath, Problems};

fn default_duty() -> f64 {
    0.5
}

/// A `flap` as the scenario file writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlapConfig {
    /// The fault switched on and off: a `partition` or a `degrade`.
    pub fault: RegionFaultConfig,
    /// Length of one on/off cycle.
    #[serde(with = "duration::text")]
    pub period: Duration,
    /// Fraction of each cycle the fault is on, strictly between 0 and 1 (default 0.5).
    #[serde(default = "default_duty")]
    pub duty: f64,
    /// Each cycle's start is delayed by up to this much, at random (default `"0s"`).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub jitter: Option<Duration>,
}

impl FlapConfig {
    /// `fault` on for `duty × period` of every `period`.
    pub fn new(fault: RegionFaultConfig, period: Duration, duty: f64) -> Self {
        Self {
            fault,
            period,
            duty,
            jitter: None,
        }
    }

    /// With each cycle's start delayed by up to `jitter`.
    #[must_use]
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = Some(jitter);
        self
    }

    pub(crate) fn check(
        &self,
        path: &FieldPath,
        context: &Context<'_>,
        problems: &mut Problems,
    ) -> Option<Flap> {
        let before = problems.len();
        let fault = self
            .fault
            .check_basic(&path.key("fault"), context.network, "a flap", problems);
        if self.period.is_zero() {
            problems.push(&path.key("period"), "must be greater than zero");
        }
        let duty_ok = self.duty.is_finite() && self.duty > 0.0 && self.duty < 1.0;
        if !duty_ok {
            problems.push(
                &path.key("duty"),
                format!(
                    "{} must lie strictly between 0 and 1 (0 is never on, 1 is always on)",
                    self.duty
                ),
            );
        }
        let jitter = self.jitter.unwrap_or_default();
        if duty_ok && !self.period.is_zero() {
            let room = self.period.mul_f64(1.0 - self.duty);
            if jitter > room {
                problems.push(
                    &path.key("jitter"),
                    format!(
                        "{} would let a cycle run into the next: it must be at most (1 - duty) × period = {}",
                        duration::human(jitter),
                        duration::human(room)
                    ),
                );
            }
            let cycles = context.span.as_nanos() / self.period.as_nanos();
            if cycles > MAX_CHANGES as u128 {
                problems.push(
                    &path.key("period"),
                    format!("makes {cycles} cycles; at most {MAX_CHANGES} are allowed"),
                );
            }
        }
        if problems.len() != before {
            return None;
        }
        Some(Flap {
            fault: fault?,
            what: serde_json::to_value(&self.fault).unwrap_or_default(),
            period: self.period,
            duty: self.duty,
            jitter,
        })
    }
}

/// A validated `flap`.
#[derive(Debug, Clone, PartialEq)]
pub struct Flap {
    /// The fault switched on and off.
    pub fault: BasicFault,
    /// The inner fault as stated (what its records carry).
    pub what: serde_json::Value,
    /// Cycle length.
    pub period: Duration,
    /// On fraction of each cycle.
    pub duty: f64,
    /// Most a cycle's start is delayed.
    pub jitter: Duration,
}

impl Flap {
    /// The (on, off) times within `[start, end)`, in order.
    pub fn windows(
        &self,
        start: Duration,
        end: Duration,
        rng: &mut ChaCha8Rng,
    ) -> Vec<(Duration, Duration)> {
        let on_for = self.period.mul_f64(self.duty);
        let mut windows = Vec::new();
        let mut cycle = start;
        while cycle < end {
            let delay = if self.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_nanos(rng.gen_range(0..=self.jitter.as_nanos() as u64))
            };
            let on = cycle + delay;
            if on >= end {
                break;
            }
            windows.push((on, (on + on_for).min(end)));
            cycle += self.period;
        }
        windows
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schedule::step_rng;
    use crate::schedule::synthetic::{checked, mesh};

    fn flap(value: serde_json::Value) -> Result<Flap, Vec<String>> {
        checked(value, "flap", &mesh(&["a", "b"], "kv"), FlapConfig::check)
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn without_jitter_a_flap_is_on_for_duty_times_period_every_period() {
        let f = flap(json!({"fault": {"partition": [["a"], ["b"]]}, "period": "10s", "duty": 0.3}))
            .unwrap();
        let windows = f.windows(S(5), S(35), &mut step_rng(0, 0));
        assert_eq!(windows, [(S(5), S(8)), (S(15), S(18)), (S(25), S(28))]);
    }

    #[test]
    fn the_last_cycle_is_cut_at_the_end_of_the_step() {
        let f = flap(json!({"fault": {"partition": [["a"], ["b"]]}, "period": "10s", "duty": 0.5}))
            .unwrap();
        assert_eq!(
            f.windows(S(0), S(23), &mut step_rng(0, 0)),
            [(S(0), S(5)), (S(10), S(15)), (S(20), S(23))]
        );
    }

    #[test]
    fn jitter_delays_each_cycle_within_its_bound_and_never_overlaps() {
        let f = flap(json!({"fault": {"partition": [["a"], ["b"]]}, "period": "10s", "duty": 0.5, "jitter": "5s"}))
            .unwrap();
        let windows = f.windows(S(0), S(100), &mut step_rng(42, 1));
        assert_eq!(windows.len(), 10);
        for (k, (on, off)) in windows.iter().enumerate() {
            let cycle = S(10 * k as u64);
            assert!(
                *on >= cycle && *on <= cycle + S(5),
                "cycle {k} starts at {on:?}"
            );
            assert_eq!(*off - *on, S(5));
            assert!(*off <= cycle + S(10));
        }
        assert_ne!(
            windows,
            f.windows(S(0), S(100), &mut step_rng(43, 1)),
            "jitter ignores the seed"
        );
    }

    #[test]
    fn duty_and_jitter_out_of_range_are_refused() {
        assert_eq!(
            flap(json!({"fault": {"partition": [["a"], ["b"]]}, "period": "10s", "duty": 1.0}))
                .unwrap_err(),
            ["flap.duty: 1 must lie strictly between 0 and 1 (0 is never on, 1 is always on)"]
        );
        assert_eq!(
            flap(json!({"fault": {"partition": [["a"], ["b"]]}, "period": "10s", "duty": 0.5, "jitter": "6s"}))
                .unwrap_err(),
            ["flap.jitter: 6s would let a cycle run into the next: it must be at most (1 - duty) × period = 5s"]
        );
    }

    #[test]
    fn a_flap_of_a_flap_is_refused() {
        let inner = json!({"flap": {"fault": {"partition": [["a"], ["b"]]}, "period": "1s"}});
        assert_eq!(
            flap(json!({"fault": inner, "period": "10s"})).unwrap_err(),
            ["flap.fault.flap: a flap switches a `partition` or a `degrade`, not a `flap`"]
        );
    }
}
