//! Link effects: the latency, jitter, loss and bandwidth a link baseline or a
//! `degrade` fault puts on the streams of a link.
//!
//! The raw attributes sit flat on [`crate::scenario::LinkConfig`] and
//! [`crate::schedule::DegradeConfig`] (`"latency": "40ms", "loss": 0.01`);
//! [`Effects::check`] validates them into an [`Effects`], which turns into one
//! `faultline_proxies::Fault` per attribute kind and stream.

use std::fmt;
use std::time::Duration;

use faultline_proxies::fault::MAX_DURATION;
use faultline_proxies::{Direction, Fault, FaultKind, Throughput};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::duration;
use super::problem::{FieldPath, Problems};

/// The retransmission timeout a `loss` uses unless told otherwise: Linux's
/// minimum RTO.
pub const DEFAULT_RTO: Duration = Duration::from_millis(200);

/// Loss as a scenario writes it: a probability (`"loss": 0.05`) or an object
/// (`"loss": {"probability": 0.05, "correlation": 0.25, "rto": "200ms",
/// "throughput": "cubic"}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LossConfig {
    /// Independent losses with this probability, 0..=1.
    Probability(f64),
    /// Every attribute.
    Detailed(LossFields),
}

/// The object form of [`LossConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossFields {
    /// Probability that a chunk is lost, 0..=1.
    pub probability: f64,
    /// Probability that the chunk after a lost one is lost too, 0..=1 (default 0).
    #[serde(default)]
    pub correlation: f64,
    /// First retransmission timeout (default `"200ms"`).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub rto: Option<Duration>,
    /// The congestion model bounding a sustained stream: `cubic` (default),
    /// `bbr` or `unbounded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<ThroughputModel>,
}

/// The `throughput` of a loss, as a scenario names it (see
/// [`faultline_proxies::Throughput`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThroughputModel {
    /// Loss-based congestion control: the Mathis bound.
    Cubic,
    /// bbr's share of the loss-free window.
    Bbr,
    /// No bound: loss only delays chunks.
    Unbounded,
}

impl From<Throughput> for ThroughputModel {
    fn from(model: Throughput) -> Self {
        match model {
            Throughput::Cubic => ThroughputModel::Cubic,
            Throughput::Bbr => ThroughputModel::Bbr,
            Throughput::Unbounded => ThroughputModel::Unbounded,
        }
    }
}

impl From<ThroughputModel> for Throughput {
    fn from(model: ThroughputModel) -> Self {
        match model {
            ThroughputModel::Cubic => Throughput::Cubic,
            ThroughputModel::Bbr => Throughput::Bbr,
            ThroughputModel::Unbounded => Throughput::Unbounded,
        }
    }
}

impl LossConfig {
    fn fields(&self) -> LossFields {
        match *self {
            LossConfig::Probability(probability) => LossFields {
                probability,
                correlation: 0.0,
                rto: None,
                throughput: None,
            },
            LossConfig::Detailed(fields) => fields,
        }
    }
}

impl From<f64> for LossConfig {
    fn from(probability: f64) -> Self {
        LossConfig::Probability(probability)
    }
}

impl<'de> Deserialize<'de> for LossConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LossVisitor;

        impl<'de> Visitor<'de> for LossVisitor {
            type Value = LossConfig;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a probability (0.05) or {\"probability\": …, \"correlation\": …, \"rto\": …}",
                )
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<LossConfig, E> {
                Ok(LossConfig::Probability(value))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<LossConfig, E> {
                Ok(LossConfig::Probability(value as f64))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<LossConfig, E> {
                Ok(LossConfig::Probability(value as f64))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LossConfig, A::Error> {
                LossFields::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(LossConfig::Detailed)
            }
        }

        deserializer.deserialize_any(LossVisitor)
    }
}

/// Validated loss attributes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loss {
    /// Probability that a chunk is lost, 0..=1.
    pub probability: f64,
    /// Probability that the chunk after a lost one is lost too, 0..=1.
    pub correlation: f64,
    /// First retransmission timeout.
    pub rto: Duration,
    /// The congestion model bounding a sustained stream's rate.
    pub throughput: Throughput,
}

