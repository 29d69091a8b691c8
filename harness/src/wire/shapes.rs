//! Toxiproxy's JSON shapes, and their conversion to and from the data plane's
//! [`ProxySpec`], [`ProxyInfo`] and [`Fault`].
//!
//! Input shapes ([`ProxyConfig`], [`ToxicConfig`]) are syntax only: every
//! field optional, unknown fields ignored as Toxiproxy ignores them. Their
//! `into_*` methods validate them into the data plane's types, naming the
//! field at fault. Output shapes ([`ProxyJson`], [`ToxicJson`]) are what the
//! API answers, field for field Toxiproxy's.

use faultline_proxies::{Direction, Fault, ProxyInfo, ProxySpec, ProxyUpdate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::attributes::{attributes_of, kind_from_attributes};
use super::decode::{decode, ShapeError};

/// The listen address of a proxy created without one: loopback, any free port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";
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
    ShapeError::missing(field)
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
            ShapeError::invalid_toxic_type("missing required field".into())
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
    Direction::parse(&stream.to_ascii_lowercase()).ok_or_else(|| {
        ShapeError::invalid_stream(format!(
            "{stream:?} was invalid, can be either upstream or downstream"
        ))
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
