//! Fidelity: how faultline's faults look to an application, measured through
//! an in-process proxy on loopback and set next to the kernel's own answers
//! (FIDELITY.md: iptables, NFQUEUE delay, two network namespaces).
//!
//! - [`kernel`]: the kernel's measured numbers, as data, and the schedules
//!   (retransmissions, SYN retries) that derive them for other lengths.
//! - [`testbed`]: the proxy runtime, the echo server and the sink every
//!   experiment talks to, and the fresh proxy each experiment gets.
//! - [`message`]: the 1 KB request/response and a cancel-safe response reader.
//! - [`latency`]: request/response latency under delay and loss.
//! - [`partition`]: a blackhole partition: timeouts, survival, delivery after
//!   the heal, a client that reconnects, a new connect() during the partition.
//! - [`reject`]: a reject partition: resets of open connections and new connects.
//! - [`bulk`]: bulk throughput at a 40 ms round trip with loss.
//! - [`report`]: the side-by-side table (faultline, kernel, difference) as
//!   text, Markdown and JSON.
//!
//! Time is compressed where the shape allows it: the latency rows and the
//! partitions of one run go at once, each on its own proxy and connection
//! (every load is a few requests a second, so they barely compete), and
//! `--quick` sends fewer requests and uses one shorter partition. Rates, the
//! 5 s request timeout, the 200 ms retransmission timeout and the partition
//! lengths of the full run are the kernel experiment's own: they set the shapes.

use std::io;
use std::time::Duration;

use faultline_proxies::ProxyError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub mod bulk;
pub mod kernel;
pub mod latency;
pub mod message;
pub mod partition;
pub mod reject;
pub mod report;
pub mod testbed;

pub use report::FidelityReport;

use testbed::Testbed;

/// What to run.
#[derive(Debug, Clone)]
pub struct FidelityOptions {
    /// Fewer requests, one 6 s partition, short bulk streams: a smoke test
    /// (about 12 s), not a measurement.
    pub quick: bool,
    /// Repetitions of every experiment; the report quotes medians.
    pub runs: usize,
    /// Seed of the proxies' RNG streams; run `r` uses `seed + r`, so each
    /// repetition draws different losses and a seed replays them all.
    pub seed: u64,
    /// Worker threads of the proxy's runtime.
    pub proxy_threads: usize,
}

impl Default for FidelityOptions {
    fn default() -> Self {
        Self {
            quick: false,
            runs: 3,
            seed: 1,
            proxy_threads: 2,
        }
    }
}

/// Why a fidelity run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum FidelityError {
    /// A tokio runtime could not be built.
    #[error("cannot build a runtime: {0}")]
    Runtime(#[source] io::Error),
    /// A socket operation of the testbed (not of the system measured) failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A proxy could not be started or a fault could not be set.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// A task of the run panicked or was aborted.
    #[error("an experiment task failed: {0}")]
    Task(String),
    /// The stop signal arrived before the run finished.
    #[error("stopped before the run finished")]
    Cancelled,
}

impl FidelityError {
    fn io(what: &'static str) -> impl FnOnce(io::Error) -> FidelityError {
        move |source| FidelityError::Io { what, source }
    }
}

/// Sizes of the experiments.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Requests of a latency row at 20 req/s (the kernel: 400, 20 s).
    pub latency_requests: u64,
    /// Requests of the 4 req/s latency row (the kernel: 160, 40 s).
    pub sparse_requests: u64,
    /// Blackhole partition lengths (the kernel: 10 s and 40 s).
    pub partitions: Vec<Duration>,
    /// Traffic before a partition starts, so connections are established.
    pub warmup: Duration,
    /// Length of the reject partition.
    pub reject: Duration,
    /// Length of one bulk stream.
    pub bulk: Duration,
}

impl Plan {
    /// The sizes of a quick or a full run.
    pub fn new(quick: bool) -> Self {
        if quick {
            Plan {
                latency_requests: 60,
                sparse_requests: 20,
                partitions: vec![Duration::from_secs(6)],
                warmup: Duration::from_millis(500),
                reject: Duration::from_secs(1),
                bulk: Duration::from_millis(500),
            }
        } else {
            Plan {
                latency_requests: 400,
                sparse_requests: 160,
                partitions: vec![Duration::from_secs(10), Duration::from_secs(40)],
                warmup: Duration::from_secs(1),
                reject: Duration::from_secs(3),
                bulk: Duration::from_secs(5),
            }
        }
    }
}

