//! Links: the directed paths between regions that go through a proxy.
//!
//! A link `FROM->TO:SERVICE` is one proxy: region FROM's clients connect to it
//! and its upstream is SERVICE in region TO. Its `upstream` stream carries the
//! bytes FROM → TO (requests), its `downstream` stream the bytes TO → FROM
//! (responses), Toxiproxy's names.
//!
//! A scenario declares links three ways: `between` two regions (both
//! directions), `from`/`to` (one direction) or `mesh` (every ordered pair of
//! regions whose target runs the service). A link may carry a baseline: effects
//! installed when its proxy is created and kept for the whole drill (the
//! chapter's 80 ms round trip between us-east and eu-west is a 40 ms `latency`
//! on each stream), scaled by the scenario's `baseline_scale`.

use std::time::Duration;

use faultline_proxies::{Direction, Fault};
use serde::{Deserialize, Serialize};

use crate::base::duration;
use crate::base::effects::{effect_setters, EffectFields, Effects, LossConfig};
pub use crate::base::link_id::{LinkId, LinkIdError};

fn is_false(value: &bool) -> bool {
    !*value
}

/// A `links` entry as the scenario file writes it. Exactly one of `between`,
/// `from` + `to`, or `mesh` says which links it declares.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// Two regions: declares the links both ways between them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<Vec<String>>,
    /// With `to`: declares the one link from this region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// With `from`: the region whose service the link reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `true`: declares a link from every region to every other region that runs `service`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub mesh: bool,
    /// The service the links reach.
    pub service: String,
    /// Baseline one-way delay on each stream (scaled by `baseline_scale`).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub latency: Option<Duration>,
    /// Baseline jitter around the latency (scaled by `baseline_scale`).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub jitter: Option<Duration>,
    /// Baseline loss: a probability or `{probability, correlation, rto}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossConfig>,
    /// Baseline bandwidth in KB/s (1 KB = 1000 bytes) on each stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_kb: Option<u64>,
    /// The port the proxies of these links listen on (default: a free one),
    /// for services configured ahead with fixed peer addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl LinkConfig {
    /// The links both ways between `a` and `b` for `service`.
    pub fn between(a: impl Into<String>, b: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            between: Some(vec![a.into(), b.into()]),
            service: service.into(),
            ..Self::default()
        }
    }

    /// The one link from `from`'s clients to `service` in `to`.
    pub fn directed(
        from: impl Into<String>,
        to: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self {
            from: Some(from.into()),
            to: Some(to.into()),
            service: service.into(),
            ..Self::default()
        }
    }

    /// A link from every region to every other region that runs `service`.
    pub fn mesh(service: impl Into<String>) -> Self {
        Self {
            mesh: true,
            service: service.into(),
            ..Self::default()
        }
    }

    effect_setters!();

    /// With the proxies listening on `port` (on their agent, or on loopback).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    pub(crate) fn effect_fields(&self) -> EffectFields<'_> {
        EffectFields {
            latency: self.latency,
            jitter: self.jitter,
            loss: self.loss.as_ref(),
            rate_kb: self.rate_kb,
            toxicity: None,
        }
    }
}

/// A validated link: one proxy the runner creates.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Which link.
    pub id: LinkId,
    /// The `faultline serve` agent that runs the proxy (the `agents` entry of
    /// the `to` region), or `None` to run it in-process.
    pub agent: Option<String>,
    /// The port its proxy listens on, or `None` for a free one.
    pub port: Option<u16>,
    /// Baseline effects, already multiplied by `baseline_scale`.
    pub baseline: Effects,
}

impl Link {
    /// The baseline as proxy faults, both streams, named
    /// `baseline-{kind}-{stream}`; installed when the proxy is created.
    pub fn baseline_faults(&self) -> Vec<Fault> {
        Direction::BOTH
            .into_iter()
            .flat_map(|direction| self.baseline.faults("baseline", direction))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_id_reads_back_what_it_writes() {
        let id = LinkId::new("us-east", "eu-west", "inventory");
        assert_eq!(id.to_string(), "us-east->eu-west:inventory");
        assert_eq!("us-east->eu-west:inventory".parse::<LinkId>().unwrap(), id);
        assert!("us-east-eu-west:inventory".parse::<LinkId>().is_err());
        assert!("us-east->eu-west".parse::<LinkId>().is_err());
    }

    #[test]
    fn the_upstream_stream_carries_bytes_from_the_client_region() {
        let id = LinkId::new("us-east", "eu-west", "kv");
        assert_eq!(
            id.stream_carrying("us-east", "eu-west"),
            Some(Direction::Upstream)
        );
        assert_eq!(
            id.stream_carrying("eu-west", "us-east"),
            Some(Direction::Downstream)
        );
        assert_eq!(id.stream_carrying("eu-west", "ap-northeast"), None);
    }

    #[test]
    fn a_baseline_installs_on_both_streams() {
        let link = Link {
            id: LinkId::new("a", "b", "s"),
            agent: None,
            port: None,
            baseline: Effects {
                latency: Some((Duration::from_millis(40), Duration::ZERO)),
                ..Effects {
                    toxicity: 1.0,
                    ..Effects::default()
                }
            },
        };
        let names: Vec<String> = link.baseline_faults().into_iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            ["baseline-latency-upstream", "baseline-latency-downstream"]
        );
    }

    #[test]
    fn link_configs_refuse_unknown_fields() {
        let err = serde_json::from_str::<LinkConfig>(
            r#"{"between": ["a", "b"], "service": "s", "latncy": "4ms"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("latncy"), "{err}");
    }
}
