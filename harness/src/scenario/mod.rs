//! Scenarios: regions, services, links, traffic, faults over time and the
//! invariants that must hold, from a JSON file or built in Rust.
//!
//! One set of types serves both: [`ScenarioConfig`] is the serde shape of a
//! scenario file (every field documented in `docs/scenario.md`) and has
//! builder methods for cargo tests. [`ScenarioConfig::validate`] checks it
//! into a [`Scenario`], the validated form the runner uses; nothing binds a
//! port or spawns a process before that passes. [`Scenario::load`] does both
//! for a file, and its errors name the file, line, column and field path:
//!
//! ```text
//! scenario.json:12:7: schedule[1].fault.partition[1][0]: unknown region "eu-wets" (regions: us-east, eu-west)
//! ```
//!
//! Module map:
//! - [`config`]: [`ScenarioConfig`] and its builders.
//! - [`validate`]: the semantic checks, config → [`Scenario`].
//! - [`service`], [`template`]: services (addresses or spawned commands) and
//!   the placeholders of their commands.
//! - [`link`]: links between regions and their baseline effects.
//! - [`workload`], [`probe`], [`final_read`], [`stop`]: traffic, replication
//!   probes, end-of-drill reads, stop conditions; [`breach`]: whether a stop
//!   condition holds over a window of operations; [`client`]: the client
//!   processes they may drive instead of HTTP requests.
//! - [`error`], [`locate`]: a scenario's problems with their file positions.
//!
//! The schedule's types (steps, region-level faults) live in
//! [`crate::schedule`], which also expands them into a timeline; the
//! vocabulary both use (durations, field paths, link ids, effects) in
//! [`crate::base`]. Dependencies run scenario → schedule → base.

#![warn(missing_docs)]

pub mod agent;
pub mod breach;
pub mod client;
pub mod config;
pub mod error;
pub mod final_read;
pub mod link;
pub mod locate;
pub mod probe;
pub mod service;
pub mod stop;
pub mod template;
pub mod validate;
pub mod workload;

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde_json::error::Category;

pub use crate::base::effects::{Effects, Loss, LossConfig, LossFields};
pub use crate::base::{FieldPath, Position, Problem, Stage};
pub use agent::{AgentConfig, AgentEntry};
pub use client::{ClientCommand, ClientConfig};
pub use config::ScenarioConfig;
pub use error::ScenarioError;
pub use final_read::{FinalRead, FinalReadConfig};
pub use link::{Link, LinkConfig, LinkId};
pub use probe::{Probe, ProbeConfig, ReplicationProbe, ReplicationProbeConfig};
pub use service::{
    Command, Endpoint, HostPort, Ready, ReadyConfig, RenderedCommand, ServiceConfig,
};
pub use stop::{StopCondition, StopConditionConfig, StopMetric};
pub use template::{Placeholder, Template};
pub use workload::{OkWhenConfig, Request, RequestConfig, StatusList, Workload, WorkloadConfig};

use crate::check::Invariant;
use crate::schedule::{self, Network, Step, Timeline};
use locate::SourceMap;

/// A region of a validated scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Its name.
    pub name: String,
    /// The `faultline serve` agent running the proxies of links into it, if remote.
    pub agent: Option<String>,
}

/// A validated scenario: every name resolves, every value is in range, and
/// the schedule fits the drill. Build it with [`ScenarioConfig::validate`] or
/// [`Scenario::load`].
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The seed every random choice derives from.
    pub seed: u64,
    /// Regions, in scenario order.
    pub regions: Vec<Region>,
    /// Service → region → instance.
    pub services: BTreeMap<String, BTreeMap<String, Endpoint>>,
    /// Links (each one a proxy), in declaration order.
    pub links: Vec<Link>,
    /// Workloads.
    pub workloads: Vec<Workload>,
    /// Probes.
    pub probes: Vec<Probe>,
    /// End-of-drill reads.
    pub final_reads: Vec<FinalRead>,
    /// Schedule steps (unscaled times).
    pub schedule: Vec<Step>,
    /// Length of the drill, unscaled (schedule time).
    pub duration: Duration,
    /// Hard real-time limit of the whole drill.
    pub max_duration: Duration,
    /// Factor on every schedule time.
    pub time_scale: f64,
    /// Factor already applied to the links' baselines.
    pub baseline_scale: f64,
    /// Conditions that abort the drill early.
    pub stop_when: Vec<StopCondition>,
    /// What must hold.
    pub invariants: Vec<Invariant>,
    /// Whether a baseline run (no fault) goes with the drill (docs/baseline.md).
    pub baseline: bool,
    /// The scenario as stated (with any overrides), for reports and `faultline check`.
    pub config: ScenarioConfig,
}

