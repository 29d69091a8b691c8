//! Faults: what a link does to the bytes that cross it.
//!
//! A [`Fault`] is the validated, immutable description of one fault on one
//! direction of a proxy. The control side publishes a new [`FaultSet`] and every
//! link (connection direction) switches to it at the next chunk boundary.
//!
//! Each kind is a [`Stage`]: a pure transform over timed [`Chunk`]s that is handed
//! its RNG and the current time, so it can be tested without sockets. One file per
//! kind; this file holds the dispatching enums.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

mod bandwidth;
mod blackhole;
mod latency;
mod limit_data;
mod loss;
mod reject;
mod reset_peer;
mod slicer;
mod slow_close;
mod throughput;
mod timeout;

pub use blackhole::retransmission_release;
pub use throughput::Throughput;

/// The longest duration any fault attribute may hold. Longer values are almost
/// always unit mistakes (a latency of 10^12 ms), so they are refused.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The largest bandwidth rate accepted, in KB/s (about 1 TB/s).
pub const MAX_RATE_KB: u64 = 1_000_000_000;

/// Which way bytes flow through a proxy (Toxiproxy's stream names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Client → server.
    Upstream,
    /// Server → client.
    Downstream,
}

impl Direction {
    /// Both directions, upstream first.
    pub const BOTH: [Direction; 2] = [Direction::Upstream, Direction::Downstream];

    /// Toxiproxy's name for it: `upstream` or `downstream`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
        }
    }

    /// Parses `upstream` or `downstream`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "upstream" => Some(Direction::Upstream),
            "downstream" => Some(Direction::Downstream),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a blackhole does with the bytes it held when it is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnHeal {
    /// Deliver them, in order, at the sender's next retransmission after the
    /// heal: 0.208 s after the first held byte, then doubling (0.416 s,
    /// 0.832 s, …, each step capped at 120 s), as the kernel does (FIDELITY.md).
    Deliver,
    /// Deliver them at once when the blackhole is removed.
    DeliverNow,
    /// Reset the connections instead.
    Reset,
}

impl OnHeal {
    /// The attribute value: `deliver`, `deliver_now` or `reset`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnHeal::Deliver => "deliver",
            OnHeal::DeliverNow => "deliver_now",
            OnHeal::Reset => "reset",
        }
    }

    /// Parses an attribute value.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "deliver" => Some(OnHeal::Deliver),
            "deliver_now" => Some(OnHeal::DeliverNow),
            "reset" => Some(OnHeal::Reset),
            _ => None,
        }
    }
}

/// The kind of a fault and its attributes, with units in the types.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Each chunk is released `latency ± jitter` after it arrived; release times
    /// never go backwards, so bytes are never reordered.
    Latency {
        /// Base delay.
        latency: Duration,
        /// Uniform jitter around the base delay; a delay below zero is clamped to zero.
        jitter: Duration,
    },
    /// A token bucket of `rate_kb` KB/s (1 KB = 1000 bytes); 0 stalls the stream.
    Bandwidth {
        /// KB per second.
        rate_kb: u64,
    },
    /// The close (FIN) is delayed.
    SlowClose {
        /// How long.
        delay: Duration,
    },
    /// All data is dropped; the connection closes after `timeout` (zero: never).
    /// When the fault is removed, affected connections are closed, so a stream
    /// with a gap in it never carries on.
    Timeout {
        /// Time to the close; zero means never.
        timeout: Duration,
    },
    /// The connection is reset (RST) `timeout` after the fault reaches it.
    ResetPeer {
        /// Time to the reset.
        timeout: Duration,
    },
    /// Chunks are split into pieces of `average_size ± size_variation` bytes,
    /// `delay` apart.
    Slicer {
        /// Mean piece size in bytes (at least 1).
        average_size: usize,
        /// Uniform variation of the piece size in bytes.
        size_variation: usize,
        /// Pause between pieces.
        delay: Duration,
    },
    /// The connection closes after `bytes` bytes have passed in this direction.
    LimitData {
        /// The byte budget.
        bytes: u64,
    },
    /// TCP-realistic loss: a lost chunk (and everything behind it) is held until
    /// the next chunk arrives (a fast retransmission) or a retransmission timeout
    /// fires; consecutive tail losses double the timeout. The stream stays intact.
    /// A sustained stream is also held to the rate of the `throughput` model.
    Loss {
        /// Probability that a chunk is lost, 0..=1.
        probability: f64,
        /// Probability that a chunk following a lost chunk is lost as well
        /// (Gilbert-Elliott bad state), 0..=1; 0 means independent losses.
        correlation: f64,
        /// Initial retransmission timeout.
        rto: Duration,
        /// The congestion model bounding a sustained stream's rate.
        throughput: Throughput,
    },
    /// A partition: bytes are held and nothing arrives. On the upstream
    /// direction with toxicity 1, the listener drops new connections' SYNs,
    /// so connect() hangs until the heal lets the client's SYN
    /// retransmission through; with a lower toxicity, connections it
    /// reaches are accepted and held as the kernel's SYN retries would be.
    /// See [`OnHeal`] for what removal does with held bytes.
    Blackhole {
        /// What happens to held bytes on removal.
        on_heal: OnHeal,
    },
    /// New connections are refused (ECONNREFUSED; with toxicity below 1,
    /// those it reaches are reset at once); open ones are reset at their
    /// next byte.
    Reject,
}

