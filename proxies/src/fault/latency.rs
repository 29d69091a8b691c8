//! `latency`: each chunk leaves `latency ± jitter` after it arrived.
//!
//! Pipelined, not cumulative: many chunks can be in flight at once, so a bulk
//! stream keeps its throughput (up to the held-bytes bound divided by the delay).
//! Release times never go backwards, so jitter never reorders bytes.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{Chunk, StageOps, TimedQueue};

/// The running latency stage.
#[derive(Debug)]
pub struct Latency {
    latency: Duration,
    jitter: Duration,
    queue: TimedQueue,
}

impl Latency {
    /// A stage delaying by `latency ± jitter` (uniform); below zero clamps to zero.
    pub fn new(latency: Duration, jitter: Duration) -> Self {
        Self {
            latency,
            jitter,
            queue: TimedQueue::default(),
        }
    }

    fn delay(&self, rng: &mut ChaCha8Rng) -> Duration {
        if self.jitter.is_zero() {
            return self.latency;
        }
        let jitter = self.jitter.as_nanos() as i128;
        let offset = rng.gen_range(-jitter..=jitter);
        let total = (self.latency.as_nanos() as i128 + offset).max(0);
        Duration::from_nanos(total as u64)
    }
}

impl StageOps for Latency {
    fn push(&mut self, mut chunk: Chunk, rng: &mut ChaCha8Rng) {
        let mut release = chunk.at + self.delay(rng);
        if let Some(last) = self.queue.last_release() {
            release = release.max(last);
        }
        chunk.at = release;
        self.queue.push(chunk);
    }

    fn queue(&self) -> Option<&TimedQueue> {
        Some(&self.queue)
    }

    fn queue_mut(&mut self) -> Option<&mut TimedQueue> {
        Some(&mut self.queue)
    }
}

/// A fault that does not apply to this connection: chunks pass untouched.
#[derive(Debug, Default)]
pub struct Passthrough {
    queue: TimedQueue,
}

impl StageOps for Passthrough {
    fn push(&mut self, chunk: Chunk, _rng: &mut ChaCha8Rng) {
        self.queue.push(chunk);
    }

    fn queue(&self) -> Option<&TimedQueue> {
        Some(&self.queue)
    }

    fn queue_mut(&mut self) -> Option<&mut TimedQueue> {
        Some(&mut self.queue)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rand::SeedableRng;

    use super::*;
    use crate::fault::Yield;
    use tokio::time::Instant;

    fn run(stage: &mut Latency, arrivals: &[u64], rng: &mut ChaCha8Rng) -> Vec<Duration> {
        let t0 = Instant::now();
        for (i, ms) in arrivals.iter().enumerate() {
            stage.push(
                Chunk::data(Bytes::from(vec![i as u8]), t0 + Duration::from_millis(*ms)),
                rng,
            );
        }
        let mut out = Vec::new();
        while let Some(deadline) = stage.deadline() {
            match stage.poll(deadline, rng) {
                Some(Yield::Chunk(c)) => out.push(c.at - t0),
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    #[test]
    fn no_chunk_leaves_before_the_configured_delay() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut stage = Latency::new(Duration::from_millis(100), Duration::ZERO);
        let out = run(&mut stage, &[0, 5, 50], &mut rng);
        assert_eq!(out, [100, 105, 150].map(Duration::from_millis));
    }

    #[test]
    fn jitter_never_reorders_chunks() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut stage = Latency::new(Duration::from_millis(10), Duration::from_millis(50));
        let arrivals: Vec<u64> = (0..200).collect();
        let out = run(&mut stage, &arrivals, &mut rng);
        assert_eq!(out.len(), 200);
        assert!(
            out.windows(2).all(|w| w[0] <= w[1]),
            "release times went backwards: {out:?}"
        );
        // Jitter larger than the latency clamps at zero rather than releasing early.
        assert!(out
            .iter()
            .zip(&arrivals)
            .all(|(r, a)| *r >= Duration::from_millis(*a)));
    }

    #[test]
    fn a_chunk_is_held_until_its_release_time() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut stage = Latency::new(Duration::from_millis(100), Duration::ZERO);
        let t0 = Instant::now();
        stage.push(Chunk::data(Bytes::from_static(b"x"), t0), &mut rng);
        assert_eq!(stage.poll(t0 + Duration::from_millis(99), &mut rng), None);
        assert!(stage
            .poll(t0 + Duration::from_millis(100), &mut rng)
            .is_some());
    }
}
