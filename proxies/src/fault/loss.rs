//! `loss`: TCP-realistic loss. A userspace proxy sits above TCP, so it cannot
//! drop bytes without breaking the stream; it reproduces what loss looks like
//! to the application instead (FIDELITY.md): a lost chunk, and everything
//! behind it (head-of-line blocking), is held until
//! - the next chunk arrives and a round trip passes: the receiver SACKs the
//!   later segment and the sender's fast retransmission crosses the path, so
//!   dense traffic sees a delay of about one gap plus one round trip, or
//! - a retransmission timeout fires (a tail loss): `rto` plus the round trip
//!   (the kernel's RTO is srtt plus its floor), doubling when the
//!   retransmission is lost again.
//!
//! The round trip is what the proxy's `latency` faults add, both directions
//! ([`super::FaultSet::round_trip`]); without them it is zero, as on loopback.
//!
//! Losses are correlated Gilbert-Elliott style: after a loss, the next chunk is
//! lost with probability `correlation + (1 - correlation) · probability`.
//!
//! A sustained stream is also held to the rate its sender's congestion
//! control would reach on the lossy path (see [`super::throughput`]): what
//! leaves the loss queue goes through a per-connection [`Pacer`]. The model
//! reads `probability` as the segment loss rate; a burst of correlated losses
//! costs TCP one window reduction, about as one loss does, so `correlation`
//! does not enter it.

use std::collections::VecDeque;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::throughput::{Pacer, Throughput};
use super::{Chunk, Drained, StageOps, Yield};

/// Linux caps the retransmission timeout at 120 s.
const MAX_RTO: Duration = Duration::from_secs(120);

#[derive(Debug)]
struct Held {
    chunk: Chunk,
    /// For a lost chunk: when its retransmission is due and the current RTO.
    lost: Option<(Instant, Duration)>,
}

/// The running loss stage.
#[derive(Debug)]
pub struct Loss {
    probability: f64,
    correlation: f64,
    rto: Duration,
    bad: bool,
    queue: VecDeque<Held>,
    bytes: usize,
    /// Release time of the last chunk out: nothing leaves before it.
    last_release: Option<Instant>,
    /// The path's round trip, paid by every repair.
    round_trip: Duration,
    /// Holds a sustained stream to the congestion model's rate, if one applies.
    pacer: Option<Pacer>,
}

impl Loss {
    /// A stage losing chunks with `probability`, correlated by `correlation`.
    pub fn new(probability: f64, correlation: f64, rto: Duration) -> Self {
        Self {
            probability,
            correlation,
            rto,
            bad: false,
            queue: VecDeque::new(),
            bytes: 0,
            last_release: None,
            round_trip: Duration::ZERO,
            pacer: None,
        }
    }

    /// The same stage holding a sustained stream to `model`'s rate over the
    /// round trip (set before: [`Loss::with_round_trip`]) plus `rtt_floor`,
    /// the path's own round trip under the emulated one.
    #[must_use]
    pub fn with_throughput(mut self, model: Throughput, rtt_floor: Duration) -> Self {
        self.pacer = model
            .rate(self.probability, self.round_trip + rtt_floor)
            .map(Pacer::new);
        self
    }

    /// The paced rate in bytes per second, if the stream is paced.
    pub fn paced_rate(&self) -> Option<f64> {
        self.pacer.as_ref().map(Pacer::rate)
    }

    /// The same stage on a path whose round trip is `round_trip`.
    #[must_use]
    pub fn with_round_trip(mut self, round_trip: Duration) -> Self {
        self.round_trip = round_trip;
        self
    }

    fn roll(&mut self, rng: &mut ChaCha8Rng) -> bool {
        let p = if self.bad {
            self.correlation + (1.0 - self.correlation) * self.probability
        } else {
            self.probability
        };
        let lost = p > 0.0 && rng.gen_bool(p.min(1.0));
        self.bad = lost;
        lost
    }
}

impl StageOps for Loss {
    fn push(&mut self, chunk: Chunk, rng: &mut ChaCha8Rng) {
        // A new arrival repairs every outstanding loss: the receiver SACKs it
        // and the sender's retransmission of the holes arrives a round trip later.
        let repaired = chunk.at + self.round_trip;
        for held in &mut self.queue {
            if let Some((due, rto)) = held.lost {
                if due > repaired {
                    held.lost = Some((repaired, rto));
                }
            }
        }
        let lost = !chunk.eof && self.roll(rng);
        self.bytes += chunk.len();
        let at = chunk.at;
        let rto = (self.rto + self.round_trip).min(MAX_RTO);
        self.queue.push_back(Held {
            chunk,
            lost: lost.then_some((at + rto, rto)),
        });
    }