/// The raw effect attributes, borrowed from whichever config holds them.
#[derive(Debug, Clone, Copy, Default)]
pub struct EffectFields<'a> {
    /// `latency`: one-way delay added to each stream it applies to.
    pub latency: Option<Duration>,
    /// `jitter`: uniform variation around the latency.
    pub jitter: Option<Duration>,
    /// `loss`.
    pub loss: Option<&'a LossConfig>,
    /// `rate_kb`: bandwidth in KB/s (1 KB = 1000 bytes).
    pub rate_kb: Option<u64>,
    /// `toxicity`: probability that the effects apply to a given connection.
    pub toxicity: Option<f64>,
}

/// The builder methods of a config that holds the effect attributes flat
/// (`latency`, `jitter`, `loss`, `rate_kb`): a link's baseline
/// ([`crate::scenario::LinkConfig`]) and a [`crate::schedule::DegradeConfig`]. The
/// attributes cannot move into one shared struct: serde's `flatten` does not
/// work with `deny_unknown_fields`, which both configs need.
macro_rules! effect_setters {
    () => {
        /// With this one-way latency on each stream.
        #[must_use]
        pub fn latency(mut self, latency: std::time::Duration) -> Self {
            self.latency = Some(latency);
            self
        }

        /// With this jitter around the latency.
        #[must_use]
        pub fn jitter(mut self, jitter: std::time::Duration) -> Self {
            self.jitter = Some(jitter);
            self
        }

        /// With this loss probability.
        #[must_use]
        pub fn loss(mut self, probability: f64) -> Self {
            self.loss = Some($crate::base::effects::LossConfig::Probability(probability));
            self
        }

        /// With this bandwidth in KB/s on each stream.
        #[must_use]
        pub fn rate_kb(mut self, rate_kb: u64) -> Self {
            self.rate_kb = Some(rate_kb);
            self
        }
    };
}
pub(crate) use effect_setters;

/// Validated effects on a link's streams. Each attribute present becomes one
/// proxy fault per stream: latency (with jitter), loss, bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Effects {
    /// One-way delay and its jitter (both present when either was stated).
    pub latency: Option<(Duration, Duration)>,
    /// TCP-realistic loss.
    pub loss: Option<Loss>,
    /// Bandwidth in KB/s.
    pub rate_kb: Option<u64>,
    /// Probability that the effects apply to a given connection, 0..=1.
    pub toxicity: f64,
}

fn probability_ok(value: f64) -> bool {
    value.is_finite() && (0.0..=1.0).contains(&value)
}

impl Effects {
    /// Checks the attributes; problems are recorded under `path`.
    pub fn check(fields: EffectFields<'_>, path: &FieldPath, problems: &mut Problems) -> Effects {
        let mut effects = Effects {
            toxicity: 1.0,
            ..Effects::default()
        };
        for (name, value) in [("latency", fields.latency), ("jitter", fields.jitter)] {
            if value.is_some_and(|v| v > MAX_DURATION) {
                problems.push(&path.key(name), "must be at most 24h");
            }
        }
        if fields.latency.is_some() || fields.jitter.is_some() {
            effects.latency = Some((
                fields.latency.unwrap_or_default(),
                fields.jitter.unwrap_or_default(),
            ));
        }
        if let Some(loss) = fields.loss {
            let loss_path = path.key("loss");
            let raw = loss.fields();
            let detailed = matches!(loss, LossConfig::Detailed(_));
            let field = |name: &str| {
                if detailed {
                    loss_path.key(name)
                } else {
                    loss_path.clone()
                }
            };
            if !probability_ok(raw.probability) {
                problems.push(
                    &field("probability"),
                    format!("{} is not a probability within 0..=1", raw.probability),
                );
            }
            if !probability_ok(raw.correlation) {
                problems.push(
                    &field("correlation"),
                    format!("{} is not a probability within 0..=1", raw.correlation),
                );
            }
            let rto = raw.rto.unwrap_or(DEFAULT_RTO);
            if rto.is_zero() || rto > MAX_DURATION {
                problems.push(&field("rto"), "must be greater than zero and at most 24h");
            }
            let throughput = raw
                .throughput
                .map_or_else(Throughput::default, Throughput::from);
            effects.loss = Some(Loss {
                probability: raw.probability,
                correlation: raw.correlation,
                rto,
                throughput,
            });
        }
        if let Some(rate_kb) = fields.rate_kb {
            if rate_kb > faultline_proxies::fault::MAX_RATE_KB {
                problems.push(
                    &path.key("rate_kb"),
                    format!("{rate_kb} KB/s is above the maximum of 1 TB/s"),
                );
            }
            effects.rate_kb = Some(rate_kb);
        }
        if let Some(toxicity) = fields.toxicity {
            if !probability_ok(toxicity) {
                problems.push(
                    &path.key("toxicity"),
                    format!("{toxicity} is not a probability within 0..=1"),
                );
            }
            effects.toxicity = toxicity;
        }
        effects
    }

