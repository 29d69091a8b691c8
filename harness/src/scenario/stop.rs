//! Stop conditions: when the runner aborts a drill early (and heals).
//!
//! `{"success_rate_below": 0.5, "for": "5s", "region": "eu-west", "workload": "order"}`
//! stops the drill once the success rate of the workload's operations in the
//! region, over a sliding window of `for`, stays below 0.5 for that whole
//! window. `{"p99_above": "2s", "for": "10s"}` does the same for the 99th
//! percentile latency. Without `region` or `workload` every region or every
//! workload counts. `for` is real time: `time_scale` does not change it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::base::duration;
use crate::base::{FieldPath, Problems};

/// A stop condition as the scenario file writes it. Exactly one of
/// `success_rate_below` and `p99_above`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopConditionConfig {
    /// Stop when the success rate (0..=1) stays below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_rate_below: Option<f64>,
    /// Stop when the p99 latency stays above this.
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub p99_above: Option<Duration>,
    /// For how long (a sliding window of real time).
    #[serde(rename = "for", with = "duration::text")]
    pub window: Duration,
    /// Only operations sent to this region (default: all regions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Only operations of this workload (default: all workloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
}

impl StopConditionConfig {
    /// Stop when the success rate stays below `rate` for `window`.
    pub fn success_rate_below(rate: f64, window: Duration) -> Self {
        Self {
            success_rate_below: Some(rate),
            p99_above: None,
            window,
            region: None,
            workload: None,
        }
    }

    pub(crate) fn check(
        &self,
        path: &FieldPath,
        regions: &[String],
        workloads: &[String],
        problems: &mut Problems,
    ) -> Option<StopCondition> {
        let before = problems.len();
        let metric = match (self.success_rate_below, self.p99_above) {
            (Some(rate), None) => {
                if !(rate.is_finite() && rate > 0.0 && rate <= 1.0) {
                    problems.push(
                        &path.key("success_rate_below"),
                        format!("{rate} must be a rate within (0, 1]"),
                    );
                }
                Some(StopMetric::SuccessRateBelow(rate))
            }
            (None, Some(p99)) => {
                if p99.is_zero() {
                    problems.push(&path.key("p99_above"), "must be greater than zero");
                }
                Some(StopMetric::P99Above(p99))
            }
            (Some(_), Some(_)) => {
                problems.push(
                    path,
                    "give one of `success_rate_below` and `p99_above`, not both",
                );
                None
            }
            (None, None) => {
                problems.push(path, "needs `success_rate_below` or `p99_above`");
                None
            }
        };
        if self.window.is_zero() {
            problems.push(&path.key("for"), "must be greater than zero");
        }
        if let Some(region) = &self.region {
            if !regions.contains(region) {
                problems.push(
                    &path.key("region"),
                    format!(
                        "unknown region {region:?} (regions: {})",
                        regions.join(", ")
                    ),
                );
            }
        }
        if let Some(workload) = &self.workload {
            if !workloads.contains(workload) {
                problems.push(
                    &path.key("workload"),
                    format!(
                        "unknown workload {workload:?} (workloads: {})",
                        list_or_none(workloads)
                    ),
                );
            }
        }
        if problems.len() != before {
            return None;
        }
        Some(StopCondition {
            metric: metric?,
            window: self.window,
            region: self.region.clone(),
            workload: self.workload.clone(),
        })
    }
}

pub(crate) fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// What a stop condition watches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopMetric {
    /// The success rate stays below this (0..=1).
    SuccessRateBelow(f64),
    /// The p99 latency stays above this.
    P99Above(Duration),
}

/// A validated stop condition.
#[derive(Debug, Clone, PartialEq)]
pub struct StopCondition {
    /// What it watches.
    pub metric: StopMetric,
    /// For how long, real time.
    pub window: Duration,
    /// Only this region's operations, if set.
    pub region: Option<String>,
    /// Only this workload's operations, if set.
    pub workload: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(value: serde_json::Value) -> Vec<String> {
        let config: StopConditionConfig = serde_json::from_value(value).unwrap();
        let mut problems = Problems::new();
        config.check(
            &FieldPath::root().key("stop_when").index(0),
            &["us-east".into()],
            &["order".into()],
            &mut problems,
        );
        problems
            .into_vec()
            .into_iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn a_success_rate_condition_reads() {
        assert!(check(json!({"success_rate_below": 0.5, "for": "5s", "region": "us-east", "workload": "order"})).is_empty());
    }

    #[test]
    fn a_condition_needs_exactly_one_metric_and_known_names() {
        assert_eq!(
            check(json!({"for": "5s"})),
            ["stop_when[0]: needs `success_rate_below` or `p99_above`"]
        );
        assert_eq!(
            check(json!({"success_rate_below": 1.5, "for": "5s", "region": "eu-wets"})),
            [
                "stop_when[0].success_rate_below: 1.5 must be a rate within (0, 1]",
                "stop_when[0].region: unknown region \"eu-wets\" (regions: us-east)"
            ]
        );
    }
}
