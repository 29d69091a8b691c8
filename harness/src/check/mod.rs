//! Invariants over a history: each checker proves or refutes one.
//!
//! A checker reads a [`History`] and returns a [`CheckResult`]: a three-valued
//! [`Verdict`] (`pass`, `fail`, `unknown`), a one-line message a person reads,
//! figures (numbers) and evidence (the records that prove the verdict). An
//! invariant the system under test violates is a verdict, never an `Err`.
//!
//! Configuration follows the house stages: [`InvariantConfig`] is the serde shape
//! of scenario files; [`InvariantConfig::validate`] turns it into an
//! [`Invariant`] or an [`InvariantError`] that names the field. Rust users may
//! add [`Invariant::Custom`] checkers, closures over the history.
//!
//! One file per checker:
//! - [`no_oversell`]: acknowledged sales never exceed stock.
//! - [`replication_lag`]: replication markers arrive within a bound outside faults.
//! - [`blast_radius`]: regions outside a fault's reach keep their SLO.
//! - [`convergence`]: replicas agree within a deadline after the last heal.
//! - [`no_lost_writes`]: every acknowledged write is present everywhere at the end.
//! - [`availability`]: the success rate of a region (or all) stays above a floor.
//! - [`linearizable`]: every key's reads, writes and CAS behave as one atomic register.
//! - [`custom`]: a Rust closure.
//!
//! [`attribution`] sets a drill's verdicts beside a baseline run's (no fault):
//! fault-induced, fails without faults too, masked by the fault, holds.
//!
//! And what they share: [`window`] (fault windows), [`sli`] (per-region SLIs per
//! phase of a run) and [`percentiles`] (HDR histogram percentiles). Durations
//! are written with units, as everywhere in a scenario
//! ([`crate::base::duration`]).

pub mod attribution;
pub mod availability;
pub mod blast_radius;
pub mod convergence;
pub mod custom;
pub mod linearizable;
pub mod no_lost_writes;
pub mod no_oversell;
pub mod percentiles;
pub mod replication_lag;
pub mod sli;
mod value_key;
pub mod window;

#[cfg(test)]
pub(crate) mod synthetic;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::{History, LagRecord, OpRecord, Record};

pub use availability::{Availability, AvailabilityConfig};
pub use blast_radius::{BlastRadius, BlastRadiusConfig, SloConfig};
pub use convergence::{Convergence, ConvergenceConfig};
pub use custom::{CheckFn, Custom};
pub use linearizable::{Linearizable, LinearizableConfig};
pub use no_lost_writes::{NoLostWrites, NoLostWritesConfig};
pub use no_oversell::{NoOversell, NoOversellConfig};
pub use replication_lag::{RegionPair, ReplicationLag, ReplicationLagConfig};
pub use window::{fault_windows, FaultWindow};

/// The operation name of the reads a runner makes of every region's state at the
/// end of a drill; their `key` is the service, their `value` the state
/// (`{"digest": …, "data": {…}}`).
pub const FINAL_READ_OP: &str = "final_read";

/// At most this many evidence records are kept per result; the rest are counted.
pub const EVIDENCE_LIMIT: usize = 20;

/// The outcome of a check. Composition: fail beats unknown beats pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The invariant held, and the history shows it.
    Pass,
    /// The invariant was violated; the evidence proves it.
    Fail,
    /// The history cannot tell (timeouts, missing reads, nothing to judge).
    Unknown,
}

impl Verdict {
    /// The verdict of two checks together: fail beats unknown beats pass.
    #[must_use]
    pub fn combine(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Fail, _) | (_, Verdict::Fail) => Verdict::Fail,
            (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
            (Verdict::Pass, Verdict::Pass) => Verdict::Pass,
        }
    }

    /// The lower-case name, as in JSON: `pass`, `fail`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one checker concluded, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The invariant's name, e.g. `no_oversell(order WIDGET-001)`.
    pub name: String,
    /// Pass, fail or unknown.
    pub verdict: Verdict,
    /// One line for a person, e.g. `definitely oversold by 300 of 600: 900 acknowledged, 12 unknown`.
    pub message: String,
    /// Numbers behind the verdict (a JSON object; times in `*_ms`, rates in 0..=1).
    pub figures: Value,
    /// The records that prove the verdict (history records, with a `note`),
    /// at most [`EVIDENCE_LIMIT`].
    pub evidence: Vec<Value>,
    /// How many more evidence records there were than `evidence` holds.
    #[serde(default)]
    pub evidence_omitted: usize,
}

