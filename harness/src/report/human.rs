//! Numbers written for people: the one place every report (summary, SVG,
//! HTML, sweep) and `faultline plan` format durations, rates and figures.
//!
//! - magnitudes keep three significant figures in the largest fitting unit:
//!   `490ms`, `1.47s`, `41.7ms`, `2.5m`; never `1s 470ms` or `1470.0000001ms`;
//! - rates in 0..=1 are percentages with at most two decimals: `16%`, `85.5%`,
//!   and never round to a misleading `0%` or `100%` (`<0.01%`, `>99.99%`);
//! - plain numbers drop float noise: `0.16000000000000003` is `0.16`;
//! - a figure (`key=value` of a checker's figures) is formatted by its key:
//!   `*_ms` and `*_ns` are durations (and lose the suffix: `p99_ms=450.0`
//!   becomes `p99=450ms`), rates (`*rate`, `min`, `loss`, `probability`, …)
//!   are percentages.
//!
//! Times *of* a run (`T+00:05.000`) are written by
//! [`relative_time`](super::timeline::relative_time), where every millisecond counts.

use std::time::Duration;

use serde_json::Value;

use crate::base::duration;

/// Keys whose values in 0..=1 are rates, written as percentages.
const RATE_KEYS: [&str; 7] = [
    "min",
    "loss",
    "probability",
    "correlation",
    "toxicity",
    "success",
    "slo_success_rate",
];

/// A duration with three significant figures: `0s`, `850ns`, `12.5µs`,
/// `490ms`, `1.47s`, `45s`, `2.5m`, `1.5h`.
pub fn duration(value: Duration) -> String {
    duration_ns(u64::try_from(value.as_nanos()).unwrap_or(u64::MAX))
}

/// [`duration()`] of a count of nanoseconds.
pub fn duration_ns(ns: u64) -> String {
    duration_secs(ns as f64 / 1e9)
}

/// [`duration()`] of a (possibly fractional) count of milliseconds; negative
/// values keep their sign.
pub fn duration_ms(ms: f64) -> String {
    duration_secs(ms / 1e3)
}

fn duration_secs(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "-".into();
    }
    if seconds < 0.0 {
        return format!("-{}", duration_secs(-seconds));
    }
    if seconds == 0.0 {
        return "0s".into();
    }
    // Round first, so 999.6ms is written 1s rather than 1000ms.
    let units: [(f64, &str); 6] = [
        (3600.0, "h"),
        (60.0, "m"),
        (1.0, "s"),
        (1e-3, "ms"),
        (1e-6, "µs"),
        (1e-9, "ns"),
    ];
    for (index, (size, unit)) in units.iter().enumerate() {
        // Minutes only from 2m on (90s reads better than 1.5m), hours from 2h.
        let threshold = match *unit {
            "m" | "h" => 2.0 * size,
            _ => *size,
        };
        let rounded = significant(seconds / size, 3);
        if rounded * size >= threshold || index == units.len() - 1 {
            return format!("{}{unit}", trim(rounded));
        }
    }
    unreachable!("the last unit always matches")
}

/// A rate in 0..=1 as a percentage: `16%`, `85.5%`, `99.99%`, `<0.01%`.
pub fn percent(rate: f64) -> String {
    if !rate.is_finite() {
        return "-".into();
    }
    let value = rate * 100.0;
    let rounded = (value * 100.0).round() / 100.0;
    if rounded >= 100.0 && rate < 1.0 {
        return ">99.99%".into();
    }
    if rounded <= 0.0 && rate > 0.0 {
        return "<0.01%".into();
    }
    format!("{}%", trim(rounded))
}

/// A number without float noise: integers as integers, others with three
/// significant figures (never fewer digits than the integer part): `7`,
/// `0.16`, `1.23`, `1234`.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return "-".into();
    }
    if value.fract() == 0.0 || value.abs() >= 100.0 {
        return format!("{}", value.round());
    }
    trim(significant(value, 3))
}

/// A rate of events per second: `20/s`, `0.5/s`.
pub fn per_second(value: f64) -> String {
    format!("{}/s", number(value))
}

/// A figure as `key=value`, formatted by its key (see the module docs).
pub fn figure(key: &str, value: &Value) -> String {
    let (name, text) = figure_parts(key, value);
    format!("{name}={text}")
}

