//! `report.html`: one self-contained page per drill, for a person and a browser.
//!
//! No script and no fetch: the CSS is inline, `timeline.svg` is inlined, and
//! the only links are relative ones to the report folder's own files. In order:
//! the verdict table (one row per invariant: PASS/FAIL/UNKNOWN, the message,
//! the figures written for people, when it was first violated, the evidence
//! records), the command that reproduces the run, the timeline, the SLIs of
//! every region in every window, the fault log (every notable moment), and the
//! files of the folder (history, report.json, the service logs).

use std::fmt::Write as _;

use serde_json::Value;

use super::human;
use super::lanes::lanes;
use super::summary::figure_pairs;
use super::svg::{escape, region_colour, timeline_svg, verdict_colours};
use super::timeline::{events, phase_label, relative_time};
use super::violation::first_violation_ns;
use super::ReportInput;
use crate::check::sli::slis_by_phase;
use crate::check::window::history_end_ns;
use crate::check::{overall_verdict, CheckResult, Verdict};

const STYLE: &str = "
body { font-family: 'DejaVu Sans', 'Liberation Sans', Arial, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 3px; font-weight: bold; font-size: 12px; border: 1px solid; }
.figures { color: #555; font-size: 12px; margin-top: 4px; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 8px; overflow-x: auto; }
.timeline svg { max-width: 100%; height: auto; border: 1px solid #eee; }
.region-name { font-weight: bold; }
details summary { cursor: pointer; }
ul.evidence { margin: 4px 0; padding-left: 18px; font-size: 12px; }
";

/// The text of `report.html`; `logs` are the service logs' paths relative to
/// the report folder (e.g. `logs/kv-us-east.log`), linked at the end.
pub fn report_html(input: &ReportInput<'_>, logs: &[String]) -> String {
    let history = input.history;
    let regions = input.all_regions();
    let overall = overall_verdict(input.results);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n<title>{} · seed {} · {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&input.name),
        input.seed,
        overall.as_str().to_uppercase()
    );
    let region_list: Vec<String> = regions
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                r#"<span class="region-name" style="color: {}">{}</span>"#,
                region_colour(i),
                escape(r)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "<header>\n<h1>{} {}</h1>\n<p class=\"meta\">seed {} · started {} · {} recorded · regions {}</p>\n</header>",
        escape(&input.name),
        badge(overall),
        input.seed,
        escape(&history.run.started_at),
        human::duration_ns(history_end_ns(history)),
        if region_list.is_empty() {
            "-".to_owned()
        } else {
            region_list.join(", ")
        }
    );

    // Verdicts first.
    out.push_str("<section id=\"verdicts\">\n<h2>Verdicts</h2>\n");
    out.push_str(
        "<table class=\"verdicts\">\n<thead><tr><th>verdict</th><th>invariant</th>\
         <th>what the history shows</th><th>first violated</th><th>evidence</th></tr></thead>\n<tbody>\n",
    );
    if input.results.is_empty() {
        out.push_str("<tr><td colspan=\"5\">no invariants were checked</td></tr>\n");
    }
    for result in input.results {
        verdict_row(&mut out, result);
    }
    out.push_str("</tbody>\n</table>\n");
    if let Some(baseline) = input.baseline {
        let _ = writeln!(
            out,
            "<h3 id=\"attribution\">Attribution (against the same run without faults: {})</h3>\n<table class=\"verdicts\">\n<thead><tr><th>attribution</th><th>drill</th><th>baseline</th><th>invariant and figures</th></tr></thead>\n<tbody>",
            baseline.verdict()
        );
        for a in &baseline.attribution {
            let loud = if a.attribution == crate::check::attribution::Attribution::MaskedByTheFault
            {
                " style=\"font-weight:bold;color:#b00\""
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "<tr{loud}><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(a.attribution.words()),
                a.drill,
                a.baseline,
                escape(&a.line())
            );
        }
        let _ = writeln!(
            out,
            "</tbody>\n</table>\n<p class=\"meta\">Counted as {} under <code>--baseline-failures {}</code>.</p>",
            baseline.counted_verdict(),
            baseline.policy.as_str()
        );
    }
    let _ = writeln!(
        out,
        "<p>Reproduce this run:</p>\n<pre class=\"reproduce\"><code>{}</code></pre>\n</section>",
        escape(&input.reproduce)
    );

    // The timeline, inline.
    let _ = writeln!(
        out,
        "<section id=\"timeline\" class=\"timeline\">\n<h2>Timeline</h2>\n{}</section>",
        timeline_svg(input)
    );

    // SLIs per window.
    out.push_str(
        "<section id=\"slis\">\n<h2>SLIs per window</h2>\n<p class=\"meta\">Latency \
         percentiles are those of successful operations; an operation counts in the window it was invoked in.</p>\n\
         <table class=\"slis\">\n<thead><tr><th>window</th><th>region</th><th>success</th><th>ops</th>\
         <th>p50</th><th>p99</th><th>failed</th><th>unknown</th></tr></thead>\n<tbody>\n",
    );
    let region_set = regions.iter().cloned().collect();
    let lanes = lanes(history);
    for phase_slis in slis_by_phase(history, None, &region_set) {
        let phase = &phase_slis.phase;
        let span = regions
            .iter()
            .filter(|r| phase_slis.regions.contains_key(*r))
            .count()
            .max(1);
        let mut first = true;
        for (index, region) in regions.iter().enumerate() {
            let Some(sli) = phase_slis.regions.get(region) else {
                continue;
            };
            out.push_str("<tr>");
            if first {
                let _ = write!(
                    out,
                    "<td rowspan=\"{span}\">{}<br><small>{} → {}</small></td>",
                    escape(&phase_label(phase, &lanes)),
                    relative_time(phase.start_ns),
                    relative_time(phase.end_ns)
                );
                first = false;
            }
            let (p50, p99) = sli.latency.map_or_else(
                || ("-".to_owned(), "-".to_owned()),
                |l| (human::duration_ns(l.p50_ns), human::duration_ns(l.p99_ns)),
            );
            let _ = writeln!(
                out,
                "<td class=\"region-name\" style=\"color: {}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{p50}</td><td class=\"num\">{p99}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                region_colour(index),
                escape(region),
                sli.success_rate().map_or_else(|| "-".to_owned(), human::percent),
                sli.count,
                sli.failed,
                sli.unknown
            );
        }
    }
    out.push_str("</tbody>\n</table>\n</section>\n");

    // The fault log.
    out.push_str(
        "<section id=\"faults\">\n<h2>Fault log</h2>\n<table class=\"events\">\n\
         <thead><tr><th>when</th><th>what</th><th>details</th></tr></thead>\n<tbody>\n",
    );
    for event in events(history) {
        let details: Vec<String> = event.details.iter().map(|d| escape(d)).collect();
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            relative_time(event.at_ns),
            escape(&event.text),
            details.join("<br>")
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");

    // Files.
    out.push_str("<section id=\"files\">\n<h2>Files</h2>\n<ul>\n");
    for (file, what) in [
        (
            "history.jsonl",
            "every operation and fault change (JSON Lines)",
        ),
        ("report.json", "this report for tools"),
        ("summary.txt", "this report as text"),
        ("timeline.svg", "the timeline alone"),
        ("junit.xml", "one test case per invariant"),
    ] {
        let _ = writeln!(out, "<li><a href=\"{file}\">{file}</a>: {what}</li>");
    }
    for log in logs {
        let _ = writeln!(
            out,
            "<li><a href=\"{}\">{}</a>: service output</li>",
            escape(log),
            escape(log)
        );
    }
    out.push_str("</ul>\n</section>\n</body>\n</html>\n");
    out
}

fn badge(verdict: Verdict) -> String {
    let (fill, stroke) = verdict_colours(verdict);
    format!(
        r#"<span class="badge {}" style="background: {fill}; border-color: {stroke}; color: {stroke}">{}</span>"#,
        verdict.as_str(),
        verdict.as_str().to_uppercase()
    )
}

fn verdict_row(out: &mut String, result: &CheckResult) {
    let figures = figure_pairs(&result.figures);
    let (top, nested): (Vec<&String>, Vec<&String>) = figures
        .iter()
        .partition(|f| !f.split('=').next().unwrap_or_default().contains('.'));
    let top: Vec<String> = top.iter().map(|f| escape(f)).collect();
    let nested_html = if nested.is_empty() {
        String::new()
    } else {
        let items: Vec<String> = nested.iter().map(|f| escape(f)).collect();
        format!(
            "<details><summary>{} more figures</summary>{}</details>",
            nested.len(),
            items.join(" · ")
        )
    };
    let first = first_violation_ns(result).map_or_else(|| "-".to_owned(), relative_time);
    let total = result.evidence.len() + result.evidence_omitted;
    let evidence = if total == 0 {
        "-".to_owned()
    } else {
        let items: String = result
            .evidence
            .iter()
            .map(|record| format!("<li>{}</li>", escape(&describe_evidence(record))))
            .collect();
        let more = if result.evidence_omitted > 0 {
            format!(
                "<li>… and {} more (counted in report.json)</li>",
                result.evidence_omitted
            )
        } else {
            String::new()
        };
        format!(
            "<details><summary>{total} record{}</summary><ul class=\"evidence\">{items}{more}</ul></details>",
            if total == 1 { "" } else { "s" }
        )
    };
    let _ = writeln!(
        out,
        "<tr class=\"verdict-row {}\"><td>{}</td><td>{}</td><td>{}<div class=\"figures\">{}{nested_html}</div></td>\
         <td class=\"num\">{first}</td><td>{evidence}</td></tr>",
        result.verdict.as_str(),
        badge(result.verdict),
        escape(&result.name),
        escape(&result.message),
        top.join(" · ")
    );
}

/// One evidence record in a line: its note, then what the record was.
fn describe_evidence(record: &Value) -> String {
    let text = |key: &str| record.get(key).and_then(Value::as_str).unwrap_or("");
    let time = |key: &str| record.get(key).and_then(Value::as_u64);
    let note = text("note");
    let what = match text("kind") {
        "op" => {
            let took = match (time("start_ns"), time("end_ns")) {
                (Some(start), Some(end)) => {
                    format!(
                        "invoked {}, took {}",
                        relative_time(start),
                        human::duration_ns(end.saturating_sub(start))
                    )
                }
                _ => String::new(),
            };
            format!(
                "{} {} in {} ({}, {took}{})",
                text("op"),
                text("key"),
                text("region"),
                text("outcome"),
                record
                    .get("detail")
                    .and_then(Value::as_str)
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )
        }
        "lag" => format!(
            "marker {} {} → {} written {}, {}",
            text("marker"),
            text("from"),
            text("to"),
            time("written_ns").map(relative_time).unwrap_or_default(),
            time("seen_ns").map_or_else(
                || "never seen".to_owned(),
                |s| format!("seen {}", relative_time(s))
            )
        ),
        _ => {
            let mut rest = record.clone();
            if let Value::Object(map) = &mut rest {
                map.remove("note");
            }
            serde_json::to_string(&rest).unwrap_or_default()
        }
    };
    if note.is_empty() {
        what
    } else {
        format!("{note}: {what}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn evidence_reads_as_a_sentence() {
        let op = json!({"kind": "op", "op": "order", "key": "W-1", "region": "eu-west",
                        "outcome": "ok", "start_ns": 1_000_000_000u64, "end_ns": 1_450_000_000u64,
                        "detail": "200", "note": "sale 51 of 50"});
        assert_eq!(
            describe_evidence(&op),
            "sale 51 of 50: order W-1 in eu-west (ok, invoked T+00:01.000, took 450ms: 200)"
        );
        let lag = json!({"kind": "lag", "marker": "m1", "from": "a", "to": "b",
                         "written_ns": 0, "seen_ns": null, "note": "never seen"});
        assert_eq!(
            describe_evidence(&lag),
            "never seen: marker m1 a → b written T+00:00.000, never seen"
        );
    }
}
