//! The faulted path of one link: the stages of the current fault set, in the
//! order the faults were added, and the swap to a new set at a chunk boundary.
//!
//! Swapping never loses, duplicates or reorders a byte: chunks held by the old
//! stages are taken out in stream order (the stage nearest the output first)
//! and pushed through the new stages, re-timed from their arrival, so a changed
//! latency applies to bytes already in flight and a healed blackhole releases
//! what it held at the sender's next retransmission.

use std::collections::{HashMap, HashSet, VecDeque};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use crate::fault::{Chunk, Control, FaultSet, Reach, Stage, StageOps, TimedQueue, Yield};

#[derive(Debug)]
struct Slot {
    id: u64,
    type_name: &'static str,
    stage: Stage,
}

/// The running fault stages of one link.
#[derive(Debug, Default)]
pub struct Pipeline {
    stages: Vec<Slot>,
    /// Chunks every stage released whose release time has not come yet (only
    /// chunks re-timed by a swap), kept in order.
    gate: TimedQueue,
    reach: HashMap<u64, Reach>,
    /// The connection's measured round trip under the faults' (see
    /// [`Stage::new`]).
    rtt_floor: std::time::Duration,
}

impl Pipeline {
    /// An empty pipeline for a connection whose measured round trip is `rtt_floor`.
    pub fn new(rtt_floor: std::time::Duration) -> Self {
        Self {
            rtt_floor,
            ..Self::default()
        }
    }

    /// True when no fault is set and nothing is held: the link may take the fast path.
    pub fn is_idle(&self) -> bool {
        self.stages.is_empty() && self.gate.is_empty()
    }

    /// Bytes held by the stages (the link stops reading past its bound).
    pub fn held(&self) -> usize {
        self.gate.bytes() + self.stages.iter().map(|s| s.stage.held()).sum::<usize>()
    }

    /// The earliest time [`Pipeline::advance`] may release something.
    pub fn deadline(&self) -> Option<Instant> {
        self.stages
            .iter()
            .filter_map(|s| s.stage.deadline())
            .chain(self.gate.deadline())
            .min()
    }

