//! What a lease looks like on the wire (`/faultline/leases`): the header
//! that puts a creation under a lease, the create body and the listing, shared
//! by the agent's server (`api::leases`) and the drill's client.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::base::duration;

/// The request header naming the lease a creation falls under.
pub const LEASE_HEADER: &str = "x-faultline-lease";

/// The body of `POST /faultline/leases`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseConfig {
    /// Who holds it (a drill's name and pid), for logs and listings.
    #[serde(default)]
    pub holder: Option<String>,
    /// How long it lasts without a renewal (default: the agent's).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl: Option<Duration>,
}

/// Where a lease is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseState {
    /// Renewed in time so far.
    Active,
    /// Not renewed within its TTL: what it covered was healed.
    Lapsed,
    /// Ended by `DELETE`: what it still covered was healed.
    Released,
}

/// A toxic a lease covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CoveredToxic {
    /// The proxy.
    pub proxy: String,
    /// The toxic.
    pub toxic: String,
}

/// A lease as `GET /faultline/leases` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseJson {
    /// `lease-N`.
    pub id: String,
    /// Who holds it.
    pub holder: String,
    /// Its state.
    pub state: LeaseState,
    /// Its TTL in milliseconds.
    pub ttl_ms: u64,
    /// Milliseconds until it lapses unless renewed (0 once ended).
    pub expires_in_ms: u64,
    /// How many times it was renewed.
    pub renewals: u64,
    /// Proxies created under it (and not removed since).
    pub proxies: Vec<String>,
    /// Toxics added under it (and not removed since).
    pub toxics: Vec<CoveredToxic>,
    /// Schedules started under it.
    pub schedules: Vec<String>,
    /// What ending it removed, once ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub healed: Vec<String>,
}
