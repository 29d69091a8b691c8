//! Workloads: HTTP traffic the drill drives at a service, per region.
//!
//! ```json
//! {"name": "order", "service": "inventory", "regions": ["us-east", "eu-west"],
//!  "rate": 50, "concurrency": 8,
//!  "request": {"method": "POST", "path": "/order", "body": {"sku": "WIDGET-001", "qty": 1}},
//!  "ok_when": {"status": 200}, "key": "WIDGET-001", "value": 1, "timeout": "2s"}
//! ```
//!
//! Clients run "in" a region: they call that region's instance of the service
//! directly, never through a link. Each request becomes a history record named
//! after the workload, with the workload's `key` and `value`.
//!
//! Instead of a `request`, a workload may name a `client` process
//! ([`super::client`]): each operation is then sent to that region's client
//! as `{"id": …, "op": NAME, "key": …, "value": …}`, and the client says its
//! outcome.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{ClientCommand, ClientConfig};
use super::link::LinkId;
use crate::base::duration;
use crate::base::{FieldPath, Problems};

/// How long a request may take unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The most requests per second a workload may ask of one region.
pub const MAX_RATE: f64 = 100_000.0;

/// The most concurrent requests a workload may keep open in one region.
pub const MAX_CONCURRENCY: u32 = 10_000;

fn default_concurrency() -> u32 {
    1
}

fn default_method() -> String {
    "GET".into()
}

/// A workload as the scenario file writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadConfig {
    /// The operation name its history records carry; unique per scenario.
    pub name: String,
    /// The service it calls (default: the scenario's only service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Regions whose clients run it (default: every region running the service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
    /// Requests per second, in each region.
    pub rate: f64,
    /// Requests in flight at most, in each region (default 1).
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// The request template (exclusive with `client`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestConfig>,
    /// A client process the operations go to instead (exclusive with `request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientConfig>,
    /// Which responses count as `ok` (default: any 2xx status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_when: Option<OkWhenConfig>,
    /// The key its history records carry (e.g. the SKU an order sells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The value its history records carry (e.g. the quantity an order sells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Where in the response body the value an operation read is, as a JSON
    /// pointer (`"/value"`; `""` for the whole body). Its records then carry
    /// that part of the body as their `value` (`null` where the body has no
    /// such part, e.g. a 404), which is what the `linearizable` checker reads.
    /// Exclusive with `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_value: Option<String>,
    /// How long a request may take before its outcome is `unknown` (default `"5s"`).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
}

impl WorkloadConfig {
    /// A workload named `name` sending `request` at `rate` per second per region.
    pub fn new(name: impl Into<String>, rate: f64, request: RequestConfig) -> Self {
        Self {
            name: name.into(),
            service: None,
            regions: None,
            rate,
            concurrency: 1,
            request: Some(request),
            client: None,
            ok_when: None,
            key: None,
            value: None,
            read_value: None,
            timeout: None,
        }
    }

    /// A workload named `name` whose operations go to a client process, at
    /// `rate` per second per region.
    pub fn with_client(name: impl Into<String>, rate: f64, client: ClientConfig) -> Self {
        Self {
            request: None,
            client: Some(client),
            ..Self::new(name, rate, RequestConfig::new("GET", "/"))
        }
    }

    /// Calling this service.
    #[must_use]
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// From these regions only.
    #[must_use]
    pub fn regions<I: IntoIterator<Item = S>, S: Into<String>>(mut self, regions: I) -> Self {
        self.regions = Some(regions.into_iter().map(Into::into).collect());
        self
    }

    /// With this many requests in flight per region.
    #[must_use]
    pub fn concurrency(mut self, concurrency: u32) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Records carry this key and value.
    #[must_use]
    pub fn key_value(mut self, key: impl Into<String>, value: Value) -> Self {
        self.key = Some(key.into());
        self.value = Some(value);
        self
    }

    /// Only these statuses count as `ok`.
    #[must_use]
    pub fn ok_when_status(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.ok_when = Some(OkWhenConfig {
            status: StatusList(statuses.into_iter().collect()),
        });
        self
    }
}

