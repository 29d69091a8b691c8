//! `summary.txt`: what a person reads at the end of a drill.
//!
//! An ASCII timeline in the style of incident write-ups (`T+00:05.000  partition
//! [us-east] | [eu-west] begins`, with `→` detail lines), each region's SLIs per
//! window, the verdicts with their figures, and the command that reproduces the
//! run with its seed.

use std::fmt::Write as _;

use serde_json::Value;

use super::human;
use super::lanes::lanes;
use super::timeline::{events, phase_label, relative_time};
use super::{BaselineReport, ReportInput};
use crate::check::attribution::BaselinePolicy;
use crate::check::sli::slis_by_phase;
use crate::check::window::history_end_ns;
use crate::check::{overall_verdict, CheckResult, Verdict};

/// Width of a figures line, indentation included.
const LINE_WIDTH: usize = 100;
/// At most this many lines of figures per verdict.
const FIGURE_LINES: usize = 4;

/// The text of `summary.txt`.
pub fn summary_text(input: &ReportInput<'_>) -> String {
    let history = input.history;
    let regions = input.all_regions();
    let mut out = String::new();

    let _ = writeln!(out, "faultline report: {}", input.name);
    let _ = writeln!(
        out,
        "  seed {} · started {} · {} recorded · regions {}",
        input.seed,
        history.run.started_at,
        human::duration_ns(history_end_ns(history)),
        if regions.is_empty() {
            "-".to_owned()
        } else {
            regions.join(", ")
        }
    );

    if input
        .placements
        .iter()
        .any(|p| p.plane != crate::plane::IN_PROCESS)
    {
        out.push_str("\nLINKS (where each link's proxy ran)\n");
        let width = input
            .placements
            .iter()
            .map(|p| p.link.len())
            .max()
            .unwrap_or(0);
        for placement in &input.placements {
            let _ = writeln!(
                out,
                "  {:width$}  on {}  (listening on {})",
                placement.link, placement.plane, placement.listen
            );
        }
    }

    out.push_str("\nTIMELINE\n");
    for event in events(history) {
        let _ = writeln!(out, "  {}  {}", relative_time(event.at_ns), event.text);
        for detail in &event.details {
            let _ = writeln!(out, "  {:11}  → {detail}", "");
        }
    }

    out.push_str("\nSLIS PER WINDOW (latency percentiles of successful operations)\n");
    let width = regions
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max("region".len());
    let region_set = regions.iter().cloned().collect();
    let lanes = lanes(history);
    for phase_slis in slis_by_phase(history, None, &region_set) {
        let phase = &phase_slis.phase;
        let reach = phase
            .window()
            .filter(|w| !w.regions.is_empty())
            .map(|w| {
                format!(
                    "  (reaches {})",
                    w.regions.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}  {} → {}{reach}",
            phase_label(phase, &lanes),
            relative_time(phase.start_ns),
            relative_time(phase.end_ns)
        );
        let _ = writeln!(
            out,
            "    {:width$}  {:>8}  {:>6}  {:>10}  {:>10}  {:>6}  {:>7}",
            "region", "success", "ops", "p50", "p99", "errors", "unknown"
        );
        for region in &regions {
            let Some(sli) = phase_slis.regions.get(region) else {
                continue;
            };
            let rate = sli
                .success_rate()
                .map_or_else(|| "-".to_owned(), human::percent);
            let (p50, p99) = sli.latency.map_or_else(
                || ("-".to_owned(), "-".to_owned()),
                |l| (human::duration_ns(l.p50_ns), human::duration_ns(l.p99_ns)),
            );
            let _ = writeln!(
                out,
                "    {region:width$}  {rate:>8}  {:>6}  {p50:>10}  {p99:>10}  {:>6}  {:>7}",
                sli.count, sli.failed, sli.unknown
            );
        }
    }

    out.push_str("\nVERDICTS\n");
    if input.results.is_empty() {
        out.push_str("  (no invariants)\n");
    }
    for result in input.results {
        write_verdict(&mut out, result);
        if let Some(attributed) = input.baseline.and_then(|b| b.of(&result.name)) {
            let _ = writeln!(out, "           attribution: {}", attributed.line());
        }
    }
    let overall = overall_verdict(input.results);
    let count = |v: Verdict| input.results.iter().filter(|r| r.verdict == v).count();
    let _ = writeln!(
        out,
        "\nOVERALL  {}  ({} fail, {} unknown, {} pass)",
        overall.as_str().to_uppercase(),
        count(Verdict::Fail),
        count(Verdict::Unknown),
        count(Verdict::Pass)
    );
    if let Some(baseline) = input.baseline {
        write_baseline(&mut out, baseline);
    }

    let _ = writeln!(out, "\nReproduce:\n  {}", input.reproduce);
    out
}

/// The baseline's verdicts and every invariant's attribution.
fn write_baseline(out: &mut String, baseline: &BaselineReport) {
    let _ = writeln!(
        out,
        "\nBASELINE (the same run without faults)  {}",
        baseline.verdict().as_str().to_uppercase()
    );
    for attributed in &baseline.attribution {
        let _ = writeln!(
            out,
            "  {:<7}  {}",
            attributed.baseline.as_str().to_uppercase(),
            attributed.name
        );
    }
    out.push_str("\nATTRIBUTION\n");
    for attributed in &baseline.attribution {
        let _ = writeln!(out, "  {}", attributed.line());
    }
    let _ = writeln!(
        out,
        "  counted as {} (--baseline-failures {}: a failure without faults too {})",
        baseline.counted_verdict().as_str().to_uppercase(),
        baseline.policy.as_str(),
        match baseline.policy {
            BaselinePolicy::Fail => "still fails the drill",
            BaselinePolicy::Pass => "does not fail the drill",
        }
    );
}

fn write_verdict(out: &mut String, result: &CheckResult) {
    const INDENT: &str = "           ";
    let _ = writeln!(
        out,
        "  {:<7}  {}",
        result.verdict.as_str().to_uppercase(),
        result.name
    );
    let _ = writeln!(out, "{INDENT}{}", result.message);

    let figures = figure_pairs(&result.figures);
    let mut lines: Vec<String> = Vec::new();
    let mut shown = 0;
    for figure in &figures {
        let fits = lines
            .last()
            .is_some_and(|line| INDENT.len() + line.len() + 1 + figure.len() <= LINE_WIDTH);
        if fits {
            if let Some(line) = lines.last_mut() {
                line.push(' ');
                line.push_str(figure);
            }
        } else if lines.len() == FIGURE_LINES {
            break;
        } else {
            let prefix = if lines.is_empty() {
                "figures: "
            } else {
                "         "
            };
            lines.push(format!("{prefix}{figure}"));
        }
        shown += 1;
    }
    for line in &lines {
        let _ = writeln!(out, "{INDENT}{line}");
    }
    if shown < figures.len() {
        let _ = writeln!(
            out,
            "{INDENT}         … {} more figures in report.json",
            figures.len() - shown
        );
    }
    let total = result.evidence.len() + result.evidence_omitted;
    if total > 0 {
        let records = if total == 1 { "record" } else { "records" };
        let _ = writeln!(out, "{INDENT}evidence: {total} {records} in report.json");
    }
}

/// `key=value` pairs of a figures object, written for people
/// ([`human::figure`]): its top-level numbers first, then everything nested,
/// with dotted keys.
pub fn figure_pairs(figures: &Value) -> Vec<String> {
    let Value::Object(map) = figures else {
        return match figures {
            Value::Null => Vec::new(),
            other => vec![human::figure("value", other)],
        };
    };
    let mut out: Vec<String> = map
        .iter()
        .filter(|(_, item)| !item.is_object())
        .map(|(key, item)| human::figure(key, item))
        .collect();
    for (key, item) in map.iter().filter(|(_, item)| item.is_object()) {
        flatten_all(key, item, &mut out);
    }
    out
}

fn flatten_all(prefix: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                flatten_all(&format!("{prefix}.{key}"), item, out);
            }
        }
        other => out.push(human::figure(prefix, other)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::check::synthetic::history;

    #[test]
    fn an_empty_run_still_has_a_timeline_verdicts_and_the_command() {
        let h = history(vec![]);
        let input = ReportInput {
            name: "empty".into(),
            seed: 42,
            scenario: json!({}),
            regions: vec!["us-east".into()],
            reproduce: "faultline drill empty.json --seed 42".into(),
            history: &h,
            results: &[],
            placements: Vec::new(),
            baseline: None,
        };
        let text = summary_text(&input);
        assert!(text.contains("T+00:00.000  run starts"), "{text}");
        assert!(text.contains("(no invariants)"), "{text}");
        assert!(text.contains("OVERALL  PASS"), "{text}");
        assert!(
            text.ends_with("Reproduce:\n  faultline drill empty.json --seed 42\n"),
            "{text}"
        );
    }

    #[test]
    fn figures_list_top_level_numbers_before_nested_ones() {
        let pairs = figure_pairs(&json!({"b": {"x": 1}, "a": 2, "c": null}));
        assert_eq!(pairs, ["a=2", "c=-", "b.x=1"]);
    }
}
