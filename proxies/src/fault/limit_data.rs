//! `limit_data`: exactly `bytes` bytes pass in this direction, then the
//! connection closes.

use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::{Chunk, Control, StageOps, TimedQueue, Yield};

/// The running limit-data stage.
#[derive(Debug)]
pub struct LimitData {
    remaining: u64,
    queue: TimedQueue,
    close: bool,
}

impl LimitData {
    /// A stage letting `bytes` bytes through.
    pub fn new(bytes: u64) -> Self {
        Self {
            remaining: bytes,
            queue: TimedQueue::default(),
            close: bytes == 0,
        }
    }
}

impl StageOps for LimitData {
    fn push(&mut self, mut chunk: Chunk, _rng: &mut ChaCha8Rng) {
        if self.close {
            return;
        }
        if chunk.eof {
            self.queue.push(chunk);
            return;
        }
        let len = chunk.len() as u64;
        if len >= self.remaining {
            chunk.data.truncate(self.remaining as usize);
            self.remaining = 0;
            self.close = true;
        } else {
            self.remaining -= len;
        }
        if !chunk.data.is_empty() {
            self.queue.push(chunk);
        }
    }

    fn poll(&mut self, now: Instant, _rng: &mut ChaCha8Rng) -> Option<Yield> {
        if let Some(chunk) = self.queue.pop_ready(now) {
            return Some(Yield::Chunk(chunk));
        }
        if self.close && self.queue.is_empty() {
            self.close = false;
            self.remaining = 0;
            // Stay closed: nothing else passes.
            self.queue = TimedQueue::default();
            return Some(Yield::Control(Control::Close));
        }
        None
    }

    fn deadline(&self) -> Option<Instant> {
        if self.close && self.queue.is_empty() {
            // Due now: whatever time the caller polls.
            return Some(Instant::now());
        }
        self.queue.deadline()
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

    #[test]
    fn exactly_the_budget_passes_then_the_connection_closes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t0 = Instant::now();
        let mut stage = LimitData::new(5);
        stage.push(Chunk::data(Bytes::from_static(b"abc"), t0), &mut rng);
        stage.push(Chunk::data(Bytes::from_static(b"defgh"), t0), &mut rng);
        stage.push(Chunk::data(Bytes::from_static(b"ijk"), t0), &mut rng);
        let mut out = Vec::new();
        let control = loop {
            match stage.poll(t0, &mut rng) {
                Some(Yield::Chunk(c)) => out.extend_from_slice(&c.data),
                Some(Yield::Control(c)) => break c,
                None => panic!("no close after the budget"),
            }
        };
        assert_eq!(out, b"abcde");
        assert_eq!(control, Control::Close);
    }
}