    /// True when no attribute is set.
    pub fn is_empty(&self) -> bool {
        self.latency.is_none() && self.loss.is_none() && self.rate_kb.is_none()
    }

    /// The names of the attribute kinds present: `latency`, `loss`, `bandwidth`.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        if self.latency.is_some() {
            kinds.push("latency");
        }
        if self.loss.is_some() {
            kinds.push("loss");
        }
        if self.rate_kb.is_some() {
            kinds.push("bandwidth");
        }
        kinds
    }

    /// The same effects with latency and jitter multiplied by `factor`.
    #[must_use]
    pub fn scale_latency(mut self, factor: f64) -> Self {
        if let Some((latency, jitter)) = &mut self.latency {
            *latency = latency.mul_f64(factor);
            *jitter = jitter.mul_f64(factor);
        }
        self
    }

    /// The effects a fraction `t` (0..=1) of the way from `self` to `to`.
    /// Attributes missing on either side are taken from `self`.
    #[must_use]
    pub fn interpolate(&self, to: &Effects, t: f64) -> Effects {
        let lerp = |a: f64, b: f64| a + (b - a) * t;
        let lerp_duration = |a: Duration, b: Duration| {
            let ns = lerp(a.as_nanos() as f64, b.as_nanos() as f64);
            // Whole microseconds keep plans readable.
            Duration::from_micros((ns / 1_000.0).round() as u64)
        };
        Effects {
            latency: match (self.latency, to.latency) {
                (Some((l0, j0)), Some((l1, j1))) => {
                    Some((lerp_duration(l0, l1), lerp_duration(j0, j1)))
                }
                (latency, _) => latency,
            },
            loss: match (self.loss, to.loss) {
                (Some(a), Some(b)) => Some(Loss {
                    probability: lerp(a.probability, b.probability),
                    correlation: lerp(a.correlation, b.correlation),
                    rto: lerp_duration(a.rto, b.rto),
                    throughput: a.throughput,
                }),
                (loss, _) => loss,
            },
            rate_kb: match (self.rate_kb, to.rate_kb) {
                (Some(a), Some(b)) => Some(lerp(a as f64, b as f64).round() as u64),
                (rate, _) => rate,
            },
            toxicity: lerp(self.toxicity, to.toxicity),
        }
    }

    /// One fault per attribute kind on `direction`, named
    /// `{prefix}-{kind}-{direction}` (`s2-degrade-latency-upstream`).
    pub fn faults(&self, prefix: &str, direction: Direction) -> Vec<Fault> {
        let mut kinds = Vec::new();
        if let Some((latency, jitter)) = self.latency {
            kinds.push(("latency", FaultKind::Latency { latency, jitter }));
        }
        if let Some(loss) = self.loss {
            kinds.push((
                "loss",
                FaultKind::Loss {
                    probability: loss.probability,
                    correlation: loss.correlation,
                    rto: loss.rto,
                    throughput: loss.throughput,
                },
            ));
        }
        if let Some(rate_kb) = self.rate_kb {
            kinds.push(("bandwidth", FaultKind::Bandwidth { rate_kb }));
        }
        kinds
            .into_iter()
            .map(|(kind_name, kind)| {
                Fault::new(direction, kind)
                    .named(format!("{prefix}-{kind_name}-{direction}"))
                    .with_toxicity(self.toxicity)
            })
            .collect()
    }

    /// Writes the attributes back into their raw form (for `what` records).
    pub fn write_into(
        &self,
        latency: &mut Option<Duration>,
        jitter: &mut Option<Duration>,
        loss: &mut Option<LossConfig>,
        rate_kb: &mut Option<u64>,
    ) {
        if let Some((l, j)) = self.latency {
            *latency = Some(l);
            if jitter.is_some() || !j.is_zero() {
                *jitter = Some(j);
            }
        }
        if let Some(l) = self.loss {
            *loss = Some(match loss {
                Some(LossConfig::Probability(_))
                    if l.correlation == 0.0
                        && l.rto == DEFAULT_RTO
                        && l.throughput == Throughput::default() =>
                {
                    LossConfig::Probability(l.probability)
                }
                _ => LossConfig::Detailed(LossFields {
                    probability: l.probability,
                    correlation: l.correlation,
                    rto: Some(l.rto),
                    throughput: (l.throughput != Throughput::default())
                        .then_some(ThroughputModel::from(l.throughput)),
                }),
            });
        }
        if let Some(r) = self.rate_kb {
            *rate_kb = Some(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(fields: EffectFields<'_>) -> (Effects, Vec<String>) {
        let mut problems = Problems::new();
        let effects = Effects::check(
            fields,
            &FieldPath::root().key("links").index(0),
            &mut problems,
        );
        (
            effects,
            problems
                .into_vec()
                .into_iter()
                .map(|p| p.to_string())
                .collect(),
        )
    }

    #[test]
    fn loss_is_a_probability_or_an_object() {
        let short: LossConfig = serde_json::from_str("0.05").unwrap();
        assert_eq!(short, LossConfig::Probability(0.05));
        let long: LossConfig =
            serde_json::from_str(r#"{"probability": 0.3, "correlation": 0.5, "rto": "300ms"}"#)
                .unwrap();
        assert_eq!(
            long,
            LossConfig::Detailed(LossFields {
                probability: 0.3,
                correlation: 0.5,
                rto: Some(Duration::from_millis(300)),
                throughput: None,
            })
        );
        assert!(serde_json::from_str::<LossConfig>(r#"{"probabilty": 0.3}"#).is_err());
        let bbr: LossConfig =
            serde_json::from_str(r#"{"probability": 0.01, "throughput": "bbr"}"#).unwrap();
        let (effects, _) = check(EffectFields {
            loss: Some(&bbr),
            ..EffectFields::default()
        });
        assert_eq!(effects.loss.unwrap().throughput, Throughput::Bbr);
        // Unless a scenario says otherwise, a loss bounds a stream as cubic does.
        let (effects, _) = check(EffectFields {
            loss: Some(&LossConfig::Probability(0.01)),
            ..EffectFields::default()
        });
        assert_eq!(effects.loss.unwrap().throughput, Throughput::Cubic);
        let err =
            serde_json::from_str::<LossConfig>(r#"{"probability": 0.01, "throughput": "reno"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("cubic"), "{err}");
    }

    #[test]
    fn each_attribute_becomes_one_named_fault_per_stream() {
        let loss = LossConfig::Probability(0.1);
        let (effects, problems) = check(EffectFields {
            latency: Some(Duration::from_millis(40)),
            loss: Some(&loss),
            rate_kb: Some(100),
            ..EffectFields::default()
        });
        assert!(problems.is_empty(), "{problems:?}");
        let names: Vec<String> = effects
            .faults("s1-degrade", Direction::Downstream)
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(
            names,
            [
                "s1-degrade-latency-downstream",
                "s1-degrade-loss-downstream",
                "s1-degrade-bandwidth-downstream"
            ]
        );
    }

    #[test]
    fn out_of_range_attributes_name_their_field() {
        let loss = LossConfig::Detailed(LossFields {
            probability: 1.5,
            correlation: 0.0,
            rto: None,
            throughput: None,
        });
        let (_, problems) = check(EffectFields {
            loss: Some(&loss),
            toxicity: Some(-1.0),
            ..EffectFields::default()
        });
        assert_eq!(
            problems,
            [
                "links[0].loss.probability: 1.5 is not a probability within 0..=1",
                "links[0].toxicity: -1 is not a probability within 0..=1"
            ]
        );
    }

    #[test]
    fn interpolation_moves_every_attribute_in_proportion() {
        let from = Effects {
            latency: Some((Duration::from_millis(100), Duration::ZERO)),
            rate_kb: Some(1000),
            toxicity: 1.0,
            loss: None,
        };
        let to = Effects {
            latency: Some((Duration::from_secs(2), Duration::ZERO)),
            rate_kb: Some(0),
            toxicity: 1.0,
            loss: None,
        };
        let half = from.interpolate(&to, 0.5);
        assert_eq!(
            half.latency,
            Some((Duration::from_millis(1050), Duration::ZERO))
        );
        assert_eq!(half.rate_kb, Some(500));
    }

    #[test]
    fn scaling_touches_latency_and_jitter_only() {
        let effects = Effects {
            latency: Some((Duration::from_millis(40), Duration::from_millis(4))),
            rate_kb: Some(10),
            toxicity: 1.0,
            loss: None,
        };
        let scaled = effects.scale_latency(2.0);
        assert_eq!(
            scaled.latency,
            Some((Duration::from_millis(80), Duration::from_millis(8)))
        );
        assert_eq!(scaled.rate_kb, Some(10));
    }
}