/// Runs every experiment and returns the report. Builds its own runtimes: one
/// for the proxy (threads named `fl-fidelity-proxy`), one for the clients and
/// servers. `stop` ends the run early with [`FidelityError::Cancelled`];
/// every proxy is shut down (and so every fault healed) on the way out.
///
/// # Errors
/// [`FidelityError`] when the testbed cannot be set up or the run is stopped.
/// What the faults do to clients (timeouts, resets) is measured, never an error.
pub fn run(
    options: &FidelityOptions,
    stop: &CancellationToken,
) -> Result<FidelityReport, FidelityError> {
    let proxy_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.proxy_threads.max(1))
        .thread_name("fl-fidelity-proxy")
        .enable_all()
        .build()
        .map_err(FidelityError::Runtime)?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fl-fidelity-client")
        .enable_all()
        .build()
        .map_err(FidelityError::Runtime)?;
    let plan = Plan::new(options.quick);
    let runs = if options.quick {
        1
    } else {
        options.runs.max(1)
    };
    let date = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let result = client_rt.block_on(async {
        let began = Instant::now();
        let stop = stop.child_token();
        let bed = Testbed::start(proxy_rt.handle().clone(), stop.clone()).await?;
        let measured = tokio::select! {
            () = stop.cancelled() => Err(FidelityError::Cancelled),
            measured = measure_all(&bed, &plan, runs, options.seed) => measured,
        };
        bed.shutdown();
        stop.cancel();
        measured.map(|mut report| {
            report.date_utc = date;
            report.quick = options.quick;
            report.runs = runs;
            report.seed = options.seed;
            report.elapsed_s = began.elapsed().as_secs_f64();
            report
        })
    });
    proxy_rt.shutdown_timeout(Duration::from_secs(2));
    client_rt.shutdown_timeout(Duration::from_secs(2));
    result
}

/// Every experiment, `runs` times. Within a run the latency rows and the
/// partitions go concurrently (light loads, each on its own proxy); the
/// reject partition follows, and the bulk streams go last and alone, since
/// they use all the CPU there is.
async fn measure_all(
    bed: &Testbed,
    plan: &Plan,
    runs: usize,
    seed: u64,
) -> Result<FidelityReport, FidelityError> {
    let mut latency_runs = Vec::new();
    let mut partition_runs = Vec::new();
    let mut reject_runs = Vec::new();
    let mut bulk_runs = Vec::new();
    for run in 0..runs {
        let run_seed = seed.wrapping_add(run as u64);
        let mut latency_tasks = Vec::new();
        for (i, case) in latency::CASES.iter().enumerate() {
            let requests = if case.rate_hz < 20 {
                plan.sparse_requests
            } else {
                plan.latency_requests
            };
            let bed = bed.clone();
            let seed = run_seed.wrapping_mul(1000).wrapping_add(i as u64);
            latency_tasks.push(tokio::spawn(async move {
                latency::measure(&bed, case, requests, seed).await
            }));
        }
        let mut partition_tasks = Vec::new();
        for (i, length) in plan.partitions.iter().enumerate() {
            let bed = bed.clone();
            let (length, warmup) = (*length, plan.warmup);
            let seed = run_seed.wrapping_mul(1000).wrapping_add(100 + i as u64);
            partition_tasks.push(tokio::spawn(async move {
                partition::measure(&bed, length, warmup, seed).await
            }));
        }
        let mut latency = Vec::new();
        for task in latency_tasks {
            latency.push(join(task).await?);
        }
        let mut partitions = Vec::new();
        for task in partition_tasks {
            partitions.push(join(task).await?);
        }
        latency_runs.push(latency);
        partition_runs.push(partitions);
        reject_runs.push(reject::measure(bed, plan.reject, plan.warmup, run_seed).await?);
        let mut bulk = Vec::new();
        for (i, loss) in bulk::LOSSES.iter().enumerate() {
            let seed = run_seed.wrapping_mul(1000).wrapping_add(200 + i as u64);
            bulk.push(bulk::measure(bed, *loss, plan.bulk, seed).await?);
        }
        bulk_runs.push(bulk);
    }
    Ok(report::assemble(
        plan,
        &latency_runs,
        &partition_runs,
        &reject_runs,
        &bulk_runs,
    ))
}

async fn join<T>(
    task: tokio::task::JoinHandle<Result<T, FidelityError>>,
) -> Result<T, FidelityError> {
    task.await
        .map_err(|err| FidelityError::Task(err.to_string()))?
}
