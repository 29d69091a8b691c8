//! Expansion: validated steps → the concrete [`Timeline`].
//!
//! Each step becomes one or more activations (a flap's cycles, a nemesis's
//! draws, a ramp with its jumps). An activation is a start (its proxy faults
//! added), any updates (a ramp's new values on the same names) and an end (the
//! same names removed). Times are computed unscaled, then multiplied by the
//! time scale: fault attributes (latencies, timeouts) are never scaled.

use std::time::Duration;

use faultline_proxies::Fault;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::timeline::{Change, LinkFaultChange, Timeline, TimelineEntry};
use super::RegionFault;
use super::{scale, step_rng, Network, Step};
use crate::base::LinkId;
use crate::history::FaultAction;

/// Proxy faults, link by link.
type LinkFaults = Vec<(LinkId, Fault)>;

/// One contiguous span of a step's fault.
struct Activation {
    instance: Option<u32>,
    start: Duration,
    end: Duration,
    what: Value,
    /// The regions the fault is aimed at.
    regions: Vec<String>,
    faults: LinkFaults,
    /// Later values of the same faults: (time, statement, faults).
    updates: Vec<(Duration, Value, LinkFaults)>,
}

fn prefix(step: u32, instance: Option<u32>) -> String {
    match instance {
        Some(instance) => format!("s{step}.{instance}"),
        None => format!("s{step}"),
    }
}

fn activations(step: &Step, network: &Network, rng: &mut ChaCha8Rng) -> Vec<Activation> {
    let whole = |faults, regions| Activation {
        instance: None,
        start: step.at,
        end: step.end,
        what: step.what.clone(),
        regions,
        faults,
        updates: Vec::new(),
    };
    let name = prefix(step.index, None);
    let all = &network.regions;
    match &step.fault {
        RegionFault::Partition(partition) => {
            vec![whole(
                partition.faults(network, rng, &name),
                partition.targets(all),
            )]
        }
        RegionFault::Degrade(degrade) => {
            vec![whole(
                degrade.faults_with(&degrade.effects, network, &name),
                degrade.targets(all),
            )]
        }
        RegionFault::Flap(flap) => flap
            .windows(step.at, step.end, rng)
            .into_iter()
            .zip(0..)
            .map(|((start, end), k)| Activation {
                instance: Some(k),
                start,
                end,
                what: flap.what.clone(),
                regions: flap.fault.targets(all),
                faults: flap
                    .fault
                    .faults(network, rng, &prefix(step.index, Some(k))),
                updates: Vec::new(),
            })
            .collect(),
        RegionFault::Ramp(ramp) => {
            let mut points = ramp.points(step.at).into_iter();
            let Some((_, first)) = points.next() else {
                return Vec::new();
            };
            let degrade = &ramp.from;
            let updates = points
                .filter(|(at, _)| *at < step.end)
                .map(|(at, effects)| {
                    (
                        at,
                        degrade.what_with(&effects),
                        degrade.faults_with(&effects, network, &name),
                    )
                })
                .collect();
            vec![Activation {
                instance: None,
                start: step.at,
                end: step.end,
                what: degrade.what_with(&first),
                regions: degrade.targets(all),
                faults: degrade.faults_with(&first, network, &name),
                updates,
            }]
        }
        RegionFault::Random(nemesis) => nemesis
            .draws(step.at, step.end, rng)
            .into_iter()
            .zip(0..)
            .map(|(draw, k)| {
                let (fault, what) = &nemesis.faults[draw.fault];
                Activation {
                    instance: Some(k),
                    start: draw.start,
                    end: draw.end,
                    what: what.clone(),
                    regions: fault.targets(all),
                    faults: fault.faults(network, rng, &prefix(step.index, Some(k))),
                    updates: Vec::new(),
                }
            })
            .collect(),
    }
}

/// Where, when and what one entry is about.
struct Header<'a> {
    step: u32,
    instance: Option<u32>,
    regions: &'a [String],
}

fn entry(
    network: &Network,
    header: &Header<'_>,
    at: Duration,
    action: FaultAction,
    what: Value,
    faults: &[(LinkId, Fault)],
) -> TimelineEntry {
    let mut links: Vec<LinkId> = Vec::new();
    for link in network
        .links
        .iter()
        .filter(|l| faults.iter().any(|(f, _)| f == *l))
    {
        links.push(link.clone());
    }
    let changes = faults
        .iter()
        .map(|(link, fault)| LinkFaultChange {
            link: link.clone(),
            change: match action {
                FaultAction::Start => Change::Add(fault.clone()),
                FaultAction::Update => Change::Update(fault.clone()),
                FaultAction::End => Change::Remove {
                    name: fault.name.clone(),
                    direction: fault.direction,
                },
            },
        })
        .collect();
    TimelineEntry {
        at,
        step: header.step,
        instance: header.instance,
        action,
        what,
        links,
        regions: header.regions.to_vec(),
        changes,
    }
}

fn rank(action: FaultAction) -> u8 {
    match action {
        FaultAction::End => 0,
        FaultAction::Update => 1,
        FaultAction::Start => 2,
    }
}

/// Expands `steps` into the timeline of a drill of `duration` (unscaled),
/// drawing random choices from `seed` and multiplying every time by
/// `time_scale`.
pub fn expand(
    steps: &[Step],
    network: &Network,
    seed: u64,
    duration: Duration,
    time_scale: f64,
) -> Timeline {
    let mut entries = Vec::new();
    for step in steps {
        let mut rng = step_rng(seed, step.index);
        for activation in activations(step, network, &mut rng) {
            if activation.faults.is_empty() || activation.start >= activation.end {
                continue;
            }
            let Activation {
                instance,
                start,
                end,
                what,
                regions,
                faults,
                updates,
            } = activation;
            let header = Header {
                step: step.index,
                instance,
                regions: &regions,
            };
            entries.push(entry(
                network,
                &header,
                start,
                FaultAction::Start,
                what.clone(),
                &faults,
            ));
            let mut last = (what, faults);
            for (at, what, faults) in updates {
                entries.push(entry(
                    network,
                    &header,
                    at,
                    FaultAction::Update,
                    what.clone(),
                    &faults,
                ));
                last = (what, faults);
            }
            entries.push(entry(
                network,
                &header,
                end,
                FaultAction::End,
                last.0,
                &last.1,
            ));
        }
    }
    entries.sort_by_key(|e| (e.at, rank(e.action), e.step, e.instance));
    for entry in &mut entries {
        entry.at = scale(entry.at, time_scale);
    }
    Timeline {
        seed,
        time_scale,
        duration: scale(duration, time_scale),
        entries,
    }
}