/// An HTTP request template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestConfig {
    /// HTTP method (default `GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// Path and query, starting with `/`.
    pub path: String,
    /// JSON body, sent with `content-type: application/json` (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Extra headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl RequestConfig {
    /// `method path` without a body.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            body: None,
            headers: BTreeMap::new(),
        }
    }

    /// With a JSON body.
    #[must_use]
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub(crate) fn check(&self, path: &FieldPath, problems: &mut Problems) {
        const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
        if !METHODS.contains(&self.method.as_str()) {
            problems.push(
                &path.key("method"),
                format!("{:?} is not one of {}", self.method, METHODS.join(", ")),
            );
        }
        if !self.path.starts_with('/') {
            problems.push(
                &path.key("path"),
                format!("{:?} must start with \"/\"", self.path),
            );
        }
        for name in self.headers.keys() {
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                problems.push(&path.key("headers").key(name), "is not a valid header name");
            }
        }
    }
}

/// Which responses count as `ok`: `{"status": 200}` or `{"status": [200, 201]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OkWhenConfig {
    /// Accepted status codes.
    pub status: StatusList,
}

/// One status code or a list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusList(pub Vec<u16>);

impl Serialize for StatusList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0[..] {
            [one] => serializer.serialize_u16(one),
            _ => self.0.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for StatusList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusVisitor;

        impl<'de> Visitor<'de> for StatusVisitor {
            type Value = StatusList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status code (200) or a list of them ([200, 201])")
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<StatusList, E> {
                u16::try_from(value)
                    .map(|status| StatusList(vec![status]))
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), &self))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StatusList, A::Error> {
                let mut statuses = Vec::new();
                while let Some(status) = seq.next_element::<u16>()? {
                    statuses.push(status);
                }
                Ok(StatusList(statuses))
            }
        }

        deserializer.deserialize_any(StatusVisitor)
    }
}

/// A validated request template.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// JSON body, if any.
    pub body: Option<Value>,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
}

impl From<&RequestConfig> for Request {
    fn from(config: &RequestConfig) -> Self {
        Self {
            method: config.method.clone(),
            path: config.path.clone(),
            body: config.body.clone(),
            headers: config.headers.clone(),
        }
    }
}

/// A validated workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Operation name.
    pub name: String,
    /// The service it calls.
    pub service: String,
    /// Regions whose clients run it.
    pub regions: Vec<String>,
    /// Requests per second, per region.
    pub rate_per_s: f64,
    /// Requests in flight at most, per region.
    pub concurrency: u32,
    /// The request template (for a `client` workload: unused, `GET /`).
    pub request: Request,
    /// The client process the operations go to, instead of HTTP requests.
    pub client: Option<ClientCommand>,
    /// Accepted statuses; empty means any 2xx.
    pub ok_status: Vec<u16>,
    /// Key for the history records.
    pub key: Option<String>,
    /// Value for the history records (`null` when not given).
    pub value: Value,
    /// A JSON pointer into the response body: the records carry what it
    /// points at as their value instead of `value`.
    pub read_value: Option<String>,
    /// Request timeout; past it the outcome is `unknown`.
    pub timeout: Duration,
}

impl Workload {
    /// Whether a response with `status` counts as `ok`.
    pub fn is_ok(&self, status: u16) -> bool {
        if self.ok_status.is_empty() {
            (200..300).contains(&status)
        } else {
            self.ok_status.contains(&status)
        }
    }
}

/// Checks a list of accepted statuses.
pub(crate) fn check_statuses(statuses: &StatusList, path: &FieldPath, problems: &mut Problems) {
    if statuses.0.is_empty() {
        problems.push(path, "must list at least one status code");
    }
    for (index, status) in statuses.0.iter().enumerate() {
        if !(100..=599).contains(status) {
            let at = if statuses.0.len() == 1 {
                path.clone()
            } else {
                path.index(index)
            };
            problems.push(
                &at,
                format!("{status} is not an HTTP status code (100..=599)"),
            );
        }
    }
}

