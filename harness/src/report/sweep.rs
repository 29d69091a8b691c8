//! A seed sweep at a glance: the verdicts of one scenario run with many seeds.
//!
//! `faultline sweep` runs the drill once per seed into `seed-N/` subfolders and
//! writes, beside them, `sweep.txt` ([`sweep_text`]), `sweep.svg`
//! ([`sweep_svg`]: invariants × seeds, each cell coloured by its verdict with
//! the invariant's headline figure, e.g. units oversold) and `sweep.json`
//! ([`sweep_json`]). Per invariant it counts how often it was caught (failed),
//! passed and undecided, so a flaky verdict shows as a row of mixed colours.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::human;
use super::layout::{text_width, truncate};
use super::svg::{escape, verdict_colours};
use crate::check::attribution::Attributed;
use crate::check::{overall_verdict, CheckResult, Verdict};

/// Figures that say how badly an invariant failed, most telling first.
const HEADLINE_FIGURES: [&str; 9] = [
    "oversold_by",
    "possibly_oversold_by",
    "lost",
    "violations",
    "diverged",
    "missed",
    "never_seen",
    "missing",
    "success_rate",
];

/// One drill of the sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRun {
    /// The seed.
    pub seed: u64,
    /// Its report folder, relative to the sweep's (`seed-7`).
    pub dir: String,
    /// Its verdicts; empty with `error` set if the drill could not run.
    pub results: Vec<CheckResult>,
    /// Why the drill could not run to a verdict, if it could not.
    pub error: Option<String>,
    /// Every invariant's attribution against the seed's baseline run
    /// (`faultline sweep --baseline`); empty without one.
    pub attribution: Vec<Attributed>,
}

impl SweepRun {
    /// The run's overall verdict (`unknown` for a drill that could not run).
    pub fn verdict(&self) -> Verdict {
        if self.error.is_some() {
            return Verdict::Unknown;
        }
        overall_verdict(&self.results)
    }
}

/// How one invariant fared over the sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct InvariantTally {
    /// The invariant's name.
    pub name: String,
    /// Runs in which it failed.
    pub caught: usize,
    /// Runs in which it passed.
    pub passed: usize,
    /// Runs in which it was unknown, or that did not check it.
    pub unknown: usize,
}

/// The invariants of the sweep in order of first appearance, with their tallies.
pub fn tallies(runs: &[SweepRun]) -> Vec<InvariantTally> {
    let mut names: Vec<String> = Vec::new();
    for result in runs.iter().flat_map(|r| &r.results) {
        if !names.contains(&result.name) {
            names.push(result.name.clone());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let mut tally = InvariantTally {
                name,
                caught: 0,
                passed: 0,
                unknown: 0,
            };
            for run in runs {
                match run.results.iter().find(|r| r.name == tally.name) {
                    Some(r) if r.verdict == Verdict::Fail => tally.caught += 1,
                    Some(r) if r.verdict == Verdict::Pass => tally.passed += 1,
                    _ => tally.unknown += 1,
                }
            }
            tally
        })
        .collect()
}

/// The figure that says most about a verdict, e.g. `oversold_by=7`; or the
/// number of evidence records when no known figure is there.
pub fn headline(result: &CheckResult) -> Option<String> {
    for key in HEADLINE_FIGURES {
        if let Some(value) = result.figures.get(key).filter(|v| v.is_number()) {
            return Some(human::figure(key, value));
        }
    }
    let total = result.evidence.len() + result.evidence_omitted;
    (total > 0).then(|| format!("evidence={total}"))
}

