//! Small networks and checked configs for the schedule kinds' unit tests.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Context, Network};
use crate::base::LinkId;
use crate::base::{FieldPath, Problems};

/// `regions` with a link of `service` from every region to every other, in
/// region order.
pub(crate) fn mesh(regions: &[&str], service: &str) -> Network {
    let regions: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
    let mut links = Vec::new();
    for from in &regions {
        for to in &regions {
            if from != to {
                links.push(LinkId::new(from, to, service));
            }
        }
    }
    Network::new(regions, links, vec![service.into()])
}

/// `value` read as a `C` and checked by `check` at field `key`, on `network`
/// in a step window of 60 s: the checked fault, or every problem as text.
///
/// # Panics
/// If `value` does not have the shape of a `C`.
pub(crate) fn checked<C: DeserializeOwned, T>(
    value: Value,
    key: &str,
    network: &Network,
    check: impl FnOnce(&C, &FieldPath, &Context<'_>, &mut Problems) -> Option<T>,
) -> Result<T, Vec<String>> {
    let config: C = serde_json::from_value(value).unwrap();
    let context = Context {
        network,
        span: Duration::from_secs(60),
    };
    let mut problems = Problems::new();
    check(
        &config,
        &FieldPath::root().key(key),
        &context,
        &mut problems,
    )
    .ok_or_else(|| {
        problems
            .into_vec()
            .into_iter()
            .map(|p| p.to_string())
            .collect()
    })
}
