//! Toxiproxy's JSON shapes, and their conversion to and from the data plane's
//! [`ProxySpec`], [`ProxyInfo`] and [`Fault`].
//!
//! Input shapes ([`ProxyConfig`], [`ToxicConfig`]) are syntax only: every
//! field optional, unknown fields ignored as Toxiproxy ignores them. Their
//! `into_*` methods validate them into the data plane's types, naming the
//! field at fault. Output shapes ([`ProxyJson`], [`ToxicJson`]) are what the
//! API answers, field for field Toxiproxy's.

use std::fmt;

use faultline_proxies::{Direction, Fault, FaultError, ProxyInfo, ProxySpec, ProxyUpdate};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::attributes::{attributes_of, kind_from_attributes};
use super::error::Toxiproxy;

/// The listen address of a proxy created without one: loopback, any free port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";

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

fn syntax(path: &str, message: String) -> ShapeError {
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

/// A proxy as sent to `POST /proxies`, `/populate`, `POST|PATCH /proxies/{name}`,
/// or listed in a `faultline serve --config` file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxyConfig {
    /// Unique name (required to create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `host:port` to listen on; default `127.0.0.1:0` (port 0: any free port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// `host:port` to forward to (required to create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Whether it listens; default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Toxics to set on it (faultline applies them on create and populate;
    /// Toxiproxy ignores them). Ignored by updates, as by Toxiproxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toxics: Option<Vec<ToxicConfig>>,
}

/// A proxy to create, validated, with the toxics to set on it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyPlan {
    /// What the proxy is.
    pub spec: ProxySpec,
    /// Its toxics (`None`: the request listed none).
    pub toxics: Option<Vec<Fault>>,
}

impl ProxyConfig {
    /// Validates a proxy to create (or populate).
    ///
    /// # Errors
    /// A missing `name` or `upstream`, an address that is not `host:port`,
    /// an invalid toxic, or two toxics of one name.
    pub fn into_plan(self) -> Result<ProxyPlan, ShapeError> {
        let name = self
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| missing("name"))?;
        let upstream = self
            .upstream
            .filter(|u| !u.is_empty())
            .ok_or_else(|| missing("upstream"))?;
        let listen = self
            .listen
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        check_address("listen", &listen)?;
        check_address("upstream", &upstream)?;
        let toxics = match self.toxics {
            None => None,
            Some(toxics) => {
                let mut faults: Vec<Fault> = Vec::with_capacity(toxics.len());
                for (i, toxic) in toxics.into_iter().enumerate() {
                    let fault = toxic
                        .into_fault()
                        .map_err(|e| e.within(&format!(".toxics[{i}]")))?;
                    if faults.iter().any(|f| f.name == fault.name) {
                        let err = ShapeError::field(
                            "name",
                            format!("toxic {:?} is listed twice", fault.name),
                        );
                        return Err(err.within(&format!(".toxics[{i}]")));
                    }
                    faults.push(fault);
                }
                Some(faults)
            }
        };
        Ok(ProxyPlan {
            spec: ProxySpec {
                name,
                listen,
                upstream,
                enabled: self.enabled.unwrap_or(true),
            },
            toxics,
        })
    }

    /// Validates a partial update of the proxy `current`: absent fields keep
    /// their value; `toxics` is ignored (Toxiproxy's behaviour).
    ///
    /// # Errors
    /// An address that is not `host:port`, or a `name` other than `current`
    /// (a proxy cannot be renamed).
    pub fn into_update(self, current: &str) -> Result<ProxyUpdate, ShapeError> {
        if let Some(name) = self
            .name
            .as_deref()
            .filter(|n| !n.is_empty() && *n != current)
        {
            return Err(ShapeError::field(
                "name",
                format!("{name:?}: a proxy cannot be renamed (it is {current:?})"),
            ));
        }
        let listen = self.listen.filter(|l| !l.is_empty());
        let upstream = self.upstream.filter(|u| !u.is_empty());
        if let Some(listen) = &listen {
            check_address("listen", listen)?;
        }
        if let Some(upstream) = &upstream {
            check_address("upstream", upstream)?;
        }
        Ok(ProxyUpdate {
            listen,
            upstream,
            enabled: self.enabled,
        })
    }
}

fn missing(field: &str) -> ShapeError {
    ShapeError {
        known: Some(Known::MissingField),
        ..ShapeError::field(field, "missing required field".into())
    }
}

/// Checks the `host:port` syntax (Go's `:port` for every interface included);
/// the host is resolved only when the address is used.
fn check_address(field: &str, address: &str) -> Result<(), ShapeError> {
    let bad = |why: &str| ShapeError::field(field, format!("{address:?} is not host:port ({why})"));
    let (host, port) = address.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    port.parse::<u16>()
        .map_err(|_| bad("the port is not a number within 0..=65535"))?;
    let bracketed = host.starts_with('[') || host.ends_with(']');
    if bracketed && !(host.starts_with('[') && host.ends_with(']') && host.len() > 2) {
        return Err(bad("unbalanced brackets"));
    }
    if !bracketed && host.contains(':') {
        return Err(bad("an IPv6 host needs brackets: [::1]:port"));
    }
    if host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(bad("the host has spaces or slashes"));
    }
    Ok(())
}

