// Longer than 700 lines: one page drawn top to bottom (header, lanes, panels, markers) over one shared geometry; splitting it would pass that geometry through every piece.
//! `timeline.svg`: what happened, when, and what the regions felt, on one page.
//!
//! Top to bottom:
//! - a header: scenario, seed, the command that reproduces the run, and every
//!   verdict as a coloured chip;
//! - the time axis, and under it one labelled lane per schedule step
//!   ([`lanes`](super::lanes)): each activation a band (`<rect class="fault-band">`),
//!   a ramp's jumps as levels whose opacity and step curve show its intensity,
//!   a flap's cycles side by side, a nemesis's draws one lane per fault drawn;
//! - one row per failed invariant with a marker at its first violation
//!   ([`violation`](super::violation)), its dashed line running through every panel;
//! - per region (`<g class="region" data-region="…">`, one colour per region
//!   throughout): throughput per second stacked ok / failed / unknown, latency
//!   p50 (solid) and p99 (dashed) of successes, and, when the drill probed
//!   replication into that region, the lag of each probe marker (a cross at
//!   the top for a marker never seen); fault windows shaded behind, darker
//!   where the region is within the fault's reach.
//!
//! Labels sit in their own rows or in the left gutter, so none overlaps
//! another: every `<text>` is placed with the width estimate of
//! [`layout`](super::layout), and the tests check it for 1, 5 and 40 steps.
//! The run is cut into [`BUCKETS`] equal buckets; an operation falls in the
//! bucket in which it was invoked. A bucket without successes draws no latency
//! point: the line joins its neighbours rather than dropping to zero.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::human;
use super::lanes::{lanes, Lane};
use super::layout::{text_width, truncate, wrap, TextBox};
use super::timeline::relative_time;
use super::violation::violations;
use super::ReportInput;
use crate::check::percentiles::ms;
use crate::check::sli::{workload_ops, RegionSli};
use crate::check::window::{fault_windows, history_end_ns};
use crate::check::{overall_verdict, Verdict};
use crate::history::LagRecord;

/// How many time buckets the run is cut into.
pub const BUCKETS: u64 = 60;

/// The SVG's width.
pub const WIDTH: f64 = 1000.0;
/// Left edge of the plots; the gutter left of it holds the row labels.
pub const LEFT: f64 = 240.0;
const RIGHT: f64 = 20.0;
const PLOT_WIDTH: f64 = WIDTH - LEFT - RIGHT;
const FONT: f64 = 11.0;
const SMALL: f64 = 10.0;
/// Height of a lane whose label fits one line; each further line adds [`LINE`].
const LANE_HEIGHT: f64 = 20.0;
const LINE: f64 = 13.0;
/// A lane label takes at most this many lines (the last one cut with `…`).
const LABEL_LINES: usize = 2;
const THROUGHPUT_HEIGHT: f64 = 56.0;
const LATENCY_HEIGHT: f64 = 76.0;
const LAG_HEIGHT: f64 = 56.0;
const GAP: f64 = 12.0;

/// Region colours, in the order of [`ReportInput::all_regions`]; none is the
/// red of failures, the grey of unknown outcomes or the colours of fault lanes.
pub const REGION_COLOURS: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79",
];
const FAILED: &str = "#d62728";
const UNKNOWN: &str = "#a0a0a0";

/// The colour of the `index`th region.
pub fn region_colour(index: usize) -> &'static str {
    REGION_COLOURS[index % REGION_COLOURS.len()]
}

/// The colour of a verdict: (fill, stroke).
pub fn verdict_colours(verdict: Verdict) -> (&'static str, &'static str) {
    match verdict {
        Verdict::Pass => ("#e3f4e3", "#2ca02c"),
        Verdict::Fail => ("#fbe0e0", "#d62728"),
        Verdict::Unknown => ("#fff1cc", "#c98a00"),
    }
}

