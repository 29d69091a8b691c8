//! `convergence`: after the last heal, every region's replica agrees within a deadline.
//!
//! The runner reads every region's state at the end of a drill: operations named
//! [`FINAL_READ_OP`], whose `key` is the service and whose `value` is the state
//! the service returned, `{"digest": "…", "data": {…}}`. For each service, the
//! latest successful read per region that began after the last heal and
//! completed within `within` of it is taken; their digests (or, without a
//! digest, their data) must be equal.
//!
//! - differing digests: **fail**, with each region's digest and the keys that differ;
//! - a region with a read of the service but none successful in time: **unknown**;
//! - no final reads at all, or a fault that never healed: **unknown**.
//!
//! A run without faults has no heal and no deadline: the latest reads are compared.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::percentiles::ms;
use super::window::fault_windows;
use super::{require_name, CheckResult, InvariantError, EVIDENCE_LIMIT, FINAL_READ_OP};
use crate::base::duration::{self, format as format_duration};
use crate::history::{History, OpRecord, Outcome, Record};

const NAME: &str = "convergence";

/// `{"convergence": {"within": "10s", "service": "kv"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvergenceConfig {
    /// How long after the last heal the replicas have to agree.
    #[serde(with = "duration::text")]
    pub within: Duration,
    /// Only this service's final reads (default: every service's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl ConvergenceConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// `within` of zero, or an empty `service`.
    pub fn validate(&self) -> Result<Convergence, InvariantError> {
        if self.within.is_zero() {
            return Err(InvariantError::invalid(NAME, "within", "> 0"));
        }
        if let Some(service) = &self.service {
            require_name(NAME, "service", service)?;
        }
        Ok(Convergence {
            within: self.within,
            service: self.service.clone(),
        })
    }
}

/// The validated invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Convergence {
    within: Duration,
    service: Option<String>,
}

impl Convergence {
    /// How long after the last heal the replicas have to agree.
    pub fn within(&self) -> Duration {
        self.within
    }
}

/// What a final read says the state is: its digest, or its data when it has none.
pub fn state_digest(read: &OpRecord) -> String {
    match read.value.get("digest") {
        Some(Value::String(digest)) => digest.clone(),
        _ => {
            let data = read.value.get("data").unwrap_or(&read.value);
            serde_json::to_string(data).unwrap_or_default()
        }
    }
}

impl Convergence {
    /// `convergence(within 10s)`.
    pub fn name(&self) -> String {
        match &self.service {
            Some(service) => format!("{NAME}({service} within {})", format_duration(self.within)),
            None => format!("{NAME}(within {})", format_duration(self.within)),
        }
    }

    /// Judges the history.
    pub fn check(&self, history: &History) -> CheckResult {
        let reads: Vec<&OpRecord> = final_reads(history)
            .filter(|o| self.service.is_none() || o.key.as_deref() == self.service.as_deref())
            .collect();
        if reads.is_empty() {
            return CheckResult::unknown(
                self.name(),
                "no final reads in the history: nothing to judge",
            );
        }
        let windows = fault_windows(history);
        if let Some(open) = windows.iter().find(|w| !w.healed) {
            return CheckResult::unknown(
                self.name(),
                format!("{} never healed: no convergence to judge", open.label()),
            );
        }
        let heal_ns = windows.iter().map(|w| w.end_ns).max();
        let within_ns = u64::try_from(self.within.as_nanos()).unwrap_or(u64::MAX);
        // The clock starts at the last heal, or when the final reads began if
        // the drill ran on after the heal (state is read only once traffic stops).
        let first_read_ns = reads.iter().map(|r| r.start_ns).min().unwrap_or(0);
        let deadline_ns = heal_ns.map(|h| h.max(first_read_ns).saturating_add(within_ns));

        // service → region → the latest successful read in time (None: none was).
        let mut services: BTreeMap<String, BTreeMap<String, Option<&OpRecord>>> = BTreeMap::new();
        for &read in &reads {
            let service = read.key.as_deref().unwrap_or_default().to_owned();
            let slot = services
                .entry(service)
                .or_default()
                .entry(read.region.to_string())
                .or_default();
            let in_time = read.outcome == Outcome::Ok
                && heal_ns.is_none_or(|h| read.start_ns >= h)
                && deadline_ns.is_none_or(|d| read.end_ns <= d);
            if in_time && slot.is_none_or(|s| (s.end_ns, s.id) < (read.end_ns, read.id)) {
                *slot = Some(read);
            }
        }

        let mut diverged = Vec::new();
        let mut missing = Vec::new();
        let mut evidence = Vec::new();
        let mut service_figures = Map::new();
        for (service, regions) in &services {
            let digests: BTreeMap<&str, String> = regions
                .iter()
                .filter_map(|(region, read)| read.map(|r| (region.as_str(), state_digest(r))))
                .collect();
            let distinct: BTreeSet<&String> = digests.values().collect();
            let unread: Vec<&str> = regions
                .iter()
                .filter(|(_, read)| read.is_none())
                .map(|(region, _)| region.as_str())
                .collect();
            service_figures.insert(
                service.clone(),
                json!({
                    "regions": regions.len(),
                    "read_in_time": digests.len(),
                    "distinct_digests": distinct.len(),
                }),
            );
            missing.extend(unread.iter().map(|region| format!("{service} in {region}")));
            if distinct.len() > 1 {
                let shown: Vec<String> = digests
                    .iter()
                    .map(|(region, d)| format!("{region}={}", short(d)))
                    .collect();
                diverged.push(format!("{service} ({})", shown.join(", ")));
                let chosen: Vec<&OpRecord> = regions.values().flatten().copied().collect();
                evidence.extend(chosen.iter().map(|read| read_evidence(read)));
                evidence.push(differing_keys(service, &chosen));
            }
        }

        let deadline_text = match heal_ns {
            Some(heal) => format!(
                "within {} of the last heal (at {:.3}s)",
                format_duration(self.within),
                heal as f64 / 1e9
            ),
            None => "at the end (no faults)".to_owned(),
        };
        let figures = json!({
            "within_ms": ms(within_ns),
            "last_heal_ms": heal_ns.map(ms),
            "diverged": diverged.len(),
            "missing": missing.len(),
            "services": service_figures,
        });
        if !diverged.is_empty() {
            return CheckResult::fail(
                self.name(),
                format!("replicas disagree {deadline_text}: {}", diverged.join("; ")),
            )
            .with_figures(figures)
            .with_evidence(evidence);
        }
        if !missing.is_empty() {
            return CheckResult::unknown(
                self.name(),
                format!(
                    "no successful final read {deadline_text} of {}",
                    missing.join(", ")
                ),
            )
            .with_figures(figures);
        }
        let agreed: Vec<String> = services
            .iter()
            .map(|(service, regions)| format!("{service} in {} regions", regions.len()))
            .collect();
        CheckResult::pass(
            self.name(),
            format!("replicas agree {deadline_text}: {}", agreed.join(", ")),
        )
        .with_figures(figures)
    }
}