impl FaultKind {
    /// The type name used by the API (`latency`, `bandwidth`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            FaultKind::Latency { .. } => "latency",
            FaultKind::Bandwidth { .. } => "bandwidth",
            FaultKind::SlowClose { .. } => "slow_close",
            FaultKind::Timeout { .. } => "timeout",
            FaultKind::ResetPeer { .. } => "reset_peer",
            FaultKind::Slicer { .. } => "slicer",
            FaultKind::LimitData { .. } => "limit_data",
            FaultKind::Loss { .. } => "loss",
            FaultKind::Blackhole { .. } => "blackhole",
            FaultKind::Reject => "reject",
        }
    }

    /// Every type name, in the order of the DESIGN table.
    pub const TYPE_NAMES: [&'static str; 10] = [
        "latency",
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
        "loss",
        "blackhole",
        "reject",
    ];

    /// Checks attribute ranges.
    ///
    /// # Errors
    /// A [`FaultError`] naming the attribute that is out of range.
    pub fn validate(&self) -> Result<(), FaultError> {
        fn duration(field: &'static str, value: Duration) -> Result<(), FaultError> {
            if value > MAX_DURATION {
                return Err(FaultError::new(
                    field,
                    format!("{value:?} is longer than the maximum of 24h"),
                ));
            }
            Ok(())
        }
        fn probability(field: &'static str, value: f64) -> Result<(), FaultError> {
            if !(0.0..=1.0).contains(&value) {
                return Err(FaultError::new(
                    field,
                    format!("{value} is not a probability within 0..=1"),
                ));
            }
            Ok(())
        }
        match *self {
            FaultKind::Latency { latency, jitter } => {
                duration("latency", latency)?;
                duration("jitter", jitter)
            }
            FaultKind::Bandwidth { rate_kb } if rate_kb > MAX_RATE_KB => Err(FaultError::new(
                "rate",
                format!("{rate_kb} KB/s is above the maximum of {MAX_RATE_KB}"),
            )),
            FaultKind::Bandwidth { .. } | FaultKind::Blackhole { .. } | FaultKind::Reject => Ok(()),
            FaultKind::SlowClose { delay } => duration("delay", delay),
            FaultKind::Timeout { timeout } | FaultKind::ResetPeer { timeout } => {
                duration("timeout", timeout)
            }
            FaultKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => {
                if average_size == 0 {
                    return Err(FaultError::new(
                        "average_size",
                        "must be at least 1 byte".into(),
                    ));
                }
                if average_size > 1 << 30 || size_variation > 1 << 30 {
                    return Err(FaultError::new(
                        "average_size",
                        "must be at most 1 GiB".into(),
                    ));
                }
                duration("delay", delay)
            }
            FaultKind::LimitData { .. } => Ok(()),
            FaultKind::Loss {
                probability: p,
                correlation,
                rto,
                throughput: _,
            } => {
                probability("probability", p)?;
                probability("correlation", correlation)?;
                if rto.is_zero() {
                    return Err(FaultError::new("rto", "must be greater than zero".into()));
                }
                duration("rto", rto)
            }
        }
    }
}