impl Scenario {
    /// Reads and validates a scenario file.
    ///
    /// # Errors
    /// [`ScenarioError::Read`] if the file cannot be read;
    /// [`ScenarioError::Invalid`] listing the problems otherwise, each with
    /// the file name, line, column and field path.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            file: path.to_owned(),
            source,
        })?;
        Self::parse(&text, Some(&path.display().to_string()))
    }

    /// Parses and validates scenario text; `origin` (a file name) prefixes
    /// every problem.
    ///
    /// # Errors
    /// [`ScenarioError::Invalid`] listing the problems.
    pub fn parse(text: &str, origin: Option<&str>) -> Result<Self, ScenarioError> {
        let config = ScenarioConfig::parse(text, origin)?;
        validate::validate(&config).map_err(|problems| {
            let map = SourceMap::new(text);
            let mut problems: Vec<Problem> = problems
                .into_iter()
                .map(|mut problem| {
                    problem.position = map.position(&problem.path);
                    problem
                })
                .collect();
            problems.sort_by_key(|problem| (problem.position.is_none(), problem.position));
            ScenarioError::invalid(origin.map(str::to_owned), problems)
        })
    }

    /// The same scenario with another seed (`--seed`): the random parts of
    /// the timeline are drawn again.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self.config.seed = seed;
        self
    }

    /// The same scenario with another time scale (`--time-scale`).
    ///
    /// # Errors
    /// The scale is out of range, or `max_duration` is now too short.
    pub fn with_time_scale(self, time_scale: f64) -> Result<Self, ScenarioError> {
        let mut config = self.config;
        config.time_scale = time_scale;
        config.validate()
    }

    /// The regions, links and services the schedule acts on.
    pub fn network(&self) -> Network {
        Network::new(
            self.region_names(),
            self.links.iter().map(|link| link.id.clone()).collect(),
            self.services.keys().cloned().collect(),
        )
    }

    /// Region names, in scenario order.
    pub fn region_names(&self) -> Vec<String> {
        self.regions
            .iter()
            .map(|region| region.name.clone())
            .collect()
    }

    /// The link with this id.
    pub fn link(&self, id: &LinkId) -> Option<&Link> {
        self.links.iter().find(|link| link.id == *id)
    }

    /// The instance of `service` in `region`.
    pub fn endpoint(&self, service: &str, region: &str) -> Option<&Endpoint> {
        self.services.get(service)?.get(region)
    }

    /// How long the drill lasts in real time (duration × time_scale).
    pub fn scaled_duration(&self) -> Duration {
        schedule::scale(self.duration, self.time_scale)
    }

    /// The expanded timeline: every fault change, its time and its link faults.
    pub fn timeline(&self) -> Timeline {
        schedule::expand(
            &self.schedule,
            &self.network(),
            self.seed,
            self.duration,
            self.time_scale,
        )
    }
}

impl FromStr for Scenario {
    type Err = ScenarioError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Scenario::parse(text, None)
    }
}

/// Drops serde_json's ` at line L column C` suffix: the position is printed in front.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(cut) if message[cut..].contains(" column ") => &message[..cut],
        _ => message,
    }
}

impl ScenarioConfig {
    /// Parses scenario text (syntax and shape only, no semantic checks).
    ///
    /// # Errors
    /// [`ScenarioError::Invalid`] with the first syntax or shape error, its
    /// line, column and field path.
    pub fn parse(text: &str, origin: Option<&str>) -> Result<Self, ScenarioError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let shape_error = |path: String, inner: serde_json::Error| {
            let stage = match inner.classify() {
                Category::Data => Stage::Shape,
                Category::Syntax | Category::Eof | Category::Io => Stage::Syntax,
            };
            // serde_json points past the offending value; point at its start
            // when the (syntactically valid) document holds the path.
            let exact = match stage {
                Stage::Shape if !path.is_empty() && path != "." => {
                    SourceMap::new(text).exact(&path)
                }
                _ => None,
            };
            let reported = (inner.line() > 0).then(|| Position {
                line: inner.line(),
                column: inner.column(),
            });
            let position = exact.or(reported);
            let message = strip_position(&inner.to_string()).to_owned();
            let path = if path == "." || stage == Stage::Syntax {
                String::new()
            } else {
                path
            };
            ScenarioError::invalid(
                origin.map(str::to_owned),
                vec![Problem {
                    path,
                    message,
                    position,
                    stage,
                }],
            )
        };
        let config: ScenarioConfig =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
                let path = error.path().to_string();
                shape_error(path, error.into_inner())
            })?;
        deserializer
            .end()
            .map_err(|inner| shape_error(String::new(), inner))?;
        Ok(config)
    }

    /// Checks everything that parsing cannot: names resolve, values are in
    /// range, the schedule fits the drill, placeholders name declared links.
    ///
    /// # Errors
    /// [`ScenarioError::Invalid`] listing every problem found, by field path.
    pub fn validate(&self) -> Result<Scenario, ScenarioError> {
        validate::validate(self).map_err(|problems| ScenarioError::invalid(None, problems))
    }
}

#[cfg(test)]
mod tests;
