//! `slicer`: chunks are cut into pieces of `average_size ± size_variation`
//! bytes released `delay` apart, as a slow or fragmenting network would.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{Chunk, StageOps, TimedQueue};

/// The running slicer stage.
#[derive(Debug)]
pub struct Slicer {
    average_size: usize,
    size_variation: usize,
    delay: Duration,
    queue: TimedQueue,
}

impl Slicer {
    /// A stage cutting chunks into `average_size ± size_variation` pieces.
    pub fn new(average_size: usize, size_variation: usize, delay: Duration) -> Self {
        Self {
            average_size,
            size_variation,
            delay,
            queue: TimedQueue::default(),
        }
    }

    fn piece(&self, rng: &mut ChaCha8Rng) -> usize {
        if self.size_variation == 0 {
            return self.average_size.max(1);
        }
        let low = self.average_size.saturating_sub(self.size_variation).max(1);
        let high = self
            .average_size
            .saturating_add(self.size_variation)
            .max(low);
        rng.gen_range(low..=high)
    }
}

impl StageOps for Slicer {
    fn push(&mut self, chunk: Chunk, rng: &mut ChaCha8Rng) {
        let mut release = self
            .queue
            .last_release()
            .map_or(chunk.at, |last| last.max(chunk.at));
        if chunk.eof {
            self.queue.push(Chunk {
                at: release,
                ..chunk
            });
            return;
        }
        let mut data = chunk.data.clone();
        let mut first = true;
        while !data.is_empty() {
            if !first {
                release += self.delay;
            }
            first = false;
            let take = self.piece(rng).min(data.len());
            self.queue.push(Chunk {
                data: data.split_to(take),
                eof: false,
                at: release,
                arrived: chunk.arrived,
            });
        }
    }

    // Drained pieces of one chunk share their arrival time; they need no
    // merging: order is kept and the next pipeline may cut them again.
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
    fn pieces_keep_the_bytes_in_order_and_respect_the_size_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut stage = Slicer::new(10, 4, Duration::from_micros(100));
        let t0 = Instant::now();
        let data: Vec<u8> = (0..=255).collect();
        stage.push(Chunk::data(Bytes::from(data.clone()), t0), &mut rng);
        let mut out = Vec::new();
        let mut last = t0;
        while let Some(deadline) = stage.deadline() {
            let Some(Yield::Chunk(c)) = stage.poll(deadline, &mut rng) else {
                panic!()
            };
            assert!(c.at >= last);
            last = c.at;
            out.push(c.data);
        }
        assert!(
            out.len() > 10,
            "a 256-byte chunk was cut into only {} pieces",
            out.len()
        );
        assert!(out[..out.len() - 1]
            .iter()
            .all(|p| (6..=14).contains(&p.len())));
        assert_eq!(out.concat(), data);
        assert!(last - t0 >= Duration::from_micros(100) * (out.len() as u32 - 1));
    }
}
