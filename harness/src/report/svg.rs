//! `timeline.svg`: per-region latency (p50, p99) and error rate over time, with
//! fault windows shaded and labelled.
//!
//! The run is cut into [`BUCKETS`] equal buckets; an operation falls in the
//! bucket in which it was invoked. Each region is one
//! `<g class="series" data-region="…">` holding its p50 and p99 latency lines
//! (of successful operations) and its error-rate line (failed and unknown
//! outcomes over all); each fault window is one `<rect class="fault-window">`.
//! A bucket without operations is skipped: the line joins its neighbours
//! rather than dropping to zero, which a sparse workload would otherwise draw
//! as a comb.

use std::fmt::Write as _;

use super::ReportInput;
use crate::check::percentiles::ms;
use crate::check::sli::{workload_ops, RegionSli};
use crate::check::window::{fault_windows, history_end_ns};

/// How many time buckets the run is cut into.
pub const BUCKETS: u64 = 60;

const WIDTH: f64 = 960.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 24.0;
const LATENCY_TOP: f64 = 56.0;
const LATENCY_HEIGHT: f64 = 220.0;
const ERRORS_TOP: f64 = 310.0;
const ERRORS_HEIGHT: f64 = 110.0;
const AXIS_Y: f64 = ERRORS_TOP + ERRORS_HEIGHT;
const LEGEND_Y: f64 = AXIS_Y + 44.0;
const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
];

/// One region's values per bucket (`None`: nothing to plot there).
struct Series {
    p50_ms: Vec<Option<f64>>,
    p99_ms: Vec<Option<f64>>,
    error_rate: Vec<Option<f64>>,
}

