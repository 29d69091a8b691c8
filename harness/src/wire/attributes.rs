//! Toxic attributes: the `attributes` object of a toxic ⇄ a [`FaultKind`].
//!
//! Units are Toxiproxy's: `latency`, `jitter`, `timeout`, slow_close `delay`
//! and loss `rto` in milliseconds; slicer `delay` in microseconds; bandwidth
//! `rate` in KB/s; limit_data `bytes` in bytes. Any non-negative JSON number
//! is accepted for a duration (Toxiproxy takes integers; a fraction of a
//! millisecond is kept, not rounded). Missing attributes take Toxiproxy's zero
//! values; faultline's own kinds have the defaults documented on
//! [`kind_from_attributes`]. Ranges are the data plane's
//! ([`FaultKind::validate`]).

use std::time::Duration;

use faultline_proxies::{FaultKind, OnHeal, Throughput};
use serde_json::{Map, Number, Value};

use super::decode::ShapeError;

/// The default retransmission timeout of a `loss` toxic: Linux's minimum RTO.
pub const DEFAULT_RTO: Duration = Duration::from_millis(200);

/// The attribute names a toxic type takes, or `None` for an unknown type.
pub fn attribute_names(type_name: &str) -> Option<&'static [&'static str]> {
    Some(match type_name {
        "latency" => &["latency", "jitter"],
        "bandwidth" => &["rate"],
        "slow_close" => &["delay"],
        "timeout" | "reset_peer" => &["timeout"],
        "slicer" => &["average_size", "size_variation", "delay"],
        "limit_data" => &["bytes"],
        "loss" => &["probability", "correlation", "rto", "throughput"],
        "blackhole" => &["on_heal"],
        "reject" => &[],
        _ => return None,
    })
}

/// Builds the fault kind of `type_name` from an `attributes` object.
///
/// A missing (or `null`) attribute takes its default: zero for Toxiproxy's
/// kinds (so a `bandwidth` without `rate` stalls, as in Toxiproxy), `loss`
/// `probability` 0, `correlation` 0, `rto` 200 ms, `throughput` `cubic` (the
/// congestion model bounding a sustained stream: `cubic`, `bbr` or
/// `unbounded`; Toxiproxy 2.12 has no loss toxic to be compatible with),
/// `blackhole` `on_heal` `deliver`, slicer `average_size` 0 (refused by validation: at least 1).
///
/// # Errors
/// A [`ShapeError`] naming the attribute: unknown for the type, of the wrong
/// JSON type, negative, fractional where a whole number is needed, or out of
/// range; or naming `type` for an unknown type.
pub fn kind_from_attributes(
    type_name: &str,
    attributes: &Map<String, Value>,
) -> Result<FaultKind, ShapeError> {
    let names = attribute_names(type_name).ok_or_else(|| unknown_type(type_name))?;
    if let Some(unknown) = attributes.keys().find(|key| !names.contains(&key.as_str())) {
        let expected = if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        };
        return Err(ShapeError::attribute(
            unknown,
            format!("unknown for type {type_name} (it takes: {expected})"),
        ));
    }
    let get = |name: &str| attributes.get(name).filter(|v| !v.is_null());
    let millis = |name: &'static str| {
        get(name).map_or(Ok(Duration::ZERO), |v| duration(name, v, Unit::Millis))
    };
    let whole = |name: &'static str| get(name).map_or(Ok(0), |v| whole_number(name, v));
    let probability = |name: &'static str| get(name).map_or(Ok(0.0), |v| number(name, v));
    let kind = match type_name {
        "latency" => FaultKind::Latency {
            latency: millis("latency")?,
            jitter: millis("jitter")?,
        },
        "bandwidth" => FaultKind::Bandwidth {
            rate_kb: whole("rate")?,
        },
        "slow_close" => FaultKind::SlowClose {
            delay: millis("delay")?,
        },
        "timeout" => FaultKind::Timeout {
            timeout: millis("timeout")?,
        },
        "reset_peer" => FaultKind::ResetPeer {
            timeout: millis("timeout")?,
        },
        "slicer" => FaultKind::Slicer {
            average_size: size("average_size", whole("average_size")?)?,
            size_variation: size("size_variation", whole("size_variation")?)?,
            delay: get("delay")
                .map_or(Ok(Duration::ZERO), |v| duration("delay", v, Unit::Micros))?,
        },
        "limit_data" => FaultKind::LimitData {
            bytes: whole("bytes")?,
        },
        "loss" => FaultKind::Loss {
            probability: probability("probability")?,
            correlation: probability("correlation")?,
            rto: get("rto").map_or(Ok(DEFAULT_RTO), |v| duration("rto", v, Unit::Millis))?,
            throughput: get("throughput").map_or(Ok(Throughput::default()), throughput)?,
        },
        "blackhole" => FaultKind::Blackhole {
            on_heal: get("on_heal").map_or(Ok(OnHeal::Deliver), on_heal)?,
        },
        "reject" => FaultKind::Reject,
        _ => return Err(unknown_type(type_name)),
    };
    kind.validate()?;
    Ok(kind)
}