impl WorkloadConfig {
    /// Checks values; `service_regions` gives the regions that run a service
    /// (in scenario order), `None` for an unknown service; `links` whether a
    /// client command's `{link…}` names a declared link.
    pub(crate) fn check(
        &self,
        path: &FieldPath,
        default_service: Option<&str>,
        service_regions: &dyn Fn(&str) -> Option<Vec<String>>,
        links: &dyn Fn(&LinkId) -> bool,
        problems: &mut Problems,
    ) -> Option<Workload> {
        let before = problems.len();
        if self.name.trim().is_empty() {
            problems.push(&path.key("name"), "must not be empty");
        }
        let service = match (&self.service, default_service) {
            (Some(service), _) => Some(service.as_str()),
            (None, Some(only)) => Some(only),
            (None, None) => {
                problems.push(
                    &path.key("service"),
                    "must be given when the scenario has more than one service",
                );
                None
            }
        };
        let mut regions = Vec::new();
        if let Some(service) = service {
            match service_regions(service) {
                None => problems.push(&path.key("service"), format!("unknown service {service:?}")),
                Some(running) => match &self.regions {
                    None => regions = running,
                    Some(listed) => {
                        if listed.is_empty() {
                            problems.push(
                                &path.key("regions"),
                                "must list at least one region (leave it out for all)",
                            );
                        }
                        for (index, region) in listed.iter().enumerate() {
                            if !running.contains(region) {
                                problems.push(
                                    &path.key("regions").index(index),
                                    format!("{service:?} does not run in region {region:?} (it runs in: {})", running.join(", ")),
                                );
                            } else if regions.contains(region) {
                                problems.push(
                                    &path.key("regions").index(index),
                                    format!("region {region:?} is listed twice"),
                                );
                            } else {
                                regions.push(region.clone());
                            }
                        }
                    }
                },
            }
        }
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= MAX_RATE) {
            problems.push(
                &path.key("rate"),
                format!(
                    "{} must be a number of requests per second in (0, {MAX_RATE}]",
                    self.rate
                ),
            );
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            problems.push(
                &path.key("concurrency"),
                format!("{} must be within 1..={MAX_CONCURRENCY}", self.concurrency),
            );
        }
        let client = match (&self.request, &self.client) {
            (Some(request), None) => {
                request.check(&path.key("request"), problems);
                None
            }
            (None, Some(client)) => {
                if self.ok_when.is_some() {
                    problems.push(
                        &path.key("ok_when"),
                        "applies to `request` workloads only: a client says each outcome itself",
                    );
                }
                client.check(&path.key("client"), links, problems)
            }
            (Some(_), Some(_)) => {
                problems.push(
                    path,
                    "give either `request` (HTTP) or `client` (a client process), not both",
                );
                None
            }
            (None, None) => {
                problems.push(
                    path,
                    "needs a `request` (HTTP) or a `client` (a client process) to send its operations",
                );
                None
            }
        };
        if let Some(ok_when) = &self.ok_when {
            check_statuses(
                &ok_when.status,
                &path.key("ok_when").key("status"),
                problems,
            );
        }
        if let Some(pointer) = &self.read_value {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                problems.push(
                    &path.key("read_value"),
                    format!("{pointer:?} must be a JSON pointer: \"\" or starting with '/', e.g. \"/value\""),
                );
            }
            if self.value.is_some() {
                problems.push(
                    &path.key("read_value"),
                    "cannot be given with `value`: the record's value is what was read",
                );
            }
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            problems.push(&path.key("timeout"), "must be greater than zero");
        }
        if problems.len() != before {
            return None;
        }
        Some(Workload {
            name: self.name.clone(),
            service: service?.to_owned(),
            regions,
            rate_per_s: self.rate,
            concurrency: self.concurrency,
            request: Request::from(
                self.request
                    .as_ref()
                    .unwrap_or(&RequestConfig::new("GET", "/")),
            ),
            client,
            ok_status: self
                .ok_when
                .as_ref()
                .map(|ok| ok.status.0.clone())
                .unwrap_or_default(),
            key: self.key.clone(),
            value: self.value.clone().unwrap_or(Value::Null),
            read_value: self.read_value.clone(),
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(config: &WorkloadConfig) -> (Option<Workload>, Vec<String>) {
        let mut problems = Problems::new();
        let regions = |service: &str| {
            (service == "inventory").then(|| vec!["us-east".to_owned(), "eu-west".to_owned()])
        };
        let workload = config.check(
            &FieldPath::root().key("workload").index(0),
            Some("inventory"),
            &regions,
            &|_| true,
            &mut problems,
        );
        (
            workload,
            problems
                .into_vec()
                .into_iter()
                .map(|p| p.to_string())
                .collect(),
        )
    }

    #[test]
    fn the_design_example_reads_and_defaults_fill_in() {
        let config: WorkloadConfig = serde_json::from_value(json!({
            "name": "order", "regions": ["us-east", "eu-west"], "rate": 50, "concurrency": 8,
            "request": {"method": "POST", "path": "/order", "body": {"sku": "WIDGET-001", "qty": 1}},
            "ok_when": {"status": 200}, "key": "WIDGET-001", "value": 1
        }))
        .unwrap();
        let (Some(workload), problems) = check(&config) else {
            panic!("invalid")
        };
        assert!(problems.is_empty());
        assert_eq!(workload.service, "inventory");
        assert_eq!(workload.timeout, DEFAULT_TIMEOUT);
        assert!(workload.is_ok(200));
        assert!(!workload.is_ok(201));
    }

    #[test]
    fn without_ok_when_any_2xx_is_ok() {
        let config = WorkloadConfig::new("read", 10.0, RequestConfig::new("GET", "/state"));
        let (Some(workload), _) = check(&config) else {
            panic!("invalid")
        };
        assert!(workload.is_ok(204));
        assert!(!workload.is_ok(503));
        assert_eq!(workload.regions, ["us-east", "eu-west"]);
    }

    #[test]
    fn bad_values_name_their_fields() {
        let mut config = WorkloadConfig::new("", 0.0, RequestConfig::new("FETCH", "order"))
            .regions(["ap-south"])
            .concurrency(0)
            .ok_when_status([99]);
        config
            .request
            .as_mut()
            .unwrap()
            .headers
            .insert("bad header".into(), "x".into());
        let (_, problems) = check(&config);
        let fields: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "workload[0].name",
                "workload[0].regions[0]",
                "workload[0].rate",
                "workload[0].concurrency",
                "workload[0].request.method",
                "workload[0].request.path",
                "workload[0].request.headers.bad header",
                "workload[0].ok_when.status",
            ]
        );
    }

    #[test]
    fn a_client_workload_needs_no_request_and_refuses_ok_when() {
        let client = ClientConfig::new(["python3", "client.py", "{addr}"]);
        let (Some(workload), problems) =
            check(&WorkloadConfig::with_client("put", 10.0, client.clone()))
        else {
            panic!("invalid")
        };
        assert!(problems.is_empty(), "{problems:?}");
        assert!(workload.client.is_some());
        let (_, problems) =
            check(&WorkloadConfig::with_client("put", 10.0, client.clone()).ok_when_status([200]));
        assert_eq!(
            problems,
            ["workload[0].ok_when: applies to `request` workloads only: a client says each outcome itself"]
        );
        let both = WorkloadConfig {
            client: Some(client),
            ..WorkloadConfig::new("put", 10.0, RequestConfig::new("GET", "/"))
        };
        assert!(check(&both).1[0].contains("not both"));
        let neither = WorkloadConfig {
            request: None,
            ..WorkloadConfig::new("put", 10.0, RequestConfig::new("GET", "/"))
        };
        assert!(check(&neither).1[0].contains("needs a `request`"));
    }

    #[test]
    fn statuses_are_one_or_many() {
        let one: OkWhenConfig = serde_json::from_value(json!({"status": 200})).unwrap();
        assert_eq!(one.status, StatusList(vec![200]));
        let many: OkWhenConfig = serde_json::from_value(json!({"status": [200, 201]})).unwrap();
        assert_eq!(many.status, StatusList(vec![200, 201]));
        assert!(serde_json::from_value::<OkWhenConfig>(json!({"status": 70000})).is_err());
    }
}
