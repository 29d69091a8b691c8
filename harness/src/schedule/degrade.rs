//! `degrade`: latency, jitter, loss or bandwidth on a set of links.
//!
//! Exactly one target picks the links:
//! - `between: [A, B]`: every link `A->B:*` and `B->A:*`;
//! - `from: A, to: B`: every link `A->B:*` (A's clients calling B);
//! - `into: R`: every link `*->R:*` (other regions calling R's services);
//! - `out_of: R`: every link `R->*:*` (R calling other regions);
//! - `region: R`: every link with R at either end.
//!
//! `services` narrows to links of those services; `stream` (`upstream`,
//! `downstream`, default `both`) to one stream of each link. Attributes:
//! `latency` and `jitter` (one-way, added to each stream touched, so a
//! request/response round trip over a link gains twice the latency), `loss`
//! (a probability or `{probability, correlation, rto}`), `rate_kb` (KB/s) and
//! `toxicity` (the probability that a given connection is affected).

use std::time::Duration;

use faultline_proxies::{Direction, Fault};
use serde::{Deserialize, Serialize};

use super::Network;
use crate::base::duration;
use crate::base::effects::{effect_setters, EffectFields, Effects, LossConfig};
use crate::base::LinkId;
use crate::base::{FieldPath, Problems};

/// A `degrade` fault as the scenario file writes it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DegradeConfig {
    /// Target: the links both ways between two regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<Vec<String>>,
    /// Target (with `to`): the links from this region's clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Target (with `from`): … to this region's services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Target: every link into this region (its services, called from elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into: Option<String>,
    /// Target: every link out of this region (its clients, calling elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of: Option<String>,
    /// Target: every link with this region at either end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Only links of these services (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    /// Only this stream of each link (default `both`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamConfig>,
    /// One-way delay added to each stream.
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub latency: Option<Duration>,
    /// Uniform variation around the latency.
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub jitter: Option<Duration>,
    /// Loss: a probability or `{probability, correlation, rto}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossConfig>,
    /// Bandwidth in KB/s (1 KB = 1000 bytes); 0 stalls the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_kb: Option<u64>,
    /// Probability that a given connection is affected (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toxicity: Option<f64>,
}

/// Which stream(s) of a link a `degrade` touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamConfig {
    /// Client → server bytes only.
    Upstream,
    /// Server → client bytes only.
    Downstream,
    /// Both.
    Both,
}

impl DegradeConfig {
    /// Every link both ways between `a` and `b`.
    pub fn between(a: impl Into<String>, b: impl Into<String>) -> Self {
        Self {
            between: Some(vec![a.into(), b.into()]),
            ..Self::default()
        }
    }

    /// Every link from `from`'s clients to `to`'s services.
    pub fn directed(from: impl Into<String>, to: impl Into<String>) -> Self {
        Self {
            from: Some(from.into()),
            to: Some(to.into()),
            ..Self::default()
        }
    }

    /// Every link into `region`.
    pub fn into_region(region: impl Into<String>) -> Self {
        Self {
            into: Some(region.into()),
            ..Self::default()
        }
    }

    /// Every link out of `region`.
    pub fn out_of(region: impl Into<String>) -> Self {
        Self {
            out_of: Some(region.into()),
            ..Self::default()
        }
    }

    /// Every link with `region` at either end.
    pub fn region(region: impl Into<String>) -> Self {
        Self {
            region: Some(region.into()),
            ..Self::default()
        }
    }

    effect_setters!();

    /// Only these services' links.
    #[must_use]
    pub fn services<I: IntoIterator<Item = S>, S: Into<String>>(mut self, services: I) -> Self {
        self.services = Some(services.into_iter().map(Into::into).collect());
        self
    }

    /// Only one stream.
    #[must_use]
    pub fn stream(mut self, stream: StreamConfig) -> Self {
        self.stream = Some(stream);
        self
    }

    /// The same config with only its targeting fields (for comparing targets).
    fn target_fields(&self) -> DegradeConfig {
        DegradeConfig {
            between: self.between.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            into: self.into.clone(),
            out_of: self.out_of.clone(),
            region: self.region.clone(),
            services: self.services.clone(),
            stream: self.stream,
            ..DegradeConfig::default()
        }
    }

    /// Whether `other` picks the same links and streams.
    pub(crate) fn same_target(&self, other: &DegradeConfig) -> bool {
        self.target_fields() == other.target_fields()
    }