/// A figure's display name and value, formatted by its key.
pub fn figure_parts(key: &str, value: &Value) -> (String, String) {
    let Some(n) = value.as_f64() else {
        let text = match value {
            Value::Null => "-".to_owned(),
            Value::String(text) => text.clone(),
            other => serde_json::to_string(other).unwrap_or_default(),
        };
        return (key.to_owned(), text);
    };
    let leaf = key.rsplit('.').next().unwrap_or(key);
    if let Some(name) = key.strip_suffix("_ms") {
        return (name.to_owned(), duration_ms(n));
    }
    if let Some(name) = key.strip_suffix("_ns") {
        return (name.to_owned(), duration_ms(n / 1e6));
    }
    if (0.0..=1.0).contains(&n) && is_rate_key(leaf) {
        return (key.to_owned(), percent(n));
    }
    (key.to_owned(), number(n))
}

fn is_rate_key(key: &str) -> bool {
    key.ends_with("rate") || key.ends_with("ratio") || RATE_KEYS.contains(&key)
}

/// A region-level fault as the scenario states it, for people:
/// `{"degrade": {"between": ["us-east", "eu-west"], "latency": "1s 500ms", "loss": 0.48}}`
/// is `degrade between us-east, eu-west latency=1.5s loss=48%`, and
/// `{"partition": [["us-east"], ["eu-west"]]}` is `partition [us-east] | [eu-west]`.
pub fn describe_what(what: &Value) -> String {
    match what {
        Value::Object(map) if map.len() == 1 => {
            let (kind, body) = map.iter().next().expect("one entry");
            match body {
                Value::Null => kind.clone(),
                Value::Object(attrs) if kind == "ramp" => {
                    let side = |name: &str| attrs.get(name).map(describe_what).unwrap_or_default();
                    format!("ramp {} → {}", side("from"), side("to"))
                }
                Value::Object(attrs) if kind == "random" => {
                    let count = attrs
                        .get("faults")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    format!("random nemesis of {count} faults")
                }
                other => format!("{kind} {}", describe_body(other)),
            }
        }
        other => describe_body(other),
    }
}

fn describe_body(body: &Value) -> String {
    match body {
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_array) => items
            .iter()
            .map(|group| format!("[{}]", describe_list(group)))
            .collect::<Vec<_>>()
            .join(" | "),
        Value::Array(_) => describe_list(body),
        Value::Object(attrs) => attrs
            .iter()
            .map(|(name, value)| match value {
                Value::Array(_) if name == "between" || name == "regions" || name == "services" => {
                    format!("{name} {}", describe_list(value))
                }
                Value::Object(_) => format!("{name}({})", describe_body(value)),
                _ => format!("{name}={}", attribute(name, value)),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => attribute("", other),
    }
}

fn describe_list(list: &Value) -> String {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|item| attribute("", item))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One attribute value of a fault: durations (`"1s 500ms"`) as [`duration()`]
/// (`1.5s`), rates (`loss`, `probability`, …) as [`percent`], numbers as [`number`].
pub fn attribute(name: &str, value: &Value) -> String {
    match value {
        Value::String(text) => match duration::parse(text) {
            Ok(parsed) if text.chars().any(|c| c.is_ascii_digit()) => self::duration(parsed),
            _ => text.clone(),
        },
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or(f64::NAN);
            if is_rate_key(name) && (0.0..=1.0).contains(&n) {
                percent(n)
            } else {
                number(n)
            }
        }
        Value::Null => "-".into(),
        Value::Bool(b) => b.to_string(),
        Value::Array(_) => format!("[{}]", describe_list(value)),
        Value::Object(_) => describe_what(value),
    }
}

/// Rounds to `digits` significant figures.
fn significant(value: f64, digits: i32) -> f64 {
    if value == 0.0 {
        return 0.0;
    }
    let magnitude = value.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits - 1 - magnitude);
    (value * scale).round() / scale
}

