//! What a benchmark run is asked for ([`BenchOptions`], extra faultline
//! columns as [`Variant`]s, the measurement groups) and the load sizes a
//! quick or a full run derives from it.

use std::time::Duration;

use faultline_proxies::Limits;

use crate::PeerSpec;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// A short version (seconds) with small counts: a smoke test, not a measurement.
    pub quick: bool,
    /// Full passes over every measurement.
    pub runs: usize,
    /// Throughput repetitions within a pass.
    pub repetitions: usize,
    /// Peer proxies to compare with.
    pub peers: Vec<PeerSpec>,
    /// Connections of the concurrency load (10 000 by default).
    pub concurrent: usize,
    /// Worker threads of faultline's runtime.
    pub proxy_threads: usize,
    /// Relay with splice(2) (faultline's default); false measures the buffer copy.
    pub splice: bool,
    /// Held-bytes bound of the proxy used for the raised-bound latency bulk load.
    pub raised_held_bytes: usize,
    /// Measurement groups to run (see [`GROUPS`]); empty runs them all.
    pub only: Vec<String>,
    /// Extra faultline columns with other data-path settings (experiments).
    pub variants: Vec<Variant>,
    /// Before each measurement, wait up to this long for the machine to be
    /// quiet (other processes using under [`QUIET_BUSY`] of the CPUs); zero
    /// does not wait. For shared machines where others compile meanwhile.
    pub quiet_wait: Duration,
}

/// The share of all CPUs other work may use for the machine to count as quiet.
pub const QUIET_BUSY: f64 = 0.15;

/// A faultline proxy with other data-path settings, measured as an extra
/// column: `NAME:KEY=VALUE,…` with keys `splice` (on/off), `pipe` and
/// `buffer` (sizes, `k`/`m` suffixes allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Column name.
    pub name: String,
    /// Splice on or off.
    pub splice: Option<bool>,
    /// Pipe size in bytes.
    pub pipe_size: Option<usize>,
    /// Copy buffer size in bytes.
    pub buffer_size: Option<usize>,
}

impl Variant {
    /// Parses `NAME:KEY=VALUE,…`.
    ///
    /// # Errors
    /// A message naming the part that does not parse.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, settings) = text.split_once(':').unwrap_or((text, ""));
        if name.is_empty() {
            return Err(format!("{text:?}: a variant needs a name"));
        }
        let mut variant = Variant {
            name: name.to_owned(),
            splice: None,
            pipe_size: None,
            buffer_size: None,
        };
        for setting in settings.split(',').filter(|s| !s.is_empty()) {
            let (key, value) = setting
                .split_once('=')
                .ok_or_else(|| format!("{setting:?}: expected KEY=VALUE"))?;
            match key {
                "splice" => {
                    variant.splice = Some(match value {
                        "on" | "true" => true,
                        "off" | "false" => false,
                        _ => return Err(format!("{setting:?}: splice is on or off")),
                    });
                }
                "pipe" => variant.pipe_size = Some(size(value)?),
                "buffer" => variant.buffer_size = Some(size(value)?),
                _ => return Err(format!("{setting:?}: keys are splice, pipe, buffer")),
            }
        }
        Ok(variant)
    }

    pub(crate) fn limits(&self, base: Limits) -> Limits {
        Limits {
            splice: self.splice.unwrap_or(base.splice),
            pipe_size: self.pipe_size.unwrap_or(base.pipe_size),
            buffer_size: self.buffer_size.unwrap_or(base.buffer_size),
            ..base
        }
    }
}

fn size(text: &str) -> Result<usize, String> {
    let lower = text.to_ascii_lowercase();
    let (digits, unit) = match lower.strip_suffix('m') {
        Some(d) => (d, 1 << 20),
        None => match lower.strip_suffix('k') {
            Some(d) => (d, 1 << 10),
            None => (lower.as_str(), 1),
        },
    };
    digits
        .parse::<usize>()
        .map(|n| n * unit)
        .map_err(|_| format!("{text:?} is not a size"))
}

/// The measurement groups, in the order a pass runs them.
pub const GROUPS: [&str; 7] = [
    "idle",
    "throughput",
    "rtt",
    "connect",
    "faults",
    "concurrent",
    "schedule",
];

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            quick: false,
            runs: 3,
            repetitions: 3,
            peers: Vec::new(),
            concurrent: 10_000,
            proxy_threads: 2,
            splice: true,
            raised_held_bytes: 256 * 1024 * 1024,
            only: Vec::new(),
            variants: Vec::new(),
            quiet_wait: Duration::ZERO,
        }
    }
}

/// Sizes of the loads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) stream: Duration,
    pub(crate) round_trips: u64,
    pub(crate) connect: Duration,
    pub(crate) connect_threads: usize,
    pub(crate) idle: usize,
    pub(crate) concurrent: usize,
    /// The many-connections load through a target whose connections cost
    /// this process only client and server (direct, a peer process); the
    /// in-process proxy's two more make [`Plan::concurrent`] smaller.
    pub(crate) concurrent_out_of_process: usize,
    pub(crate) accuracy_count: u64,
    pub(crate) accuracy_delay: Duration,
    pub(crate) propagation: usize,
    pub(crate) bulk_latency: Duration,
    pub(crate) bulk_duration: Duration,
    pub(crate) cap: Duration,
}

impl Plan {
    pub(crate) fn new(options: &BenchOptions) -> Self {
        if options.quick {
            Plan {
                stream: Duration::from_millis(200),
                round_trips: 500,
                connect: Duration::from_millis(200),
                connect_threads: 2,
                idle: 100,
                concurrent: options.concurrent.min(300),
                concurrent_out_of_process: options.concurrent.min(300),
                accuracy_count: 20,
                accuracy_delay: Duration::from_millis(5),
                propagation: 3,
                bulk_latency: Duration::from_millis(100),
                bulk_duration: Duration::from_millis(400),
                cap: Duration::from_secs(10),
            }
        } else {
            Plan {
                stream: Duration::from_millis(1500),
                round_trips: 20_000,
                connect: Duration::from_secs(1),
                connect_threads: 2,
                idle: 2_000,
                concurrent: options.concurrent,
                concurrent_out_of_process: options.concurrent,
                accuracy_count: 500,
                accuracy_delay: Duration::from_millis(5),
                propagation: 20,
                bulk_latency: Duration::from_millis(100),
                bulk_duration: Duration::from_secs(2),
                cap: Duration::from_secs(60),
            }
        }
    }
}
