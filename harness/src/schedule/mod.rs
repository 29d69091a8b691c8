//! The schedule: region-level faults at offsets, compiled into a concrete
//! timeline of link fault changes before a drill starts.
//!
//! A scenario's `schedule` is a list of steps, `{"at": "5s", "for": "20s",
//! "fault": {…}}` (no `for`: until the end of the drill). [`expand()`] turns the
//! validated steps into a [`Timeline`]: every start, update and end, its time
//! (after `time_scale`), the links it touches and the named proxy faults it
//! adds, updates or removes on each. Random choices (nemesis draws, flap
//! jitter, shuffled shapes) come from one ChaCha8 stream per step, seeded by
//! the scenario's seed, so `faultline plan` shows exactly what a drill with
//! that seed will do.
//!
//! Link convention: a link `FROM->TO:SERVICE` is the proxy region FROM's
//! clients connect to, whose upstream is SERVICE in region TO; its `upstream`
//! stream carries the bytes FROM → TO, its `downstream` stream TO → FROM.
//!
//! Fault names are `s{step}[.{instance}]-{kind}[-{attribute}]-{stream}`
//! (`s0-partition-upstream`, `s3.2-degrade-latency-downstream`): unique on a
//! proxy while they live, so overlapping faults of different steps on one link
//! are removed independently.
//!
//! One file per kind: [`partition`], [`degrade`], [`flap`], [`ramp`],
//! [`nemesis`] (`random`); this file dispatches ([`RegionFaultConfig`], whose
//! flap, ramp and nemesis hold region faults in turn), [`timeline`] holds the
//! output and [`mod@expand`] builds it.

#![warn(missing_docs)]

pub mod degrade;
pub mod expand;
pub mod flap;
pub mod nemesis;
pub mod partition;
pub mod ramp;
pub mod timeline;

#[cfg(test)]
pub(crate) mod synthetic;

use std::time::Duration;

use faultline_proxies::Fault;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::base::duration;
use crate::base::LinkId;
use crate::base::{FieldPath, Problems};

pub use degrade::{Degrade, DegradeConfig, StreamConfig, Target};
pub use expand::expand;
pub use flap::{Flap, FlapConfig};
pub use nemesis::{Cadence, Draw, Nemesis, RandomConfig};
pub use partition::{
    OnHealConfig, Order, Partition, PartitionConfig, PartitionMode, PartitionSpec, Shape,
};
pub use ramp::{Ramp, RampConfig};
pub use timeline::{Change, LinkFaultChange, Timeline, TimelineEntry};

/// The most changes (flap cycles, ramp jumps, nemesis slots) one step may make.
pub const MAX_CHANGES: usize = 10_000;

/// A schedule step as the scenario file writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// When the step starts, after the drill starts.
    #[serde(with = "duration::text")]
    pub at: Duration,
    /// How long it lasts (default: until the end of the drill); a step that
    /// would outlast the drill ends with it.
    #[serde(
        rename = "for",
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub lasting: Option<Duration>,
    /// What happens.
    pub fault: RegionFaultConfig,
}

impl StepConfig {
    /// `fault` from `at` to the end of the drill.
    pub fn at(at: Duration, fault: impl Into<RegionFaultConfig>) -> Self {
        Self {
            at,
            lasting: None,
            fault: fault.into(),
        }
    }

    /// Lasting `lasting`.
    #[must_use]
    pub fn lasting(mut self, lasting: Duration) -> Self {
        self.lasting = Some(lasting);
        self
    }

    /// Checks the step; `duration` is the drill's (unscaled) length.
    pub(crate) fn check(
        &self,
        index: u32,
        path: &FieldPath,
        network: &Network,
        duration: Duration,
        problems: &mut Problems,
    ) -> Option<Step> {
        let before = problems.len();
        if self.at >= duration {
            problems.push(
                &path.key("at"),
                format!(
                    "{} is not before the end of the drill (duration {})",
                    duration::human(self.at),
                    duration::human(duration)
                ),
            );
            return None;
        }
        if self.lasting.is_some_and(|lasting| lasting.is_zero()) {
            problems.push(
                &path.key("for"),
                "must be greater than zero (leave it out to last until the end)",
            );
            return None;
        }
        let end = self
            .lasting
            .map_or(duration, |lasting| (self.at + lasting).min(duration));
        let context = Context {
            network,
            span: end - self.at,
        };
        let fault = self.fault.check(&path.key("fault"), &context, problems);
        if problems.len() != before {
            return None;
        }
        Some(Step {
            index,
            at: self.at,
            end,
            fault: fault?,
            what: serde_json::to_value(&self.fault).unwrap_or_default(),
        })
    }
}