/// The text of `timeline.svg`.
pub fn timeline_svg(input: &ReportInput<'_>) -> String {
    let history = input.history;
    let end_ns = history_end_ns(history).max(1);
    let bucket_ns = end_ns.div_ceil(BUCKETS).max(1);
    let regions = input.all_regions();

    let series: Vec<Series> = regions
        .iter()
        .map(|region| {
            let mut buckets: Vec<Vec<_>> = vec![Vec::new(); BUCKETS as usize];
            for op in workload_ops(history, None).filter(|o| &o.region == region) {
                let index = (op.start_ns / bucket_ns).min(BUCKETS - 1) as usize;
                buckets[index].push(op);
            }
            let slis: Vec<RegionSli> = buckets.into_iter().map(RegionSli::of).collect();
            Series {
                p50_ms: slis
                    .iter()
                    .map(|s| s.latency.map(|l| ms(l.p50_ns)))
                    .collect(),
                p99_ms: slis
                    .iter()
                    .map(|s| s.latency.map(|l| ms(l.p99_ns)))
                    .collect(),
                error_rate: slis
                    .iter()
                    .map(|s| s.success_rate().map(|r| 1.0 - r))
                    .collect(),
            }
        })
        .collect();
    let top_ms = nice_ceiling(
        series
            .iter()
            .flat_map(|s| s.p99_ms.iter().flatten())
            .copied()
            .fold(0.0, f64::max),
    );

    let plot_width = WIDTH - LEFT - RIGHT;
    let x_of = |ns: u64| LEFT + plot_width * (ns.min(end_ns) as f64 / end_ns as f64);
    let bucket_x = |i: usize| x_of(bucket_ns * i as u64 + bucket_ns / 2);
    let latency_y = |v: f64| LATENCY_TOP + LATENCY_HEIGHT * (1.0 - (v / top_ms).min(1.0));
    let error_y = |v: f64| ERRORS_TOP + ERRORS_HEIGHT * (1.0 - v.clamp(0.0, 1.0));
    let height = LEGEND_Y + 20.0 * (regions.len().div_ceil(4) as f64) + 16.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        svg,
        r#"<title>{} (seed {}): latency and error rate per region</title>"#,
        escape(&input.name),
        input.seed
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="22" font-size="14" font-weight="bold">{} · seed {} · started {}</text>"#,
        escape(&input.name),
        input.seed,
        escape(&history.run.started_at)
    );

    // Fault windows first, so the lines are drawn over them.
    let _ = writeln!(svg, r#"<g class="fault-windows">"#);
    for window in fault_windows(history) {
        let (x0, x1) = (x_of(window.start_ns), x_of(window.end_ns));
        let label = escape(&window.label());
        let _ = writeln!(
            svg,
            r##"<rect class="fault-window" data-step="{}" x="{x0:.1}" y="{LATENCY_TOP:.1}" width="{:.1}" height="{:.1}" fill="#d62728" fill-opacity="0.12"><title>{label}</title></rect>"##,
            window.step,
            (x1 - x0).max(1.0),
            AXIS_Y - LATENCY_TOP
        );
        let _ = writeln!(
            svg,
            r##"<text class="fault-label" x="{:.1}" y="{:.1}" fill="#a01010">{label}</text>"##,
            x0 + 3.0,
            LATENCY_TOP - 4.0
        );
    }
    let _ = writeln!(svg, "</g>");

    // Axes, grid lines and their labels.
    let _ = writeln!(svg, r##"<g class="axes" stroke="#cccccc" fill="#444444">"##);
    for (value, label) in [
        (0.0, "0ms".to_owned()),
        (top_ms / 2.0, format!("{}ms", top_ms / 2.0)),
        (top_ms, format!("{top_ms}ms")),
    ] {
        let y = latency_y(value);
        let _ = writeln!(
            svg,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#,
            WIDTH - RIGHT
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" stroke="none" text-anchor="end">{label}</text>"#,
            LEFT - 6.0,
            y + 4.0
        );
    }
    for (value, label) in [(0.0, "0%"), (0.5, "50%"), (1.0, "100%")] {
        let y = error_y(value);
        let _ = writeln!(
            svg,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#,
            WIDTH - RIGHT
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" stroke="none" text-anchor="end">{label}</text>"#,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let tick_ns = nice_ceiling(end_ns as f64 / 8.0).max(1.0) as u64;
    let mut tick = 0;
    while tick <= end_ns {
        let x = x_of(tick);
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{AXIS_Y:.1}" x2="{x:.1}" y2="{:.1}"/>"#,
            AXIS_Y + 4.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" stroke="none" text-anchor="middle">{}</text>"#,
            AXIS_Y + 16.0,
            tick_label(tick, tick_ns)
        );
        tick += tick_ns;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{:.1}" stroke="none">latency of successes (solid p50, dashed p99)</text>"#,
        LATENCY_TOP - 18.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{:.1}" stroke="none">error rate (failed and unknown outcomes)</text>"#,
        ERRORS_TOP - 8.0
    );
    let _ = writeln!(svg, "</g>");

    for (index, (region, series)) in regions.iter().zip(&series).enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        let _ = writeln!(
            svg,
            r#"<g class="series" data-region="{}" stroke="{color}" fill="none" stroke-width="1.5">"#,
            escape(region)
        );
        let lines = [
            ("p50", path(&series.p50_ms, bucket_x, latency_y), ""),
            (
                "p99",
                path(&series.p99_ms, bucket_x, latency_y),
                r#" stroke-dasharray="4 3""#,
            ),
            (
                "error-rate",
                path(&series.error_rate, bucket_x, error_y),
                "",
            ),
        ];
        for (class, d, extra) in lines {
            if !d.is_empty() {
                let _ = writeln!(svg, r#"<path class="{class}" d="{d}"{extra}/>"#);
            }
        }
        let (lx, ly) = (
            LEFT + 200.0 * (index % 4) as f64,
            LEGEND_Y + 20.0 * (index / 4) as f64,
        );
        let _ = writeln!(
            svg,
            r#"<line class="legend" x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/><text x="{:.1}" y="{ly:.1}" stroke="none" fill="{color}">{}</text>"#,
            ly - 4.0,
            lx + 18.0,
            ly - 4.0,
            lx + 24.0,
            escape(region)
        );
        let _ = writeln!(svg, "</g>");
    }
    svg.push_str("</svg>\n");
    svg
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
            if factor * magnitude >= value {
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
        format!("{}ms", ms(ns))
    }
}

/// Escapes text for XML content and attribute values.
fn escape(text: &str) -> String {
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
    }
}