/// The colour of a fault lane, by the kind of fault.
fn fault_colour(lane: &Lane) -> &'static str {
    let what = &lane.bands[0].what;
    let kind = what
        .as_object()
        .and_then(|m| m.keys().next())
        .map_or("", String::as_str);
    match kind {
        "partition" | "isolate" => "#c0392b",
        "degrade" | "ramp" => "#e67e22",
        _ => "#7f6f5f",
    }
}

/// SVG text accumulated in drawing order.
struct Canvas {
    out: String,
}

impl Canvas {
    fn text(&mut self, x: f64, y: f64, size: f64, anchor: &str, attrs: &str, content: &str) {
        let _ = writeln!(
            self.out,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}"{attrs}>{}</text>"#,
            escape(content)
        );
    }

    fn raw(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
    }
}

/// One region's values per bucket.
struct Series {
    ok: Vec<f64>,
    failed: Vec<f64>,
    unknown: Vec<f64>,
    p50_ms: Vec<Option<f64>>,
    p99_ms: Vec<Option<f64>>,
}

/// The text of `timeline.svg`.
pub fn timeline_svg(input: &ReportInput<'_>) -> String {
    let history = input.history;
    let end_ns = history_end_ns(history).max(1);
    let bucket_ns = end_ns.div_ceil(BUCKETS).max(1);
    let bucket_secs = bucket_ns as f64 / 1e9;
    let regions = input.all_regions();
    let lanes = lanes(history);
    let windows = fault_windows(history);
    let marks = violations(input.results);

    let series: Vec<Series> = regions
        .iter()
        .map(|region| {
            let mut buckets: Vec<Vec<_>> = vec![Vec::new(); BUCKETS as usize];
            for op in workload_ops(history, None).filter(|o| &o.region == region) {
                let index = (op.start_ns / bucket_ns).min(BUCKETS - 1) as usize;
                buckets[index].push(op);
            }
            let slis: Vec<RegionSli> = buckets.into_iter().map(RegionSli::of).collect();
            let rate = |n: u64| n as f64 / bucket_secs;
            Series {
                ok: slis.iter().map(|s| rate(s.ok)).collect(),
                failed: slis.iter().map(|s| rate(s.failed)).collect(),
                unknown: slis.iter().map(|s| rate(s.unknown)).collect(),
                p50_ms: slis
                    .iter()
                    .map(|s| s.latency.map(|l| ms(l.p50_ns)))
                    .collect(),
                p99_ms: slis
                    .iter()
                    .map(|s| s.latency.map(|l| ms(l.p99_ns)))
                    .collect(),
            }
        })
        .collect();
    let top_rate = nice_ceiling(
        series
            .iter()
            .flat_map(|s| (0..s.ok.len()).map(|i| s.ok[i] + s.failed[i] + s.unknown[i]))
            .fold(0.0, f64::max),
    );
    let top_ms = nice_ceiling(
        series
            .iter()
            .flat_map(|s| s.p99_ms.iter().flatten())
            .copied()
            .fold(0.0, f64::max),
    );
    // Lag per probe pair, grouped by the region the marker was read from.
    let mut lag_pairs: BTreeMap<(String, String), Vec<&LagRecord>> = BTreeMap::new();
    for lag in history.lags() {
        lag_pairs
            .entry((lag.to.clone(), lag.from.clone()))
            .or_default()
            .push(lag);
    }
    let top_lag_ms = nice_ceiling(
        history
            .lags()
            .filter_map(|l| l.seen_ns.map(|s| ms(s.saturating_sub(l.written_ns))))
            .fold(0.0, f64::max),
    );

    let x_of = |ns: u64| LEFT + PLOT_WIDTH * (ns.min(end_ns) as f64 / end_ns as f64);
    let mut body = Canvas { out: String::new() };

    // Header.
    let mut y = 24.0;
    let title = format!(
        "{} · seed {} · started {} · {} recorded",
        input.name,
        input.seed,
        history.run.started_at,
        human::duration_ns(history_end_ns(history))
    );
    body.text(
        12.0,
        y,
        15.0,
        "start",
        r#" font-weight="bold""#,
        &truncate(&title, WIDTH - 24.0, 15.0),
    );
    for line in wrap(
        &format!("reproduce: {}", input.reproduce),
        WIDTH - 24.0,
        FONT,
    ) {
        y += 17.0;
        body.text(12.0, y, FONT, "start", r#" class="reproduce""#, &line);
    }
    y += 22.0;
    let overall = overall_verdict(input.results);
    let count = |v: Verdict| input.results.iter().filter(|r| r.verdict == v).count();
    body.text(
        12.0,
        y,
        12.0,
        "start",
        r#" font-weight="bold""#,
        &format!(
            "verdict {} · {} fail, {} unknown, {} pass",
            overall.as_str().to_uppercase(),
            count(Verdict::Fail),
            count(Verdict::Unknown),
            count(Verdict::Pass)
        ),
    );
    y += 8.0;
    let mut x = 12.0;
    let chip_height = 18.0;
    let mut chip_row_y = y;
    for result in input.results {
        let text = truncate(
            &format!(
                "{}  {}",
                result.verdict.as_str().to_uppercase(),
                result.name
            ),
            WIDTH - 48.0,
            FONT,
        );
        let width = text_width(&text, FONT) + 12.0;
        if x + width > WIDTH - 12.0 && x > 12.0 {
            x = 12.0;
            chip_row_y += chip_height + 4.0;
        }
        let (fill, stroke) = verdict_colours(result.verdict);
        let _ = writeln!(
            body.out,
            r#"<rect class="verdict" data-verdict="{}" x="{x:.1}" y="{chip_row_y:.1}" width="{width:.1}" height="{chip_height}" rx="3" fill="{fill}" stroke="{stroke}"><title>{}</title></rect>"#,
            result.verdict.as_str(),
            escape(&result.message)
        );
        body.text(
            x + 6.0,
            chip_row_y + 13.0,
            FONT,
            "start",
            r##" fill="#222222""##,
            &text,
        );
        x += width + 6.0;
    }
    y = if input.results.is_empty() {
        y + 4.0
    } else {
        chip_row_y + chip_height + 4.0
    };

    // The time axis, with the lanes under it.
    let ticks = ticks(end_ns);
    let axis_y = y + 26.0;
    body.text(
        12.0,
        axis_y - 5.0,
        SMALL,
        "start",
        r##" fill="#666666""##,
        "time since the run started",
    );
    let _ = writeln!(
        body.out,
        r##"<g class="axis" stroke="#888888"><line x1="{LEFT}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}"/>"##,
        WIDTH - RIGHT
    );
    for (ns, _) in &ticks {
        let tx = x_of(*ns);
        let _ = writeln!(
            body.out,
            r#"<line x1="{tx:.1}" y1="{axis_y:.1}" x2="{tx:.1}" y2="{:.1}"/>"#,
            axis_y + 4.0
        );
    }
    body.raw("</g>");
    for (ns, label) in &ticks {
        body.text(
            x_of(*ns),
            axis_y - 5.0,
            SMALL,
            "middle",
            r##" fill="#444444""##,
            label,
        );
    }

    let lanes_top = axis_y + 6.0;
    body.raw(r#"<g class="lanes">"#);
    if lanes.is_empty() {
        body.text(
            12.0,
            lanes_top + 14.0,
            FONT,
            "start",
            r##" fill="#666666""##,
            "no faults",
        );
    }
    let mut step_stripe = false;
    let mut previous_step = None;
    let mut top = lanes_top;
    for lane in &lanes {
        let lines = label_lines(&lane.label);
        let lane_height = LANE_HEIGHT + LINE * (lines.len() - 1) as f64;
        let band_height = lane_height - 6.0;
        if previous_step != Some(lane.step) {
            step_stripe = !step_stripe;
            previous_step = Some(lane.step);
        }
        let colour = fault_colour(lane);
        let _ = writeln!(
            body.out,
            r#"<g class="lane" data-step="{}" data-lane="{}">"#,
            lane.step, lane.index
        );
        if step_stripe {
            let _ = writeln!(
                body.out,
                r##"<rect x="4" y="{top:.1}" width="{:.1}" height="{lane_height}" fill="#f4f4f4"/>"##,
                WIDTH - 8.0
            );
        }
        for (number, line) in lines.iter().enumerate() {
            body.text(
                12.0,
                top + 14.0 + LINE * number as f64,
                FONT,
                "start",
                r#" class="lane-label""#,
                line,
            );
        }
        let many = lane.bands.len() > 1;
        for (number, band) in lane.bands.iter().enumerate() {
            let (x0, x1) = (x_of(band.start_ns), x_of(band.end_ns));
            let ramp = band.levels.len() > 1;
            let _ = writeln!(
                body.out,
                r#"<g class="fault-band" data-step="{}"><title>{} · {} → {}{}</title>"#,
                lane.step,
                escape(&lane.fault),
                relative_time(band.start_ns),
                relative_time(band.end_ns),
                if band.healed { "" } else { " (never healed)" }
            );
            for level in &band.levels {
                let (l0, l1) = (x_of(level.start_ns), x_of(level.end_ns));
                let opacity = if ramp {
                    0.12 + 0.6 * level.intensity
                } else {
                    0.55
                };
                let tip = if ramp {
                    format!(
                        "<title>{} from {}</title>",
                        escape(&level.text),
                        relative_time(level.start_ns)
                    )
                } else {
                    String::new()
                };
                let _ = writeln!(
                    body.out,
                    r#"<rect class="fault-level" x="{l0:.1}" y="{:.1}" width="{:.1}" height="{band_height}" fill="{colour}" fill-opacity="{opacity:.2}">{tip}</rect>"#,
                    top + 3.0,
                    (l1 - l0).max(1.0)
                );
            }
            let _ = writeln!(
                body.out,
                r#"<rect class="fault-window" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{band_height}" fill="none" stroke="{colour}"/>"#,
                top + 3.0,
                (x1 - x0).max(1.0)
            );
            if ramp {
                let mut d = String::new();
                for level in &band.levels {
                    let ly = top + 2.0 + band_height - (band_height - 2.0) * level.intensity;
                    let command = if d.is_empty() { 'M' } else { 'L' };
                    let _ = write!(
                        d,
                        "{command}{:.1},{ly:.1} L{:.1},{ly:.1} ",
                        x_of(level.start_ns),
                        x_of(level.end_ns)
                    );
                }
                let _ = writeln!(
                    body.out,
                    r##"<path class="intensity" d="{}" fill="none" stroke="#5a2d00" stroke-width="1.2"/>"##,
                    d.trim_end()
                );
                for level in band.levels.iter().filter(|l| !l.text.is_empty()) {
                    let (l0, l1) = (x_of(level.start_ns), x_of(level.end_ns));
                    if text_width(&level.text, 9.0) + 6.0 <= l1 - l0 {
                        body.text(
                            l0 + 3.0,
                            top + 8.0 + 2.5,
                            9.0,
                            "start",
                            r##" fill="#222222""##,
                            &level.text,
                        );
                    }
                }
            } else if many {
                let text = format!("#{}", number + 1);
                if text_width(&text, 9.0) + 6.0 <= x1 - x0 {
                    body.text(
                        x0 + 3.0,
                        top + 13.5,
                        9.0,
                        "start",
                        r##" fill="#ffffff""##,
                        &text,
                    );
                }
            }
            body.raw("</g>");
        }
        body.raw("</g>");
        top += lane_height;
    }
    body.raw("</g>");
    y = top.max(lanes_top + LANE_HEIGHT) + 6.0;

    // First violations, one row each.
    let mut marker_xs = Vec::new();
    if !marks.is_empty() {
        body.raw(r#"<g class="violations">"#);
        for mark in &marks {
            let mx = x_of(mark.at_ns);
            marker_xs.push(mx);
            let _ = writeln!(
                body.out,
                r#"<g class="violation" data-invariant="{}">"#,
                escape(&mark.name)
            );
            body.text(
                12.0,
                y + 13.0,
                FONT,
                "start",
                &format!(r#" fill="{FAILED}""#),
                &truncate(&format!("✗ {}", mark.name), LEFT - 20.0, FONT),
            );
            let _ = writeln!(
                body.out,
                r#"<path d="M{mx:.1},{:.1} l5,5 l-5,5 l-5,-5 z" fill="{FAILED}"><title>{} first violated at {}</title></path>"#,
                y + 4.0,
                escape(&mark.name),
                relative_time(mark.at_ns)
            );
            let label = format!("first violated {}", relative_time(mark.at_ns));
            let width = text_width(&label, SMALL);
            let (lx, anchor) = if mx + 8.0 + width <= WIDTH - 4.0 {
                (mx + 8.0, "start")
            } else {
                (mx - 8.0, "end")
            };
            body.text(
                lx,
                y + 13.0,
                SMALL,
                anchor,
                &format!(r#" fill="{FAILED}""#),
                &label,
            );
            body.raw("</g>");
            y += 18.0;
        }
        body.raw("</g>");
        y += 4.0;
    }

    // Legend.
    y += 6.0;
    let mut lx = LEFT;
    let legend: [(&str, &str); 6] = [
        ("#606060", "ok (region colour)"),
        (FAILED, "failed"),
        (UNKNOWN, "unknown outcome"),
        ("#606060", "— p50 latency"),
        ("#606060", "- - p99 latency"),
        (
            "#c0392b",
            "shaded: fault active (darker: region within reach)",
        ),
    ];
    body.raw(r#"<g class="legend">"#);
    for (index, (colour, label)) in legend.iter().enumerate() {
        let width = text_width(label, SMALL);
        if lx + width + 14.0 > WIDTH - RIGHT {
            lx = LEFT;
            y += 14.0;
        }
        if index < 3 {
            let _ = writeln!(
                body.out,
                r#"<rect x="{lx:.1}" y="{:.1}" width="8" height="8" fill="{colour}"/>"#,
                y + 2.0
            );
            lx += 11.0;
        }
        body.text(
            lx,
            y + 10.0,
            SMALL,
            "start",
            &format!(r#" fill="{colour}""#),
            label,
        );
        lx += width + 14.0;
    }
    body.raw("</g>");
    y += 20.0;

    // Region panels.
    let bucket_x = |i: usize| x_of(bucket_ns * i as u64);
    let bucket_width = (PLOT_WIDTH / BUCKETS as f64 - 1.0).max(1.0);
    for (index, (region, series)) in regions.iter().zip(&series).enumerate() {
        let colour = region_colour(index);
        let _ = writeln!(
            body.out,
            r#"<g class="region" data-region="{}">"#,
            escape(region)
        );
        body.text(
            12.0,
            y + 13.0,
            12.0,
            "start",
            &format!(r#" font-weight="bold" fill="{colour}""#),
            &truncate(region, LEFT - 20.0, 12.0),
        );
        let _ = writeln!(
            body.out,
            r#"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"/>"#,
            y + 9.0,
            WIDTH - RIGHT,
            y + 9.0
        );
        y += 22.0;

        let shade = |canvas: &mut Canvas, top: f64, height: f64| {
            for window in &windows {
                let (x0, x1) = (x_of(window.start_ns), x_of(window.end_ns));
                let opacity = if window.reaches(region) { 0.14 } else { 0.06 };
                let _ = writeln!(
                    canvas.out,
                    r##"<rect class="shade" x="{x0:.1}" y="{top:.1}" width="{:.1}" height="{height}" fill="#c0392b" fill-opacity="{opacity}"/>"##,
                    (x1 - x0).max(1.0)
                );
            }
        };

        // Throughput.
        let top = y;
        frame(&mut body, top, THROUGHPUT_HEIGHT, "throughput");
        shade(&mut body, top, THROUGHPUT_HEIGHT);
        y_labels(
            &mut body,
            top,
            THROUGHPUT_HEIGHT,
            &human::per_second(top_rate),
            "0",
        );
        let scale = |v: f64| THROUGHPUT_HEIGHT * (v / top_rate).min(1.0);
        let _ = writeln!(body.out, r#"<g class="throughput">"#);
        for i in 0..BUCKETS as usize {
            let mut base = top + THROUGHPUT_HEIGHT;
            for (class, value, fill, opacity) in [
                ("ok", series.ok[i], colour, 0.75),
                ("failed", series.failed[i], FAILED, 1.0),
                ("unknown", series.unknown[i], UNKNOWN, 1.0),
            ] {
                let height = scale(value);
                if height > 0.0 {
                    base -= height;
                    let _ = writeln!(
                        body.out,
                        r#"<rect class="{class}" x="{:.1}" y="{base:.1}" width="{bucket_width:.1}" height="{height:.1}" fill="{fill}" fill-opacity="{opacity}"/>"#,
                        bucket_x(i) + 0.5
                    );
                }
            }
        }
        body.raw("</g>");
        y += THROUGHPUT_HEIGHT + GAP;

        // Latency.
        let top = y;
        frame(&mut body, top, LATENCY_HEIGHT, "latency");
        shade(&mut body, top, LATENCY_HEIGHT);
        y_labels(
            &mut body,
            top,
            LATENCY_HEIGHT,
            &human::duration_ms(top_ms),
            "0s",
        );
        let latency_y = |v: f64| top + LATENCY_HEIGHT * (1.0 - (v / top_ms).min(1.0));
        let middle = |i: usize| bucket_x(i) + PLOT_WIDTH / BUCKETS as f64 / 2.0;
        let _ = writeln!(
            body.out,
            r#"<g class="series" data-region="{}" stroke="{colour}" fill="none" stroke-width="1.5">"#,
            escape(region)
        );
        for (class, values, extra) in [
            ("p50", &series.p50_ms, ""),
            ("p99", &series.p99_ms, r#" stroke-dasharray="4 3""#),
        ] {
            let d = path(values, middle, latency_y);
            if !d.is_empty() {
                let _ = writeln!(body.out, r#"<path class="{class}" d="{d}"{extra}/>"#);
            }
        }
        body.raw("</g>");
        y += LATENCY_HEIGHT + GAP;

        // Replication lag into this region, one plot per source.
        for ((to, from), markers) in &lag_pairs {
            if to != region {
                continue;
            }
            let top = y;
            frame(&mut body, top, LAG_HEIGHT, &format!("lag from {from}"));
            shade(&mut body, top, LAG_HEIGHT);
            y_labels(
                &mut body,
                top,
                LAG_HEIGHT,
                &human::duration_ms(top_lag_ms),
                "0s",
            );
            let lag_y = |v: f64| top + LAG_HEIGHT * (1.0 - (v / top_lag_ms).min(1.0));
            let mut d = String::new();
            let mut lost = String::new();
            for marker in markers {
                let mx = x_of(marker.written_ns);
                match marker.seen_ns {
                    Some(seen) => {
                        let command = if d.is_empty() { 'M' } else { 'L' };
                        let _ = write!(
                            d,
                            "{command}{mx:.1},{:.1} ",
                            lag_y(ms(seen.saturating_sub(marker.written_ns)))
                        );
                    }
                    None => {
                        let _ = write!(lost, "M{:.1},{:.1} l6,6 m0,-6 l-6,6 ", mx - 3.0, top + 2.0);
                    }
                }
            }
            let _ = writeln!(
                body.out,
                r#"<g class="lag" data-from="{}" data-to="{}">"#,
                escape(from),
                escape(to)
            );
            if !d.is_empty() {
                let _ = writeln!(
                    body.out,
                    r#"<path class="lag-line" d="{}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#,
                    d.trim_end()
                );
            }
            if !lost.is_empty() {
                let _ = writeln!(
                    body.out,
                    r#"<path class="never-seen" d="{}" stroke="{FAILED}" stroke-width="1.5"><title>markers never seen in {}</title></path>"#,
                    lost.trim_end(),
                    escape(to)
                );
            }
            body.raw("</g>");
            y += LAG_HEIGHT + GAP;
        }
        body.raw("</g>");
        y += 8.0;
    }

    // A time axis under the panels too, and the violation lines through everything.
    let bottom = y;
    let _ = writeln!(
        body.out,
        r##"<g class="axis" stroke="#888888"><line x1="{LEFT}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}"/></g>"##,
        WIDTH - RIGHT
    );
    for (ns, label) in &ticks {
        body.text(
            x_of(*ns),
            bottom + 14.0,
            SMALL,
            "middle",
            r##" fill="#444444""##,
            label,
        );
    }
    for mx in &marker_xs {
        let _ = writeln!(
            body.out,
            r#"<line class="violation-line" x1="{mx:.1}" y1="{:.1}" x2="{mx:.1}" y2="{bottom:.1}" stroke="{FAILED}" stroke-dasharray="3 3"/>"#,
            axis_y,
        );
    }
    let height = bottom + 26.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="{FONT}">"#
    );
    let _ = writeln!(
        svg,
        r#"<title>{} (seed {}): faults, verdicts, throughput, latency and replication lag per region</title>"#,
        escape(&input.name),
        input.seed
    );
    svg.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    svg.push_str(&body.out);
    svg.push_str("</svg>\n");
    svg
}

/// A lane label in at most [`LABEL_LINES`] lines that fit the gutter.
fn label_lines(label: &str) -> Vec<String> {
    let width = LEFT - 20.0;
    let mut lines = wrap(label, width, FONT);
    if lines.len() > LABEL_LINES {
        let rest = lines.split_off(LABEL_LINES - 1).join(" ");
        lines.push(truncate(&rest, width, FONT));
    }
    lines
}

/// A plot's frame and its name in the gutter.
fn frame(canvas: &mut Canvas, top: f64, height: f64, name: &str) {
    let _ = writeln!(
        canvas.out,
        r##"<rect class="frame" x="{LEFT}" y="{top:.1}" width="{PLOT_WIDTH}" height="{height}" fill="#fbfbfb" stroke="#dddddd"/>"##
    );
    canvas.text(
        24.0,
        top + height / 2.0 + 4.0,
        SMALL,
        "start",
        r##" fill="#555555""##,
        &truncate(name, LEFT - 110.0, SMALL),
    );
}

/// The top and bottom values of a plot, right-aligned in the gutter.
fn y_labels(canvas: &mut Canvas, top: f64, height: f64, top_label: &str, zero: &str) {
    canvas.text(
        LEFT - 6.0,
        top + 8.0,
        SMALL,
        "end",
        r##" fill="#444444""##,
        top_label,
    );
    canvas.text(
        LEFT - 6.0,
        top + height,
        SMALL,
        "end",
        r##" fill="#444444""##,
        zero,
    );
}

/// Tick times and labels: round steps whose labels leave room between them.
fn ticks(end_ns: u64) -> Vec<(u64, String)> {
    const STEPS_MS: [u64; 21] = [
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000,
        120_000, 300_000, 600_000, 1_800_000, 3_600_000,
    ];
    let mut chosen = *STEPS_MS.last().expect("non-empty") * 1_000_000;
    for step_ms in STEPS_MS {
        let step_ns = step_ms * 1_000_000;
        if end_ns / step_ns > 12 {
            continue;
        }
        let labels: Vec<String> = (0..=end_ns / step_ns)
            .map(|i| tick_label(i * step_ns, step_ns))
            .collect();
        let widest = labels
            .iter()
            .map(|l| text_width(l, SMALL))
            .fold(0.0, f64::max);
        let spacing = PLOT_WIDTH * step_ns as f64 / end_ns as f64;
        if spacing >= widest + 10.0 {
            chosen = step_ns;
            break;
        }
    }
    (0..=end_ns / chosen)
        .map(|i| (i * chosen, tick_label(i * chosen, chosen)))
        .collect()
}

/// A path through the values that are there, skipping those that are not.
fn path(values: &[Option<f64>], x: impl Fn(usize) -> f64, y: impl Fn(f64) -> f64) -> String {
    let mut d = String::new();
    for (i, value) in values.iter().enumerate() {
        if let Some(v) = value {
            let command = if d.is_empty() { 'M' } else { 'L' };
            if !d.is_empty() {
                d.push(' ');
            }
            let _ = write!(d, "{command}{:.1},{:.1}", x(i), y(*v));
        }
    }
    d
}

/// The smallest of 1, 2, 5 × 10^k at or above `value` (1 for nothing).
fn nice_ceiling(value: f64) -> f64 {
    if value.is_nan() || value <= 0.0 {
        return 1.0;
    }
    let mut magnitude = 10f64.powi(value.log10().floor() as i32);
    loop {
        for factor in [1.0, 2.0, 5.0] {
            if factor * magnitude >= value * (1.0 - 1e-9) {
                return factor * magnitude;
            }
        }
        magnitude *= 10.0;
    }
}

/// `0s`, `10s`, `2m30s` or `250ms`, depending on the tick spacing.
fn tick_label(ns: u64, tick_ns: u64) -> String {
    if tick_ns >= 1_000_000_000 {
        let seconds = ns / 1_000_000_000;
        if seconds >= 60 {
            format!("{}m{:02}s", seconds / 60, seconds % 60)
        } else {
            format!("{seconds}s")
        }
    } else {
        human::duration_ns(ns)
    }
}

/// Escapes text for XML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Every `<text>` box of an SVG this module wrote, with its content, for tests
/// of the no-overlap rule (`<title>` text is not drawn and not included).
pub fn text_boxes(svg: &str) -> Vec<(String, TextBox)> {
    let mut boxes = Vec::new();
    for piece in svg.split("<text ").skip(1) {
        let Some((attrs, rest)) = piece.split_once('>') else {
            continue;
        };
        let content = rest.split("</text>").next().unwrap_or_default();
        let attr = |name: &str| {
            let key = format!("{name}=\"");
            attrs
                .split(&key)
                .nth(1)
                .and_then(|v| v.split('"').next())
                .map(str::to_owned)
        };
        let number = |name: &str| attr(name).and_then(|v| v.parse::<f64>().ok());
        let text = unescape(content);
        let (Some(x), Some(y), Some(size)) = (number("x"), number("y"), number("font-size")) else {
            continue;
        };
        let anchor = attr("text-anchor").unwrap_or_else(|| "start".into());
        boxes.push((text.clone(), TextBox::of(&text, x, y, size, &anchor)));
    }
    boxes
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(80.0), 100.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(nice_ceiling(2_000.0), 2_000.0);
        assert_eq!(nice_ceiling(3_100.0), 5_000.0);
    }

    #[test]
    fn empty_buckets_are_skipped_not_drawn_as_zero() {
        let d = path(
            &[None, Some(1.0), None, Some(2.0), Some(3.0)],
            |i| i as f64,
            |v| v,
        );
        assert_eq!(d, "M1.0,1.0 L3.0,2.0 L4.0,3.0");
    }

    #[test]
    fn text_is_escaped_for_xml() {
        assert_eq!(escape(r#"a<b & "c""#), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(unescape(&escape(r#"a<b & "c""#)), r#"a<b & "c""#);
    }

    #[test]
    fn tick_labels_leave_room_between_them() {
        for end_ns in [1_000_000, 999_000_000, 21_000_000_000, 3_600_000_000_000, 7] {
            let ticks = ticks(end_ns);
            assert!(ticks.len() >= 2 || end_ns < 10, "{end_ns}: {ticks:?}");
            let spacing = PLOT_WIDTH * ticks.get(1).map_or(end_ns, |t| t.0) as f64 / end_ns as f64;
            for (_, label) in &ticks {
                assert!(
                    text_width(label, SMALL) + 10.0 <= spacing,
                    "{end_ns}: {label}"
                );
            }
        }
    }
}
