//! When each failed invariant was first violated, as the timeline marks it.
//!
//! Derived from the verdict alone, so an old `report.json` gives the same
//! marker: a `first_violation_ns` (or `first_violation_ms`) figure when the
//! checker states one; otherwise the earliest of its evidence records' times,
//! an operation's completion (`end_ns`: when the client learnt the outcome that
//! broke the invariant) or a replication marker's write (`written_ns`: when the
//! late or lost replication began). A verdict that is not `fail`, or whose
//! evidence carries no time, has no marker.

use serde_json::Value;

use crate::check::{CheckResult, Verdict};

/// One marker of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The invariant's name.
    pub name: String,
    /// When it was first violated, ns since the run started.
    pub at_ns: u64,
}

/// The first violation of a failed result, if its verdict says when.
pub fn first_violation_ns(result: &CheckResult) -> Option<u64> {
    if result.verdict != Verdict::Fail {
        return None;
    }
    if let Some(ns) = result
        .figures
        .get("first_violation_ns")
        .and_then(Value::as_u64)
    {
        return Some(ns);
    }
    if let Some(ms) = result
        .figures
        .get("first_violation_ms")
        .and_then(Value::as_f64)
    {
        return Some((ms.max(0.0) * 1e6) as u64);
    }
    result.evidence.iter().filter_map(evidence_ns).min()
}

/// The markers of every failed result that says when, in verdict order.
pub fn violations(results: &[CheckResult]) -> Vec<Violation> {
    results
        .iter()
        .filter_map(|result| {
            first_violation_ns(result).map(|at_ns| Violation {
                name: result.name.clone(),
                at_ns,
            })
        })
        .collect()
}

fn evidence_ns(record: &Value) -> Option<u64> {
    match record.get("kind").and_then(Value::as_str) {
        Some("op") => record
            .get("end_ns")
            .or_else(|| record.get("start_ns"))
            .and_then(Value::as_u64),
        Some("lag") => record.get("written_ns").and_then(Value::as_u64),
        _ => record.get("at_ns").and_then(Value::as_u64),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_earliest_evidence_time_is_the_first_violation() {
        let result = CheckResult::fail("no_oversell", "oversold").with_evidence([
            json!({"kind": "op", "start_ns": 50, "end_ns": 90}),
            json!({"kind": "lag", "written_ns": 70, "seen_ns": null}),
            json!({"kind": "note"}),
        ]);
        assert_eq!(first_violation_ns(&result), Some(70));
    }

    #[test]
    fn a_stated_first_violation_wins_and_only_failures_are_marked() {
        let stated = CheckResult::fail("x", "y")
            .with_figures(json!({"first_violation_ms": 1.5}))
            .with_evidence([json!({"kind": "op", "end_ns": 1})]);
        assert_eq!(first_violation_ns(&stated), Some(1_500_000));
        let unknown =
            CheckResult::unknown("x", "y").with_evidence([json!({"kind": "op", "end_ns": 1})]);
        assert_eq!(first_violation_ns(&unknown), None);
        let timeless = CheckResult::fail("x", "y");
        assert_eq!(violations(&[timeless, unknown]), []);
    }
}
