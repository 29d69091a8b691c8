//! `partition`: cut the links between groups of regions.
//!
//! A partition is stated as region groups (`[["us-east"], ["eu-west",
//! "ap-northeast"]]`) or as a named shape, and compiles to a set of **cut
//! flows**: ordered pairs (source region, target region) whose bytes no longer
//! arrive. A flow `A → B` is carried by two kinds of link stream:
//!
//! - the `upstream` stream of every link `A->B:*` (A's clients' requests), and
//! - the `downstream` stream of every link `B->A:*` (A's services' responses to B's clients).
//!
//! A two-way partition cuts both flows of every region pair across a group
//! boundary, so both streams of every link between them. `one_way` cuts only
//! the flows from the first group to the others. Regions named in no group are
//! untouched.
//!
//! Shapes (Jepsen's nemesis vocabulary):
//! - `isolate: R`: groups `[[R], every other region]`.
//! - `halves: "ordered" | "random"`: the regions (in scenario order, or
//!   shuffled by the seed) split into a first half of ⌊n/2⌋ and the rest.
//! - `bridge: R`: the other regions split in halves as above, and the halves
//!   cut from each other; R still reaches both (two-way only).
//! - `majorities_ring: "ordered" | "random"`: the regions in a ring; each keeps
//!   the ⌊m/2⌋ nearest regions on each side, m = ⌊n/2⌋ + 1 being a majority,
//!   so every region sees a majority and no two see the same one (two-way
//!   only; at least four regions).

use std::collections::BTreeSet;
use std::fmt;

use faultline_proxies::{Direction, Fault, FaultKind, OnHeal};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::Network;
use crate::base::LinkId;
use crate::base::{FieldPath, Problems};

/// A partition as the scenario file writes it: groups, or an object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PartitionConfig {
    /// `[["us-east"], ["eu-west"]]`: a two-way blackhole between the groups.
    Groups(Vec<Vec<String>>),
    /// `{"isolate": "us-east", "mode": "reject"}` and the other options.
    Spec(PartitionSpec),
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// The object form of a partition. Exactly one of `groups`, `isolate`,
/// `halves`, `bridge` and `majorities_ring`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    /// Region groups; every link crossing a group boundary is cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Vec<String>>>,
    /// Cut one region from all the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolate: Option<String>,
    /// Cut the regions into two halves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halves: Option<Order>,
    /// Two halves joined only through this region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// Every region sees a majority, no two the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub majorities_ring: Option<Order>,
    /// Cut only the traffic from the first group to the others (default false).
    #[serde(default, skip_serializing_if = "is_false")]
    pub one_way: bool,
    /// `blackhole` (default): bytes are held, connections hang; `reject`:
    /// connections are reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<PartitionMode>,
    /// For a blackhole: what happens to held bytes at the heal (default `deliver`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_heal: Option<OnHealConfig>,
    /// Only links of these services are cut (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for PartitionConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PartitionVisitor;

        impl<'de> Visitor<'de> for PartitionVisitor {
            type Value = PartitionConfig;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("region groups ([[\"us-east\"], [\"eu-west\"]]) or an object ({\"isolate\": \"us-east\"})")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<PartitionConfig, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(PartitionConfig::Groups)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PartitionConfig, A::Error> {
                PartitionSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(PartitionConfig::Spec)
            }
        }

        deserializer.deserialize_any(PartitionVisitor)
    }
}

/// Region order for a shape: as listed in the scenario, or shuffled by the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// The scenario's `regions` order.
    Ordered,
    /// Shuffled with the step's RNG (a new draw at each activation).
    Random,
}

/// How a partition cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionMode {
    /// Bytes are held and nothing arrives; connections hang.
    #[default]
    Blackhole,
    /// Connections are reset at once, new ones refused.
    Reject,
}

/// What a blackhole does with held bytes when it heals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnHealConfig {
    /// Deliver them at the sender's next retransmission (as TCP would).
    Deliver,
    /// Deliver them at once.
    DeliverNow,
    /// Reset the connections.
    Reset,
}

impl From<OnHealConfig> for OnHeal {
    fn from(config: OnHealConfig) -> Self {
        match config {
            OnHealConfig::Deliver => OnHeal::Deliver,
            OnHealConfig::DeliverNow => OnHeal::DeliverNow,
            OnHealConfig::Reset => OnHeal::Reset,
        }
    }
}