impl CheckResult {
    /// A result without figures or evidence.
    pub fn new(name: impl Into<String>, verdict: Verdict, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            verdict,
            message: message.into(),
            figures: Value::Object(serde_json::Map::new()),
            evidence: Vec::new(),
            evidence_omitted: 0,
        }
    }

    /// A passing result.
    pub fn pass(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(name, Verdict::Pass, message)
    }

    /// A failing result.
    pub fn fail(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(name, Verdict::Fail, message)
    }

    /// A result that cannot tell.
    pub fn unknown(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(name, Verdict::Unknown, message)
    }

    /// Replaces the figures.
    #[must_use]
    pub fn with_figures(mut self, figures: Value) -> Self {
        self.figures = figures;
        self
    }

    /// Appends evidence, keeping at most [`EVIDENCE_LIMIT`] records and counting the rest.
    #[must_use]
    pub fn with_evidence(mut self, evidence: impl IntoIterator<Item = Value>) -> Self {
        for item in evidence {
            if self.evidence.len() < EVIDENCE_LIMIT {
                self.evidence.push(item);
            } else {
                self.evidence_omitted += 1;
            }
        }
        self
    }
}

/// An operation record as evidence: the record as the history holds it, plus a `note`.
pub fn op_evidence(op: &OpRecord, note: impl Into<String>) -> Value {
    record_evidence(Record::Op(op.clone()), note.into())
}

/// A lag record as evidence: the record as the history holds it, plus a `note`.
pub fn lag_evidence(lag: &LagRecord, note: impl Into<String>) -> Value {
    record_evidence(Record::Lag(lag.clone()), note.into())
}

fn record_evidence(record: Record, note: String) -> Value {
    let mut value = serde_json::to_value(record).expect("history records always serialize");
    if let Value::Object(map) = &mut value {
        map.insert("note".into(), Value::String(note));
    }
    value
}

/// An invariant as a scenario file states it, e.g.
/// `{"no_oversell": {"op": "order", "key": "WIDGET-001", "stock": 600}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InvariantConfig {
    /// See [`no_oversell`].
    NoOversell(NoOversellConfig),
    /// See [`replication_lag`].
    ReplicationLag(ReplicationLagConfig),
    /// See [`blast_radius`].
    BlastRadius(BlastRadiusConfig),
    /// See [`convergence`].
    Convergence(ConvergenceConfig),
    /// See [`no_lost_writes`].
    NoLostWrites(NoLostWritesConfig),
    /// See [`availability`].
    Availability(AvailabilityConfig),
    /// See [`linearizable`].
    Linearizable(LinearizableConfig),
}

impl InvariantConfig {
    /// Checks values and cross-field rules, giving the invariant ready to check.
    ///
    /// # Errors
    /// [`InvariantError::Invalid`] naming the first field whose value cannot be used.
    pub fn validate(&self) -> Result<Invariant, InvariantError> {
        Ok(match self {
            InvariantConfig::NoOversell(c) => Invariant::NoOversell(c.validate()?),
            InvariantConfig::ReplicationLag(c) => Invariant::ReplicationLag(c.validate()?),
            InvariantConfig::BlastRadius(c) => Invariant::BlastRadius(c.validate()?),
            InvariantConfig::Convergence(c) => Invariant::Convergence(c.validate()?),
            InvariantConfig::NoLostWrites(c) => Invariant::NoLostWrites(c.validate()?),
            InvariantConfig::Availability(c) => Invariant::Availability(c.validate()?),
            InvariantConfig::Linearizable(c) => Invariant::Linearizable(c.validate()?),
        })
    }
}

