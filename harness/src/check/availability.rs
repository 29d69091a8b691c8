//! `availability`: the success rate of operations stays at or above a floor.
//!
//! Counts workload operations (final reads excluded) in one region, or in all,
//! optionally of one name. `unknown` outcomes count as not successful. A
//! history without such operations is `unknown`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::sli::{workload_ops, RegionSli};
use super::{op_evidence, require_name, require_rate, CheckResult, InvariantError};
use crate::history::{History, Outcome};

const NAME: &str = "availability";

/// `{"availability": {"region": "us-east", "min": 0.99, "op": "order"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityConfig {
    /// Only operations sent to this region (default: every region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Least fraction of operations acknowledged, within 0..=1.
    pub min: f64,
    /// Only operations of this name (default: every workload operation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
}

impl AvailabilityConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// `min` outside 0..=1, or an empty `region` or `op`.
    pub fn validate(&self) -> Result<Availability, InvariantError> {
        require_rate(NAME, "min", self.min)?;
        if let Some(region) = &self.region {
            require_name(NAME, "region", region)?;
        }
        if let Some(op) = &self.op {
            require_name(NAME, "op", op)?;
        }
        Ok(Availability {
            region: self.region.clone(),
            min: self.min,
            op: self.op.clone(),
        })
    }
}

/// The validated invariant.
#[derive(Debug, Clone, PartialEq)]
pub struct Availability {
    region: Option<String>,
    min: f64,
    op: Option<String>,
}

impl Availability {
    /// `availability(us-east)` or `availability(all regions)`, with the op if any.
    pub fn name(&self) -> String {
        let region = self.region.as_deref().unwrap_or("all regions");
        match &self.op {
            Some(op) => format!("{NAME}({region}, {op})"),
            None => format!("{NAME}({region})"),
        }
    }

    /// Judges the history.
    pub fn check(&self, history: &History) -> CheckResult {
        let ops: Vec<_> = workload_ops(history, self.op.as_deref())
            .filter(|o| self.region.as_ref().is_none_or(|r| &o.region == r))
            .collect();
        let sli = RegionSli::of(ops.iter().copied());
        let scope = self.region.as_deref().unwrap_or("all regions");
        let Some(rate) = sli.success_rate() else {
            return CheckResult::unknown(
                self.name(),
                format!("no operations in {scope}: nothing to judge"),
            );
        };
        let mut figures = sli.to_figures();
        figures["min"] = json!(self.min);
        let text = format!(
            "{scope} success rate {:.2}% {} {:.2}% ({} of {} ok, {} failed, {} unknown)",
            rate * 100.0,
            if rate < self.min { "<" } else { ">=" },
            self.min * 100.0,
            sli.ok,
            sli.count,
            sli.failed,
            sli.unknown
        );
        if rate < self.min {
            let evidence = ops.iter().filter(|o| o.outcome != Outcome::Ok).map(|o| {
                op_evidence(
                    o,
                    if o.outcome == Outcome::Fail {
                        "failed"
                    } else {
                        "outcome unknown"
                    },
                )
            });
            CheckResult::fail(self.name(), text)
                .with_figures(figures)
                .with_evidence(evidence)
        } else {
            CheckResult::pass(self.name(), text).with_figures(figures)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::synthetic::{history, op};
    use crate::check::Verdict;
    use crate::history::Record;

    fn invariant(region: Option<&str>, min: f64) -> Availability {
        AvailabilityConfig {
            region: region.map(str::to_owned),
            min,
            op: None,
        }
        .validate()
        .unwrap()
    }

    /// 95 ok and 5 unknown in us-east; 100 ok in eu-west.
    fn traffic() -> History {
        let mut records: Vec<Record> = (0..100)
            .map(|i| {
                op(
                    i,
                    "us-east",
                    "get",
                    if i < 95 {
                        Outcome::Ok
                    } else {
                        Outcome::Unknown
                    },
                    i,
                    i + 1,
                )
            })
            .collect();
        records.extend((100..200).map(|i| op(i, "eu-west", "get", Outcome::Ok, i, i + 1)));
        history(records)
    }

    #[test]
    fn a_region_above_the_floor_passes() {
        let result = invariant(Some("eu-west"), 0.99).check(&traffic());
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
    }

    #[test]
    fn a_region_below_the_floor_fails_and_unknowns_count_against_it() {
        let result = invariant(Some("us-east"), 0.99).check(&traffic());
        assert_eq!(result.verdict, Verdict::Fail);
        assert_eq!(
            result.message,
            "us-east success rate 95.00% < 99.00% (95 of 100 ok, 0 failed, 5 unknown)"
        );
        assert_eq!(result.evidence.len(), 5);
    }

    #[test]
    fn all_regions_together_are_judged_without_a_region() {
        assert_eq!(
            invariant(None, 0.97).check(&traffic()).verdict,
            Verdict::Pass
        );
        assert_eq!(
            invariant(None, 0.98).check(&traffic()).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn a_region_without_operations_is_unknown() {
        assert_eq!(
            invariant(Some("ap-northeast"), 0.9)
                .check(&traffic())
                .verdict,
            Verdict::Unknown
        );
    }

    #[test]
    fn a_floor_outside_zero_to_one_is_refused() {
        let err = AvailabilityConfig {
            region: None,
            min: -0.1,
            op: None,
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.to_string(), "availability: min must be within 0..=1");
    }
}
