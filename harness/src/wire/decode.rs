//! Request bodies and config files into shapes: [`decode`] and
//! [`decode_object`], and [`ShapeError`], the error of every shape (it names
//! the field or toxic attribute at fault, and where in a larger document).

use std::fmt;

use faultline_proxies::FaultError;
use serde::de::DeserializeOwned;

use super::error::Toxiproxy;

/// A request body, config file or field that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    /// Where in a larger document the error is (`[0].toxics[1]`), if anywhere.
    context: Option<String>,
    kind: ShapeErrorKind,
    /// The Toxiproxy error this is, where Toxiproxy has the case.
    known: Option<Known>,
}

/// The Toxiproxy cases a shape error can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    MissingField,
    InvalidStream,
    InvalidToxicType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ShapeErrorKind {
    /// Not JSON, or JSON of the wrong type (serde's message, with line and column).
    Syntax { path: String, message: String },
    /// A field of a proxy or toxic.
    Field { field: String, message: String },
    /// An attribute of a toxic.
    Attribute { name: String, message: String },
}

impl ShapeError {
    /// A field that is wrong: `{field}: {message}`.
    pub fn field(field: impl Into<String>, message: String) -> Self {
        Self {
            context: None,
            kind: ShapeErrorKind::Field {
                field: field.into(),
                message,
            },
            known: None,
        }
    }

    /// A required field that is missing (Toxiproxy's `missing required field`).
    pub fn missing(field: impl Into<String>) -> Self {
        Self {
            known: Some(Known::MissingField),
            ..Self::field(field, "missing required field".into())
        }
    }

    /// A `stream` that is neither `upstream` nor `downstream` (Toxiproxy's
    /// `stream was invalid, …`).
    pub fn invalid_stream(message: String) -> Self {
        Self {
            known: Some(Known::InvalidStream),
            ..Self::field("stream", message)
        }
    }

    /// An unknown toxic type (Toxiproxy's `invalid toxic type`).
    pub fn invalid_toxic_type(message: String) -> Self {
        Self {
            known: Some(Known::InvalidToxicType),
            ..Self::field("type", message)
        }
    }

    /// Toxiproxy's error for this case, if it has one: a syntax error, a
    /// missing `name` or `upstream` of a proxy (`at proxy N` in a populate),
    /// a bad `stream`, a missing or unknown `type`. Errors inside a proxy's
    /// `toxics` (faultline's extension) have none.
    pub fn toxiproxy(&self) -> Option<Toxiproxy> {
        let at_proxy = match self.context.as_deref() {
            None => None,
            Some(context) => {
                let index = context
                    .trim_start_matches("proxies")
                    .strip_prefix('[')
                    .and_then(|rest| rest.strip_suffix(']'))
                    .and_then(|i| i.parse::<usize>().ok())?;
                Some(index + 1)
            }
        };
        match (&self.kind, self.known) {
            (ShapeErrorKind::Syntax { path, message }, _) if at_proxy.is_none() => {
                Some(Toxiproxy::BadRequestBody(match path.as_str() {
                    "." | "?" => message.clone(),
                    path => format!("{path}: {message}"),
                }))
            }
            (ShapeErrorKind::Field { field, .. }, Some(Known::MissingField)) => {
                Some(Toxiproxy::MissingField(match at_proxy {
                    Some(n) => format!("{field} at proxy {n}"),
                    None => field.clone(),
                }))
            }
            (_, Some(Known::InvalidStream)) if at_proxy.is_none() => Some(Toxiproxy::InvalidStream),
            (_, Some(Known::InvalidToxicType)) if at_proxy.is_none() => {
                Some(Toxiproxy::InvalidToxicType)
            }
            _ => None,
        }
    }

    /// A toxic attribute that is wrong: `toxic attribute "{name}": {message}`.
    pub fn attribute(name: impl Into<String>, message: String) -> Self {
        Self {
            context: None,
            kind: ShapeErrorKind::Attribute {
                name: name.into(),
                message,
            },
            known: None,
        }
    }

    /// The same error located inside a larger document: `prefix` is the path of
    /// the enclosing element (`[0]`, `.toxics[1]`), prepended to any earlier one.
    pub fn within(mut self, prefix: &str) -> Self {
        self.context = Some(match self.context.take() {
            Some(inner) => format!("{prefix}{inner}"),
            None => prefix.to_owned(),
        });
        self
    }

