//! Probes: measurements the drill makes besides its workloads.
//!
//! One kind so far, the replication probe:
//!
//! ```json
//! {"replication": {"service": "kv",
//!   "write": {"method": "PUT", "path": "/kv/probe-{marker}", "body": "{marker}"},
//!   "read": {"method": "GET", "path": "/kv/probe-{marker}"},
//!   "from": ["us-east"], "to": ["eu-west", "ap-northeast"],
//!   "every": "500ms", "timeout": "30s"}}
//! ```
//!
//! Every `every`, in each `from` region, it writes a unique marker with the
//! `write` request (`{marker}` in its path or body is replaced by the marker)
//! and then polls each `to` region with the `read` request until a 2xx
//! response whose body contains the marker arrives, or `timeout` passes. Each
//! (marker, target) pair becomes a `lag` history record (`seen_ns: null` when
//! it never showed).
//!
//! With a `client` ([`super::client`]) instead of `write` and `read`, the
//! probe sends `{"op": "probe_write", "marker": …}` to the writing region's
//! client and `{"op": "probe_read", "marker": …}` to each polled region's
//! client; an `ok` answer whose `value` contains the marker means it arrived.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::client::{ClientCommand, ClientConfig};
use super::link::LinkId;
use super::workload::{Request, RequestConfig};
use crate::base::duration;
use crate::base::{FieldPath, Problems};

/// How often a replication probe writes a marker unless told otherwise.
pub const DEFAULT_EVERY: Duration = Duration::from_millis(500);

/// How long a replication probe waits for a marker unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The placeholder a probe's requests carry.
pub const MARKER: &str = "{marker}";

/// A probe as the scenario file writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeConfig {
    /// A replication probe.
    Replication(ReplicationProbeConfig),
}

/// `{"replication": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationProbeConfig {
    /// The name its records carry (default `replication-{service}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The replicated service.
    pub service: String,
    /// The request that writes a marker; `{marker}` must appear in its path or body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<RequestConfig>,
    /// The request that looks for it; a 2xx response whose body contains the
    /// marker means the marker arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<RequestConfig>,
    /// A client process that writes and reads markers instead of `write` and `read`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientConfig>,
    /// Regions markers are written to (default: every region running the service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<String>>,
    /// Regions polled for them (default: every region running the service);
    /// a region is never polled for its own markers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    /// Time between markers (default `"500ms"`).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub every: Option<Duration>,
    /// How long to poll for a marker before recording it as never seen (default `"30s"`).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
}

/// A validated probe.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// A replication probe.
    Replication(ReplicationProbe),
}

/// A validated replication probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationProbe {
    /// Its name.
    pub name: String,
    /// The replicated service.
    pub service: String,
    /// Writes a marker (`{marker}` to replace).
    pub write: Request,
    /// Looks for a marker (`{marker}` to replace).
    pub read: Request,
    /// The client process that writes and reads markers instead (then
    /// `write` and `read` are unused, `GET /`).
    pub client: Option<ClientCommand>,
    /// Regions written to.
    pub from: Vec<String>,
    /// Regions polled.
    pub to: Vec<String>,
    /// Time between markers.
    pub every: Duration,
    /// Polling deadline per marker.
    pub timeout: Duration,
}

fn mentions_marker(request: &RequestConfig) -> bool {
    request.path.contains(MARKER)
        || request
            .body
            .as_ref()
            .is_some_and(|body| body.to_string().contains(MARKER))
}

