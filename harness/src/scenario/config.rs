//! [`ScenarioConfig`]: the whole scenario as a file writes it, and its builder
//! methods for Rust tests.
//!
//! ```
//! use std::time::Duration;
//! use faultline_harness::scenario::{LinkConfig, ScenarioConfig, ServiceConfig};
//! use faultline_harness::schedule::{PartitionConfig, StepConfig};
//!
//! let scenario = ScenarioConfig::new("split-brain")
//!     .seed(7)
//!     .regions(["us-east", "eu-west"])
//!     .service("inventory", "us-east", ServiceConfig::address("127.0.0.1:7001"))
//!     .service("inventory", "eu-west", ServiceConfig::address("127.0.0.1:7002"))
//!     .link(LinkConfig::between("us-east", "eu-west", "inventory").latency(Duration::from_millis(40)))
//!     .step(
//!         StepConfig::at(Duration::from_secs(5), PartitionConfig::groups([["us-east"], ["eu-west"]]))
//!             .lasting(Duration::from_secs(20)),
//!     )
//!     .duration(Duration::from_secs(40))
//!     .validate()
//!     .unwrap();
//! assert_eq!(scenario.timeline().entries.len(), 2);
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::agent::AgentConfig;
use super::final_read::FinalReadConfig;
use super::link::LinkConfig;
use super::probe::ProbeConfig;
use super::service::ServiceConfig;
use super::stop::StopConditionConfig;
use super::workload::WorkloadConfig;
use crate::base::duration;
use crate::check::InvariantConfig;
use crate::schedule::StepConfig;

fn one() -> f64 {
    1.0
}

fn is_zero(seed: &u64) -> bool {
    *seed == 0
}

fn is_one(value: &f64) -> bool {
    *value == 1.0
}

/// A scenario as the file writes it (syntax and types only; see
/// [`ScenarioConfig::validate`] for the rest). Every field is documented, with
/// its default and unit, in `docs/scenario.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioConfig {
    /// Name of the scenario (reports, history, `validate`).
    pub name: String,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The one seed every random choice derives from (default 0; `--seed` overrides).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seed: u64,
    /// Region names, in the order plans and shapes use.
    pub regions: Vec<String>,
    /// Region → the `faultline serve` agent that runs the proxies of the
    /// links into that region: its URL, or `{"url", "token_env"}` (default:
    /// every proxy runs in-process).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub agents: BTreeMap<String, AgentConfig>,
    /// Service → region → instance.
    pub services: BTreeMap<String, BTreeMap<String, ServiceConfig>>,
    /// The links between regions (each one a proxy).
    #[serde(default)]
    pub links: Vec<LinkConfig>,
    /// Factor on every link's baseline latency and jitter (default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub baseline_scale: f64,
    /// Traffic to drive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workload: Vec<WorkloadConfig>,
    /// Measurements besides the workloads (replication probes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeConfig>,
    /// Service → what to read from every region at the end.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub final_reads: BTreeMap<String, FinalReadConfig>,
    /// Region-level faults over time.
    #[serde(default)]
    pub schedule: Vec<StepConfig>,
    /// Length of the drill, in schedule time.
    #[serde(with = "duration::text")]
    pub duration: Duration,
    /// Hard real-time limit of the whole drill, set-up and final reads
    /// included (default: 2 × duration × time_scale + 60s).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_duration: Option<Duration>,
    /// Factor on every schedule time (default 1; 0.1 runs ten times faster).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub time_scale: f64,
    /// Conditions that abort the drill early.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_when: Vec<StopConditionConfig>,
    /// What must hold (see `check::InvariantConfig`).
    #[serde(default)]
    pub invariants: Vec<InvariantConfig>,
    /// Also run the scenario without faults (same seed, workload and
    /// duration; every link at its static settings) and attribute every
    /// verdict (docs/baseline.md). Default false; `faultline drill --baseline`
    /// sets it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub baseline: bool,
}

impl ScenarioConfig {
    /// An empty scenario named `name`, lasting one minute.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: None,
            seed: 0,
            regions: Vec::new(),
            agents: BTreeMap::new(),
            services: BTreeMap::new(),
            links: Vec::new(),
            baseline_scale: 1.0,
            workload: Vec::new(),
            probes: Vec::new(),
            final_reads: BTreeMap::new(),
            schedule: Vec::new(),
            duration: Duration::from_secs(60),
            max_duration: None,
            time_scale: 1.0,
            stop_when: Vec::new(),
            invariants: Vec::new(),
            baseline: false,
        }
    }

    /// With this seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// With these regions, in order.
    #[must_use]
    pub fn regions<I: IntoIterator<Item = S>, S: Into<String>>(mut self, regions: I) -> Self {
        self.regions = regions.into_iter().map(Into::into).collect();
        self
    }

    /// With `service` running in `region` as `config` says.
    #[must_use]
    pub fn service(
        mut self,
        service: impl Into<String>,
        region: impl Into<String>,
        config: ServiceConfig,
    ) -> Self {
        self.services
            .entry(service.into())
            .or_default()
            .insert(region.into(), config);
        self
    }

    /// With a `links` entry.
    #[must_use]
    pub fn link(mut self, link: LinkConfig) -> Self {
        self.links.push(link);
        self
    }

    /// With a remote agent running the proxies of the links into `region`.
    #[must_use]
    pub fn agent(mut self, region: impl Into<String>, agent: impl Into<AgentConfig>) -> Self {
        self.agents.insert(region.into(), agent.into());
        self
    }

    /// With baselines scaled by `factor`.
    #[must_use]
    pub fn baseline_scale(mut self, factor: f64) -> Self {
        self.baseline_scale = factor;
        self
    }

    /// With a workload.
    #[must_use]
    pub fn workload(mut self, workload: WorkloadConfig) -> Self {
        self.workload.push(workload);
        self
    }

    /// With a probe.
    #[must_use]
    pub fn probe(mut self, probe: ProbeConfig) -> Self {
        self.probes.push(probe);
        self
    }

    /// With a final read of `service`.
    #[must_use]
    pub fn final_read(mut self, service: impl Into<String>, read: FinalReadConfig) -> Self {
        self.final_reads.insert(service.into(), read);
        self
    }

    /// With a schedule step.
    #[must_use]
    pub fn step(mut self, step: StepConfig) -> Self {
        self.schedule.push(step);
        self
    }

    /// Lasting `duration` (schedule time).
    #[must_use]
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// With a hard real-time limit.
    #[must_use]
    pub fn max_duration(mut self, max: Duration) -> Self {
        self.max_duration = Some(max);
        self
    }

    /// With schedule times multiplied by `factor`.
    #[must_use]
    pub fn time_scale(mut self, factor: f64) -> Self {
        self.time_scale = factor;
        self
    }

    /// With a stop condition.
    #[must_use]
    pub fn stop_when(mut self, condition: StopConditionConfig) -> Self {
        self.stop_when.push(condition);
        self
    }

    /// With an invariant.
    #[must_use]
    pub fn invariant(mut self, invariant: InvariantConfig) -> Self {
        self.invariants.push(invariant);
        self
    }
}