/// A final read as evidence, without its (possibly large) data.
fn read_evidence(read: &OpRecord) -> Value {
    let mut read = read.clone();
    let digest = state_digest(&read);
    read.value = json!({"digest": digest});
    super::op_evidence(
        &read,
        format!(
            "{} state of {}",
            read.region,
            read.key.clone().unwrap_or_default()
        ),
    )
}

/// The keys whose values differ between the regions' data, with each region's value.
fn differing_keys(service: &str, reads: &[&OpRecord]) -> Value {
    let data: Vec<(&str, &Map<String, Value>)> = reads
        .iter()
        .filter_map(|r| {
            r.value
                .get("data")
                .and_then(Value::as_object)
                .map(|d| (r.region.as_str(), d))
        })
        .collect();
    let keys: BTreeSet<&String> = data.iter().flat_map(|(_, d)| d.keys()).collect();
    let mut differing = Map::new();
    let mut count = 0usize;
    for key in keys {
        let values: Vec<Option<&Value>> = data.iter().map(|(_, d)| d.get(key)).collect();
        if values.windows(2).all(|pair| pair[0] == pair[1]) {
            continue;
        }
        count += 1;
        if differing.len() < EVIDENCE_LIMIT {
            let per_region: Map<String, Value> = data
                .iter()
                .map(|(region, d)| {
                    (
                        (*region).to_owned(),
                        d.get(key).cloned().unwrap_or(Value::Null),
                    )
                })
                .collect();
            differing.insert(key.clone(), Value::Object(per_region));
        }
    }
    json!({
        "kind": "diff",
        "service": service,
        "differing_keys": count,
        "keys": differing,
        "note": format!("{count} keys of {service} differ between regions"),
    })
}

fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

