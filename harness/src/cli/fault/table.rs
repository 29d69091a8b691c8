//! What `faultline fault` prints: tables of proxies, links, regions and
//! schedules, a proxy's detail and a schedule's plan.

use std::fmt::Write as _;

use crate::wire::client::{ScheduleEntry, StartedSchedule};
use crate::wire::links::{LinkJson, RegionJson};
use crate::wire::shapes::{ProxyJson, ToxicJson};

/// `-` for nothing, else the items comma-separated.
fn joined<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The table of `links`.
pub(super) fn links_table(links: &[LinkJson]) -> String {
    if links.is_empty() {
        return "no links\n".to_owned();
    }
    let rows = links
        .iter()
        .map(|l| proxy_row(&l.link, &l.listen, &l.upstream, l.enabled, &l.faults));
    table(&["LINK", "LISTEN", "UPSTREAM", "ENABLED", "FAULTS"], rows)
}

/// The table of `regions`.
pub(super) fn regions_table(regions: &[RegionJson]) -> String {
    if regions.is_empty() {
        return "no regions\n".to_owned();
    }
    let rows = regions
        .iter()
        .map(|r| vec![r.name.clone(), joined(&r.outbound), joined(&r.inbound)]);
    table(&["REGION", "OUTBOUND", "INBOUND"], rows)
}

/// The table of `schedules`.
pub(super) fn schedules_table(schedules: &[ScheduleEntry]) -> String {
    if schedules.is_empty() {
        return "no schedules\n".to_owned();
    }
    let rows = schedules.iter().map(|s| {
        vec![
            s.id.clone(),
            s.state.as_str().to_owned(),
            s.started_at.clone(),
        ]
    });
    table(&["ID", "STATE", "STARTED"], rows)
}

/// What `schedule` prints: the id, then the plan as a table.
pub(super) fn plan_text(started: &StartedSchedule) -> String {
    let mut out = format!("started schedule {}\n", started.id);
    let rows = started.plan.iter().map(|row| {
        let step = match row.instance {
            Some(instance) => format!("{}.{instance}", row.step),
            None => row.step.to_string(),
        };
        vec![
            format!("{}ms", row.at_ms),
            step,
            row.action.clone(),
            row.link.clone(),
            row.op.clone(),
            describe(&row.fault),
        ]
    });
    out.push_str(&table(
        &["AT", "STEP", "ACTION", "LINK", "OP", "FAULT"],
        rows,
    ));
    out
}

/// The table of `list`.
pub(super) fn list<'a>(proxies: impl Iterator<Item = &'a ProxyJson>) -> String {
    let rows: Vec<Vec<String>> = proxies
        .map(|p| proxy_row(&p.name, &p.listen, &p.upstream, p.enabled, &p.toxics))
        .collect();
    if rows.is_empty() {
        return "no proxies\n".to_owned();
    }
    table(&["NAME", "LISTEN", "UPSTREAM", "ENABLED", "FAULTS"], rows)
}

/// One proxy (or link) as a row of `list` or `links`.
fn proxy_row(
    name: &str,
    listen: &str,
    upstream: &str,
    enabled: bool,
    faults: &[ToxicJson],
) -> Vec<String> {
    let faults: Vec<&str> = faults.iter().map(|t| t.name.as_str()).collect();
    vec![
        name.to_owned(),
        listen.to_owned(),
        upstream.to_owned(),
        if enabled { "yes" } else { "no" }.to_owned(),
        joined(&faults),
    ]
}

/// Rows under a header, columns padded to their widest cell, the last unpadded.
fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let rows: Vec<Vec<String>> = rows.into_iter().collect();
    let mut widths: Vec<usize> = header.iter().map(String::len).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The detail of `inspect`.
pub(super) fn inspect(proxy: &ProxyJson) -> String {
    let mut out = String::new();
    let state = if proxy.enabled { "enabled" } else { "disabled" };
    let _ = writeln!(
        out,
        "{}: {state}, listen {}, upstream {}",
        proxy.name, proxy.listen, proxy.upstream
    );
    for stream in ["upstream", "downstream"] {
        let faults: Vec<&ToxicJson> = proxy.toxics.iter().filter(|t| t.stream == stream).collect();
        let _ = writeln!(out, "  {stream} faults:");
        if faults.is_empty() {
            let _ = writeln!(out, "    none");
        }
        for toxic in faults {
            let _ = writeln!(out, "    {}", describe(toxic));
        }
    }
    out
}

/// One fault on one line: name, kind, stream, toxicity, attributes.
pub(super) fn describe(toxic: &ToxicJson) -> String {
    let mut text = format!(
        "{} ({} {}, toxicity {})",
        toxic.name, toxic.kind, toxic.stream, toxic.toxicity
    );
    for (name, value) in &toxic.attributes {
        let _ = write!(text, " {name}={value}");
    }
    text
}