/// A fault attribute out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FaultError {
    /// The attribute's name.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl FaultError {
    fn new(field: &'static str, message: String) -> Self {
        Self { field, message }
    }
}

/// One named fault on one direction of a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Unique per proxy (Toxiproxy's default is `<type>_<stream>`).
    pub name: String,
    /// The direction it acts on.
    pub direction: Direction,
    /// Probability that it applies to a given connection, 0..=1.
    pub toxicity: f64,
    /// What it does.
    pub kind: FaultKind,
}

impl Fault {
    /// A fault that applies to every connection, named `<type>_<direction>`.
    pub fn new(direction: Direction, kind: FaultKind) -> Self {
        Self {
            name: format!("{}_{}", kind.type_name(), direction),
            direction,
            toxicity: 1.0,
            kind,
        }
    }

    /// The same fault under another name.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The same fault with another toxicity.
    pub fn with_toxicity(mut self, toxicity: f64) -> Self {
        self.toxicity = toxicity;
        self
    }

    /// Checks the name, toxicity and attributes.
    ///
    /// # Errors
    /// A [`FaultError`] naming the offending field.
    pub fn validate(&self) -> Result<(), FaultError> {
        if self.name.is_empty() {
            return Err(FaultError::new("name", "must not be empty".into()));
        }
        if !(0.0..=1.0).contains(&self.toxicity) {
            return Err(FaultError::new(
                "toxicity",
                format!("{} is not a probability within 0..=1", self.toxicity),
            ));
        }
        self.kind.validate()
    }
}

/// A fault as installed on a proxy: the fault plus an identity that survives
/// updates, so a connection remembers when a fault first reached it.
#[derive(Debug)]
pub struct ActiveFault {
    /// Unique per proxy for the fault's lifetime (kept across updates).
    pub id: u64,
    /// The fault.
    pub fault: Fault,
}

/// The immutable set of faults on one direction of a proxy, in the order they
/// were added (the order of the pipeline).
#[derive(Debug, Default, Clone)]
pub struct FaultSet {
    /// The faults, pipeline order.
    pub faults: Vec<Arc<ActiveFault>>,
    /// The round trip the proxy's `latency` faults add (both directions,
    /// those with toxicity 1), which a `loss` repair pays on top of its gap:
    /// the receiver's SACK and the retransmission cross the path once more.
    /// Zero when this direction has no `loss` fault (nothing reads it).
    pub round_trip: Duration,
}

impl FaultSet {
    /// True when no fault is set: links take the zero-fault fast path.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }
}

/// A piece of the byte stream with the time it became available to a stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// The bytes; empty for an end-of-stream marker.
    pub data: Bytes,
    /// The end of the stream (a FIN) rather than data.
    pub eof: bool,
    /// When the chunk reached the current stage (or, after a stage, when the
    /// stage releases it).
    pub at: Instant,
    /// When the bytes first reached the proxy; a replaced pipeline re-times
    /// held chunks from here.
    pub arrived: Instant,
}

impl Chunk {
    /// A data chunk that arrived at `at`.
    pub fn data(data: Bytes, at: Instant) -> Self {
        Self {
            data,
            eof: false,
            at,
            arrived: at,
        }
    }

    /// An end-of-stream marker that arrived at `at`.
    pub fn eof(at: Instant) -> Self {
        Self {
            data: Bytes::new(),
            eof: true,
            at,
            arrived: at,
        }
    }

    /// Bytes in the chunk.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for an empty chunk (an end-of-stream marker).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// What a stage asks the link to do besides passing chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Close the connection gracefully (FIN both ways) once what was released is written.
    Close,
    /// Reset the connection (RST both ways) now.
    Reset,
}

/// Per-connection memory of one fault: whether its toxicity roll applies it to
/// this connection, and when it first reached the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// The toxicity roll's result.
    pub applies: bool,
    /// When the fault (this fault id) first reached the connection.
    pub since: Instant,
}

