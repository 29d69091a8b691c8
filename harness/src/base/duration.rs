//! Durations as scenario files write them: a number with a unit (`"250ms"`,
//! `"30s"`, `"2m"`, `"1h"`, `"1m 30s"`), never a bare number.
//!
//! A unit that lives only in a reader's head is how a 30-millisecond deadline
//! becomes a 30-second one, so `"30"` and `30` are refused with an example of
//! what to write instead. Durations are written back the same way, so a
//! scenario serialized from Rust reads back unchanged.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// The longest duration a scenario may state anywhere (a week). Longer values
/// are unit mistakes, and they keep every time computation far from overflow.
pub const MAX: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason} (write a number with a unit, e.g. \"250ms\", \"30s\", \"2m\")")]
pub struct DurationError {
    /// The text as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses `"250ms"`, `"30s"`, `"2m"`, `"1h"`, `"1m 30s"` (units: `ns`, `us`,
/// `ms`, `s`, `m`, `h`, `d` and their long forms).
///
/// # Errors
/// Text without a unit, an unknown unit, or a duration longer than [`MAX`].
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let error = |reason: String| DurationError {
        text: text.to_owned(),
        reason,
    };
    if trimmed.is_empty() {
        return Err(error("it is empty".into()));
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(error("it has no unit".into()));
    }
    let duration = humantime::parse_duration(trimmed).map_err(|e| error(e.to_string()))?;
    if duration > MAX {
        return Err(error("it is longer than a week".into()));
    }
    Ok(duration)
}

/// Writes a duration the way [`parse`] reads it back: `"250ms"`, `"2m"`, `"1m 30s"`.
pub fn format(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".into();
    }
    humantime::format_duration(duration).to_string()
}

/// Writes a duration compactly for people, with at most three significant
/// figures of the largest fitting unit: `"250ms"`, `"1.5s"`, `"2m"`, `"41.7ms"`.
/// Not meant to be parsed back (use [`format()`] for that).
pub fn human(duration: Duration) -> String {
    let ns = duration.as_nanos() as f64;
    let (value, unit) = if duration.is_zero() {
        (0.0, "s")
    } else if duration >= Duration::from_secs(3600) && duration.as_secs().is_multiple_of(60) {
        (ns / 3.6e12, "h")
    } else if duration >= Duration::from_secs(120) {
        (ns / 6e10, "m")
    } else if duration >= Duration::from_secs(1) {
        (ns / 1e9, "s")
    } else if duration >= Duration::from_millis(1) {
        (ns / 1e6, "ms")
    } else if duration >= Duration::from_micros(1) {
        (ns / 1e3, "us")
    } else {
        (ns, "ns")
    };
    let rounded = (value * 1000.0).round() / 1000.0;
    let text = format!("{rounded:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

/// `#[serde(with = "crate::base::duration::text")]` for a `Duration` field.
pub mod text {
    use super::*;

    /// Writes the duration as text with a unit.
    ///
    /// # Errors
    /// Only those of the serializer.
    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*duration))
    }

    /// Reads a duration written as text with a unit.
    ///
    /// # Errors
    /// A value that is not a string, or a string [`parse`] refuses.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// `#[serde(default, with = "crate::base::duration::opt")]` for an
/// `Option<Duration>` field (absent or `null` is `None`).
pub mod opt {
    use super::*;

    /// Writes the duration as text with a unit, or `null`.
    ///
    /// # Errors
    /// Only those of the serializer.
    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(duration) => serializer.serialize_str(&format(*duration)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads an optional duration written as text with a unit.
    ///
    /// # Errors
    /// A value that is neither `null` nor a string [`parse`] accepts.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        deserializer.deserialize_option(OptionVisitor)
    }

    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration with a unit, e.g. \"30s\", or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(DurationVisitor).map(Some)
        }
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration with a unit, e.g. \"250ms\", \"30s\", \"2m\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Duration, E> {
        Err(E::custom(format_args!(
            "invalid duration {value}: a bare number has no unit (write e.g. \"{value}ms\" or \"{value}s\")"
        )))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Duration, E> {
        Err(E::custom(format_args!(
            "invalid duration {value}: a bare number has no unit (write e.g. \"250ms\", \"30s\")"
        )))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
        Err(E::custom(format_args!(
            "invalid duration {value}: a bare number has no unit (write e.g. \"250ms\", \"30s\")"
        )))
    }
}

