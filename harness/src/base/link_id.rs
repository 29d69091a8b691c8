//! [`LinkId`]: the name of one link, `FROM->TO:SERVICE`, as scenarios,
//! schedules, histories, plans and the API's link routes all write it.

use std::fmt;
use std::str::FromStr;

use faultline_proxies::Direction;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The identity of a link, written `from->to:service` (the form history
/// records, placeholders and plans use).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId {
    /// The region whose clients use the link.
    pub from: String,
    /// The region whose service the link reaches.
    pub to: String,
    /// The service reached.
    pub service: String,
}

impl LinkId {
    /// The link from `from`'s clients to `service` in `to`.
    pub fn new(from: impl Into<String>, to: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            service: service.into(),
        }
    }

    /// Whether `region` is one of the link's two ends.
    pub fn touches(&self, region: &str) -> bool {
        self.from == region || self.to == region
    }

    /// The stream of this link that carries bytes from region `source` to
    /// region `target`, if the link joins them: `upstream` when `source` is
    /// the link's client side, `downstream` when it is the server side.
    pub fn stream_carrying(&self, source: &str, target: &str) -> Option<Direction> {
        if self.from == source && self.to == target {
            Some(Direction::Upstream)
        } else if self.from == target && self.to == source {
            Some(Direction::Downstream)
        } else {
            None
        }
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}:{}", self.from, self.to, self.service)
    }
}

/// Why text is not a link id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a link (write FROM->TO:SERVICE, e.g. us-east->eu-west:inventory)")]
pub struct LinkIdError(pub String);

impl FromStr for LinkId {
    type Err = LinkIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || LinkIdError(text.to_owned());
        let (from, rest) = text.split_once("->").ok_or_else(error)?;
        let (to, service) = rest.split_once(':').ok_or_else(error)?;
        let (from, to, service) = (from.trim(), to.trim(), service.trim());
        if from.is_empty() || to.is_empty() || service.is_empty() {
            return Err(error());
        }
        Ok(LinkId::new(from, to, service))
    }
}

impl Serialize for LinkId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LinkId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