/// One fault's running state on one link. Stages are FIFO: they never reorder.
#[derive(Debug)]
pub enum Stage {
    /// The fault does not apply to this connection (toxicity roll).
    Pass(latency::Passthrough),
    /// See [`FaultKind::Latency`].
    Latency(latency::Latency),
    /// See [`FaultKind::Bandwidth`].
    Bandwidth(bandwidth::Bandwidth),
    /// See [`FaultKind::SlowClose`].
    SlowClose(slow_close::SlowClose),
    /// See [`FaultKind::Timeout`].
    Timeout(timeout::Timeout),
    /// See [`FaultKind::ResetPeer`].
    ResetPeer(reset_peer::ResetPeer),
    /// See [`FaultKind::Slicer`].
    Slicer(slicer::Slicer),
    /// See [`FaultKind::LimitData`].
    LimitData(limit_data::LimitData),
    /// See [`FaultKind::Loss`].
    Loss(loss::Loss),
    /// See [`FaultKind::Blackhole`].
    Blackhole(blackhole::Blackhole),
    /// See [`FaultKind::Reject`].
    Reject(reject::Reject),
}

/// What a stage yields when polled.
#[derive(Debug, PartialEq)]
pub enum Yield {
    /// A chunk released to the next stage, with `at` set to its release time.
    Chunk(Chunk),
    /// A connection-level action.
    Control(Control),
}

macro_rules! each_stage {
    ($self:expr, $stage:ident => $body:expr) => {
        match $self {
            Stage::Pass($stage) => $body,
            Stage::Latency($stage) => $body,
            Stage::Bandwidth($stage) => $body,
            Stage::SlowClose($stage) => $body,
            Stage::Timeout($stage) => $body,
            Stage::ResetPeer($stage) => $body,
            Stage::Slicer($stage) => $body,
            Stage::LimitData($stage) => $body,
            Stage::Loss($stage) => $body,
            Stage::Blackhole($stage) => $body,
            Stage::Reject($stage) => $body,
        }
    };
}

/// The operations every stage implements.
///
/// Most stages only compute when each chunk may leave and keep their chunks
/// in a [`TimedQueue`]: they implement `push` and hand out their queue, and
/// the defaults of `poll`, `deadline`, `held` and `drain` work on it. A stage
/// without a queue, or with more to do, overrides them.
pub trait StageOps {
    /// Accepts a chunk (its `at` is when it reached this stage).
    fn push(&mut self, chunk: Chunk, rng: &mut ChaCha8Rng);
    /// The stage's queue of chunks with release times, if it keeps one.
    fn queue(&self) -> Option<&TimedQueue> {
        None
    }
    /// The same queue, to take chunks from.
    fn queue_mut(&mut self) -> Option<&mut TimedQueue> {
        None
    }
    /// Yields the next released chunk or control action at `now`, if any.
    /// By default: the queue's front chunk once its release time has come.
    fn poll(&mut self, now: Instant, _rng: &mut ChaCha8Rng) -> Option<Yield> {
        self.queue_mut()?.pop_ready(now).map(Yield::Chunk)
    }
    /// The earliest time `poll` may yield something new without a `push`.
    /// By default: the queue's front release time.
    fn deadline(&self) -> Option<Instant> {
        self.queue()?.deadline()
    }
    /// Bytes the stage holds. By default: the queue's bytes.
    fn held(&self) -> usize {
        self.queue().map_or(0, TimedQueue::bytes)
    }
    /// Takes every held chunk, in order, when the pipeline is replaced.
    /// `removed` is true when this fault is gone from the new set (a healed
    /// blackhole re-times its chunks here), false when it is only rebuilt.
    /// By default: the queue's chunks, re-timed to their arrival.
    fn drain(&mut self, _now: Instant, _removed: bool) -> Drained {
        Drained {
            chunks: self
                .queue_mut()
                .map(TimedQueue::drain_to_arrival)
                .unwrap_or_default(),
            control: None,
        }
    }
}

/// What a stage hands back when the pipeline is replaced.
#[derive(Debug, Default)]
pub struct Drained {
    /// Held chunks, in order, re-timed where the stage says so.
    pub chunks: Vec<Chunk>,
    /// A connection-level action the removal causes (a removed `timeout` closes).
    pub control: Option<Control>,
}