impl PartitionConfig {
    /// A two-way blackhole between these groups.
    pub fn groups<G, R, S>(groups: G) -> Self
    where
        G: IntoIterator<Item = R>,
        R: IntoIterator<Item = S>,
        S: Into<String>,
    {
        PartitionConfig::Groups(
            groups
                .into_iter()
                .map(|g| g.into_iter().map(Into::into).collect())
                .collect(),
        )
    }

    /// Cut `region` from every other region.
    pub fn isolate(region: impl Into<String>) -> Self {
        PartitionConfig::Spec(PartitionSpec {
            isolate: Some(region.into()),
            ..PartitionSpec::default()
        })
    }

    /// Cut the regions into halves.
    pub fn halves(order: Order) -> Self {
        PartitionConfig::Spec(PartitionSpec {
            halves: Some(order),
            ..PartitionSpec::default()
        })
    }

    /// Two halves joined only through `region`.
    pub fn bridge(region: impl Into<String>) -> Self {
        PartitionConfig::Spec(PartitionSpec {
            bridge: Some(region.into()),
            ..PartitionSpec::default()
        })
    }

    /// Jepsen's majorities ring.
    pub fn majorities_ring(order: Order) -> Self {
        PartitionConfig::Spec(PartitionSpec {
            majorities_ring: Some(order),
            ..PartitionSpec::default()
        })
    }

    fn into_spec(self) -> PartitionSpec {
        match self {
            PartitionConfig::Groups(groups) => PartitionSpec {
                groups: Some(groups),
                ..PartitionSpec::default()
            },
            PartitionConfig::Spec(spec) => spec,
        }
    }

    /// Only the traffic from the first group to the others.
    #[must_use]
    pub fn one_way(self) -> Self {
        PartitionConfig::Spec(PartitionSpec {
            one_way: true,
            ..self.into_spec()
        })
    }

    /// Reset connections instead of holding them.
    #[must_use]
    pub fn reject(self) -> Self {
        PartitionConfig::Spec(PartitionSpec {
            mode: Some(PartitionMode::Reject),
            ..self.into_spec()
        })
    }

    /// What a blackhole does with held bytes when it heals.
    #[must_use]
    pub fn on_heal(self, on_heal: OnHealConfig) -> Self {
        PartitionConfig::Spec(PartitionSpec {
            on_heal: Some(on_heal),
            ..self.into_spec()
        })
    }