    /// Checks the target and attributes against the scenario's links.
    pub(crate) fn check(
        &self,
        path: &FieldPath,
        network: &Network,
        problems: &mut Problems,
    ) -> Option<Degrade> {
        let before = problems.len();
        let given: Vec<&str> = [
            ("between", self.between.is_some()),
            ("from", self.from.is_some() || self.to.is_some()),
            ("into", self.into.is_some()),
            ("out_of", self.out_of.is_some()),
            ("region", self.region.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect();
        let region = |name: &str, at: FieldPath, problems: &mut Problems| {
            if !network.has_region(name) {
                problems.push(
                    &at,
                    format!(
                        "unknown region {name:?} (regions: {})",
                        network.regions.join(", ")
                    ),
                );
            }
            name.to_owned()
        };
        let target = match given[..] {
            ["between"] => {
                let pair = self.between.as_deref().unwrap_or_default();
                if pair.len() != 2 {
                    problems.push(
                        &path.key("between"),
                        format!("must name two regions, not {}", pair.len()),
                    );
                    None
                } else {
                    let a = region(&pair[0], path.key("between").index(0), problems);
                    let b = region(&pair[1], path.key("between").index(1), problems);
                    if a == b {
                        problems.push(
                            &path.key("between"),
                            format!("names region {a:?} twice: a region has no link to itself"),
                        );
                    }
                    Some(Target::Between(a, b))
                }
            }
            ["from"] => match (&self.from, &self.to) {
                (Some(from), Some(to)) => {
                    let from = region(from, path.key("from"), problems);
                    let to = region(to, path.key("to"), problems);
                    if from == to {
                        problems.push(&path.key("to"), format!("is the same region as `from` ({from:?}): a region has no link to itself"));
                    }
                    Some(Target::Directed { from, to })
                }
                (Some(_), None) => {
                    problems.push(path, "`from` needs `to`");
                    None
                }
                _ => {
                    problems.push(path, "`to` needs `from`");
                    None
                }
            },
            ["into"] => Some(Target::Into(region(
                self.into.as_deref().unwrap_or_default(),
                path.key("into"),
                problems,
            ))),
            ["out_of"] => Some(Target::OutOf(region(
                self.out_of.as_deref().unwrap_or_default(),
                path.key("out_of"),
                problems,
            ))),
            ["region"] => Some(Target::Region(region(
                self.region.as_deref().unwrap_or_default(),
                path.key("region"),
                problems,
            ))),
            _ => {
                problems.push(
                    path,
                    format!(
                        "needs exactly one target: `between`, `from` + `to`, `into`, `out_of` or `region` (got {})",
                        if given.is_empty() { "none".to_owned() } else { given.join(", ") }
                    ),
                );
                None
            }
        };
        if let Some(services) = &self.services {
            network.check_services(services, &path.key("services"), problems);
        }
        let effects = Effects::check(
            EffectFields {
                latency: self.latency,
                jitter: self.jitter,
                loss: self.loss.as_ref(),
                rate_kb: self.rate_kb,
                toxicity: self.toxicity,
            },
            path,
            problems,
        );
        if effects.is_empty() {
            problems.push(
                path,
                "sets no attribute: give `latency`, `jitter`, `loss` or `rate_kb`",
            );
        }
        let streams = match self.stream.unwrap_or(StreamConfig::Both) {
            StreamConfig::Upstream => vec![Direction::Upstream],
            StreamConfig::Downstream => vec![Direction::Downstream],
            StreamConfig::Both => Direction::BOTH.to_vec(),
        };
        if problems.len() != before {
            return None;
        }
        let degrade = Degrade {
            target: target?,
            services: self.services.clone(),
            streams,
            effects,
            config: self.clone(),
        };
        if !network.links_incomplete && degrade.links(network).is_empty() {
            problems.push(path, "touches no declared link");
            return None;
        }
        Some(degrade)
    }
}

/// Which links a validated `degrade` picks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Both ways between two regions.
    Between(String, String),
    /// From one region's clients to another's services.
    Directed {
        /// Client side.
        from: String,
        /// Server side.
        to: String,
    },
    /// Into a region.
    Into(String),
    /// Out of a region.
    OutOf(String),
    /// Either end in a region.
    Region(String),
}

impl Target {
    /// Whether the target picks `link`.
    pub fn matches(&self, link: &LinkId) -> bool {
        match self {
            Target::Between(a, b) => {
                (link.from == *a && link.to == *b) || (link.from == *b && link.to == *a)
            }
            Target::Directed { from, to } => link.from == *from && link.to == *to,
            Target::Into(region) => link.to == *region,
            Target::OutOf(region) => link.from == *region,
            Target::Region(region) => link.touches(region),
        }
    }
}

/// A validated `degrade`.
#[derive(Debug, Clone, PartialEq)]
pub struct Degrade {
    /// Which links.
    pub target: Target,
    /// Only links of these services, if set.
    pub services: Option<Vec<String>>,
    /// Which streams of each link.
    pub streams: Vec<Direction>,
    /// What it does to them.
    pub effects: Effects,
    /// As stated (the template for ramp records).
    pub config: DegradeConfig,
}

impl Degrade {
    /// The links it touches, in network order.
    pub fn links(&self, network: &Network) -> Vec<LinkId> {
        network
            .links
            .iter()
            .filter(|link| self.target.matches(link))
            .filter(|link| {
                self.services
                    .as_ref()
                    .is_none_or(|services| services.contains(&link.service))
            })
            .cloned()
            .collect()
    }

