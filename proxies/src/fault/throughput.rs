//! The throughput a lossy path leaves a sustained TCP stream, and the pacer
//! that holds a `loss` fault's stream to it.
//!
//! A userspace proxy sits above two loss-free TCP connections: it cannot drop
//! a byte, so the senders' congestion control never sees a loss and no window
//! collapses (docs/fidelity.md). The kernel's own answer (FIDELITY.md, 40 ms
//! round trip) is 3.4 Mbit/s for cubic at 1 % loss and 214 for bbr. So a
//! `loss` fault also bounds each connection's sustained rate by a congestion
//! model, chosen per fault ([`Throughput`]), with a token bucket per
//! connection ([`Pacer`]): a burst of up to [`BURST`] bytes leaves at once,
//! so request/response traffic keeps its per-chunk loss delays and nothing
//! more, and a stream that outruns the bucket is paced at the model's rate.
//!
//! The model's round trip is the path's: the latency faults of both
//! directions plus a measured floor, the proxy's handshake time with the
//! upstream (the loopback or LAN round trip under the emulated one).

use std::time::Duration;

use tokio::time::Instant;

use super::{Chunk, TimedQueue};

/// The congestion model that bounds a lossy stream's throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Throughput {
    /// Loss-based congestion control (Reno, cubic): the Mathis et al. bound,
    /// MSS × 1.22 / (RTT × √p). Its estimate at 1 % and 40 ms, 3.5 Mbit/s,
    /// is within 3 % of the kernel's measured cubic (3.4).
    #[default]
    Cubic,
    /// Model-based congestion control (bbr), which barely backs off for
    /// random loss: the kernel's loss-free window over the round trip,
    /// shared as 1 / (1 + 80 p), fitted to FIDELITY.md's bbr runs (at 40 ms:
    /// 228 Mbit/s at 1 %, kernel 214; 82 at 5 %, kernel 89).
    Bbr,
    /// No bound: loss only delays chunks (faultline before the models).
    Unbounded,
}

impl Throughput {
    /// The attribute value: `cubic`, `bbr` or `unbounded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Throughput::Cubic => "cubic",
            Throughput::Bbr => "bbr",
            Throughput::Unbounded => "unbounded",
        }
    }

    /// Parses an attribute value.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "cubic" => Some(Throughput::Cubic),
            "bbr" => Some(Throughput::Bbr),
            "unbounded" => Some(Throughput::Unbounded),
            _ => None,
        }
    }

    /// Every attribute value, the default first.
    pub const NAMES: [&'static str; 3] = ["cubic", "bbr", "unbounded"];

    /// The sustained rate in bytes per second over a path with round trip
    /// `rtt` that loses a fraction `loss` of its segments, or `None` when
    /// nothing bounds it (no loss, no round trip, or `unbounded`).
    pub fn rate(self, loss: f64, rtt: Duration) -> Option<f64> {
        if loss <= 0.0 || rtt.is_zero() {
            return None;
        }
        let rtt = rtt.as_secs_f64();
        match self {
            Throughput::Cubic => Some(MSS * MATHIS_CONSTANT / (rtt * loss.sqrt())),
            Throughput::Bbr => Some(BBR_WINDOW / rtt / (1.0 + BBR_LOSS_COST * loss)),
            Throughput::Unbounded => None,
        }
    }
}

/// The segment size of the models: a 1500-byte MTU less IP, TCP and the
/// timestamp option.
pub const MSS: f64 = 1448.0;

/// √(3/2), Mathis et al.'s constant for periodic loss with delayed ACKs off.
const MATHIS_CONSTANT: f64 = 1.22;

/// Bytes in flight of the kernel's loss-free bbr (and cubic) run: 410 Mbit/s
/// over its 40 ms round trip, the send buffer's bound.
const BBR_WINDOW: f64 = 410e6 / 8.0 * 0.040;

/// How fast bbr's share falls with loss (fitted, see [`Throughput::Bbr`]).
const BBR_LOSS_COST: f64 = 80.0;

/// The token bucket's depth: what a connection sends at once before the
/// model's rate applies (a few round trips of a small window).
pub const BURST: usize = 64 * 1024;

/// A per-connection token bucket at a model's rate: chunks are cut into
/// pieces of about 10 ms of the rate and released when the bucket holds
/// their bytes. Never reorders; never releases a piece before its chunk.
#[derive(Debug)]
pub struct Pacer {
    bytes_per_sec: f64,
    piece: usize,
    tokens: f64,
    /// When `tokens` was last brought up to date; `None` before the first chunk.
    stamp: Option<Instant>,
    /// Release time of the last piece: nothing leaves before it.
    last: Option<Instant>,
    queue: TimedQueue,
}