    /// Checks the partition against the scenario's regions and links.
    pub(crate) fn check(
        &self,
        path: &FieldPath,
        network: &Network,
        problems: &mut Problems,
    ) -> Option<Partition> {
        let before = problems.len();
        let (spec, groups_path) = match self {
            PartitionConfig::Groups(groups) => (
                PartitionSpec {
                    groups: Some(groups.clone()),
                    ..PartitionSpec::default()
                },
                path.clone(),
            ),
            PartitionConfig::Spec(spec) => (spec.clone(), path.key("groups")),
        };
        let named = [
            ("groups", spec.groups.is_some()),
            ("isolate", spec.isolate.is_some()),
            ("halves", spec.halves.is_some()),
            ("bridge", spec.bridge.is_some()),
            ("majorities_ring", spec.majorities_ring.is_some()),
        ];
        let given: Vec<&str> = named
            .iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| *name)
            .collect();
        if given.len() != 1 {
            problems.push(
                path,
                format!(
                    "needs exactly one of `groups`, `isolate`, `halves`, `bridge`, `majorities_ring` (got {})",
                    if given.is_empty() { "none".to_owned() } else { given.join(", ") }
                ),
            );
            return None;
        }
        let n = network.regions.len();
        let region_known = |region: &str, at: &FieldPath, problems: &mut Problems| {
            let known = network.has_region(region);
            if !known {
                problems.push(
                    at,
                    format!(
                        "unknown region {region:?} (regions: {})",
                        network.regions.join(", ")
                    ),
                );
            }
            known
        };
        let shape = if let Some(groups) = spec.groups {
            if groups.len() < 2 {
                problems.push(
                    &groups_path,
                    "needs at least two groups: one group cuts nothing",
                );
            }
            let mut seen = BTreeSet::new();
            for (g, group) in groups.iter().enumerate() {
                if group.is_empty() {
                    problems.push(&groups_path.index(g), "is an empty group");
                }
                for (r, region) in group.iter().enumerate() {
                    let at = groups_path.index(g).index(r);
                    if region_known(region, &at, problems) && !seen.insert(region.as_str()) {
                        problems.push(&at, format!("region {region:?} is in two groups"));
                    }
                }
            }
            Shape::Groups(groups)
        } else if let Some(region) = spec.isolate {
            region_known(&region, &path.key("isolate"), problems);
            if n < 2 {
                problems.push(&path.key("isolate"), "needs at least two regions");
            }
            Shape::Isolate(region)
        } else if let Some(order) = spec.halves {
            if n < 2 {
                problems.push(&path.key("halves"), "needs at least two regions");
            }
            Shape::Halves(order)
        } else if let Some(region) = spec.bridge {
            region_known(&region, &path.key("bridge"), problems);
            if n < 3 {
                problems.push(
                    &path.key("bridge"),
                    format!("needs at least three regions (the scenario has {n})"),
                );
            }
            Shape::Bridge(region)
        } else {
            if n < 4 {
                problems.push(
                    &path.key("majorities_ring"),
                    format!("needs at least four regions (the scenario has {n})"),
                );
            }
            Shape::MajoritiesRing(spec.majorities_ring.unwrap_or(Order::Ordered))
        };
        if spec.one_way && matches!(shape, Shape::Bridge(_) | Shape::MajoritiesRing(_)) {
            problems.push(&path.key("one_way"), "applies to groups, `isolate` and `halves` only: a bridge or a ring has no first group");
        }
        let mode = spec.mode.unwrap_or_default();
        let kind = match (mode, spec.on_heal) {
            (PartitionMode::Blackhole, on_heal) => FaultKind::Blackhole {
                on_heal: on_heal.map_or(OnHeal::Deliver, OnHeal::from),
            },
            (PartitionMode::Reject, None) => FaultKind::Reject,
            (PartitionMode::Reject, Some(_)) => {
                problems.push(
                    &path.key("on_heal"),
                    "applies to `blackhole` only: a `reject` holds no bytes",
                );
                FaultKind::Reject
            }
        };
        if let Some(services) = &spec.services {
            network.check_services(services, &path.key("services"), problems);
        }
        if problems.len() != before {
            return None;
        }
        let partition = Partition {
            shape,
            one_way: spec.one_way,
            kind,
            services: spec.services,
        };
        let fixed = !matches!(
            partition.shape,
            Shape::Halves(Order::Random) | Shape::MajoritiesRing(Order::Random)
        );
        if fixed
            && !network.links_incomplete
            && partition
                .streams(network, &mut super::step_rng(0, 0))
                .is_empty()
        {
            problems.push(
                path,
                "cuts no declared link: no link joins regions it separates",
            );
            return None;
        }
        Some(partition)
    }
}

/// How a validated partition picks the regions it separates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Explicit groups.
    Groups(Vec<Vec<String>>),
    /// One region against the rest.
    Isolate(String),
    /// Two halves.
    Halves(Order),
    /// Two halves joined through one region.
    Bridge(String),
    /// Jepsen's majorities ring.
    MajoritiesRing(Order),
}

/// A validated partition.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    /// Which regions it separates.
    pub shape: Shape,
    /// Only the flows from the first group to the others.
    pub one_way: bool,
    /// `Blackhole { on_heal }` or `Reject`.
    pub kind: FaultKind,
    /// Only links of these services, if set.
    pub services: Option<Vec<String>>,
}

fn split_halves(regions: Vec<String>) -> Vec<Vec<String>> {
    let mut first = regions;
    let second = first.split_off(first.len() / 2);
    vec![first, second]
}

impl Partition {
    /// The cut flows, (source, target): bytes from source no longer reach target.
    /// Random orders draw from `rng`.
    pub fn flows(&self, regions: &[String], rng: &mut ChaCha8Rng) -> BTreeSet<(String, String)> {
        let ordered = |order: Order, rng: &mut ChaCha8Rng| {
            let mut list = regions.to_vec();
            if order == Order::Random {
                list.shuffle(rng);
            }
            list
        };
        let groups = match &self.shape {
            Shape::Groups(groups) => groups.clone(),
            Shape::Isolate(region) => {
                vec![
                    vec![region.clone()],
                    regions.iter().filter(|r| *r != region).cloned().collect(),
                ]
            }
            Shape::Halves(order) => split_halves(ordered(*order, rng)),
            Shape::Bridge(bridge) => {
                split_halves(regions.iter().filter(|r| *r != bridge).cloned().collect())
            }
            Shape::MajoritiesRing(order) => {
                let ring = ordered(*order, rng);
                let n = ring.len();
                let majority = n / 2 + 1;
                let keep = majority / 2;
                let mut flows = BTreeSet::new();
                for (i, a) in ring.iter().enumerate() {
                    for (j, b) in ring.iter().enumerate() {
                        let distance = i.abs_diff(j).min(n - i.abs_diff(j));
                        if distance > keep {
                            flows.insert((a.clone(), b.clone()));
                        }
                    }
                }
                return flows;
            }
        };
        let mut flows = BTreeSet::new();
        for (i, sources) in groups.iter().enumerate() {
            if self.one_way && i > 0 {
                break;
            }
            for (j, targets) in groups.iter().enumerate() {
                if i == j {
                    continue;
                }
                for source in sources {
                    for target in targets {
                        flows.insert((source.clone(), target.clone()));
                    }
                }
            }
        }
        flows
    }