/// Why an invariant's configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvariantError {
    /// A field holds a value the checker cannot use.
    #[error("{invariant}: {field} must be {rule}")]
    Invalid {
        /// The checker, e.g. `no_oversell`.
        invariant: &'static str,
        /// The field, e.g. `stock` or `slo.success_rate`.
        field: String,
        /// What it must be, e.g. `> 0`.
        rule: String,
    },
}

impl InvariantError {
    pub(crate) fn invalid(
        invariant: &'static str,
        field: impl Into<String>,
        rule: impl Into<String>,
    ) -> Self {
        InvariantError::Invalid {
            invariant,
            field: field.into(),
            rule: rule.into(),
        }
    }
}

/// Refuses an empty (or blank) name.
pub(crate) fn require_name(
    invariant: &'static str,
    field: &str,
    value: &str,
) -> Result<(), InvariantError> {
    if value.trim().is_empty() {
        return Err(InvariantError::invalid(
            invariant,
            field,
            "a non-empty name",
        ));
    }
    Ok(())
}

/// Refuses a rate that is not a number within 0..=1.
pub(crate) fn require_rate(
    invariant: &'static str,
    field: &str,
    value: f64,
) -> Result<(), InvariantError> {
    if !(0.0..=1.0).contains(&value) {
        return Err(InvariantError::invalid(invariant, field, "within 0..=1"));
    }
    Ok(())
}

/// A validated invariant, ready to check a history.
#[derive(Debug, Clone)]
pub enum Invariant {
    /// See [`no_oversell`].
    NoOversell(NoOversell),
    /// See [`replication_lag`].
    ReplicationLag(ReplicationLag),
    /// See [`blast_radius`].
    BlastRadius(BlastRadius),
    /// See [`convergence`].
    Convergence(Convergence),
    /// See [`no_lost_writes`].
    NoLostWrites(NoLostWrites),
    /// See [`availability`].
    Availability(Availability),
    /// See [`linearizable`].
    Linearizable(Linearizable),
    /// A Rust closure over the history.
    Custom(Custom),
}

impl Invariant {
    /// A custom invariant: `check` is called with the history and its result's
    /// name is set to `name`.
    pub fn custom(
        name: impl Into<String>,
        check: impl Fn(&History) -> CheckResult + Send + Sync + 'static,
    ) -> Self {
        Invariant::Custom(Custom::new(name, check))
    }

    /// The name its results carry, e.g. `no_oversell(order WIDGET-001)`.
    pub fn name(&self) -> String {
        match self {
            Invariant::NoOversell(i) => i.name(),
            Invariant::ReplicationLag(i) => i.name(),
            Invariant::BlastRadius(i) => i.name(),
            Invariant::Convergence(i) => i.name(),
            Invariant::NoLostWrites(i) => i.name(),
            Invariant::Availability(i) => i.name(),
            Invariant::Linearizable(i) => i.name(),
            Invariant::Custom(i) => i.name().to_owned(),
        }
    }

    /// Judges the history.
    pub fn check(&self, history: &History) -> CheckResult {
        match self {
            Invariant::NoOversell(i) => i.check(history),
            Invariant::ReplicationLag(i) => i.check(history),
            Invariant::BlastRadius(i) => i.check(history),
            Invariant::Convergence(i) => i.check(history),
            Invariant::NoLostWrites(i) => i.check(history),
            Invariant::Availability(i) => i.check(history),
            Invariant::Linearizable(i) => i.check(history),
            Invariant::Custom(i) => i.check(history),
        }
    }
}

/// Checks every invariant, in order.
pub fn check_all(invariants: &[Invariant], history: &History) -> Vec<CheckResult> {
    invariants
        .iter()
        .map(|invariant| invariant.check(history))
        .collect()
}