/// A toxic as sent to `POST /proxies/{name}/toxics` (to create) or
/// `POST|PATCH /proxies/{name}/toxics/{toxic}` (to update).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToxicConfig {
    /// Unique per proxy; default `<type>_<stream>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The kind: `latency`, `bandwidth`, … (required to create).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `upstream` or `downstream`; default `downstream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Probability that it applies to a connection; default 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toxicity: Option<f64>,
    /// The kind's attributes, in Toxiproxy's units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
}

impl ToxicConfig {
    /// Validates a toxic to create.
    ///
    /// # Errors
    /// A missing or unknown `type`, a bad `stream`, a `toxicity` outside
    /// 0..=1, or an attribute that is unknown, of the wrong type or out of range.
    pub fn into_fault(self) -> Result<Fault, ShapeError> {
        // Toxiproxy's order: the stream, then the type.
        let direction = match self.stream.as_deref() {
            None | Some("") => Direction::Downstream,
            Some(stream) => parse_stream(stream)?,
        };
        let type_name = self.kind.filter(|k| !k.is_empty()).ok_or_else(|| {
            // Toxiproxy has no such check: an empty type is an unknown one.
            ShapeError {
                known: Some(Known::InvalidToxicType),
                ..missing("type")
            }
        })?;
        let kind = kind_from_attributes(&type_name, &self.attributes.unwrap_or_default())?;
        let name = self
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("{type_name}_{direction}"));
        let fault = Fault {
            name,
            direction,
            toxicity: self.toxicity.unwrap_or(1.0),
            kind,
        };
        fault.validate()?;
        Ok(fault)
    }

    /// Applies a partial update to `existing`: `toxicity` and each attribute
    /// given replace the current value; everything else is kept.
    ///
    /// # Errors
    /// As [`ToxicConfig::into_fault`]; also a `type` or `stream` other than
    /// the toxic's (remove and re-add it to change them).
    pub fn update(self, existing: &Fault) -> Result<Fault, ShapeError> {
        let type_name = existing.kind.type_name();
        if let Some(kind) = self
            .kind
            .as_deref()
            .filter(|k| !k.is_empty() && *k != type_name)
        {
            return Err(ShapeError::field(
                "type",
                format!("{kind:?}: a toxic's type cannot change (it is {type_name}); remove it and add a new one"),
            ));
        }
        if let Some(stream) = self.stream.as_deref().filter(|s| !s.is_empty()) {
            if parse_stream(stream)? != existing.direction {
                return Err(ShapeError::field(
                    "stream",
                    format!(
                        "{stream:?}: a toxic's stream cannot change (it is {}); remove it and add a new one",
                        existing.direction
                    ),
                ));
            }
        }
        let mut attributes = attributes_of(&existing.kind);
        for (name, value) in self.attributes.unwrap_or_default() {
            if !value.is_null() {
                attributes.insert(name, value);
            }
        }
        let kind = kind_from_attributes(type_name, &attributes)?;
        let fault = Fault {
            name: existing.name.clone(),
            direction: existing.direction,
            toxicity: self.toxicity.unwrap_or(existing.toxicity),
            kind,
        };
        fault.validate()?;
        Ok(fault)
    }
}

/// Parses a stream name, as Toxiproxy does, ignoring ASCII case.
fn parse_stream(stream: &str) -> Result<Direction, ShapeError> {
    Direction::parse(&stream.to_ascii_lowercase()).ok_or_else(|| ShapeError {
        known: Some(Known::InvalidStream),
        ..ShapeError::field(
            "stream",
            format!("{stream:?} was invalid, can be either upstream or downstream"),
        )
    })
}

/// A proxy as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyJson {
    /// Unique name.
    pub name: String,
    /// The address it listens on (the real port once bound).
    pub listen: String,
    /// Where it forwards.
    pub upstream: String,
    /// Whether it listens.
    pub enabled: bool,
    /// Its toxics: upstream ones first, then downstream, each in pipeline order.
    #[serde(default)]
    pub toxics: Vec<ToxicJson>,
}

impl From<&ProxyInfo> for ProxyJson {
    fn from(info: &ProxyInfo) -> Self {
        Self {
            name: info.name.clone(),
            listen: info.listen.clone(),
            upstream: info.upstream.clone(),
            enabled: info.enabled,
            toxics: toxics_of(info),
        }
    }
}

/// The toxics of a proxy in Toxiproxy's order: the upstream chain, then the
/// downstream chain.
pub fn toxics_of(info: &ProxyInfo) -> Vec<ToxicJson> {
    Direction::BOTH
        .into_iter()
        .flat_map(|direction| info.faults.iter().filter(move |f| f.direction == direction))
        .map(ToxicJson::from)
        .collect()
}

/// A toxic as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToxicJson {
    /// The kind's attributes, in Toxiproxy's units.
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// Unique per proxy.
    pub name: String,
    /// The kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// `upstream` or `downstream`.
    pub stream: String,
    /// Probability that it applies to a connection.
    pub toxicity: f64,
}