impl StageOps for Stage {
    fn push(&mut self, chunk: Chunk, rng: &mut ChaCha8Rng) {
        each_stage!(self, s => s.push(chunk, rng))
    }
    fn poll(&mut self, now: Instant, rng: &mut ChaCha8Rng) -> Option<Yield> {
        each_stage!(self, s => s.poll(now, rng))
    }
    fn deadline(&self) -> Option<Instant> {
        each_stage!(self, s => s.deadline())
    }
    fn held(&self) -> usize {
        each_stage!(self, s => s.held())
    }
    fn drain(&mut self, now: Instant, removed: bool) -> Drained {
        each_stage!(self, s => s.drain(now, removed))
    }
}

impl Stage {
    /// The running stage of `kind` on one link. `reach` says whether the fault
    /// applies to this connection and since when.
    /// `round_trip` is the path's added round trip ([`FaultSet::round_trip`]),
    /// `rtt_floor` the connection's own measured round trip under it.
    pub fn new(kind: &FaultKind, reach: Reach, round_trip: Duration, rtt_floor: Duration) -> Stage {
        if !reach.applies {
            return Stage::Pass(latency::Passthrough::default());
        }
        match *kind {
            FaultKind::Latency { latency, jitter } => {
                Stage::Latency(latency::Latency::new(latency, jitter))
            }
            FaultKind::Bandwidth { rate_kb } => {
                Stage::Bandwidth(bandwidth::Bandwidth::new(rate_kb))
            }
            FaultKind::SlowClose { delay } => Stage::SlowClose(slow_close::SlowClose::new(delay)),
            FaultKind::Timeout { timeout } => {
                Stage::Timeout(timeout::Timeout::new(timeout, reach.since))
            }
            FaultKind::ResetPeer { timeout } => {
                Stage::ResetPeer(reset_peer::ResetPeer::new(timeout, reach.since))
            }
            FaultKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => Stage::Slicer(slicer::Slicer::new(average_size, size_variation, delay)),
            FaultKind::LimitData { bytes } => Stage::LimitData(limit_data::LimitData::new(bytes)),
            FaultKind::Loss {
                probability,
                correlation,
                rto,
                throughput,
            } => Stage::Loss(
                loss::Loss::new(probability, correlation, rto)
                    .with_round_trip(round_trip)
                    .with_throughput(throughput, rtt_floor),
            ),
            FaultKind::Blackhole { on_heal } => {
                Stage::Blackhole(blackhole::Blackhole::new(on_heal))
            }
            FaultKind::Reject => Stage::Reject(reject::Reject::default()),
        }
    }
}

/// A FIFO of chunks with release times: the shared core of the stages that only
/// compute when each chunk may leave.
#[derive(Debug, Default)]
pub struct TimedQueue {
    queue: std::collections::VecDeque<Chunk>,
    bytes: usize,
}

impl TimedQueue {
    /// Adds a chunk whose `at` is already its release time.
    pub fn push(&mut self, chunk: Chunk) {
        self.bytes += chunk.len();
        self.queue.push_back(chunk);
    }

    /// The front chunk if its release time has come.
    pub fn pop_ready(&mut self, now: Instant) -> Option<Chunk> {
        if self.queue.front()?.at <= now {
            let chunk = self.queue.pop_front()?;
            self.bytes -= chunk.len();
            Some(chunk)
        } else {
            None
        }
    }

    /// The front chunk's release time.
    pub fn deadline(&self) -> Option<Instant> {
        self.queue.front().map(|c| c.at)
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Release time of the last chunk, if any.
    pub fn last_release(&self) -> Option<Instant> {
        self.queue.back().map(|c| c.at)
    }

    /// Takes every chunk, re-timed to its arrival so the next pipeline decides anew.
    pub fn drain_to_arrival(&mut self) -> Vec<Chunk> {
        self.bytes = 0;
        self.queue
            .drain(..)
            .map(|mut c| {
                c.at = c.arrived;
                c
            })
            .collect()
    }

    /// Takes every chunk as it is, release times kept.
    pub fn take_all(&mut self) -> Vec<Chunk> {
        self.bytes = 0;
        self.queue.drain(..).collect()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