/// The verdict of all results together (`pass` when there are none).
pub fn overall_verdict(results: &[CheckResult]) -> Verdict {
    results.iter().fold(Verdict::Pass, |verdict, result| {
        verdict.combine(result.verdict)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::check::synthetic::history;

    #[test]
    fn fail_beats_unknown_beats_pass() {
        use Verdict::*;
        assert_eq!(Pass.combine(Pass), Pass);
        assert_eq!(Pass.combine(Unknown), Unknown);
        assert_eq!(Unknown.combine(Pass), Unknown);
        assert_eq!(Unknown.combine(Fail), Fail);
        assert_eq!(Fail.combine(Pass), Fail);
    }

    #[test]
    fn the_overall_verdict_of_no_results_is_pass() {
        assert_eq!(overall_verdict(&[]), Verdict::Pass);
    }

    #[test]
    fn the_overall_verdict_is_the_worst_of_all() {
        let results = [
            CheckResult::pass("a", ""),
            CheckResult::unknown("b", ""),
            CheckResult::pass("c", ""),
        ];
        assert_eq!(overall_verdict(&results), Verdict::Unknown);
    }

    #[test]
    fn evidence_is_capped_and_the_rest_counted() {
        let result = CheckResult::fail("x", "y").with_evidence((0..25).map(|i| json!(i)));
        assert_eq!(result.evidence.len(), EVIDENCE_LIMIT);
        assert_eq!(result.evidence_omitted, 5);
    }

    #[test]
    fn scenario_invariants_parse_and_validate() {
        let configs: Vec<InvariantConfig> = serde_json::from_value(json!([
            {"no_oversell": {"op": "order", "key": "WIDGET-001", "stock": 600}},
            {"replication_lag": {"max": "2s", "grace_after_heal": "30s",
                                 "pairs": [{"from": "us-east", "to": "eu-west"}]}},
            {"blast_radius": {"slo": {"success_rate": 0.99, "p99": "500ms"}}},
            {"convergence": {"within": "10s"}},
            {"no_lost_writes": {"op": "put"}},
            {"availability": {"region": "us-east", "min": 0.95}},
            {"linearizable": {"write": "put", "read": "get", "cas": "cas", "key": "reg"}},
        ]))
        .unwrap();
        let names: Vec<String> = configs
            .iter()
            .map(|c| c.validate().unwrap().name())
            .collect();
        assert_eq!(
            names,
            [
                "no_oversell(order WIDGET-001)",
                "replication_lag(max 2s)",
                "blast_radius(success_rate 0.99, p99 500ms)",
                "convergence(within 10s)",
                "no_lost_writes(put)",
                "availability(us-east)",
                "linearizable(put/get/cas reg)",
            ]
        );
    }

    #[test]
    fn invariant_configs_survive_a_round_trip() {
        let config: InvariantConfig = serde_json::from_value(
            json!({"replication_lag": {"max": "2s", "grace_after_heal": "1m 30s"}}),
        )
        .unwrap();
        let back: InvariantConfig =
            serde_json::from_value(serde_json::to_value(&config).unwrap()).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_value::<InvariantConfig>(
            json!({"no_oversell": {"op": "order", "key": "k", "stock": 1, "stok": 2}}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("stok"), "{err}");
        let err = serde_json::from_value::<InvariantConfig>(json!({"no_oversel": {}})).unwrap_err();
        assert!(err.to_string().contains("no_oversel"), "{err}");
    }

    #[test]
    fn a_duration_without_a_unit_is_refused_in_a_scenario() {
        let err =
            serde_json::from_value::<InvariantConfig>(json!({"convergence": {"within": "10"}}))
                .unwrap_err();
        assert!(err.to_string().contains("unit"), "{err}");
    }

    #[test]
    fn check_all_checks_every_invariant_in_order() {
        let invariants = [
            Invariant::custom("always", |_| CheckResult::pass("", "fine")),
            Invariant::custom("never", |_| CheckResult::fail("", "broken")),
        ];
        let results = check_all(&invariants, &history(vec![]));
        let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["always", "never"]);
        assert_eq!(overall_verdict(&results), Verdict::Fail);
    }
}