/// The final reads of a history (operations named [`FINAL_READ_OP`]).
pub fn final_reads(history: &History) -> impl Iterator<Item = &OpRecord> {
    history.records.iter().filter_map(|r| match r {
        Record::Op(op) if op.op == FINAL_READ_OP => Some(op),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::check::synthetic::{fault, final_read, history, ms as millis, op_kv};
    use crate::check::Verdict;
    use crate::history::FaultAction;

    fn invariant(within_ms: u64) -> Convergence {
        ConvergenceConfig {
            within: Duration::from_millis(within_ms),
            service: None,
        }
        .validate()
        .unwrap()
    }

    /// A partition from 1s to 5s, then `reads`.
    fn healed_then(reads: Vec<Record>) -> History {
        let mut records = vec![
            fault(
                0,
                FaultAction::Start,
                &["us-east", "eu-west"],
                millis(1_000),
            ),
            fault(0, FaultAction::End, &["us-east", "eu-west"], millis(5_000)),
        ];
        records.extend(reads);
        history(records)
    }

    #[test]
    fn equal_digests_within_the_deadline_pass() {
        let h = healed_then(vec![
            final_read(1, "us-east", "kv", "abc", json!({"a": 1}), millis(7_000)),
            final_read(2, "eu-west", "kv", "abc", json!({"a": 1}), millis(7_000)),
        ]);
        let result = invariant(10_000).check(&h);
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
    }

    #[test]
    fn the_deadline_counts_from_the_final_reads_when_the_drill_ran_on_after_the_heal() {
        // Traffic went on long after the heal; state is read only at the end.
        let h = healed_then(vec![
            final_read(1, "us-east", "kv", "abc", json!({"a": 1}), millis(40_000)),
            final_read(2, "eu-west", "kv", "abc", json!({"a": 1}), millis(40_000)),
        ]);
        let result = invariant(10_000).check(&h);
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
        let h = healed_then(vec![
            final_read(1, "us-east", "kv", "abc", json!({"a": 1}), millis(40_000)),
            final_read(2, "eu-west", "kv", "xyz", json!({"a": 2}), millis(40_000)),
        ]);
        assert_eq!(invariant(10_000).check(&h).verdict, Verdict::Fail);
    }

    #[test]
    fn differing_digests_fail_with_each_regions_digest_and_the_keys() {
        let h = healed_then(vec![
            final_read(
                1,
                "us-east",
                "kv",
                "abc",
                json!({"a": 1, "b": 2}),
                millis(7_000),
            ),
            final_read(
                2,
                "eu-west",
                "kv",
                "def",
                json!({"a": 1, "b": 3}),
                millis(7_000),
            ),
        ]);
        let result = invariant(10_000).check(&h);
        assert_eq!(result.verdict, Verdict::Fail);
        assert!(
            result.message.contains("kv (eu-west=def, us-east=abc)"),
            "{}",
            result.message
        );
        let diff = result
            .evidence
            .iter()
            .find(|e| e["kind"] == "diff")
            .unwrap();
        assert_eq!(diff["keys"], json!({"b": {"eu-west": 3, "us-east": 2}}));
    }

    #[test]
    fn the_latest_read_in_time_counts_and_earlier_disagreement_is_forgiven() {
        let h = healed_then(vec![
            final_read(1, "us-east", "kv", "abc", json!({}), millis(6_000)),
            final_read(2, "eu-west", "kv", "old", json!({}), millis(6_000)),
            final_read(3, "eu-west", "kv", "abc", json!({}), millis(8_000)),
            // After the deadline: not judged, even though it disagrees.
            final_read(4, "eu-west", "kv", "late", json!({}), millis(20_000)),
        ]);
        assert_eq!(invariant(10_000).check(&h).verdict, Verdict::Pass);
    }

    #[test]
    fn a_region_without_a_read_in_time_is_unknown() {
        let h = healed_then(vec![
            final_read(1, "us-east", "kv", "abc", json!({}), millis(7_000)),
            final_read(2, "eu-west", "kv", "abc", json!({}), millis(30_000)),
        ]);
        let result = invariant(10_000).check(&h);
        assert_eq!(result.verdict, Verdict::Unknown);
        assert!(
            result.message.contains("kv in eu-west"),
            "{}",
            result.message
        );
    }

    #[test]
    fn a_failed_final_read_is_unknown() {
        let h = healed_then(vec![
            final_read(1, "us-east", "kv", "abc", json!({}), millis(7_000)),
            op_kv(
                2,
                "eu-west",
                FINAL_READ_OP,
                Some("kv"),
                Value::Null,
                Outcome::Fail,
                millis(6_000),
                millis(7_000),
            ),
        ]);
        assert_eq!(invariant(10_000).check(&h).verdict, Verdict::Unknown);
    }

    #[test]
    fn no_final_reads_is_unknown() {
        assert_eq!(
            invariant(10_000).check(&healed_then(vec![])).verdict,
            Verdict::Unknown
        );
    }

    #[test]
    fn a_fault_that_never_healed_is_unknown() {
        let h = history(vec![
            fault(0, FaultAction::Start, &["us-east"], 0),
            final_read(1, "us-east", "kv", "abc", json!({}), millis(7_000)),
        ]);
        assert_eq!(invariant(10_000).check(&h).verdict, Verdict::Unknown);
    }

    #[test]
    fn without_faults_the_latest_reads_are_compared() {
        let h = history(vec![
            final_read(1, "us-east", "kv", "abc", json!({}), millis(7_000)),
            final_read(2, "eu-west", "kv", "xyz", json!({}), millis(90_000)),
        ]);
        assert_eq!(invariant(10_000).check(&h).verdict, Verdict::Fail);
        assert_eq!(final_reads(&h).count(), 2);
    }
}