/// A validated step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its index in the schedule (history records' `step`).
    pub index: u32,
    /// Start, unscaled.
    pub at: Duration,
    /// End, unscaled, at most the drill's duration.
    pub end: Duration,
    /// What happens.
    pub fault: RegionFault,
    /// The fault as stated.
    pub what: Value,
}

/// What a step's faults act on: the scenario's regions, services and links.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Network {
    /// Region names, in scenario order.
    pub regions: Vec<String>,
    /// Links, in scenario order.
    pub links: Vec<LinkId>,
    /// Service names.
    pub services: Vec<String>,
    /// Set while validating a scenario whose `links` had problems: the
    /// checks that need every link ("cuts no declared link") are skipped, so
    /// one bad link does not echo through the schedule.
    pub(crate) links_incomplete: bool,
}

impl Network {
    /// The network of these regions, links and services.
    pub fn new(regions: Vec<String>, links: Vec<LinkId>, services: Vec<String>) -> Self {
        Self {
            regions,
            links,
            services,
            links_incomplete: false,
        }
    }

    /// Whether the scenario has this region.
    pub fn has_region(&self, region: &str) -> bool {
        self.regions.iter().any(|r| r == region)
    }

    /// Records a problem for every unknown or repeated service in `services`.
    pub(crate) fn check_services(
        &self,
        services: &[String],
        path: &FieldPath,
        problems: &mut Problems,
    ) {
        if services.is_empty() {
            problems.push(
                path,
                "must list at least one service (leave it out for all)",
            );
        }
        for (index, service) in services.iter().enumerate() {
            if !self.services.contains(service) {
                problems.push(
                    &path.index(index),
                    format!(
                        "unknown service {service:?} (services: {})",
                        self.services.join(", ")
                    ),
                );
            }
        }
    }
}

/// What a step's fault is checked against.
pub(crate) struct Context<'a> {
    pub(crate) network: &'a Network,
    /// The step's window, `end - at`, unscaled.
    pub(crate) span: Duration,
}

/// The RNG stream of one step: ChaCha8 seeded with the scenario seed, on the
/// stream numbered by the step's index. Steps never share draws, so editing
/// one step leaves the others' random choices alone.
pub fn step_rng(seed: u64, step: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::from(step));
    rng
}

/// `duration × time_scale`, to the nanosecond.
pub fn scale(duration: Duration, time_scale: f64) -> Duration {
    Duration::from_nanos((duration.as_nanos() as f64 * time_scale).round() as u64)
}

// The region-level fault of a step: `{"partition": …}`, `{"degrade": …}`,
// `{"flap": …}`, `{"ramp": …}` or `{"random": …}`. The first two act on
// links directly ([`BasicFault`]); the other three switch, move or draw
// basic faults over time.

/// A region-level fault as the scenario file writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionFaultConfig {
    /// Cut the links between region groups.
    Partition(PartitionConfig),
    /// Latency, jitter, loss or bandwidth on a set of links.
    Degrade(DegradeConfig),
    /// A fault switched on and off.
    Flap(Box<FlapConfig>),
    /// A `degrade` whose values move over time.
    Ramp(Box<RampConfig>),
    /// A seeded nemesis drawing faults at random times.
    Random(RandomConfig),
}

impl From<PartitionConfig> for RegionFaultConfig {
    fn from(config: PartitionConfig) -> Self {
        RegionFaultConfig::Partition(config)
    }
}

impl From<DegradeConfig> for RegionFaultConfig {
    fn from(config: DegradeConfig) -> Self {
        RegionFaultConfig::Degrade(config)
    }
}

impl From<FlapConfig> for RegionFaultConfig {
    fn from(config: FlapConfig) -> Self {
        RegionFaultConfig::Flap(Box::new(config))
    }
}

impl From<RampConfig> for RegionFaultConfig {
    fn from(config: RampConfig) -> Self {
        RegionFaultConfig::Ramp(Box::new(config))
    }
}

impl From<RandomConfig> for RegionFaultConfig {
    fn from(config: RandomConfig) -> Self {
        RegionFaultConfig::Random(config)
    }
}