    /// Switches to `set` at `now`, carrying held chunks over. Returns the
    /// connection-level action the switch causes (a removed `timeout` closes;
    /// a blackhole healed with `reset` resets).
    pub fn replace(
        &mut self,
        set: &FaultSet,
        now: Instant,
        rng: &mut ChaCha8Rng,
    ) -> Option<Control> {
        let next: HashSet<(u64, &'static str)> = set
            .faults
            .iter()
            .map(|f| (f.id, f.fault.kind.type_name()))
            .collect();
        // Chunks past every stage keep their release time; they lead the stream.
        let mut carried: Vec<Chunk> = self.gate.take_all();
        let mut control = None;
        for slot in self.stages.iter_mut().rev() {
            let removed = !next.contains(&(slot.id, slot.type_name));
            let drained = slot.stage.drain(now, removed);
            carried.extend(drained.chunks);
            control = merge(control, drained.control);
        }
        self.reach.retain(|id, _| next.iter().any(|(n, _)| n == id));
        self.stages = set
            .faults
            .iter()
            .map(|active| {
                let toxicity = active.fault.toxicity;
                let reach = *self.reach.entry(active.id).or_insert_with(|| Reach {
                    applies: toxicity >= 1.0 || (toxicity > 0.0 && rng.gen_bool(toxicity)),
                    since: now,
                });
                Slot {
                    id: active.id,
                    type_name: active.fault.kind.type_name(),
                    stage: Stage::new(&active.fault.kind, reach, set.round_trip, self.rtt_floor),
                }
            })
            .collect();
        for chunk in carried {
            self.push(chunk, rng);
        }
        control
    }

    /// Accepts a chunk read from the source.
    pub fn push(&mut self, chunk: Chunk, rng: &mut ChaCha8Rng) {
        match self.stages.first_mut() {
            Some(first) => first.stage.push(chunk, rng),
            None => self.gate.push(chunk),
        }
    }

    /// Moves chunks through the stages at `now`; chunks due for writing are
    /// appended to `out`. Returns a connection-level action if a stage asks for one.
    pub fn advance(
        &mut self,
        now: Instant,
        rng: &mut ChaCha8Rng,
        out: &mut VecDeque<Chunk>,
    ) -> Option<Control> {
        let mut control = None;
        for i in 0..self.stages.len() {
            while let Some(item) = self.stages[i].stage.poll(now, rng) {
                match item {
                    Yield::Chunk(chunk) => match self.stages.get_mut(i + 1) {
                        Some(next) => next.stage.push(chunk, rng),
                        None => self.gate.push(chunk),
                    },
                    Yield::Control(c) => control = merge(control, Some(c)),
                }
            }
        }
        while let Some(chunk) = self.gate.pop_ready(now) {
            out.push_back(chunk);
        }
        control
    }
}

/// A reset beats a close.
fn merge(a: Option<Control>, b: Option<Control>) -> Option<Control> {
    match (a, b) {
        (Some(Control::Reset), _) | (_, Some(Control::Reset)) => Some(Control::Reset),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use rand::SeedableRng;

    use super::*;
    use crate::fault::{ActiveFault, Direction, Fault, FaultKind, OnHeal};

    fn set(faults: &[(u64, FaultKind)]) -> FaultSet {
        FaultSet {
            faults: faults
                .iter()
                .map(|(id, kind)| {
                    Arc::new(ActiveFault {
                        id: *id,
                        fault: Fault::new(Direction::Upstream, kind.clone()),
                    })
                })
                .collect(),
            round_trip: Duration::ZERO,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn removing_a_latency_fault_releases_held_bytes_in_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t0 = Instant::now();
        let mut p = Pipeline::default();
        p.replace(
            &set(&[(
                1,
                FaultKind::Latency {
                    latency: ms(1000),
                    jitter: ms(0),
                },
            )]),
            t0,
            &mut rng,
        );
        p.push(Chunk::data(Bytes::from_static(b"a"), t0), &mut rng);
        p.push(Chunk::data(Bytes::from_static(b"b"), t0 + ms(1)), &mut rng);
        let mut out = VecDeque::new();
        assert_eq!(p.advance(t0 + ms(10), &mut rng, &mut out), None);
        assert!(out.is_empty());
        p.replace(&FaultSet::default(), t0 + ms(10), &mut rng);
        p.advance(t0 + ms(10), &mut rng, &mut out);
        assert_eq!(
            out.iter().map(|c| &c.data[..]).collect::<Vec<_>>(),
            [b"a", b"b"]
        );
        assert!(p.is_idle());
    }

    #[test]
    fn a_healed_blackhole_waits_for_the_retransmission_even_with_no_fault_left() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t0 = Instant::now();
        let mut p = Pipeline::default();
        p.replace(
            &set(&[(
                1,
                FaultKind::Blackhole {
                    on_heal: OnHeal::Deliver,
                },
            )]),
            t0,
            &mut rng,
        );
        p.push(Chunk::data(Bytes::from_static(b"held"), t0), &mut rng);
        p.replace(&FaultSet::default(), t0 + ms(1000), &mut rng);
        let mut out = VecDeque::new();
        p.advance(t0 + ms(1663), &mut rng, &mut out);
        assert!(
            out.is_empty(),
            "released before the retransmission at 1.664 s"
        );
        assert!(!p.is_idle());
        p.advance(t0 + ms(1664), &mut rng, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn adding_a_second_fault_keeps_a_blackhole_holding() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t0 = Instant::now();
        let mut p = Pipeline::default();
        let hole = (
            1,
            FaultKind::Blackhole {
                on_heal: OnHeal::DeliverNow,
            },
        );
        p.replace(&set(std::slice::from_ref(&hole)), t0, &mut rng);
        p.push(Chunk::data(Bytes::from_static(b"held"), t0), &mut rng);
        p.replace(
            &set(&[
                hole,
                (
                    2,
                    FaultKind::Latency {
                        latency: ms(5),
                        jitter: ms(0),
                    },
                ),
            ]),
            t0 + ms(1),
            &mut rng,
        );
        let mut out = VecDeque::new();
        p.advance(t0 + ms(10_000), &mut rng, &mut out);
        assert!(out.is_empty());
        assert_eq!(p.held(), 4);
    }

    #[test]
    fn removing_a_timeout_closes_the_connection() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t0 = Instant::now();
        let mut p = Pipeline::default();
        p.replace(
            &set(&[(
                1,
                FaultKind::Timeout {
                    timeout: Duration::ZERO,
                },
            )]),
            t0,
            &mut rng,
        );
        assert_eq!(
            p.replace(&FaultSet::default(), t0, &mut rng),
            Some(Control::Close)
        );
    }

    #[test]
    fn toxicity_zero_never_applies() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t0 = Instant::now();
        let mut p = Pipeline::default();
        let mut s = set(&[(
            1,
            FaultKind::Blackhole {
                on_heal: OnHeal::DeliverNow,
            },
        )]);
        Arc::get_mut(&mut s.faults[0]).unwrap().fault.toxicity = 0.0;
        p.replace(&s, t0, &mut rng);
        p.push(Chunk::data(Bytes::from_static(b"x"), t0), &mut rng);
        let mut out = VecDeque::new();
        p.advance(t0, &mut rng, &mut out);
        assert_eq!(out.len(), 1);
    }
}