    /// The regions the partition is aimed at, in scenario order: the regions
    /// of its groups; for `isolate`, the isolated region alone; for `bridge`,
    /// every region but the bridge; for `halves` and `majorities_ring`, all.
    pub fn targets(&self, regions: &[String]) -> Vec<String> {
        regions
            .iter()
            .filter(|region| match &self.shape {
                Shape::Groups(groups) => groups.iter().flatten().any(|r| r == *region),
                Shape::Isolate(isolated) => isolated == *region,
                Shape::Bridge(bridge) => bridge != *region,
                Shape::Halves(_) | Shape::MajoritiesRing(_) => true,
            })
            .cloned()
            .collect()
    }

    /// The link streams the partition cuts, in network link order, upstream first.
    pub fn streams(&self, network: &Network, rng: &mut ChaCha8Rng) -> Vec<(LinkId, Direction)> {
        let flows = self.flows(&network.regions, rng);
        let mut streams = Vec::new();
        for link in &network.links {
            if self
                .services
                .as_ref()
                .is_some_and(|services| !services.contains(&link.service))
            {
                continue;
            }
            for direction in Direction::BOTH {
                let carries = |(source, target): &(String, String)| {
                    link.stream_carrying(source, target) == Some(direction)
                };
                if flows.iter().any(carries) {
                    streams.push((link.clone(), direction));
                }
            }
        }
        streams
    }