    /// The regions the degrade is aimed at, in scenario order: the two
    /// regions of `between` or `from`/`to`, the one of `into`, `out_of` or `region`.
    pub fn targets(&self, regions: &[String]) -> Vec<String> {
        let named = |region: &String| match &self.target {
            Target::Between(a, b) => region == a || region == b,
            Target::Directed { from, to } => region == from || region == to,
            Target::Into(r) | Target::OutOf(r) | Target::Region(r) => region == r,
        };
        regions
            .iter()
            .filter(|region| named(region))
            .cloned()
            .collect()
    }

    /// The proxy faults, named `{prefix}-degrade-{kind}-{stream}`, with these effects.
    pub fn faults_with(
        &self,
        effects: &Effects,
        network: &Network,
        prefix: &str,
    ) -> Vec<(LinkId, Fault)> {
        let prefix = format!("{prefix}-degrade");
        let mut faults = Vec::new();
        for link in self.links(network) {
            for direction in &self.streams {
                for fault in effects.faults(&prefix, *direction) {
                    faults.push((link.clone(), fault));
                }
            }
        }
        faults
    }

    /// The degrade as stated, with `effects` in place of its own (a ramp's
    /// intermediate value, for history records).
    pub fn what_with(&self, effects: &Effects) -> serde_json::Value {
        let mut config = self.config.clone();
        effects.write_into(
            &mut config.latency,
            &mut config.jitter,
            &mut config.loss,
            &mut config.rate_kb,
        );
        if config.toxicity.is_some() || effects.toxicity != 1.0 {
            config.toxicity = Some(effects.toxicity);
        }
        serde_json::json!({ "degrade": config })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schedule::synthetic::{checked, mesh};

    fn network() -> Network {
        let mut network = mesh(&["us-east", "eu-west", "ap-northeast"], "feed");
        network
            .links
            .push(LinkId::new("eu-west", "us-east", "ratelimit"));
        network.services.push("ratelimit".into());
        network
    }

    fn degrade(value: serde_json::Value) -> Result<Degrade, Vec<String>> {
        checked(
            value,
            "degrade",
            &network(),
            |config: &DegradeConfig, path, context, problems| {
                config.check(path, context.network, problems)
            },
        )
    }

    fn links(value: serde_json::Value) -> Vec<String> {
        degrade(value)
            .unwrap()
            .links(&network())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn each_target_picks_its_links() {
        assert_eq!(
            links(json!({"between": ["us-east", "eu-west"], "latency": "1s"})),
            [
                "us-east->eu-west:feed",
                "eu-west->us-east:feed",
                "eu-west->us-east:ratelimit"
            ]
        );
        assert_eq!(
            links(
                json!({"from": "eu-west", "to": "us-east", "latency": "1s", "services": ["feed"]})
            ),
            ["eu-west->us-east:feed"]
        );
        assert_eq!(
            links(json!({"into": "ap-northeast", "loss": 0.1})),
            ["us-east->ap-northeast:feed", "eu-west->ap-northeast:feed"]
        );
        assert_eq!(
            links(json!({"out_of": "ap-northeast", "rate_kb": 10})),
            ["ap-northeast->us-east:feed", "ap-northeast->eu-west:feed"]
        );
        assert_eq!(
            links(json!({"region": "ap-northeast", "latency": "1ms"})).len(),
            4
        );
    }

    #[test]
    fn a_stream_choice_limits_the_faults_to_that_stream() {
        let d = degrade(json!({"from": "eu-west", "to": "us-east", "services": ["feed"], "latency": "1s", "stream": "upstream"}))
            .unwrap();
        let faults = d.faults_with(&d.effects, &network(), "s0");
        assert_eq!(faults.len(), 1);
        assert_eq!(faults[0].1.name, "s0-degrade-latency-upstream");
        assert_eq!(faults[0].1.direction, Direction::Upstream);
    }

    #[test]
    fn a_degrade_needs_one_target_and_one_attribute() {
        assert_eq!(
            degrade(json!({"latency": "1s"})).unwrap_err(),
            ["degrade: needs exactly one target: `between`, `from` + `to`, `into`, `out_of` or `region` (got none)"]
        );
        assert_eq!(
            degrade(json!({"into": "us-east"})).unwrap_err(),
            ["degrade: sets no attribute: give `latency`, `jitter`, `loss` or `rate_kb`"]
        );
        assert_eq!(
            degrade(json!({"between": ["us-east", "us-east"], "latency": "1s"})).unwrap_err(),
            ["degrade.between: names region \"us-east\" twice: a region has no link to itself"]
        );
        assert_eq!(
            degrade(json!({"into": "us-east", "services": ["kv"], "latency": "1s"})).unwrap_err(),
            ["degrade.services[0]: unknown service \"kv\" (services: feed, ratelimit)"]
        );
    }

    #[test]
    fn a_degrade_that_touches_no_link_is_refused() {
        assert_eq!(
            degrade(json!({"from": "ap-northeast", "to": "us-east", "services": ["ratelimit"], "latency": "1s"})).unwrap_err(),
            ["degrade: touches no declared link"]
        );
    }
}
