//! Did the fault cause it? Every invariant's verdict in a drill next to its
//! verdict in the baseline run (the same scenario, seed, workload and duration
//! with no fault), and what the pair says.
//!
//! | drill | baseline | attribution |
//! |---|---|---|
//! | fail | pass | `fault-induced` |
//! | fail | fail | `fails-without-faults-too` (both headline figures and their ratio) |
//! | pass | fail | `masked-by-the-fault` (the fault hid a failure: worth a loud note) |
//! | pass | pass | `holds` |
//! | either is unknown | | `unknown` |
//!
//! Each checker has one headline figure to compare, read from its result's
//! `figures` ([`headline`]): the units oversold, the writes lost, the lag
//! markers too late, the windows that missed the SLO, the failure rate, the
//! keys not linearizable, the services that diverged. A custom checker's
//! headline is its figures' `headline` number, if it sets one.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CheckResult, Invariant, Verdict};
use crate::history::{History, Record};

/// What a drill's verdict and its baseline's say together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attribution {
    /// The baseline passes and the drill fails: the fault caused it.
    FaultInduced,
    /// Both fail: the failure is there without faults (the figures say how
    /// much the fault added).
    FailsWithoutFaultsToo,
    /// The baseline fails and the drill passes: the fault hid a failure.
    MaskedByTheFault,
    /// Both pass.
    Holds,
    /// One of the two cannot tell.
    Unknown,
}

impl Attribution {
    /// Of a drill's verdict and the baseline's.
    pub fn of(drill: Verdict, baseline: Verdict) -> Self {
        match (drill, baseline) {
            (Verdict::Fail, Verdict::Pass) => Attribution::FaultInduced,
            (Verdict::Fail, Verdict::Fail) => Attribution::FailsWithoutFaultsToo,
            (Verdict::Pass, Verdict::Fail) => Attribution::MaskedByTheFault,
            (Verdict::Pass, Verdict::Pass) => Attribution::Holds,
            _ => Attribution::Unknown,
        }
    }

    /// The name as in JSON, e.g. `fault-induced`.
    pub fn as_str(self) -> &'static str {
        match self {
            Attribution::FaultInduced => "fault-induced",
            Attribution::FailsWithoutFaultsToo => "fails-without-faults-too",
            Attribution::MaskedByTheFault => "masked-by-the-fault",
            Attribution::Holds => "holds",
            Attribution::Unknown => "unknown",
        }
    }

    /// The words a person reads, e.g. `fails without faults too`.
    pub fn words(self) -> &'static str {
        match self {
            Attribution::FaultInduced => "fault-induced",
            Attribution::FailsWithoutFaultsToo => "fails without faults too",
            Attribution::MaskedByTheFault => "MASKED BY THE FAULT",
            Attribution::Holds => "holds",
            Attribution::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Attribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one number of a result that a drill and its baseline are compared by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    /// What it counts, e.g. `oversold_by` (the key in the result's figures).
    pub figure: String,
    /// Its value.
    pub value: f64,
}

/// The headline figure of `result`, a result of `invariant`: see the module
/// documentation for which figure each checker compares. `None` when the
/// result has no such figure (an `unknown` verdict often has none).
pub fn headline(invariant: &Invariant, result: &CheckResult) -> Option<Headline> {
    let figures = &result.figures;
    let number = |key: &str| figures.get(key).and_then(Value::as_f64);
    let (figure, value) = match invariant {
        Invariant::NoOversell(_) => ("oversold_by", number("oversold_by")?),
        Invariant::ReplicationLag(_) => ("violations", number("violations")?),
        Invariant::BlastRadius(_) => ("missed", number("missed")?),
        Invariant::Convergence(_) => (
            "diverged",
            number("diverged")? + number("missing").unwrap_or(0.0),
        ),
        Invariant::NoLostWrites(_) => ("lost", number("lost")?),
        Invariant::Availability(_) => {
            let count = number("count")?;
            let ok = number("ok")?;
            if count <= 0.0 {
                return None;
            }
            ("failure_rate", ((count - ok) / count * 1e4).round() / 1e4)
        }
        Invariant::Linearizable(_) => ("keys_not_linearizable", number("keys_not_linearizable")?),
        Invariant::Custom(_) => ("headline", number("headline")?),
    };
    Some(Headline {
        figure: figure.to_owned(),
        value,
    })
}