/// Writes a rounded value without trailing zeros (at most 6 decimals).
fn trim(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn durations_keep_three_significant_figures_in_the_largest_unit() {
        let ms = Duration::from_millis;
        assert_eq!(duration(ms(1_470)), "1.47s");
        assert_eq!(duration(ms(490)), "490ms");
        assert_eq!(duration(Duration::ZERO), "0s");
        assert_eq!(duration(Duration::from_micros(41_700)), "41.7ms");
        assert_eq!(duration(Duration::from_nanos(1_234_567)), "1.23ms");
        assert_eq!(duration(Duration::from_nanos(850)), "850ns");
        assert_eq!(duration(Duration::from_nanos(12_500)), "12.5µs");
        assert_eq!(
            duration(ms(999_600) / 1000),
            "1s",
            "999.6ms rounds up a unit"
        );
        assert_eq!(duration(ms(90_000)), "90s");
        assert_eq!(duration(ms(150_000)), "2.5m");
        assert_eq!(duration(ms(2 * 3_600_000)), "2h");
        assert_eq!(duration_ms(1000.0), "1s");
        assert_eq!(duration_ms(15_000.8), "15s");
        assert_eq!(duration_ms(-2.5), "-2.5ms");
    }

    #[test]
    fn rates_are_percentages_that_never_round_to_all_or_nothing() {
        assert_eq!(percent(0.160_000_000_000_000_03), "16%");
        assert_eq!(percent(0.855), "85.5%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.999_999), ">99.99%");
        assert_eq!(percent(0.000_001), "<0.01%");
        assert_eq!(percent(0.123_456), "12.35%");
    }

    #[test]
    fn numbers_lose_their_float_noise() {
        assert_eq!(number(0.160_000_000_000_000_03), "0.16");
        assert_eq!(number(7.0), "7");
        assert_eq!(number(1234.56), "1235");
        assert_eq!(number(1.23456), "1.23");
        assert_eq!(number(f64::NAN), "-");
        assert_eq!(per_second(20.0), "20/s");
    }

    #[test]
    fn figures_are_formatted_by_their_key() {
        assert_eq!(figure("p99_ms", &json!(450.0)), "p99=450ms");
        assert_eq!(
            figure("grace_after_heal_ms", &json!(1000.0)),
            "grace_after_heal=1s"
        );
        assert_eq!(figure("success_rate", &json!(0.85)), "success_rate=85%");
        assert_eq!(figure("min", &json!(0.9)), "min=90%");
        assert_eq!(figure("loss", &json!(0.160_000_000_000_000_03)), "loss=16%");
        assert_eq!(figure("oversold_by", &json!(7)), "oversold_by=7");
        assert_eq!(figure("min", &json!(1)), "min=100%");
        assert_eq!(figure("regions", &json!(1)), "regions=1");
        assert_eq!(figure("a.b.count", &json!(3)), "a.b.count=3");
        assert_eq!(figure("status", &json!("ok")), "status=ok");
        assert_eq!(figure("x", &Value::Null), "x=-");
    }

    #[test]
    fn faults_are_described_with_units_people_read() {
        assert_eq!(
            describe_what(&json!({"degrade": {"between": ["us-east", "eu-west"],
                                              "latency": "1s 470ms", "loss": 0.160_000_000_000_000_03}})),
            "degrade between us-east, eu-west latency=1.47s loss=16%"
        );
        assert_eq!(
            describe_what(&json!({"partition": [["us-east"], ["eu-west", "ap-northeast"]]})),
            "partition [us-east] | [eu-west, ap-northeast]"
        );
        assert_eq!(
            describe_what(&json!({"partition": {"isolate": "us-east"}})),
            "partition isolate=us-east"
        );
        assert_eq!(
            describe_what(
                &json!({"ramp": {"from": {"degrade": {"into": "a", "latency": "0ms"}},
                                           "to": {"degrade": {"into": "a", "latency": "2s"}}}})
            ),
            "ramp degrade into=a latency=0s → degrade into=a latency=2s"
        );
        assert_eq!(describe_what(&json!({"heal": null})), "heal");
        assert_eq!(
            describe_what(
                &json!({"degrade": {"into": "a", "loss": {"probability": 0.05, "correlation": 0.25}}})
            ),
            "degrade into=a loss(correlation=25% probability=5%)"
        );
        assert_eq!(attribute("latency", &json!("1s 500ms")), "1.5s");
        assert_eq!(attribute("loss", &json!(0.48)), "48%");
        assert_eq!(attribute("region", &json!("eu-west")), "eu-west");
    }
}
