//! Region-level faults: the `fault` of a schedule step.
//!
//! Written as a one-key object naming the kind: `{"partition": …}`,
//! `{"degrade": …}`, `{"flap": …}`, `{"ramp": …}` or `{"random": …}`. The first
//! two act on links directly ([`BasicFault`]); the other three switch, move or
//! draw basic faults over time.

use faultline_proxies::Fault;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::degrade::{Degrade, DegradeConfig};
use super::flap::{Flap, FlapConfig};
use super::nemesis::{Nemesis, RandomConfig};
use super::partition::{Partition, PartitionConfig};
use super::ramp::{Ramp, RampConfig};
use super::{Context, Network};
use crate::scenario::error::{FieldPath, Problems};
use crate::scenario::LinkId;

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