/// The text of `sweep.txt`.
pub fn sweep_text(name: &str, runs: &[SweepRun]) -> String {
    let mut out = String::new();
    let n = runs.len();
    let _ = writeln!(out, "faultline sweep: {name} over {n} seed{}", plural(n));
    let _ = writeln!(out, "  seeds {}", seed_list(runs));
    let tallies = tallies(runs);
    out.push_str("\nINVARIANTS\n");
    let width = tallies
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(0)
        .max("invariant".len());
    let _ = writeln!(
        out,
        "  {:<width$}  {:>8}  {:>8}  {:>8}  flaky",
        "invariant", "caught", "passed", "unknown"
    );
    for tally in &tallies {
        // Flaky: caught in some runs and passed in others.
        let flaky = tally.caught > 0 && tally.passed > 0;
        let _ = writeln!(
            out,
            "  {:<width$}  {:>8}  {:>8}  {:>8}  {}",
            tally.name,
            format!("{}/{n}", tally.caught),
            format!("{}/{n}", tally.passed),
            format!("{}/{n}", tally.unknown),
            if flaky { "yes" } else { "no" }
        );
    }
    out.push_str("\nPER SEED\n");
    for run in runs {
        let _ = write!(
            out,
            "  seed {:<6}  {:<7}  {}",
            run.seed,
            run.verdict().as_str().to_uppercase(),
            run.dir
        );
        if let Some(error) = &run.error {
            let _ = write!(out, "  drill failed: {error}");
        }
        out.push('\n');
        for result in &run.results {
            let figure = headline(result)
                .map(|h| format!("  {h}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "      {:<7}  {}{figure}",
                result.verdict.as_str().to_uppercase(),
                result.name
            );
            if let Some(a) = run.attribution.iter().find(|a| a.name == result.name) {
                let _ = writeln!(out, "               attribution: {}", a.line());
            }
        }
    }
    let caught = runs.iter().filter(|r| r.verdict() == Verdict::Fail).count();
    let passed = runs.iter().filter(|r| r.verdict() == Verdict::Pass).count();
    let _ = writeln!(
        out,
        "\nOVERALL  caught {caught}/{n} · passed {passed}/{n} · unknown {}/{n}",
        n - caught - passed
    );
    out
}

/// The content of `sweep.json`: `{"name", "seeds": [...], "invariants":
/// [{"name", "caught", "passed", "unknown"}], "runs": [{"seed", "dir",
/// "verdict", "error", "attribution": [...], "verdicts": [{"name", "verdict", "headline", "figures"}]}]}`
/// (`attribution` as in `report.json`, empty without a baseline run).
pub fn sweep_json(name: &str, runs: &[SweepRun]) -> Value {
    json!({
        "name": name,
        "seeds": runs.iter().map(|r| r.seed).collect::<Vec<_>>(),
        "invariants": tallies(runs).iter().map(|t| json!({
            "name": t.name, "caught": t.caught, "passed": t.passed, "unknown": t.unknown,
        })).collect::<Vec<_>>(),
        "runs": runs.iter().map(|run| json!({
            "seed": run.seed,
            "dir": run.dir,
            "verdict": run.verdict(),
            "error": run.error,
            "attribution": run.attribution,
            "verdicts": run.results.iter().map(|r| json!({
                "name": r.name,
                "verdict": r.verdict,
                "headline": headline(r),
                "figures": r.figures,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// The text of `sweep.svg`: one row per invariant, one column per seed.
pub fn sweep_svg(name: &str, runs: &[SweepRun]) -> String {
    const FONT: f64 = 11.0;
    const SMALL: f64 = 9.0;
    const GUTTER: f64 = 250.0;
    const TALLY: f64 = 190.0;
    const ROW: f64 = 24.0;
    let tallies = tallies(runs);
    let n = runs.len().max(1);
    let cell = (700.0 / n as f64).clamp(14.0, 90.0);
    let width = GUTTER + cell * n as f64 + TALLY + 12.0;
    let header = 64.0;
    let height = header + ROW * (tallies.len() + 1) as f64 + 24.0;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="{FONT}">"#
    );
    let _ = writeln!(
        out,
        "<title>{}: verdicts over {} seeds</title>",
        escape(name),
        runs.len()
    );
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    let text = |out: &mut String,
                x: f64,
                y: f64,
                size: f64,
                anchor: &str,
                extra: &str,
                content: &str| {
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}"{extra}>{}</text>"#,
            escape(content)
        );
    };
    let caught = runs.iter().filter(|r| r.verdict() == Verdict::Fail).count();
    text(
        &mut out,
        12.0,
        22.0,
        15.0,
        "start",
        r#" font-weight="bold""#,
        &truncate(
            &format!(
                "{name} · {} seed{} · caught {caught}/{}",
                runs.len(),
                plural(runs.len()),
                runs.len()
            ),
            width - 24.0,
            15.0,
        ),
    );
    // Seed labels: as many as fit without touching.
    let widest = runs
        .iter()
        .map(|r| text_width(&r.seed.to_string(), SMALL))
        .fold(0.0, f64::max);
    let every = ((widest + 4.0) / cell).ceil().max(1.0) as usize;
    text(
        &mut out,
        12.0,
        header - 6.0,
        SMALL,
        "start",
        r##" fill="#666666""##,
        "seed",
    );
    for (i, run) in runs.iter().enumerate() {
        if i % every == 0 {
            text(
                &mut out,
                GUTTER + cell * (i as f64 + 0.5),
                header - 6.0,
                SMALL,
                "middle",
                r##" fill="#444444""##,
                &run.seed.to_string(),
            );
        }
    }
    let rows: Vec<(String, Vec<Option<&CheckResult>>, String)> = std::iter::once((
        "overall".to_owned(),
        Vec::new(),
        format!("caught {caught}/{}", runs.len()),
    ))
    .chain(tallies.iter().map(|t| {
        (
            t.name.clone(),
            runs.iter()
                .map(|r| r.results.iter().find(|x| x.name == t.name))
                .collect(),
            format!(
                "caught {}/{n} · passed {}/{n}",
                t.caught,
                t.passed,
                n = runs.len()
            ),
        )
    }))
    .collect();
    for (row, (label, cells, tally)) in rows.iter().enumerate() {
        let top = header + ROW * row as f64;
        text(
            &mut out,
            12.0,
            top + 16.0,
            FONT,
            "start",
            if row == 0 {
                r#" font-weight="bold""#
            } else {
                ""
            },
            &truncate(label, GUTTER - 20.0, FONT),
        );
        for (i, run) in runs.iter().enumerate() {
            let (verdict, figure, tip) = if row == 0 {
                (run.verdict(), None, run.error.clone().unwrap_or_default())
            } else {
                match cells[i] {
                    Some(r) => (r.verdict, headline(r), r.message.clone()),
                    None => (Verdict::Unknown, None, "not checked".into()),
                }
            };
            let (fill, stroke) = verdict_colours(verdict);
            let x = GUTTER + cell * i as f64;
            let _ = writeln!(
                out,
                r#"<rect class="cell" data-seed="{}" data-verdict="{}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}" stroke="{stroke}"><title>seed {}: {} {}</title></rect>"#,
                run.seed,
                verdict.as_str(),
                x + 1.0,
                top + 2.0,
                cell - 2.0,
                ROW - 4.0,
                run.seed,
                verdict.as_str().to_uppercase(),
                escape(&tip)
            );
            let value = figure
                .as_deref()
                .and_then(|f| f.split_once('=').map(|(_, v)| v.to_owned()))
                .unwrap_or_else(|| verdict.as_str().to_uppercase());
            if text_width(&value, SMALL) + 4.0 <= cell - 2.0 {
                text(
                    &mut out,
                    x + cell / 2.0,
                    top + 15.0,
                    SMALL,
                    "middle",
                    r##" fill="#222222""##,
                    &value,
                );
            }
        }
        text(
            &mut out,
            GUTTER + cell * n as f64 + 10.0,
            top + 16.0,
            FONT,
            "start",
            "",
            &truncate(tally, TALLY - 12.0, FONT),
        );
    }
    let legend_y = header + ROW * rows.len() as f64 + 14.0;
    text(
        &mut out,
        12.0,
        legend_y,
        SMALL,
        "start",
        r##" fill="#666666""##,
        "cells: the invariant's headline figure where it fits; hover for the message",
    );
    out.push_str("</svg>\n");
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `1..5` for a contiguous run of seeds, else the seeds joined by commas.
fn seed_list(runs: &[SweepRun]) -> String {
    let seeds: Vec<u64> = runs.iter().map(|r| r.seed).collect();
    let contiguous = seeds.windows(2).all(|w| w[1] == w[0] + 1);
    match (seeds.first(), seeds.last()) {
        (Some(first), Some(last)) if contiguous && seeds.len() > 2 => format!("{first}..{last}"),
        _ => seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, verdicts: &[(&str, Verdict, Value)]) -> SweepRun {
        SweepRun {
            seed,
            dir: format!("seed-{seed}"),
            attribution: Vec::new(),
            results: verdicts
                .iter()
                .map(|(name, verdict, figures)| {
                    CheckResult::new(*name, *verdict, "m").with_figures(figures.clone())
                })
                .collect(),
            error: None,
        }
    }

    #[test]
    fn a_flaky_invariant_is_counted_caught_and_passed() {
        let runs = [
            run(
                1,
                &[("no_oversell", Verdict::Fail, json!({"oversold_by": 7}))],
            ),
            run(
                2,
                &[("no_oversell", Verdict::Pass, json!({"oversold_by": 0}))],
            ),
            run(
                3,
                &[("no_oversell", Verdict::Fail, json!({"oversold_by": 3}))],
            ),
        ];
        let tallies = tallies(&runs);
        assert_eq!(
            (tallies[0].caught, tallies[0].passed, tallies[0].unknown),
            (2, 1, 0)
        );
        let text = sweep_text("s", &runs);
        assert!(
            text.contains("no_oversell       2/3       1/3       0/3  yes"),
            "{text}"
        );
        assert!(
            text.contains("FAIL     no_oversell  oversold_by=7"),
            "{text}"
        );
        assert!(text.contains("seeds 1..3"), "{text}");
        assert!(
            text.ends_with("OVERALL  caught 2/3 · passed 1/3 · unknown 0/3\n"),
            "{text}"
        );
    }

    #[test]
    fn the_headline_is_the_most_telling_figure_or_the_evidence_count() {
        let result =
            CheckResult::fail("a", "b").with_figures(json!({"stock": 50, "oversold_by": 7}));
        assert_eq!(headline(&result).as_deref(), Some("oversold_by=7"));
        let rate = CheckResult::fail("a", "b").with_figures(json!({"success_rate": 0.85}));
        assert_eq!(headline(&rate).as_deref(), Some("success_rate=85%"));
        let bare = CheckResult::fail("a", "b").with_evidence([json!(1), json!(2)]);
        assert_eq!(headline(&bare).as_deref(), Some("evidence=2"));
        assert_eq!(headline(&CheckResult::pass("a", "b")), None);
    }
}
