//! Durations as scenario files write them: a number with a unit (`"250ms"`,
//! `"30s"`, `"2m"`), parsed by `humantime` and written back the same way.
//!
//! A bare number is refused: a unit that lives only in someone's head is how a
//! 30-millisecond deadline becomes a 30-second one.

use std::time::Duration;

/// Why a duration string was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid duration {text:?}: {source} (write a number with a unit, e.g. \"250ms\", \"30s\", \"2m\")")]
pub struct DurationError {
    /// The text that was given.
    pub text: String,
    /// What the parser said.
    #[source]
    pub source: humantime::DurationError,
}

/// Parses `"250ms"`, `"30s"`, `"2m"`, `"1h 30m"` and the like.
///
/// # Errors
/// A missing unit, an unknown unit, or text that is not a duration.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    humantime::parse_duration(text.trim()).map_err(|source| DurationError {
        text: text.to_owned(),
        source,
    })
}

/// Writes a duration the way [`parse_duration`] reads it back (`"250ms"`, `"2m"`).
pub fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// `#[serde(with = "…::duration::serde_text")]` for a `Duration` field written as text.
pub mod serde_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the duration as text with a unit.
    ///
    /// # Errors
    /// Only those of the serializer.
    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*duration))
    }

    /// Reads a duration written as text with a unit.
    ///
    /// # Errors
    /// A value that is not a string, or a string [`super::parse_duration`] refuses.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(with = "…::duration::serde_text_opt", default)]` for an `Option<Duration>`.
pub mod serde_text_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the duration as text with a unit, or `null`.
    ///
    /// # Errors
    /// Only those of the serializer.
    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(duration) => serializer.serialize_str(&super::format_duration(*duration)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads an optional duration written as text with a unit.
    ///
    /// # Errors
    /// A value that is neither `null` nor a string [`super::parse_duration`] accepts.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| super::parse_duration(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units_are_read() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
    }

    #[test]
    fn a_number_without_a_unit_is_refused() {
        let err = parse_duration("30").unwrap_err();
        assert!(err.to_string().contains("\"30\""), "{err}");
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn formatted_durations_read_back_unchanged() {
        for text in ["250ms", "30s", "2m", "1m 30s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