    /// The proxy faults that make the cut, named `{prefix}-partition-{stream}`.
    pub fn faults(
        &self,
        network: &Network,
        rng: &mut ChaCha8Rng,
        prefix: &str,
    ) -> Vec<(LinkId, Fault)> {
        self.streams(network, rng)
            .into_iter()
            .map(|(link, direction)| {
                let fault = Fault::new(direction, self.kind.clone())
                    .named(format!("{prefix}-partition-{direction}"));
                (link, fault)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schedule::step_rng;
    use crate::schedule::synthetic::{checked, mesh};

    fn network(regions: &[&str]) -> Network {
        mesh(regions, "kv")
    }

    fn partition(value: serde_json::Value, network: &Network) -> Result<Partition, Vec<String>> {
        checked(
            value,
            "partition",
            network,
            |config: &PartitionConfig, path, context, problems| {
                config.check(path, context.network, problems)
            },
        )
    }

    fn cut(value: serde_json::Value, network: &Network) -> Vec<String> {
        partition(value, network)
            .unwrap()
            .streams(network, &mut step_rng(1, 0))
            .into_iter()
            .map(|(link, direction)| format!("{link} {direction}"))
            .collect()
    }

    #[test]
    fn isolating_one_of_three_regions_leaves_the_other_two_connected() {
        let net = network(&["us-east", "eu-west", "ap-northeast"]);
        let cut = cut(json!({"isolate": "us-east"}), &net);
        assert_eq!(
            cut,
            [
                "us-east->eu-west:kv upstream",
                "us-east->eu-west:kv downstream",
                "us-east->ap-northeast:kv upstream",
                "us-east->ap-northeast:kv downstream",
                "eu-west->us-east:kv upstream",
                "eu-west->us-east:kv downstream",
                "ap-northeast->us-east:kv upstream",
                "ap-northeast->us-east:kv downstream",
            ]
        );
        assert!(
            cut.iter().all(|c| c.contains("us-east")),
            "eu-west <-> ap-northeast must stay up"
        );
    }

    #[test]
    fn a_one_way_partition_cuts_only_the_streams_leaving_the_first_group() {
        let net = network(&["us-east", "eu-west"]);
        let cut = cut(
            json!({"groups": [["us-east"], ["eu-west"]], "one_way": true}),
            &net,
        );
        // us-east's requests to eu-west, and us-east's responses to eu-west's clients.
        assert_eq!(
            cut,
            [
                "us-east->eu-west:kv upstream",
                "eu-west->us-east:kv downstream"
            ]
        );
    }

    #[test]
    fn a_majorities_ring_of_five_cuts_each_region_from_its_two_far_neighbours() {
        let net = network(&["a", "b", "c", "d", "e"]);
        let p = partition(json!({"majorities_ring": "ordered"}), &net).unwrap();
        let flows = p.flows(&net.regions, &mut step_rng(0, 0));
        let pairs: BTreeSet<(String, String)> =
            flows.iter().filter(|(s, t)| s < t).cloned().collect();
        let expected: BTreeSet<(String, String)> =
            [("a", "c"), ("a", "d"), ("b", "d"), ("b", "e"), ("c", "e")]
                .iter()
                .map(|(s, t)| (s.to_string(), t.to_string()))
                .collect();
        assert_eq!(pairs, expected);
        // Every region sees a majority (itself and two others), and no two see the same set.
        let mut views = BTreeSet::new();
        for region in &net.regions {
            let view: BTreeSet<&String> = net
                .regions
                .iter()
                .filter(|other| !flows.contains(&(region.clone(), (*other).clone())))
                .collect();
            assert_eq!(view.len(), 3, "{region} sees {view:?}");
            assert!(views.insert(view), "two regions see the same majority");
        }
    }

    #[test]
    fn a_bridge_keeps_its_region_connected_to_both_halves() {
        let net = network(&["a", "b", "c"]);
        let p = partition(json!({"bridge": "b"}), &net).unwrap();
        let flows = p.flows(&net.regions, &mut step_rng(0, 0));
        let expected: BTreeSet<(String, String)> = [("a", "c"), ("c", "a")]
            .iter()
            .map(|(s, t)| (s.to_string(), t.to_string()))
            .collect();
        assert_eq!(flows, expected);
    }

    #[test]
    fn random_halves_depend_on_the_seed_only() {
        let net = network(&["a", "b", "c", "d", "e", "f"]);
        let p = partition(json!({"halves": "random"}), &net).unwrap();
        let draw = |seed| p.flows(&net.regions, &mut step_rng(seed, 3));
        assert_eq!(draw(7), draw(7));
        assert!(
            (0..20).any(|seed| draw(seed) != draw(7)),
            "the seed never changed the halves"
        );
    }

    #[test]
    fn reject_mode_resets_and_on_heal_needs_a_blackhole() {
        let net = network(&["a", "b"]);
        let p = partition(json!({"isolate": "a", "mode": "reject"}), &net).unwrap();
        assert_eq!(p.kind, FaultKind::Reject);
        let p = partition(json!({"isolate": "a", "on_heal": "reset"}), &net).unwrap();
        assert_eq!(
            p.kind,
            FaultKind::Blackhole {
                on_heal: OnHeal::Reset
            }
        );
        let err = partition(
            json!({"isolate": "a", "mode": "reject", "on_heal": "reset"}),
            &net,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ["partition.on_heal: applies to `blackhole` only: a `reject` holds no bytes"]
        );
    }

    #[test]
    fn bad_partitions_name_the_region_and_its_place() {
        let net = network(&["us-east", "eu-west"]);
        assert_eq!(
            partition(json!([["us-east"], ["eu-wets"]]), &net).unwrap_err(),
            ["partition[1][0]: unknown region \"eu-wets\" (regions: us-east, eu-west)"]
        );
        assert_eq!(
            partition(json!([["us-east", "eu-west"], ["eu-west"]]), &net).unwrap_err(),
            ["partition[1][0]: region \"eu-west\" is in two groups"]
        );
        assert!(
            partition(json!({"majorities_ring": "ordered"}), &net).unwrap_err()[0]
                .contains("four regions")
        );
        assert!(
            partition(json!({"isolate": "us-east", "halves": "ordered"}), &net).unwrap_err()[0]
                .contains("exactly one")
        );
    }

    #[test]
    fn a_partition_that_cuts_no_link_is_refused() {
        let mut net = network(&["a", "b", "c"]);
        net.links.retain(|l| l.touches("a") && l.touches("b"));
        assert_eq!(
            partition(json!({"isolate": "c"}), &net).unwrap_err(),
            ["partition: cuts no declared link: no link joins regions it separates"]
        );
    }
}
