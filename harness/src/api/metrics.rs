//! `GET /metrics`: the proxies' counters in Prometheus text format (0.0.4).
//!
//! - `faultline_proxy_bytes_total{proxy, direction}`: bytes relayed (counter)
//! - `faultline_proxy_connections_total{proxy}`: connections accepted (counter)
//! - `faultline_proxy_connections_active{proxy}`: connections open now (gauge)
//! - `faultline_proxy_faults_active{proxy, direction}`: faults set now (gauge)

use std::fmt::Write;

use faultline_proxies::StatsSnapshot;

/// The content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the counters of every proxy, by name.
pub fn render(stats: &[(String, StatsSnapshot)]) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "faultline_proxy_bytes_total",
        "counter",
        "Bytes relayed by a proxy, by direction.",
    );
    for (name, s) in stats {
        sample(
            &mut out,
            "faultline_proxy_bytes_total",
            name,
            Some("upstream"),
            s.bytes_upstream,
        );
        sample(
            &mut out,
            "faultline_proxy_bytes_total",
            name,
            Some("downstream"),
            s.bytes_downstream,
        );
    }
    family(
        &mut out,
        "faultline_proxy_connections_total",
        "counter",
        "Connections accepted by a proxy.",
    );
    for (name, s) in stats {
        sample(
            &mut out,
            "faultline_proxy_connections_total",
            name,
            None,
            s.connections_total,
        );
    }
    family(
        &mut out,
        "faultline_proxy_connections_active",
        "gauge",
        "Connections open through a proxy now.",
    );
    for (name, s) in stats {
        sample(
            &mut out,
            "faultline_proxy_connections_active",
            name,
            None,
            s.connections_active,
        );
    }
    family(
        &mut out,
        "faultline_proxy_faults_active",
        "gauge",
        "Faults set on a proxy now, by direction.",
    );
    for (name, s) in stats {
        sample(
            &mut out,
            "faultline_proxy_faults_active",
            name,
            Some("upstream"),
            s.faults_upstream,
        );
        sample(
            &mut out,
            "faultline_proxy_faults_active",
            name,
            Some("downstream"),
            s.faults_downstream,
        );
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, metric: &str, proxy: &str, direction: Option<&str>, value: u64) {
    let _ = write!(out, "{metric}{{proxy=\"{}\"", escape(proxy));
    if let Some(direction) = direction {
        let _ = write!(out, ",direction=\"{direction}\"");
    }
    let _ = writeln!(out, "}} {value}");
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let stats = [("a\"b\\c\nd".to_owned(), StatsSnapshot::default())];
        assert!(
            render(&stats).contains(r#"faultline_proxy_connections_total{proxy="a\"b\\c\nd"} 0"#)
        );
    }

    #[test]
    fn every_proxy_has_every_series() {
        let stats = [
            (
                "a".to_owned(),
                StatsSnapshot {
                    bytes_upstream: 5,
                    faults_downstream: 2,
                    ..Default::default()
                },
            ),
            ("b".to_owned(), StatsSnapshot::default()),
        ];
        let text = render(&stats);
        assert!(
            text.contains("faultline_proxy_bytes_total{proxy=\"a\",direction=\"upstream\"} 5\n")
        );
        assert!(text
            .contains("faultline_proxy_faults_active{proxy=\"a\",direction=\"downstream\"} 2\n"));
        assert_eq!(
            text.lines().filter(|l| l.contains("proxy=\"b\"")).count(),
            6
        );
    }
}
