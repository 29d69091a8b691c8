//! Final reads: the state of every region's instance of a service, read once
//! after the schedule ended and every fault healed.
//!
//! `"final_reads": {"inventory": {"path": "/state"}}` makes the runner `GET
//! /state` from each region running `inventory` and record it as an operation
//! named `final_read` whose key is the service (what the `convergence` and
//! `no_lost_writes` invariants read).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::base::duration;
use crate::base::{FieldPath, Problems};

/// How long a final read may take unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A `final_reads` entry as the scenario file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalReadConfig {
    /// The path to `GET`, starting with `/`.
    pub path: String,
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
            path: path.into(),
            timeout: None,
        }
    }

    pub(crate) fn check(
        &self,
        service: &str,
        path: &FieldPath,
        known_service: bool,
        problems: &mut Problems,
    ) -> Option<FinalRead> {
        let before = problems.len();
        if !known_service {
            problems.push(path, format!("unknown service {service:?}"));
        }
        if !self.path.starts_with('/') {
            problems.push(
                &path.key("path"),
                format!("{:?} must start with \"/\"", self.path),
            );
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            problems.push(&path.key("timeout"), "must be greater than zero");
        }
        (problems.len() == before).then(|| FinalRead {
            service: service.to_owned(),
            path: self.path.clone(),
            timeout,
        })
    }
}

/// A validated final read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalRead {
    /// The service read (the records' key).
    pub service: String,
    /// The path to `GET`.
    pub path: String,
    /// The read's deadline.
    pub timeout: Duration,
}
