//! `reset_peer`: the connection is reset (a real RST, both ways) `timeout`
//! after the fault reached it, including connections already open when the
//! fault was added.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::{Chunk, Control, StageOps, TimedQueue, Yield};

/// The running reset-peer stage.
#[derive(Debug)]
pub struct ResetPeer {
    reset_at: Instant,
    fired: bool,
    queue: TimedQueue,
}

impl ResetPeer {
    /// A stage that reached the connection at `since`.
    pub fn new(timeout: Duration, since: Instant) -> Self {
        Self {
            reset_at: since + timeout,
            fired: false,
            queue: TimedQueue::default(),
        }
    }
}

impl StageOps for ResetPeer {
    fn push(&mut self, chunk: Chunk, _rng: &mut ChaCha8Rng) {
        self.queue.push(chunk);
    }

    fn poll(&mut self, now: Instant, _rng: &mut ChaCha8Rng) -> Option<Yield> {
        if !self.fired && self.reset_at <= now {
            self.fired = true;
            return Some(Yield::Control(Control::Reset));
        }
        self.queue.pop_ready(now).map(Yield::Chunk)
    }

    fn deadline(&self) -> Option<Instant> {
        let reset = (!self.fired).then_some(self.reset_at);
        match (reset, self.queue.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_reset_fires_once_after_the_timeout() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t0 = Instant::now();
        let mut stage = ResetPeer::new(Duration::from_millis(500), t0);
        assert_eq!(stage.deadline(), Some(t0 + Duration::from_millis(500)));
        assert_eq!(stage.poll(t0 + Duration::from_millis(499), &mut rng), None);
        assert_eq!(
            stage.poll(t0 + Duration::from_millis(500), &mut rng),
            Some(Yield::Control(Control::Reset))
        );
        assert_eq!(stage.poll(t0 + Duration::from_secs(5), &mut rng), None);
    }
}
