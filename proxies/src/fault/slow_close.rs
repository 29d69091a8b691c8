//! `slow_close`: the end of the stream (FIN) is delayed; data passes untouched.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use super::{Chunk, StageOps, TimedQueue};

/// The running slow-close stage.
#[derive(Debug)]
pub struct SlowClose {
    delay: Duration,
    queue: TimedQueue,
}

impl SlowClose {
    /// A stage delaying the close by `delay`.
    pub fn new(delay: Duration) -> Self {
        Self {
            delay,
            queue: TimedQueue::default(),
        }
    }
}

impl StageOps for SlowClose {
    fn push(&mut self, mut chunk: Chunk, _rng: &mut ChaCha8Rng) {
        if chunk.eof {
            chunk.at += self.delay;
        }
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

    #[test]
    fn data_passes_at_once_but_the_close_waits() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut stage = SlowClose::new(Duration::from_secs(2));
        let t0 = Instant::now();
        stage.push(Chunk::data(Bytes::from_static(b"bye"), t0), &mut rng);
        stage.push(Chunk::eof(t0), &mut rng);
        assert!(matches!(stage.poll(t0, &mut rng), Some(Yield::Chunk(c)) if !c.eof));
        assert_eq!(stage.poll(t0 + Duration::from_millis(1999), &mut rng), None);
        assert!(
            matches!(stage.poll(t0 + Duration::from_secs(2), &mut rng), Some(Yield::Chunk(c)) if c.eof)
        );
    }
}
