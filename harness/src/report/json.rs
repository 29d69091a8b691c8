//! `report.json`: the whole report for tools, versioned by [`REPORT_VERSION`].
//!
//! Shape (version 1); times are integers in ns since `started_at`, latencies
//! floats in ms, rates within 0..=1:
//!
//! ```text
//! { "version": 1, "name", "seed", "started_at", "reproduce", "regions": [...],
//!   "links": [{"link", "plane", "listen"}],   (where each link's proxy ran)
//!   "scenario": {...}, "duration_ns",
//!   "timeline": [{"step", "action", "what", "description", "links", "regions",
//!                 "planned_ns", "actual_ns", "error_ns"}],
//!   "events":   [{"at_ns", "kind", "region"?, "step"?, "text", "details"}],
//!   "windows":  [{"label", "kind", "step"?, "start_ns", "end_ns", "reaches",
//!                 "slis": {"<region>": {"count", "ok", "errors", "unknowns",
//!                                      "success_rate", "p50_ms", "p99_ms"}}}],
//!   "verdicts": [{"name", "verdict", "message", "figures", "evidence", "evidence_omitted"}],
//!   "first_violations": [{"name", "at_ns"}],
//!   "verdict": "pass" | "fail" | "unknown",   (the drill's own)
//!   "baseline": null | {"verdict", "counted_verdict", "policy": "fail" | "pass",
//!                "verdicts": [...], "figures": [{"name", "figure", "drill", "baseline", "ratio"}]},
//!   "attribution": null | [{"name", "attribution", "drill", "baseline",
//!                "figure"?, "drill_figure"?, "baseline_figure"?, "ratio"?}] }
//! ```

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::timeline::events;
use super::violation::violations;
use super::{ReportInput, REPORT_VERSION};
use crate::check::overall_verdict;
use crate::check::sli::{slis_by_phase, PhaseKind};
use crate::check::window::{describe_fault, history_end_ns};

/// The content of `report.json`.
pub fn report_json(input: &ReportInput<'_>) -> Value {
    let history = input.history;
    let timeline: Vec<Value> = history
        .faults()
        .map(|fault| {
            json!({
                "step": fault.step,
                "action": fault.action,
                "what": fault.what,
                "description": describe_fault(&fault.what),
                "links": fault.links,
                "regions": fault.regions,
                "planned_ns": fault.planned_ns,
                "actual_ns": fault.actual_ns,
                "error_ns": signed_ns(fault.actual_ns).saturating_sub(signed_ns(fault.planned_ns)),
            })
        })
        .collect();

    let regions = input.all_regions();
    let region_set: BTreeSet<String> = regions.iter().cloned().collect();
    let windows: Vec<Value> = slis_by_phase(history, None, &region_set)
        .into_iter()
        .map(|phase_slis| {
            let phase = &phase_slis.phase;
            let kind = match &phase.kind {
                PhaseKind::WholeRun => "whole_run",
                PhaseKind::BeforeFaults => "before_faults",
                PhaseKind::Fault(_) => "fault",
                PhaseKind::AfterHeal => "after_heal",
            };
            let slis: Map<String, Value> = phase_slis
                .regions
                .iter()
                .map(|(region, sli)| (region.clone(), sli.to_figures()))
                .collect();
            let mut window = json!({
                "label": phase.label(),
                "kind": kind,
                "start_ns": phase.start_ns,
                "end_ns": phase.end_ns,
                "reaches": phase.window().map(|w| w.regions.iter().cloned().collect::<Vec<_>>()).unwrap_or_default(),
                "slis": slis,
            });
            if let Some(w) = phase.window() {
                window["step"] = json!(w.step);
                window["healed"] = json!(w.healed);
            }
            window
        })
        .collect();

    json!({
        "version": REPORT_VERSION,
        "name": input.name,
        "seed": input.seed,
        "started_at": history.run.started_at,
        "reproduce": input.reproduce,
        "regions": regions,
        "links": input.placements,
        "scenario": input.scenario,
        "duration_ns": history_end_ns(history),
        "timeline": timeline,
        "events": events(history),
        "windows": windows,
        "verdicts": input.results,
        "first_violations": violations(input.results)
            .into_iter()
            .map(|v| json!({"name": v.name, "at_ns": v.at_ns}))
            .collect::<Vec<_>>(),
        "verdict": overall_verdict(input.results),
        "baseline": input.baseline.map(|b| json!({
            "verdict": b.verdict(),
            "counted_verdict": b.counted_verdict(),
            "policy": b.policy,
            "verdicts": b.results,
            "figures": b.attribution.iter().map(|a| json!({
                "name": a.name,
                "figure": a.figure,
                "drill": a.drill_figure,
                "baseline": a.baseline_figure,
                "ratio": a.ratio,
            })).collect::<Vec<_>>(),
        })),
        "attribution": input.baseline.map(|b| &b.attribution),
    })
}

fn signed_ns(ns: u64) -> i64 {
    i64::try_from(ns).unwrap_or(i64::MAX)
}
