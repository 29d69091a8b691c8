//! `timeout`: all data is dropped and the connection closes after `timeout`
//! (never, for zero). Removing the fault closes the connections it reached, so
//! a stream with a gap in it never carries on (a port that kept them open made
//! Redis replicas silently lose writes).

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::{Chunk, Control, Drained, StageOps, Yield};

/// The running timeout stage.
#[derive(Debug)]
pub struct Timeout {
    close_at: Option<Instant>,
    closed: bool,
}

impl Timeout {
    /// A stage that reached the connection at `since`.
    pub fn new(timeout: Duration, since: Instant) -> Self {
        Self {
            close_at: (!timeout.is_zero()).then(|| since + timeout),
            closed: false,
        }
    }
}

impl StageOps for Timeout {
    fn push(&mut self, chunk: Chunk, _rng: &mut ChaCha8Rng) {
        // Data is dropped; the source closing ends the connection (as Toxiproxy does).
        if chunk.eof {
            self.close_at = Some(chunk.at);
        }
    }

    fn poll(&mut self, now: Instant, _rng: &mut ChaCha8Rng) -> Option<Yield> {
        match self.close_at {
            Some(at) if at <= now && !self.closed => {
                self.closed = true;
                Some(Yield::Control(Control::Close))
            }
            _ => None,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.close_at.filter(|_| !self.closed)
    }

    fn drain(&mut self, _now: Instant, removed: bool) -> Drained {
        Drained {
            chunks: Vec::new(),
            control: removed.then_some(Control::Close),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn data_is_dropped_and_the_connection_closes_after_the_timeout() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t0 = Instant::now();
        let mut stage = Timeout::new(Duration::from_secs(1), t0);
        stage.push(Chunk::data(Bytes::from_static(b"lost"), t0), &mut rng);
        assert_eq!(stage.held(), 0);
        assert_eq!(stage.poll(t0 + Duration::from_millis(999), &mut rng), None);
        assert_eq!(
            stage.poll(t0 + Duration::from_secs(1), &mut rng),
            Some(Yield::Control(Control::Close))
        );
    }

    #[test]
    fn a_zero_timeout_never_closes_but_removal_does() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t0 = Instant::now();
        let mut stage = Timeout::new(Duration::ZERO, t0);
        assert_eq!(stage.deadline(), None);
        assert_eq!(stage.poll(t0 + Duration::from_secs(86_400), &mut rng), None);
        assert_eq!(stage.drain(t0, false).control, None);
        assert_eq!(stage.drain(t0, true).control, Some(Control::Close));
    }
}