impl Pacer {
    /// A full bucket refilled at `bytes_per_sec`.
    pub fn new(bytes_per_sec: f64) -> Self {
        Self {
            bytes_per_sec,
            piece: ((bytes_per_sec / 100.0) as usize).clamp(MSS as usize, BURST),
            tokens: BURST as f64,
            stamp: None,
            last: None,
            queue: TimedQueue::default(),
        }
    }

    /// The rate, bytes per second.
    pub fn rate(&self) -> f64 {
        self.bytes_per_sec
    }

    /// Takes a chunk released by the loss stage at `chunk.at`.
    pub fn push(&mut self, mut chunk: Chunk) {
        let start = self.last.map_or(chunk.at, |last| last.max(chunk.at));
        if chunk.eof {
            chunk.at = start;
            self.queue.push(chunk);
            return;
        }
        self.refill(start);
        let mut at = start;
        let mut data = chunk.data;
        while !data.is_empty() {
            let part = data.split_to(self.piece.min(data.len()));
            let size = part.len() as f64;
            if self.tokens < size {
                at += Duration::from_secs_f64((size - self.tokens) / self.bytes_per_sec);
                self.tokens = size;
                self.stamp = Some(at);
            }
            self.tokens -= size;
            self.queue.push(Chunk {
                data: part,
                eof: false,
                at,
                arrived: chunk.arrived,
            });
        }
        self.last = Some(at);
    }

    fn refill(&mut self, now: Instant) {
        match self.stamp {
            Some(stamp) if now > stamp => {
                let earned = (now - stamp).as_secs_f64() * self.bytes_per_sec;
                self.tokens = (self.tokens + earned).min(BURST as f64);
                self.stamp = Some(now);
            }
            Some(_) => {}
            None => self.stamp = Some(now),
        }
    }

    /// The paced chunks.
    pub fn queue(&self) -> &TimedQueue {
        &self.queue
    }

    /// The paced chunks, to take from.
    pub fn queue_mut(&mut self) -> &mut TimedQueue {
        &mut self.queue
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn the_cubic_model_gives_the_mathis_estimate_of_the_kernel_run() {
        // FIDELITY.md: at 1 % loss and 40 ms the Mathis estimate is 3.5 Mbit/s.
        let rate = Throughput::Cubic
            .rate(0.01, Duration::from_millis(40))
            .unwrap();
        let mbit = rate * 8.0 / 1e6;
        assert!((3.4..3.6).contains(&mbit), "{mbit} Mbit/s");
        let bbr = Throughput::Bbr
            .rate(0.01, Duration::from_millis(40))
            .unwrap()
            * 8.0
            / 1e6;
        assert!((200.0..250.0).contains(&bbr), "{bbr} Mbit/s");
        assert_eq!(
            Throughput::Unbounded.rate(0.01, Duration::from_millis(40)),
            None
        );
        assert_eq!(Throughput::Cubic.rate(0.0, Duration::from_millis(40)), None);
    }

    fn drain(pacer: &mut Pacer) -> Vec<Chunk> {
        let mut out = Vec::new();
        while let Some(at) = pacer.queue().deadline() {
            out.extend(pacer.queue_mut().pop_ready(at));
        }
        out
    }

    #[test]
    fn a_burst_passes_at_once_and_a_stream_is_held_to_the_rate() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(100_000.0);
        // A request within the bucket: no delay.
        pacer.push(Chunk::data(Bytes::from(vec![1u8; 1000]), t0));
        assert_eq!(drain(&mut pacer)[0].at, t0);
        // One second of stream beyond the bucket: paced to the rate.
        let size = BURST + 100_000;
        pacer.push(Chunk::data(Bytes::from(vec![2u8; size]), t0));
        let out = drain(&mut pacer);
        assert_eq!(out.iter().map(Chunk::len).sum::<usize>(), size);
        assert!(out.windows(2).all(|w| w[0].at <= w[1].at));
        let last = out.last().unwrap().at - t0;
        // 1000 bytes over the bucket came first, so 1.01 s.
        assert!(
            (Duration::from_millis(1005)..Duration::from_millis(1015)).contains(&last),
            "{last:?}"
        );
    }

    #[test]
    fn an_idle_connection_refills_its_bucket() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(100_000.0);
        pacer.push(Chunk::data(Bytes::from(vec![0u8; BURST]), t0));
        drain(&mut pacer);
        // Empty now; after a second idle it is full again.
        let later = t0 + Duration::from_secs(1);
        pacer.push(Chunk::data(Bytes::from(vec![0u8; BURST]), later));
        assert!(drain(&mut pacer).iter().all(|c| c.at == later));
    }
}