/// A duration or an inclusive range of durations: `"5s"` or `["3s", "8s"]`.
/// The nemesis draws a value uniformly from the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    /// The shortest value.
    pub min: Duration,
    /// The longest value (equal to `min` for a single duration).
    pub max: Duration,
}

impl DurationRange {
    /// Exactly `duration`, every time.
    pub fn exactly(duration: Duration) -> Self {
        Self {
            min: duration,
            max: duration,
        }
    }

    /// Anywhere from `min` to `max`, both included.
    pub fn between(min: Duration, max: Duration) -> Self {
        Self { min, max }
    }
}

impl From<Duration> for DurationRange {
    fn from(duration: Duration) -> Self {
        Self::exactly(duration)
    }
}

impl Serialize for DurationRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.min == self.max {
            return serializer.serialize_str(&format(self.min));
        }
        let mut seq = serializer.serialize_seq(Some(2))?;
        seq.serialize_element(&format(self.min))?;
        seq.serialize_element(&format(self.max))?;
        seq.end()
    }
}

impl<'de> Deserialize<'de> for DurationRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RangeVisitor;

        impl<'de> Visitor<'de> for RangeVisitor {
            type Value = DurationRange;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration (\"5s\") or a range of two ([\"3s\", \"8s\"])")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<DurationRange, E> {
                DurationVisitor.visit_str(text).map(DurationRange::exactly)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DurationRange, A::Error> {
                let mut bounds = Vec::with_capacity(2);
                while let Some(Bound(value)) = seq.next_element()? {
                    bounds.push(value);
                }
                match bounds[..] {
                    [min, max] => Ok(DurationRange { min, max }),
                    _ => Err(de::Error::invalid_length(
                        bounds.len(),
                        &"two durations, [min, max]",
                    )),
                }
            }
        }

        struct Bound(Duration);

        impl<'de> Deserialize<'de> for Bound {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(DurationVisitor).map(Bound)
            }
        }

        deserializer.deserialize_any(RangeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units_are_read() {
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse(" 1m 30s ").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1h 30m").unwrap(), Duration::from_secs(5400));
    }

    #[test]
    fn a_number_without_a_unit_is_refused() {
        let err = parse("30").unwrap_err();
        assert!(err.to_string().contains("no unit"), "{err}");
        assert!(err.to_string().contains("\"30\""), "{err}");
        assert!(parse("").is_err());
        assert!(parse("soon").is_err());
        assert!(parse("-5s").is_err());
    }

    #[test]
    fn a_duration_longer_than_a_week_is_refused() {
        assert!(parse("7d").is_ok());
        assert!(parse("8d").unwrap_err().to_string().contains("week"));
    }

    #[test]
    fn formatted_durations_read_back_unchanged() {
        for text in ["250ms", "30s", "2m", "1m 30s", "0s", "1h"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }

    #[test]
    fn human_durations_are_short() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_secs(120)), "2m");
        assert_eq!(human(Duration::from_secs(90)), "90s");
        assert_eq!(human(Duration::from_micros(41_667)), "41.667ms");
        assert_eq!(human(Duration::ZERO), "0s");
    }

    #[test]
    fn a_bare_number_in_json_is_refused_with_a_hint() {
        #[derive(Debug, Deserialize)]
        struct Holder {
            #[serde(with = "text")]
            #[allow(dead_code)]
            at: Duration,
        }
        let err = serde_json::from_str::<Holder>(r#"{"at": 30}"#).unwrap_err();
        assert!(err.to_string().contains("\"30ms\""), "{err}");
    }

    #[test]
    fn a_range_is_one_duration_or_two() {
        let one: DurationRange = serde_json::from_str(r#""5s""#).unwrap();
        assert_eq!(one, DurationRange::exactly(Duration::from_secs(5)));
        let two: DurationRange = serde_json::from_str(r#"["3s", "8s"]"#).unwrap();
        assert_eq!(
            two,
            DurationRange::between(Duration::from_secs(3), Duration::from_secs(8))
        );
        assert_eq!(serde_json::to_string(&two).unwrap(), r#"["3s","8s"]"#);
        assert_eq!(serde_json::to_string(&one).unwrap(), r#""5s""#);
        assert!(serde_json::from_str::<DurationRange>(r#"["3s"]"#).is_err());
    }
}
