//! `reject`: fast failure, "connection refused" style. New connections are
//! reset at accept (the proxy checks before connecting upstream); an open
//! connection is reset at its next byte, as a kernel answering with RST would
//! (an idle one notices nothing until it sends).

use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::{Chunk, Control, StageOps, Yield};

/// The running reject stage.
#[derive(Debug, Default)]
pub struct Reject {
    hit: bool,
}

impl StageOps for Reject {
    fn push(&mut self, _chunk: Chunk, _rng: &mut ChaCha8Rng) {
        self.hit = true;
    }

    fn poll(&mut self, _now: Instant, _rng: &mut ChaCha8Rng) -> Option<Yield> {
        self.hit.then(|| {
            self.hit = false;
            Yield::Control(Control::Reset)
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_next_byte_resets_the_connection() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut stage = Reject::default();
        let t0 = Instant::now();
        assert_eq!(
            stage.poll(t0, &mut rng),
            None,
            "an idle connection notices nothing"
        );
        stage.push(Chunk::data(Bytes::from_static(b"x"), t0), &mut rng);
        assert_eq!(
            stage.poll(t0, &mut rng),
            Some(Yield::Control(Control::Reset))
        );
    }
}
