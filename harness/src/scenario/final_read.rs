//! Final reads: the state of every region's instance of a service, read once
//! after the schedule ended and every fault healed.
//!
//! `"final_reads": {"inventory": {"path": "/state"}}` makes the runner `GET
//! /state` from each region running `inventory` and record it as an operation
//! named `final_read` whose key is the service (what the `convergence` and
//! `no_lost_writes` invariants read).
//!
//! With a `client` ([`super::client`]) instead of a `path`, the runner sends
//! `{"op": "final_read"}` to each region's client, whose `ok` answer's
//! `value` (a JSON object) is the region's state.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::client::{ClientCommand, ClientConfig};
use super::link::LinkId;
use crate::base::duration;
use crate::base::{FieldPath, Problems};

/// How long a final read may take unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A `final_reads` entry as the scenario file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalReadConfig {
    /// The path to `GET`, starting with `/` (exclusive with `client`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A client process that reads the state instead (exclusive with `path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientConfig>,
    /// How long the read may take (default `"5s"`).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
}

impl FinalReadConfig {
    /// `GET path` at the end of the drill.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: Some(path.into()),
            client: None,
            timeout: None,
        }
    }

    /// `{"op": "final_read"}` to each region's client at the end of the drill.
    pub fn with_client(client: ClientConfig) -> Self {
        Self {
            path: None,
            client: Some(client),
            timeout: None,
        }
    }

    pub(crate) fn check(
        &self,
        service: &str,
        path: &FieldPath,
        known_service: bool,
        links: &dyn Fn(&LinkId) -> bool,
        problems: &mut Problems,
    ) -> Option<FinalRead> {
        let before = problems.len();
        if !known_service {
            problems.push(path, format!("unknown service {service:?}"));
        }
        let client = match (&self.path, &self.client) {
            (Some(read), None) => {
                if !read.starts_with('/') {
                    problems.push(&path.key("path"), format!("{read:?} must start with \"/\""));
                }
                None
            }
            (None, Some(client)) => client.check(&path.key("client"), links, problems),
            (Some(_), Some(_)) => {
                problems.push(
                    path,
                    "give either `path` (HTTP GET) or `client` (a client process), not both",
                );
                None
            }
            (None, None) => {
                problems.push(
                    path,
                    "needs a `path` (HTTP GET) or a `client` (a client process)",
                );
                None
            }
        };
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            problems.push(&path.key("timeout"), "must be greater than zero");
        }
        (problems.len() == before).then(|| FinalRead {
            service: service.to_owned(),
            path: self.path.clone().unwrap_or_default(),
            client,
            timeout,
        })
    }
}

/// A validated final read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalRead {
    /// The service read (the records' key).
    pub service: String,
    /// The path to `GET` (empty for a client read).
    pub path: String,
    /// The client process that reads the state instead of a `GET`.
    pub client: Option<ClientCommand>,
    /// The read's deadline.
    pub timeout: Duration,
}