    fn poll(&mut self, now: Instant, rng: &mut ChaCha8Rng) -> Option<Yield> {
        loop {
            let Some(pacer) = self.pacer.as_mut() else {
                return self.poll_lost(now, rng);
            };
            if let Some(chunk) = pacer.queue_mut().pop_ready(now) {
                return Some(Yield::Chunk(chunk));
            }
            match self.poll_lost(now, rng)? {
                Yield::Chunk(chunk) => {
                    if let Some(pacer) = self.pacer.as_mut() {
                        pacer.push(chunk);
                    }
                }
                control => return Some(control),
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let paced = self.pacer.as_ref().and_then(|p| p.queue().deadline());
        let lost = self.deadline_lost();
        match (paced, lost) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn held(&self) -> usize {
        self.bytes + self.pacer.as_ref().map_or(0, |p| p.queue().bytes())
    }

    fn drain(&mut self, _now: Instant, _removed: bool) -> Drained {
        // The paced chunks left the loss queue first: they lead the stream.
        let mut chunks = self
            .pacer
            .as_mut()
            .map(|p| p.queue_mut().drain_to_arrival())
            .unwrap_or_default();
        self.bytes = 0;
        chunks.extend(self.queue.drain(..).map(|h| Chunk {
            at: h.chunk.arrived,
            ..h.chunk
        }));
        Drained {
            chunks,
            control: None,
        }
    }
}

impl Loss {
    /// The loss queue's next release: a chunk whose loss is repaired, or one
    /// waiting behind it.
    fn poll_lost(&mut self, now: Instant, rng: &mut ChaCha8Rng) -> Option<Yield> {
        let front = self.queue.front()?;
        match front.lost {
            Some((due, _)) if due > now => None,
            Some((due, rto)) => {
                // The retransmission itself may be lost (still in the bad state).
                if self.roll(rng) {
                    let rto = (rto * 2).min(MAX_RTO);
                    self.queue[0].lost = Some((due + rto, rto));
                    return None;
                }
                self.pop(due)
            }
            None if front.chunk.at <= now => self.pop(front.chunk.at),
            None => None,
        }
    }

    fn deadline_lost(&self) -> Option<Instant> {
        let front = self.queue.front()?;
        Some(front.lost.map_or(front.chunk.at, |(due, _)| due))
    }

    fn pop(&mut self, release: Instant) -> Option<Yield> {
        let release = self.last_release.map_or(release, |last| last.max(release));
        self.last_release = Some(release);
        let held = self.queue.pop_front()?;
        self.bytes -= held.chunk.len();
        // Whatever waited behind a loss leaves with it, never before it.
        if let Some(next) = self.queue.front_mut() {
            if next.lost.is_none() && next.chunk.at < release {
                next.chunk.at = release;
            }
        }
        Some(Yield::Chunk(Chunk {
            at: release,
            ..held.chunk
        }))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rand::SeedableRng;

    use super::*;

    fn release_all(stage: &mut Loss, rng: &mut ChaCha8Rng) -> Vec<Chunk> {
        let mut out = Vec::new();
        while let Some(deadline) = stage.deadline() {
            if let Some(Yield::Chunk(c)) = stage.poll(deadline, rng) {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn a_tail_loss_costs_a_retransmission_timeout() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut stage = Loss::new(1.0, 0.0, Duration::from_millis(200));
        let t0 = Instant::now();
        stage.push(Chunk::data(Bytes::from_static(b"req"), t0), &mut rng);
        assert_eq!(stage.poll(t0 + Duration::from_millis(199), &mut rng), None);
        // Probability 1: the retransmission is lost too and the timeout doubles.
        assert_eq!(stage.poll(t0 + Duration::from_millis(200), &mut rng), None);
        assert_eq!(stage.deadline(), Some(t0 + Duration::from_millis(600)));
    }

    #[test]
    fn a_following_chunk_repairs_the_loss_early_and_order_is_kept() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut stage = Loss::new(1.0, 0.0, Duration::from_millis(200));
        let t0 = Instant::now();
        stage.push(Chunk::data(Bytes::from_static(b"a"), t0), &mut rng);
        // From here on nothing is lost.
        stage.probability = 0.0;
        stage.bad = false;
        stage.push(
            Chunk::data(Bytes::from_static(b"b"), t0 + Duration::from_millis(20)),
            &mut rng,
        );
        let out = release_all(&mut stage, &mut rng);
        assert_eq!(
            out.iter().map(|c| &c.data[..]).collect::<Vec<_>>(),
            [b"a", b"b"]
        );
        assert_eq!(
            out[0].at - t0,
            Duration::from_millis(20),
            "repaired when the next chunk arrived"
        );
        assert_eq!(out[1].at - t0, Duration::from_millis(20));
    }

    #[test]
    fn on_a_delayed_path_a_repair_and_a_timeout_each_pay_one_more_round_trip() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let rtt = Duration::from_millis(100);
        let mut stage = Loss::new(1.0, 0.0, Duration::from_millis(200)).with_round_trip(rtt);
        let t0 = Instant::now();
        stage.push(Chunk::data(Bytes::from_static(b"a"), t0), &mut rng);
        // A tail loss: the kernel's RTO is srtt plus its floor.
        assert_eq!(stage.deadline(), Some(t0 + Duration::from_millis(300)));
        stage.probability = 0.0;
        stage.bad = false;
        stage.push(
            Chunk::data(Bytes::from_static(b"b"), t0 + Duration::from_millis(50)),
            &mut rng,
        );
        // The next segment's SACK goes back and the retransmission comes over.
        let out = release_all(&mut stage, &mut rng);
        assert_eq!(out[0].at - t0, Duration::from_millis(150));
        assert_eq!(out[1].at - t0, Duration::from_millis(150));
    }

    #[test]
    fn loss_delays_but_never_drops_or_reorders() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut stage = Loss::new(0.2, 0.5, Duration::from_millis(200));
        let t0 = Instant::now();
        for i in 0..500u32 {
            stage.push(
                Chunk::data(
                    Bytes::from(i.to_be_bytes().to_vec()),
                    t0 + Duration::from_millis(i as u64),
                ),
                &mut rng,
            );
        }
        let out = release_all(&mut stage, &mut rng);
        let got: Vec<u32> = out
            .iter()
            .map(|c| u32::from_be_bytes(c.data[..].try_into().unwrap()))
            .collect();
        assert_eq!(got, (0..500).collect::<Vec<_>>());
        assert!(out.windows(2).all(|w| w[0].at <= w[1].at));
        let delayed = out
            .iter()
            .zip(0u64..)
            .filter(|(c, i)| c.at > t0 + Duration::from_millis(*i))
            .count();
        assert!(
            delayed > 50,
            "20% loss delayed only {delayed} of 500 chunks"
        );
    }
}