impl RegionFaultConfig {
    /// The kind's name: `partition`, `degrade`, `flap`, `ramp` or `random`.
    pub fn kind(&self) -> &'static str {
        match self {
            RegionFaultConfig::Partition(_) => "partition",
            RegionFaultConfig::Degrade(_) => "degrade",
            RegionFaultConfig::Flap(_) => "flap",
            RegionFaultConfig::Ramp(_) => "ramp",
            RegionFaultConfig::Random(_) => "random",
        }
    }

    /// Checks the fault; `path` is the `fault` field itself.
    pub(crate) fn check(
        &self,
        path: &FieldPath,
        context: &Context<'_>,
        problems: &mut Problems,
    ) -> Option<RegionFault> {
        let path = path.key(self.kind());
        match self {
            RegionFaultConfig::Partition(config) => config
                .check(&path, context.network, problems)
                .map(RegionFault::Partition),
            RegionFaultConfig::Degrade(config) => config
                .check(&path, context.network, problems)
                .map(RegionFault::Degrade),
            RegionFaultConfig::Flap(config) => config
                .check(&path, context, problems)
                .map(RegionFault::Flap),
            RegionFaultConfig::Ramp(config) => config
                .check(&path, context, problems)
                .map(RegionFault::Ramp),
            RegionFaultConfig::Random(config) => config
                .check(&path, context, problems)
                .map(RegionFault::Random),
        }
    }

    /// Checks a fault that must act on links directly (inside a flap or a
    /// nemesis, named by `user`).
    pub(crate) fn check_basic(
        &self,
        path: &FieldPath,
        network: &Network,
        user: &str,
        problems: &mut Problems,
    ) -> Option<BasicFault> {
        let path = path.key(self.kind());
        match self {
            RegionFaultConfig::Partition(config) => config
                .check(&path, network, problems)
                .map(BasicFault::Partition),
            RegionFaultConfig::Degrade(config) => config
                .check(&path, network, problems)
                .map(|degrade| BasicFault::Degrade(Box::new(degrade))),
            other => {
                problems.push(
                    &path,
                    format!(
                        "{user} switches a `partition` or a `degrade`, not a `{}`",
                        other.kind()
                    ),
                );
                None
            }
        }
    }
}

/// A validated fault that acts on links directly.
#[derive(Debug, Clone, PartialEq)]
pub enum BasicFault {
    /// See [`Partition`].
    Partition(Partition),
    /// See [`Degrade`].
    Degrade(Box<Degrade>),
}

impl BasicFault {
    /// The proxy faults it installs, named with `prefix` (`s3`, `s3.1`).
    /// Random partition shapes draw from `rng`.
    pub fn faults(
        &self,
        network: &Network,
        rng: &mut ChaCha8Rng,
        prefix: &str,
    ) -> Vec<(LinkId, Fault)> {
        match self {
            BasicFault::Partition(partition) => partition.faults(network, rng, prefix),
            BasicFault::Degrade(degrade) => degrade.faults_with(&degrade.effects, network, prefix),
        }
    }
}

impl BasicFault {
    /// The regions it is aimed at, in scenario order (history records'
    /// `regions`; `blast_radius` judges the others).
    pub fn targets(&self, regions: &[String]) -> Vec<String> {
        match self {
            BasicFault::Partition(partition) => partition.targets(regions),
            BasicFault::Degrade(degrade) => degrade.targets(regions),
        }
    }
}

/// A validated region-level fault.
#[derive(Debug, Clone, PartialEq)]
pub enum RegionFault {
    /// See [`Partition`].
    Partition(Partition),
    /// See [`Degrade`].
    Degrade(Degrade),
    /// See [`Flap`].
    Flap(Flap),
    /// See [`Ramp`].
    Ramp(Ramp),
    /// See [`Nemesis`].
    Random(Nemesis),
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn step_streams_differ_by_step_and_by_seed() {
        use rand::RngCore;
        let first = |seed, step| step_rng(seed, step).next_u64();
        assert_eq!(first(1, 0), first(1, 0));
        assert_ne!(first(1, 0), first(1, 1));
        assert_ne!(first(1, 0), first(2, 0));
    }

    #[test]
    fn scaling_compresses_and_rounds_to_the_nanosecond() {
        assert_eq!(scale(Duration::from_secs(10), 0.1), Duration::from_secs(1));
        assert_eq!(
            scale(Duration::from_secs(1), 1.0 / 3.0),
            Duration::from_nanos(333_333_333)
        );
    }

    #[test]
    fn a_step_reads_with_for_and_without() {
        let step: StepConfig = serde_json::from_value(
            json!({"at": "5s", "for": "20s", "fault": {"partition": [["a"], ["b"]]}}),
        )
        .unwrap();
        assert_eq!(step.lasting, Some(Duration::from_secs(20)));
        let back = serde_json::to_value(&step).unwrap();
        assert_eq!(
            back,
            json!({"at": "5s", "for": "20s", "fault": {"partition": [["a"], ["b"]]}})
        );
    }
}