/// The `attributes` object of a fault kind, in the API's units.
pub fn attributes_of(kind: &FaultKind) -> Map<String, Value> {
    let mut map = Map::new();
    let mut put = |name: &str, value: Value| {
        map.insert(name.to_owned(), value);
    };
    match *kind {
        FaultKind::Latency { latency, jitter } => {
            put("latency", duration_value(latency, Unit::Millis));
            put("jitter", duration_value(jitter, Unit::Millis));
        }
        FaultKind::Bandwidth { rate_kb } => put("rate", rate_kb.into()),
        FaultKind::SlowClose { delay } => put("delay", duration_value(delay, Unit::Millis)),
        FaultKind::Timeout { timeout } | FaultKind::ResetPeer { timeout } => {
            put("timeout", duration_value(timeout, Unit::Millis))
        }
        FaultKind::Slicer {
            average_size,
            size_variation,
            delay,
        } => {
            put("average_size", average_size.into());
            put("size_variation", size_variation.into());
            put("delay", duration_value(delay, Unit::Micros));
        }
        FaultKind::LimitData { bytes } => put("bytes", bytes.into()),
        FaultKind::Loss {
            probability,
            correlation,
            rto,
            throughput,
        } => {
            put("probability", float(probability));
            put("correlation", float(correlation));
            put("rto", duration_value(rto, Unit::Millis));
            put("throughput", throughput.as_str().into());
        }
        FaultKind::Blackhole { on_heal } => put("on_heal", on_heal.as_str().into()),
        FaultKind::Reject => {}
    }
    map
}

fn unknown_type(type_name: &str) -> ShapeError {
    ShapeError::invalid_toxic_type(format!(
        "invalid toxic type {type_name:?}; known types: {}",
        FaultKind::TYPE_NAMES.join(", ")
    ))
}

#[derive(Clone, Copy)]
enum Unit {
    Millis,
    Micros,
}