    /// The field or attribute at fault, if the error names one.
    pub fn field_name(&self) -> Option<&str> {
        match &self.kind {
            ShapeErrorKind::Syntax { path, .. } => {
                (path != "." && path != "?").then_some(path.as_str())
            }
            ShapeErrorKind::Field { field, .. } => Some(field),
            ShapeErrorKind::Attribute { name, .. } => Some(name),
        }
    }
}

impl ShapeError {
    /// The message for a file rather than a request body: the same, without
    /// the `bad request body: ` of Toxiproxy's syntax errors.
    pub fn in_document(&self) -> String {
        let mut text = String::new();
        let _ = self.render(&mut text, "");
        text
    }

    fn render(&self, f: &mut dyn fmt::Write, syntax_prefix: &str) -> fmt::Result {
        if let Some(context) = &self.context {
            write!(f, "{}: ", context.trim_start_matches('.'))?;
        }
        match &self.kind {
            // serde_path_to_error says `?` when the error is not inside a field.
            ShapeErrorKind::Syntax { path, message } if path == "." || path == "?" => {
                write!(f, "{syntax_prefix}{message}")
            }
            ShapeErrorKind::Syntax { path, message } => {
                write!(f, "{syntax_prefix}{path}: {message}")
            }
            ShapeErrorKind::Field { field, message } => write!(f, "{field}: {message}"),
            ShapeErrorKind::Attribute { name, message } => {
                write!(f, "toxic attribute {name:?}: {message}")
            }
        }
    }
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, "bad request body: ")
    }
}

impl std::error::Error for ShapeError {}

impl From<FaultError> for ShapeError {
    fn from(err: FaultError) -> Self {
        match err.field {
            "toxicity" | "name" => ShapeError::field(err.field, err.message),
            attribute => ShapeError::attribute(attribute, err.message),
        }
    }
}

/// Parses JSON into a shape; errors name the field (serde_path_to_error), the
/// line and the column.
///
/// # Errors
/// A [`ShapeError`] for malformed JSON, a wrong JSON type, or trailing data.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ShapeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(syntax(".", "empty body; expected a JSON document".into()));
    }
    decode_any(bytes)
}

/// Parses a JSON object into a shape (serde would also take an array for a
/// struct, by position; no Toxiproxy client sends that, so it is refused).
///
/// # Errors
/// As [`decode`], and anything but an object.
pub fn decode_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ShapeError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(syntax(".", "empty body; expected a JSON object".into())),
        Some(b'{') => decode_any(bytes),
        Some(_) => Err(syntax(".", "expected a JSON object".into())),
    }
}

fn decode_any<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ShapeError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        syntax(&path, describe(&path, err.inner(), bytes))
    })?;
    deserializer
        .end()
        .map_err(|err| syntax(".", describe(".", &err, bytes)))?;
    Ok(value)
}

pub(crate) fn syntax(path: &str, message: String) -> ShapeError {
    ShapeError {
        context: None,
        kind: ShapeErrorKind::Syntax {
            path: path.to_owned(),
            message,
        },
        known: None,
    }
}

/// serde's message, except for the non-JSON numbers people do send (`NaN`,
/// `Infinity`), which get a message that says what is wrong with them.
fn describe(path: &str, err: &serde_json::Error, bytes: &[u8]) -> String {
    let at = offset(bytes, err.line(), err.column());
    let rest = at.map_or(&[][..], |at| &bytes[at.min(bytes.len())..]);
    let word = [
        &b"NaN"[..],
        b"-NaN",
        b"Infinity",
        b"-Infinity",
        b"inf",
        b"-inf",
        b"nan",
    ]
    .into_iter()
    .find(|word| rest.starts_with(word));
    match word {
        Some(word) => {
            let word = String::from_utf8_lossy(word);
            let field = path.rsplit('.').next().unwrap_or(path);
            let what = if matches!(field, "toxicity" | "probability" | "correlation") {
                "is not a probability within 0..=1 (nor valid JSON)"
            } else {
                "is not a number JSON allows"
            };
            format!(
                "{word} {what} at line {} column {}",
                err.line(),
                err.column()
            )
        }
        None => err.to_string(),
    }
}

/// The byte offset of a 1-based line and column as serde_json counts them.
fn offset(bytes: &[u8], line: usize, column: usize) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line {
        start += bytes[start..].iter().position(|b| *b == b'\n')? + 1;
    }
    Some(start + column.saturating_sub(1))
}