/// One invariant's attribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attributed {
    /// The invariant's name, as its results carry it.
    pub name: String,
    /// What the pair says.
    pub attribution: Attribution,
    /// The drill's verdict.
    pub drill: Verdict,
    /// The baseline's verdict.
    pub baseline: Verdict,
    /// The figure compared, e.g. `oversold_by`, if the checker has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figure: Option<String>,
    /// The drill's headline figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_figure: Option<f64>,
    /// The baseline's headline figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_figure: Option<f64>,
    /// `drill_figure / baseline_figure`, when both are known and the
    /// baseline's is not zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

impl Attributed {
    /// One line for a person, e.g.
    /// `no_oversell(order W): fails without faults too (oversold_by 300 vs 2 without faults, ×150)`.
    pub fn line(&self) -> String {
        let mut text = format!("{}: {}", self.name, self.attribution.words());
        if let (Some(figure), Some(drill), Some(base)) =
            (&self.figure, self.drill_figure, self.baseline_figure)
        {
            text.push_str(&format!(
                " ({figure} {} vs {} without faults",
                number(drill),
                number(base)
            ));
            if let Some(ratio) = self.ratio {
                text.push_str(&format!(", ×{}", number(ratio)));
            }
            text.push(')');
        }
        if self.attribution == Attribution::MaskedByTheFault {
            text.push_str(": the baseline run fails where the drill passes; the fault hid it");
        }
        text
    }
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

/// The baseline history as it is judged: its own records plus the drill's
/// fault records, so the checkers that judge per fault window
/// (`blast_radius`, `replication_lag`'s grace after a heal, `convergence`'s
/// deadline after the last heal) judge the baseline over the same windows as
/// the drill: the same times, no fault applied. A baseline history that holds
/// fault records of its own is judged as it is.
pub fn over_drill_windows(baseline: &History, drill: &History) -> History {
    let mut judged = baseline.clone();
    if baseline.faults().next().is_none() {
        judged.records.extend(
            drill
                .records
                .iter()
                .filter(|r| matches!(r, Record::Fault(_)))
                .cloned(),
        );
    }
    judged
}

/// Checks `invariants` over the baseline history, over the drill's windows
/// ([`over_drill_windows`]).
pub fn check_baseline(
    invariants: &[Invariant],
    baseline: &History,
    drill: &History,
) -> Vec<CheckResult> {
    super::check_all(invariants, &over_drill_windows(baseline, drill))
}

/// Attributes every invariant: `drill` and `baseline` are the results of
/// `invariants`, in order (as [`super::check_all`] gives them). An invariant
/// whose baseline result is missing is `unknown`.
pub fn attribute(
    invariants: &[Invariant],
    drill: &[CheckResult],
    baseline: &[CheckResult],
) -> Vec<Attributed> {
    drill
        .iter()
        .enumerate()
        .map(|(index, result)| {
            let invariant = invariants.get(index);
            let base = baseline
                .get(index)
                .filter(|b| b.name == result.name)
                .or_else(|| baseline.iter().find(|b| b.name == result.name));
            let base_verdict = base.map_or(Verdict::Unknown, |b| b.verdict);
            let drill_headline = invariant.and_then(|i| headline(i, result));
            let base_headline = invariant.zip(base).and_then(|(i, b)| headline(i, b));
            let figure = drill_headline
                .as_ref()
                .or(base_headline.as_ref())
                .map(|h| h.figure.clone());
            let drill_figure = drill_headline.map(|h| h.value);
            let baseline_figure = base_headline.map(|h| h.value);
            let ratio = match (drill_figure, baseline_figure) {
                (Some(d), Some(b)) if b != 0.0 => Some((d / b * 100.0).round() / 100.0),
                _ => None,
            };
            Attributed {
                name: result.name.clone(),
                attribution: Attribution::of(result.verdict, base_verdict),
                drill: result.verdict,
                baseline: base_verdict,
                figure,
                drill_figure,
                baseline_figure,
                ratio,
            }
        })
        .collect()
}

/// Whether a `fails-without-faults-too` invariant counts as a failure of the
/// drill (its exit code, its JUnit case).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselinePolicy {
    /// It is still a violation: the drill fails (the default).
    #[default]
    Fail,
    /// Only what the fault induced fails the drill; a failure the baseline
    /// shares is reported but passes.
    Pass,
}