impl Unit {
    fn per_second(self) -> f64 {
        match self {
            Unit::Millis => 1e3,
            Unit::Micros => 1e6,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unit::Millis => "ms",
            Unit::Micros => "µs",
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A non-negative JSON number.
fn number(name: &str, value: &Value) -> Result<f64, ShapeError> {
    let Some(number) = value.as_f64() else {
        return Err(ShapeError::attribute(
            name,
            format!("expected a number, found {}", kind_of(value)),
        ));
    };
    if number < 0.0 {
        return Err(ShapeError::attribute(name, "must not be negative".into()));
    }
    Ok(number)
}

/// A non-negative whole JSON number (`100` or `100.0`).
fn whole_number(name: &str, value: &Value) -> Result<u64, ShapeError> {
    if let Some(exact) = value.as_u64() {
        return Ok(exact);
    }
    let number = number(name, value)?;
    if number.fract() != 0.0 {
        return Err(ShapeError::attribute(
            name,
            format!("{number} is not a whole number"),
        ));
    }
    // 2^64 is exactly representable; anything at or above it does not fit.
    if number >= 18_446_744_073_709_551_616.0 {
        return Err(ShapeError::attribute(
            name,
            format!("{number:e} is too large"),
        ));
    }
    Ok(number as u64)
}

fn size(name: &str, value: u64) -> Result<usize, ShapeError> {
    usize::try_from(value).map_err(|_| ShapeError::attribute(name, format!("{value} is too large")))
}

/// A non-negative duration in `unit`; whole numbers are exact.
fn duration(name: &'static str, value: &Value, unit: Unit) -> Result<Duration, ShapeError> {
    if let Some(exact) = value.as_u64() {
        return Ok(match unit {
            Unit::Millis => Duration::from_millis(exact),
            Unit::Micros => Duration::from_micros(exact),
        });
    }
    let number = number(name, value)?;
    Duration::try_from_secs_f64(number / unit.per_second()).map_err(|_| {
        ShapeError::attribute(
            name,
            format!(
                "{number:e} {} is longer than the maximum of 24h",
                unit.name()
            ),
        )
    })
}

fn duration_value(duration: Duration, unit: Unit) -> Value {
    let nanos_per_unit: u128 = match unit {
        Unit::Millis => 1_000_000,
        Unit::Micros => 1_000,
    };
    let nanos = duration.as_nanos();
    if nanos.is_multiple_of(nanos_per_unit) {
        u64::try_from(nanos / nanos_per_unit).map_or_else(
            |_| float(duration.as_secs_f64() * unit.per_second()),
            Value::from,
        )
    } else {
        float(duration.as_secs_f64() * unit.per_second())
    }
}

fn float(value: f64) -> Value {
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn on_heal(value: &Value) -> Result<OnHeal, ShapeError> {
    let text = value.as_str().ok_or_else(|| {
        ShapeError::attribute(
            "on_heal",
            format!("expected a string, found {}", kind_of(value)),
        )
    })?;
    OnHeal::parse(text).ok_or_else(|| {
        ShapeError::attribute(
            "on_heal",
            format!("{text:?} is not one of deliver, deliver_now, reset"),
        )
    })
}

fn throughput(value: &Value) -> Result<Throughput, ShapeError> {
    let text = value.as_str().ok_or_else(|| {
        ShapeError::attribute(
            "throughput",
            format!("expected a string, found {}", kind_of(value)),
        )
    })?;
    Throughput::parse(text).ok_or_else(|| {
        ShapeError::attribute(
            "throughput",
            format!("{text:?} is not one of {}", Throughput::NAMES.join(", ")),
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn attrs(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn every_kind_round_trips_through_its_attributes() {
        let kinds = [
            FaultKind::Latency {
                latency: Duration::from_millis(250),
                jitter: Duration::from_micros(1500),
            },
            FaultKind::Bandwidth { rate_kb: 0 },
            FaultKind::SlowClose {
                delay: Duration::from_millis(10),
            },
            FaultKind::Timeout {
                timeout: Duration::ZERO,
            },
            FaultKind::ResetPeer {
                timeout: Duration::from_millis(5),
            },
            FaultKind::Slicer {
                average_size: 10,
                size_variation: 2,
                delay: Duration::from_micros(7),
            },
            FaultKind::LimitData { bytes: 1 << 40 },
            FaultKind::Loss {
                probability: 0.25,
                correlation: 0.5,
                rto: Duration::from_millis(300),
                throughput: Throughput::Bbr,
            },
            FaultKind::Blackhole {
                on_heal: OnHeal::DeliverNow,
            },
            FaultKind::Reject,
        ];
        for kind in kinds {
            let back = kind_from_attributes(kind.type_name(), &attributes_of(&kind));
            assert_eq!(back.as_ref(), Ok(&kind), "{kind:?}");
        }
    }

    #[test]
    fn every_type_name_of_the_data_plane_has_attributes() {
        for name in FaultKind::TYPE_NAMES {
            assert!(attribute_names(name).is_some(), "{name}");
        }
    }

    #[test]
    fn a_fraction_of_a_millisecond_is_kept() {
        let kind = kind_from_attributes("latency", &attrs(json!({"latency": 0.5}))).unwrap();
        assert_eq!(
            kind,
            FaultKind::Latency {
                latency: Duration::from_micros(500),
                jitter: Duration::ZERO
            }
        );
        assert_eq!(attributes_of(&kind)["latency"], json!(0.5));
    }

    #[test]
    fn a_fractional_rate_is_refused_by_name() {
        let err = kind_from_attributes("bandwidth", &attrs(json!({"rate": 1.5}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "toxic attribute \"rate\": 1.5 is not a whole number"
        );
    }

    #[test]
    fn a_huge_duration_is_refused_without_overflow() {
        let err = kind_from_attributes("latency", &attrs(json!({"latency": 1e300}))).unwrap_err();
        assert!(
            err.to_string().starts_with("toxic attribute \"latency\":"),
            "{err}"
        );
    }

    #[test]
    fn nulls_take_the_default() {
        let kind =
            kind_from_attributes("loss", &attrs(json!({"probability": 0.1, "rto": null}))).unwrap();
        assert_eq!(
            kind,
            FaultKind::Loss {
                probability: 0.1,
                correlation: 0.0,
                rto: DEFAULT_RTO,
                throughput: Throughput::Cubic,
            }
        );
    }

    #[test]
    fn an_unknown_throughput_model_is_refused_by_name() {
        let err = kind_from_attributes(
            "loss",
            &attrs(json!({"probability": 0.1, "throughput": "reno"})),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "toxic attribute \"throughput\": \"reno\" is not one of cubic, bbr, unbounded"
        );
    }
}
