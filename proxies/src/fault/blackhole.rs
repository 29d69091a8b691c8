//! `blackhole`: a partition as a real one looks. Bytes are held and nothing
//! arrives; the connection stays open. On heal the held bytes are delivered in
//! order at the sender's next retransmission (by default), at once, or the
//! connection is reset. The link bounds what is held: past the bound it stops
//! reading, so the sender is back-pressured as TCP's window would.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::{Chunk, Control, Drained, OnHeal, StageOps, TimedQueue, Yield};

/// When the kernel's first retransmission (a tail-loss probe) goes out after
/// the first unacknowledged byte; each later one doubles the time (FIDELITY.md
/// measured 0.21, 0.41, 0.82, 1.65, 3.32, 6.8, 13.4, 26.7, 53.3 s).
const FIRST_RETRANSMISSION: Duration = Duration::from_millis(208);
/// Linux caps the retransmission timeout at 120 s.
const MAX_RTO: Duration = Duration::from_secs(120);

/// When a sender whose first unacknowledged byte left at `first_held`
/// retransmits next, at or after `now`: at `first_held` + 0.208 s, 0.416 s,
/// 0.832 s, … (a tail-loss probe, then the RTO doubling from 200 ms, each step
/// capped at 120 s), as FIDELITY.md measured.
pub fn retransmission_release(first_held: Instant, now: Instant) -> Instant {
    let mut at = first_held + FIRST_RETRANSMISSION;
    let mut step = FIRST_RETRANSMISSION;
    while at < now {
        at += step;
        step = (step * 2).min(MAX_RTO);
    }
    at
}

/// The running blackhole stage.
#[derive(Debug)]
pub struct Blackhole {
    on_heal: OnHeal,
    queue: TimedQueue,
    first_held: Option<Instant>,
}

impl Blackhole {
    /// A stage holding everything until removed.
    pub fn new(on_heal: OnHeal) -> Self {
        Self {
            on_heal,
            queue: TimedQueue::default(),
            first_held: None,
        }
    }
}

impl StageOps for Blackhole {
    fn push(&mut self, chunk: Chunk, _rng: &mut ChaCha8Rng) {
        let first = self.first_held.get_or_insert(chunk.at);
        *first = (*first).min(chunk.at);
        self.queue.push(chunk);
    }

    fn poll(&mut self, _now: Instant, _rng: &mut ChaCha8Rng) -> Option<Yield> {
        None
    }

    fn deadline(&self) -> Option<Instant> {
        None
    }

    fn queue(&self) -> Option<&TimedQueue> {
        Some(&self.queue)
    }

    fn queue_mut(&mut self) -> Option<&mut TimedQueue> {
        Some(&mut self.queue)
    }

    fn drain(&mut self, now: Instant, removed: bool) -> Drained {
        let mut chunks = self.queue.drain_to_arrival();
        let first = self.first_held.take();
        if !removed {
            return Drained {
                chunks,
                control: None,
            };
        }
        let release = match (self.on_heal, first) {
            (OnHeal::Reset, _) => {
                return Drained {
                    chunks: Vec::new(),
                    control: Some(Control::Reset),
                }
            }
            (_, None) => now,
            (OnHeal::DeliverNow, Some(_)) => now,
            (OnHeal::Deliver, Some(first)) => retransmission_release(first, now),
        };
        for chunk in &mut chunks {
            chunk.at = release;
        }
        Drained {
            chunks,
            control: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rand::SeedableRng;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nothing_leaves_a_blackhole_while_it_is_active() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut stage = Blackhole::new(OnHeal::Deliver);
        let t0 = Instant::now();
        stage.push(Chunk::data(Bytes::from_static(b"held"), t0), &mut rng);
        assert_eq!(stage.poll(t0 + Duration::from_secs(3600), &mut rng), None);
        assert_eq!(stage.deadline(), None);
        assert_eq!(stage.held(), 4);
    }

    #[test]
    fn retransmissions_follow_the_doubling_schedule() {
        let t0 = Instant::now();
        assert_eq!(retransmission_release(t0, t0) - t0, ms(208));
        assert_eq!(retransmission_release(t0, t0 + ms(300)) - t0, ms(416));
        // FIDELITY.md: 13.4 s and 53.3 s after the first unacknowledged byte.
        assert_eq!(retransmission_release(t0, t0 + ms(10_000)) - t0, ms(13_312));
        assert_eq!(retransmission_release(t0, t0 + ms(40_000)) - t0, ms(53_248));
    }

    #[test]
    fn healing_delivers_in_order_at_the_next_retransmission() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut stage = Blackhole::new(OnHeal::Deliver);
        let t0 = Instant::now();
        stage.push(
            Chunk::data(Bytes::from_static(b"a"), t0 + ms(100)),
            &mut rng,
        );
        stage.push(
            Chunk::data(Bytes::from_static(b"b"), t0 + ms(150)),
            &mut rng,
        );
        let drained = stage.drain(t0 + ms(10_100), true);
        assert_eq!(
            drained
                .chunks
                .iter()
                .map(|c| &c.data[..])
                .collect::<Vec<_>>(),
            [b"a", b"b"]
        );
        assert!(drained
            .chunks
            .iter()
            .all(|c| c.at == t0 + ms(100) + ms(13_312)));
    }

    #[test]
    fn healing_with_reset_resets_and_drops() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut stage = Blackhole::new(OnHeal::Reset);
        let t0 = Instant::now();
        stage.push(Chunk::data(Bytes::from_static(b"a"), t0), &mut rng);
        let drained = stage.drain(t0 + ms(5), true);
        assert!(drained.chunks.is_empty());
        assert_eq!(drained.control, Some(Control::Reset));
    }

    #[test]
    fn rebuilding_the_pipeline_keeps_holding() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut stage = Blackhole::new(OnHeal::DeliverNow);
        let t0 = Instant::now();
        stage.push(Chunk::data(Bytes::from_static(b"a"), t0), &mut rng);
        let drained = stage.drain(t0 + ms(5), false);
        assert_eq!(
            drained.chunks[0].at, t0,
            "re-timed to arrival, to be held again"
        );
        assert_eq!(drained.control, None);
    }
}