impl ProbeConfig {
    pub(crate) fn check(
        &self,
        path: &FieldPath,
        service_regions: &dyn Fn(&str) -> Option<Vec<String>>,
        links: &dyn Fn(&LinkId) -> bool,
        problems: &mut Problems,
    ) -> Option<Probe> {
        let ProbeConfig::Replication(config) = self;
        let path = path.key("replication");
        let before = problems.len();
        let running = service_regions(&config.service);
        if running.is_none() {
            problems.push(
                &path.key("service"),
                format!("unknown service {:?}", config.service),
            );
        }
        let running = running.unwrap_or_default();
        let mut pick = |field: &str, listed: &Option<Vec<String>>| -> Vec<String> {
            let Some(listed) = listed else {
                return running.clone();
            };
            if listed.is_empty() {
                problems.push(
                    &path.key(field),
                    "must list at least one region (leave it out for all)",
                );
            }
            for (index, region) in listed.iter().enumerate() {
                if !running.contains(region) && !running.is_empty() {
                    problems.push(
                        &path.key(field).index(index),
                        format!(
                            "{:?} does not run in region {region:?} (it runs in: {})",
                            config.service,
                            running.join(", ")
                        ),
                    );
                }
            }
            listed.clone()
        };
        let from = pick("from", &config.from);
        let to = pick("to", &config.to);
        if from.iter().all(|f| to.iter().all(|t| t == f)) && problems.len() == before {
            problems.push(
                &path.key("to"),
                "leaves no region to poll: a region is never polled for its own markers",
            );
        }
        let client = match (&config.write, &config.read, &config.client) {
            (Some(write), Some(read), None) => {
                write.check(&path.key("write"), problems);
                read.check(&path.key("read"), problems);
                if !mentions_marker(write) {
                    problems.push(
                        &path.key("write"),
                        "must carry {marker} in its path or body, or markers cannot be told apart",
                    );
                }
                None
            }
            (None, None, Some(client)) => client.check(&path.key("client"), links, problems),
            (_, _, Some(_)) => {
                problems.push(
                    &path.key("client"),
                    "replaces `write` and `read`: give either the client or both requests",
                );
                None
            }
            (write, _, None) => {
                let missing = if write.is_none() { "write" } else { "read" };
                problems.push(
                    &path.key(missing),
                    "is required (or a `client` that writes and reads markers)",
                );
                None
            }
        };
        let every = config.every.unwrap_or(DEFAULT_EVERY);
        if every.is_zero() {
            problems.push(&path.key("every"), "must be greater than zero");
        }
        let timeout = config.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            problems.push(&path.key("timeout"), "must be greater than zero");
        }
        if let Some(name) = &config.name {
            if name.trim().is_empty() {
                problems.push(&path.key("name"), "must not be empty");
            }
        }
        if problems.len() != before {
            return None;
        }
        let unused = RequestConfig::new("GET", "/");
        Some(Probe::Replication(ReplicationProbe {
            name: config
                .name
                .clone()
                .unwrap_or_else(|| format!("replication-{}", config.service)),
            service: config.service.clone(),
            write: Request::from(config.write.as_ref().unwrap_or(&unused)),
            read: Request::from(config.read.as_ref().unwrap_or(&unused)),
            client,
            from,
            to,
            every,
            timeout,
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(value: serde_json::Value) -> (Option<Probe>, Vec<String>) {
        let config: ProbeConfig = serde_json::from_value(value).unwrap();
        let mut problems = Problems::new();
        let regions = |service: &str| {
            (service == "kv").then(|| {
                vec![
                    "us-east".to_owned(),
                    "eu-west".to_owned(),
                    "ap-northeast".to_owned(),
                ]
            })
        };
        let probe = config.check(
            &FieldPath::root().key("probes").index(0),
            &regions,
            &|_| true,
            &mut problems,
        );
        (
            probe,
            problems
                .into_vec()
                .into_iter()
                .map(|p| p.to_string())
                .collect(),
        )
    }

    #[test]
    fn a_replication_probe_defaults_to_every_region() {
        let (Some(Probe::Replication(probe)), problems) = check(json!({"replication": {
            "service": "kv",
            "write": {"method": "PUT", "path": "/kv/{marker}", "body": "{marker}"},
            "read": {"path": "/kv/{marker}"}
        }})) else {
            panic!("invalid")
        };
        assert!(problems.is_empty());
        assert_eq!(probe.name, "replication-kv");
        assert_eq!(probe.from, ["us-east", "eu-west", "ap-northeast"]);
        assert_eq!(probe.every, DEFAULT_EVERY);
    }

    #[test]
    fn a_client_probe_replaces_both_requests() {
        let (Some(Probe::Replication(probe)), problems) = check(json!({"replication": {
            "service": "kv", "client": {"command": ["python3", "c.py", "{addr}"]}
        }})) else {
            panic!("invalid")
        };
        assert!(problems.is_empty(), "{problems:?}");
        assert!(probe.client.is_some());
        let (_, problems) = check(json!({"replication": {
            "service": "kv", "client": {"command": ["c"]}, "read": {"path": "/kv/{marker}"}
        }}));
        assert_eq!(
            problems,
            ["probes[0].replication.client: replaces `write` and `read`: give either the client or both requests"]
        );
        let (_, problems) = check(json!({"replication": {
            "service": "kv", "write": {"method": "PUT", "path": "/kv/{marker}"}
        }}));
        assert_eq!(
            problems,
            ["probes[0].replication.read: is required (or a `client` that writes and reads markers)"]
        );
    }

    #[test]
    fn a_probe_without_a_marker_or_a_target_is_refused() {
        let (_, problems) = check(json!({"replication": {
            "service": "kv", "from": ["us-east"], "to": ["us-east", "mars"],
            "write": {"method": "PUT", "path": "/kv/x"}, "read": {"path": "/kv/x"}
        }}));
        assert_eq!(
            problems,
            [
                "probes[0].replication.to[1]: \"kv\" does not run in region \"mars\" (it runs in: us-east, eu-west, ap-northeast)",
                "probes[0].replication.write: must carry {marker} in its path or body, or markers cannot be told apart",
            ]
        );
    }
}
