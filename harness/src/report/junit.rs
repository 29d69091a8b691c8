//! `junit.xml`: one test case per invariant, so CI shows verdicts as tests.
//!
//! A `fail` verdict is a `<failure>`, an `unknown` one an `<error>` (the check
//! could not be decided; CI fails it unless unknowns are allowed). The message
//! is the checker's one-line message; the body is the evidence, one JSON record
//! per line; the figures go to the test case's `system-out`. The suite carries
//! the seed and the reproduce command as properties. No wall-clock time is
//! written, so the file is a pure function of the report's input. With a
//! baseline run, each case's `system-out` starts with its attribution, and a
//! case follows the baseline policy: under `--baseline-failures pass` a
//! failure the baseline shares is a passing case.

use quick_junit::{
    NonSuccessKind, Property, Report, SerializeError, TestCase, TestCaseStatus, TestSuite,
};

use super::ReportInput;
use crate::check::{CheckResult, Verdict};

/// The text of `junit.xml`.
///
/// # Errors
/// Only if the XML writer fails, which writing to memory does not.
pub fn junit_xml(input: &ReportInput<'_>) -> Result<String, SerializeError> {
    let mut suite = TestSuite::new(input.name.as_str());
    suite.add_property(Property::new("seed", input.seed.to_string()));
    suite.add_property(Property::new(
        "started_at",
        input.history.run.started_at.as_str(),
    ));
    suite.add_property(Property::new("reproduce", input.reproduce.as_str()));
    if let Some(baseline) = input.baseline {
        suite.add_property(Property::new("baseline_policy", baseline.policy.as_str()));
    }
    for result in input.results {
        let attributed = input
            .baseline
            .and_then(|b| b.of(&result.name).map(|a| (b, a)));
        let counted = attributed.map_or(result.verdict, |(b, a)| b.policy.verdict(a));
        let note = attributed.map(|(_, a)| format!("attribution: {}\n", a.line()));
        suite.add_test_case(test_case(&input.name, result, counted, note));
    }
    let mut report = Report::new("faultline");
    report.add_test_suite(suite);
    report.to_string()
}

/// `counted` is the verdict the case shows: the result's own, or what the
/// baseline policy makes of it (a failure without faults too passes under
/// `--baseline-failures pass`).
fn test_case(
    scenario: &str,
    result: &CheckResult,
    counted: Verdict,
    note: Option<String>,
) -> TestCase {
    let status = match counted {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Fail | Verdict::Unknown => {
            let kind = if counted == Verdict::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut status = TestCaseStatus::non_success(kind);
            status.set_message(result.message.as_str());
            status.set_type(counted.as_str());
            status.set_description(evidence_text(result));
            status
        }
    };
    let mut case = TestCase::new(result.name.as_str(), status);
    case.set_classname(format!("faultline.{scenario}"));
    let figures = serde_json::to_string_pretty(&result.figures).unwrap_or_default();
    case.set_system_out(format!(
        "{}{}\nfigures: {figures}\n",
        note.unwrap_or_default(),
        result.message
    ));
    case
}

/// The evidence, one JSON record per line, and how many more there were.
fn evidence_text(result: &CheckResult) -> String {
    let mut text = String::new();
    for item in &result.evidence {
        text.push_str(&item.to_string());
        text.push('\n');
    }
    if result.evidence_omitted > 0 {
        text.push_str(&format!(
            "… and {} more evidence records\n",
            result.evidence_omitted
        ));
    }
    if text.is_empty() {
        text.push_str("(no evidence records)\n");
    }
    text
}
