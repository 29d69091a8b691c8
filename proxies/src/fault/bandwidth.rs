//! `bandwidth`: a token bucket of `rate` KB/s.
//!
//! Chunks are cut into pieces of at most 100 ms worth of bytes so a slow link
//! trickles rather than releasing a large chunk all at once. A rate of 0 stalls
//! the stream (Toxiproxy's behaviour, used to "cut" a connection).

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::{Chunk, Drained, StageOps, TimedQueue};

/// The running bandwidth stage.
#[derive(Debug)]
pub struct Bandwidth {
    bytes_per_sec: u64,
    next_free: Option<Instant>,
    queue: TimedQueue,
    stalled: TimedQueue,
}

impl Bandwidth {
    /// A stage limited to `rate_kb` KB/s (1 KB = 1000 bytes).
    pub fn new(rate_kb: u64) -> Self {
        Self {
            bytes_per_sec: rate_kb.saturating_mul(1000),
            next_free: None,
            queue: TimedQueue::default(),
            stalled: TimedQueue::default(),
        }
    }
}

impl StageOps for Bandwidth {
    fn push(&mut self, mut chunk: Chunk, _rng: &mut ChaCha8Rng) {
        if self.bytes_per_sec == 0 {
            self.stalled.push(chunk);
            return;
        }
        let start = self.next_free.map_or(chunk.at, |free| free.max(chunk.at));
        if chunk.eof {
            chunk.at = start;
            self.queue.push(chunk);
            return;
        }
        // At most 100 ms of bytes per piece, at least one byte.
        let piece = (self.bytes_per_sec / 10).max(1) as usize;
        let mut release = start;
        let mut data = chunk.data.clone();
        while !data.is_empty() {
            let take = piece.min(data.len());
            let part = data.split_to(take);
            let nanos = (take as u128 * 1_000_000_000 / self.bytes_per_sec as u128) as u64;
            release += Duration::from_nanos(nanos);
            self.queue.push(Chunk {
                data: part,
                eof: false,
                at: release,
                arrived: chunk.arrived,
            });
        }
        chunk.at = release;
        self.next_free = Some(release);
    }

    fn queue(&self) -> Option<&TimedQueue> {
        Some(&self.queue)
    }

    fn queue_mut(&mut self) -> Option<&mut TimedQueue> {
        Some(&mut self.queue)
    }

    fn held(&self) -> usize {
        self.queue.bytes() + self.stalled.bytes()
    }

    fn drain(&mut self, _now: Instant, _removed: bool) -> Drained {
        let mut chunks = self.queue.drain_to_arrival();
        chunks.extend(self.stalled.drain_to_arrival());
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
    use crate::fault::Yield;

    #[test]
    fn bytes_leave_no_faster_than_the_rate() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut stage = Bandwidth::new(10); // 10 000 bytes/s: 1000-byte pieces every 100 ms
        let t0 = Instant::now();
        stage.push(Chunk::data(Bytes::from(vec![7u8; 2500]), t0), &mut rng);
        let mut released = Vec::new();
        while let Some(deadline) = stage.deadline() {
            let Some(Yield::Chunk(c)) = stage.poll(deadline, &mut rng) else {
                panic!()
            };
            released.push((c.at - t0, c.len()));
        }
        assert_eq!(
            released,
            [(100, 1000), (200, 1000), (250, 500)].map(|(ms, n)| (Duration::from_millis(ms), n))
        );
    }

    #[test]
    fn a_rate_of_zero_stalls_the_stream_and_keeps_the_bytes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut stage = Bandwidth::new(0);
        let t0 = Instant::now();
        stage.push(Chunk::data(Bytes::from_static(b"held"), t0), &mut rng);
        assert_eq!(stage.poll(t0 + Duration::from_secs(3600), &mut rng), None);
        assert_eq!(stage.deadline(), None);
        assert_eq!(stage.held(), 4);
        let drained = stage.drain(t0, true);
        assert_eq!(drained.chunks[0].data, Bytes::from_static(b"held"));
    }
}