impl From<&Fault> for ToxicJson {
    fn from(fault: &Fault) -> Self {
        Self {
            attributes: attributes_of(&fault.kind),
            name: fault.name.clone(),
            kind: fault.kind.type_name().to_owned(),
            stream: fault.direction.as_str().to_owned(),
            toxicity: fault.toxicity,
        }
    }
}

/// The answer of `POST /populate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PopulateJson {
    /// The proxies the request named, as they are now.
    pub proxies: Vec<ProxyJson>,
}

/// The body of `POST /populate` and of a `faultline serve --config` file:
/// a JSON array of proxies, or an object with a `proxies` array.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PopulateConfig {
    /// The proxies, in order.
    pub proxies: Vec<ProxyConfig>,
    /// How the array is addressed in error messages (`` or `proxies`).
    prefix: &'static str,
}

#[derive(Deserialize)]
struct PopulateObject {
    proxies: Vec<ProxyConfig>,
}

impl PopulateConfig {
    /// Parses either form.
    ///
    /// # Errors
    /// Malformed JSON or a field of the wrong JSON type, named with its line and column.
    pub fn decode(bytes: &[u8]) -> Result<Self, ShapeError> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'{') {
            let object: PopulateObject = decode(bytes)?;
            Ok(Self {
                proxies: object.proxies,
                prefix: "proxies",
            })
        } else {
            Ok(Self {
                proxies: decode(bytes)?,
                prefix: "",
            })
        }
    }

    /// Validates every proxy; none is created if one is invalid.
    ///
    /// # Errors
    /// The first invalid proxy, located (`[1].toxics[0]: …`), or a name listed twice.
    pub fn into_plans(self) -> Result<Vec<ProxyPlan>, ShapeError> {
        let mut plans: Vec<ProxyPlan> = Vec::with_capacity(self.proxies.len());
        for (i, proxy) in self.proxies.into_iter().enumerate() {
            let at = format!("{}[{i}]", self.prefix);
            let plan = proxy.into_plan().map_err(|e| e.within(&at))?;
            if plans.iter().any(|p| p.spec.name == plan.spec.name) {
                return Err(ShapeError::field(
                    "name",
                    format!("proxy {:?} is listed twice", plan.spec.name),
                )
                .within(&at));
            }
            plans.push(plan);
        }
        Ok(plans)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use faultline_proxies::FaultKind;
    use serde_json::json;

    use super::*;

    fn toxic(value: Value) -> Result<Fault, ShapeError> {
        decode::<ToxicConfig>(value.to_string().as_bytes())?.into_fault()
    }

    #[test]
    fn a_toxic_defaults_to_downstream_full_toxicity_and_a_type_stream_name() {
        let fault = toxic(json!({"type": "latency", "attributes": {"latency": 10}})).unwrap();
        assert_eq!(fault.name, "latency_downstream");
        assert_eq!(fault.direction, Direction::Downstream);
        assert_eq!(fault.toxicity, 1.0);
    }

    #[test]
    fn nan_is_named_as_not_a_probability() {
        let err = decode::<ToxicConfig>(br#"{"type": "latency", "toxicity": NaN}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad request body: toxicity: NaN is not a probability within 0..=1 (nor valid JSON) at line 1 column 33"
        );
    }

    #[test]
    fn a_wrong_json_type_names_the_field() {
        let err = decode::<ToxicConfig>(br#"{"toxicity": "high"}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("bad request body: toxicity: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn trailing_garbage_is_refused() {
        assert!(decode::<ToxicConfig>(br#"{"type": "latency"} x"#).is_err());
    }

    #[test]
    fn an_update_merges_attributes_and_keeps_toxicity() {
        let existing = toxic(
            json!({"type": "latency", "toxicity": 0.5, "attributes": {"latency": 10, "jitter": 3}}),
        )
        .unwrap();
        let update: ToxicConfig = decode(br#"{"attributes": {"latency": 20}}"#).unwrap();
        let updated = update.update(&existing).unwrap();
        assert_eq!(updated.toxicity, 0.5);
        assert_eq!(
            updated.kind,
            FaultKind::Latency {
                latency: Duration::from_millis(20),
                jitter: Duration::from_millis(3)
            }
        );
    }

    #[test]
    fn addresses_must_be_host_and_port() {
        for bad in ["localhost", "localhost:http", "::1:80", "[::1:80", "a b:1"] {
            assert!(check_address("listen", bad).is_err(), "{bad}");
        }
        for good in ["localhost:80", ":8474", "[::1]:0", "127.0.0.1:0"] {
            assert_eq!(check_address("listen", good), Ok(()), "{good}");
        }
    }

    #[test]
    fn populate_errors_are_located() {
        let config = PopulateConfig::decode(
            br#"{"proxies": [{"name": "a", "upstream": "x:1",
            "toxics": [{"type": "bandwidth", "attributes": {"rate": -1}}]}]}"#,
        )
        .unwrap();
        let err = config.into_plans().unwrap_err();
        assert_eq!(
            err.to_string(),
            "proxies[0].toxics[0]: toxic attribute \"rate\": must not be negative"
        );
    }
}