impl BaselinePolicy {
    /// The name as on the command line: `fail` or `pass`.
    pub fn as_str(self) -> &'static str {
        match self {
            BaselinePolicy::Fail => "fail",
            BaselinePolicy::Pass => "pass",
        }
    }

    /// The verdict one invariant counts as under this policy.
    pub fn verdict(self, attributed: &Attributed) -> Verdict {
        match (self, attributed.attribution) {
            (BaselinePolicy::Pass, Attribution::FailsWithoutFaultsToo) => Verdict::Pass,
            _ => attributed.drill,
        }
    }

    /// The verdict of the whole drill under this policy.
    pub fn overall(self, attributed: &[Attributed]) -> Verdict {
        attributed
            .iter()
            .fold(Verdict::Pass, |v, a| v.combine(self.verdict(a)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::check::synthetic::{history, op_kv};
    use crate::check::{check_all, InvariantConfig};
    use crate::history::Outcome;

    fn oversell() -> Invariant {
        serde_json::from_value::<InvariantConfig>(
            json!({"no_oversell": {"op": "order", "key": "W", "stock": 10}}),
        )
        .unwrap()
        .validate()
        .unwrap()
    }

    /// `sold` acknowledged orders of one unit each.
    fn sales(sold: u64) -> crate::history::History {
        history(
            (0..sold)
                .map(|id| {
                    op_kv(
                        id,
                        "us-east",
                        "order",
                        Some("W"),
                        json!(1),
                        Outcome::Ok,
                        id * 10,
                        id * 10 + 5,
                    )
                })
                .collect(),
        )
    }

    fn attribute_sales(drill: u64, baseline: u64) -> Attributed {
        let invariants = [oversell()];
        let d = check_all(&invariants, &sales(drill));
        let b = check_all(&invariants, &sales(baseline));
        attribute(&invariants, &d, &b).remove(0)
    }

    #[test]
    fn a_failure_only_with_the_fault_is_fault_induced() {
        let a = attribute_sales(40, 10);
        assert_eq!(a.attribution, Attribution::FaultInduced);
        assert_eq!(a.drill_figure, Some(30.0));
        assert_eq!(a.baseline_figure, Some(0.0));
        assert_eq!(a.ratio, None);
    }

    #[test]
    fn a_failure_in_both_carries_both_figures_and_their_ratio() {
        let a = attribute_sales(310, 12);
        assert_eq!(a.attribution, Attribution::FailsWithoutFaultsToo);
        assert_eq!(a.figure.as_deref(), Some("oversold_by"));
        assert_eq!(
            (a.drill_figure, a.baseline_figure),
            (Some(300.0), Some(2.0))
        );
        assert_eq!(a.ratio, Some(150.0));
        assert_eq!(
            a.line(),
            "no_oversell(order W): fails without faults too (oversold_by 300 vs 2 without faults, ×150)"
        );
    }

    #[test]
    fn a_baseline_failure_the_drill_does_not_show_is_masked_by_the_fault() {
        let a = attribute_sales(8, 14);
        assert_eq!(a.attribution, Attribution::MaskedByTheFault);
        assert!(a.line().contains("MASKED"), "{}", a.line());
        assert_eq!(attribute_sales(9, 10).attribution, Attribution::Holds);
    }

    #[test]
    fn an_unknown_side_is_unknown_and_a_missing_baseline_result_too() {
        assert_eq!(
            Attribution::of(Verdict::Fail, Verdict::Unknown),
            Attribution::Unknown
        );
        let invariants = [oversell()];
        let d = check_all(&invariants, &sales(20));
        let a = attribute(&invariants, &d, &[]);
        assert_eq!(a[0].attribution, Attribution::Unknown);
        assert_eq!(a[0].baseline, Verdict::Unknown);
    }

    #[test]
    fn the_pass_policy_forgives_only_failures_the_baseline_shares() {
        let shared = attribute_sales(30, 12);
        let induced = attribute_sales(30, 10);
        assert_eq!(BaselinePolicy::Fail.verdict(&shared), Verdict::Fail);
        assert_eq!(BaselinePolicy::Pass.verdict(&shared), Verdict::Pass);
        assert_eq!(BaselinePolicy::Pass.verdict(&induced), Verdict::Fail);
        assert_eq!(
            BaselinePolicy::Pass.overall(std::slice::from_ref(&shared)),
            Verdict::Pass
        );
        assert_eq!(
            BaselinePolicy::Pass.overall(&[shared, induced]),
            Verdict::Fail
        );
    }

    #[test]
    fn attributions_serialize_kebab_case() {
        let a = attribute_sales(30, 12);
        let value = serde_json::to_value(&a).unwrap();
        assert_eq!(value["attribution"], "fails-without-faults-too");
        assert_eq!(value["ratio"], 10.0);
    }
}
