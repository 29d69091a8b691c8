//! The benchmark behind `faultline-bench`: direct loopback, faultline's proxy
//! and any peer proxy, side by side in one run, repeated, as medians and
//! ratios (DESIGN.md §7).
//!
//! - [`server`]: the loopback server (sink, echo, one-shot) every load talks to.
//! - [`load`]: the loads: bulk streams, round trips, new connections, idle and
//!   concurrent connections.
//! - [`faults`]: what only faultline measures: latency-fault accuracy, fault
//!   change propagation, bulk throughput under a 100 ms latency fault.
//! - `options`: [`BenchOptions`], [`Variant`], [`GROUPS`] and the load sizes they give.
//! - [`target`]: direct, in-process faultline, or a peer proxy process.
//! - [`probe`]: memory and CPU readings from `/proc` and `getrusage`.
//! - [`report`]: medians, ratios, verdicts against the targets; table and JSON.
//! - [`standalone`]: what this binary and `faultline-fidelity` share around
//!   their one library call: flags with the house exit codes, signals, failures.
//!
//! faultline's proxy runs in this process on its own tokio runtime, whose
//! threads are named `fl-proxy`; its CPU is read per thread (and, as a check,
//! as this process's CPU minus a direct run of the same load). Its memory per
//! idle connection is this process's RSS growth over N connections through it
//! minus the growth over N direct connections opened just before (so the
//! client's and server's share cancels out).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use faultline_proxies::{Limits, Proxy, ProxySpec};
use tokio::runtime::Runtime;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use faultline_harness::history::Record;
use faultline_harness::runner::{self, Drill};
use faultline_harness::scenario::Scenario;

pub mod faults;
pub mod load;
mod options;
pub mod probe;
pub mod report;
pub mod server;
pub mod standalone;
pub mod target;

pub use options::{BenchOptions, Variant, GROUPS, QUIET_BUSY};
pub use report::{BenchReport, Sample};
pub use target::PeerSpec;

use options::Plan;
use target::{PeerProcess, Target};

/// The drill behind the schedule-accuracy rows: a partition between two
/// regions flapping every 100 ms for 20 s, about 400 fault changes.
const SCHEDULE_SCENARIO: &str = include_str!("../scenarios/schedule-accuracy.json");

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A runtime, the server or a proxy could not start.
    #[error("cannot set up the benchmark")]
    Setup(#[source] io::Error),
    /// faultline's proxy could not start.
    #[error("cannot start faultline's proxy")]
    Proxy(#[from] faultline_proxies::ProxyError),
    /// A peer proxy could not start.
    #[error("cannot start peer {name}")]
    Peer {
        /// The peer's name.
        name: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A load failed.
    #[error("{what} failed against {target}")]
    Load {
        /// The load.
        what: &'static str,
        /// The target.
        target: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The schedule-accuracy drill could not run.
    #[error("the schedule-accuracy drill failed: {0}")]
    Drill(String),
    /// Stopped by the caller.
    #[error("cancelled")]
    Cancelled,
}

const MAX_BYTES: u64 = 64 << 30;

/// Descriptors kept free for everything but the loads' connections.
/// (Each in-process proxy's pipe pool holds at most 64, the runtimes and
/// listeners a few dozen.)
const FD_RESERVE: usize = 400;

struct Bench {
    options: BenchOptions,
    plan: Plan,
    stop: CancellationToken,
    client: Runtime,
    proxy_rt: Runtime,
    /// (name, target) in column order: direct, faultline, peers.
    targets: Vec<(String, Target)>,
    faultline: Proxy,
    coarse_timer: Proxy,
    raised: Proxy,
    variants: Vec<Proxy>,
    samples: Vec<Sample>,
    run: usize,
    notes: Vec<String>,
    /// Measurements that started although the machine never got quiet.
    noisy: std::cell::Cell<usize>,
}

/// Runs the benchmark and returns its report. Blocking: it starts its own
/// runtimes and must not be called from inside a tokio runtime.
///
/// # Errors
/// A [`BenchError`] when something cannot start or a load fails outright;
/// partial failures (connections refused under load) are counted in the report.
pub fn run(options: &BenchOptions, stop: &CancellationToken) -> Result<BenchReport, BenchError> {
    let machine = report::Machine::read();
    let mut plan = Plan::new(options);
    let mut notes = Vec::new();
    // Descriptors in this process per connection: client and server, plus
    // two more when faultline (in this process) is in between.
    // One more idle sample than runs: the first is a warm-up.
    let runs = options.runs.max(1) + 1;
    let idle_fds = runs * (2 + 4 * (1 + options.variants.len()) + 2 * options.peers.len());
    let want = (plan.concurrent * 4).max(plan.idle * idle_fds) + FD_RESERVE;
    let limit = match probe::raise_nofile(want as u64) {
        Ok(limit) => usize::try_from(limit).unwrap_or(usize::MAX),
        Err(err) => {
            notes.push(format!("cannot read the descriptor limit: {err}"));
            1024
        }
    };
    if limit < want {
        let budget = limit.saturating_sub(FD_RESERVE);
        let concurrent = plan.concurrent.min(budget / 4);
        let out_of_process = plan.concurrent.min(budget / 2);
        let idle = plan.idle.min(budget / idle_fds);
        notes.push(format!(
            "RLIMIT_NOFILE is {limit} and cannot be raised to the {want} the loads need \
             (raising the hard limit takes CAP_SYS_RESOURCE); concurrent connections \
             cut from {} to {concurrent} through in-process faultline (4 descriptors \
             each here: client, proxy × 2, server) and to {out_of_process} direct and \
             through peer processes (2 each here; the peer holds its own 2 under the \
             same limit), idle connections per sample from {} to {idle}",
            plan.concurrent, plan.idle
        ));
        plan.concurrent = concurrent;
        plan.concurrent_out_of_process = out_of_process;
        plan.idle = idle;
    }
    let runtime = |name: &str, threads: usize| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(BenchError::Setup)
    };
    let server_rt = runtime("fl-bench-srv", 2)?;
    let client = runtime("fl-bench-cli", 2)?;
    let proxy_rt = runtime("fl-proxy", options.proxy_threads.max(1))?;
    let stop_all = stop.child_token();
    let _stop_guard = stop_all.clone().drop_guard();
    let server = server_rt
        .block_on(server::start(stop_all.clone()))
        .map_err(BenchError::Setup)?;
    let limits = Limits {
        splice: options.splice,
        ..Limits::default()
    };
    let start_proxy = |name: &str, limits: Limits| {
        let spec = ProxySpec {
            name: name.into(),
            listen: "127.0.0.1:0".into(),
            upstream: server.to_string(),
            enabled: true,
        };
        proxy_rt.block_on(Proxy::start(spec, 1, limits, &stop_all))
    };
    let faultline = start_proxy("faultline", limits)?;
    let coarse_timer = start_proxy(
        "faultline-tokio-timer",
        Limits {
            precise_timer: false,
            ..limits
        },
    )?;
    let raised = start_proxy(
        "faultline-raised",
        Limits {
            max_held_bytes: options.raised_held_bytes,
            ..limits
        },
    )?;
    let mut variants = Vec::new();
    let mut targets = vec![
        ("direct".to_owned(), Target::Direct(server)),
        (
            "faultline".to_owned(),
            Target::Faultline(listen_of(&faultline)?),
        ),
    ];
    for variant in &options.variants {
        let proxy = start_proxy(&variant.name, variant.limits(limits))?;
        targets.push((variant.name.clone(), Target::Faultline(listen_of(&proxy)?)));
        variants.push(proxy);
    }
    for spec in &options.peers {
        let peer = client
            .block_on(PeerProcess::start(spec, server))
            .map_err(|source| BenchError::Peer {
                name: spec.name.clone(),
                source,
            })?;
        targets.push((spec.name.clone(), Target::Peer(peer)));
    }
    let mut bench = Bench {
        options: options.clone(),
        plan,
        stop: stop.clone(),
        client,
        proxy_rt,
        targets,
        faultline,
        coarse_timer,
        raised,
        variants,
        samples: Vec::new(),
        run: 0,
        notes,
        noisy: std::cell::Cell::new(0),
    };
    if bench.wants("idle") {
        // Every pass's idle sample first, each over fresh memory: the
        // connections of all of them stay open until the last is measured,
        // so no sample lands in memory an earlier load freed (the allocator
        // keeps freed memory resident, and RSS would not grow).
        let mut held = Vec::new();
        bench.warm_up(&mut held);
        for run in 0..options.runs.max(1) {
            bench.run = run;
            bench.idle_memory(&mut held)?;
        }
    }
    for run in 0..options.runs.max(1) {
        bench.run = run;
        bench.pass()?;
    }
    if !options.quiet_wait.is_zero() {
        let noisy = bench.noisy.get();
        bench.notes.push(format!(
            "{noisy} measurement(s) started without a quiet machine (waited up to {:?} for other work under {:.0} % of the CPUs)",
            options.quiet_wait,
            QUIET_BUSY * 100.0
        ));
    }
    let columns = bench.targets.iter().map(|(n, _)| n.clone()).collect();
    let report = BenchReport::new(
        machine,
        options.clone(),
        columns,
        std::mem::take(&mut bench.samples),
        std::mem::take(&mut bench.notes),
    );
    // Peers are killed and proxies stopped before the runtimes go away.
    drop(bench.targets.drain(..));
    bench.proxy_rt.block_on(async {
        bench.faultline.shutdown().await;
        bench.coarse_timer.shutdown().await;
        bench.raised.shutdown().await;
        for proxy in &bench.variants {
            proxy.shutdown().await;
        }
    });
    Ok(report)
}

fn listen_of(proxy: &Proxy) -> Result<SocketAddr, BenchError> {
    proxy
        .listen_addr()
        .ok_or_else(|| BenchError::Setup(io::Error::other("the proxy does not listen")))
}

impl Bench {
    fn record(&mut self, metric: &str, target: &str, value: f64) {
        self.samples
            .push(Sample::new(self.run, metric, target, value));
    }

    /// Before a measurement: stop if cancelled, and wait for a quiet machine
    /// when asked to.
    fn check(&self) -> Result<(), BenchError> {
        if self.stop.is_cancelled() {
            return Err(BenchError::Cancelled);
        }
        if self.options.quiet_wait.is_zero() {
            return Ok(());
        }
        let give_up = Instant::now() + self.options.quiet_wait;
        loop {
            let before = probe::cpu_times();
            self.client
                .block_on(async { tokio::time::sleep(Duration::from_millis(250)).await });
            let busy = probe::busy_share(before, probe::cpu_times());
            if busy < QUIET_BUSY {
                return Ok(());
            }
            if self.stop.is_cancelled() {
                return Err(BenchError::Cancelled);
            }
            if Instant::now() > give_up {
                self.noisy.set(self.noisy.get() + 1);
                return Ok(());
            }
        }
    }

    fn wants(&self, group: &str) -> bool {
        self.options.only.is_empty() || self.options.only.iter().any(|g| g == group)
    }

    fn pass(&mut self) -> Result<(), BenchError> {
        if self.wants("throughput") {
            for streams in [1usize, 8] {
                for _ in 0..self.options.repetitions.max(1) {
                    self.throughput(streams)?;
                }
            }
        }
        if self.wants("rtt") {
            self.round_trips()?;
        }
        if self.wants("connect") {
            self.connect_rate()?;
        }
        if self.wants("faults") {
            self.latency_faults()?;
        }
        if self.wants("concurrent") {
            self.concurrent()?;
        }
        if self.wants("schedule") {
            self.schedule_accuracy()?;
        }
        Ok(())
    }

    /// Schedule accuracy: a drill's fault changes, actual − planned time, as
    /// the history records them (actual is taken once the change reached
    /// every proxy of the step). In-process proxies, no traffic.
    fn schedule_accuracy(&mut self) -> Result<(), BenchError> {
        self.check()?;
        let text = if self.options.quick {
            SCHEDULE_SCENARIO.replace("\"duration\": \"20s\"", "\"duration\": \"2s\"")
        } else {
            SCHEDULE_SCENARIO.to_owned()
        };
        let scenario = Scenario::parse(&text, Some("schedule-accuracy.json"))
            .map_err(|err| BenchError::Drill(err.to_string()))?;
        let report = self
            .client
            .block_on(runner::run(Drill::new(scenario), self.stop.clone()))
            .map_err(|err| match err {
                runner::DrillError::Cancelled => BenchError::Cancelled,
                err => BenchError::Drill(err.to_string()),
            })?;
        let mut errors: Vec<f64> = report
            .history
            .records
            .iter()
            .filter_map(|record| match record {
                Record::Fault(fault) => {
                    Some((fault.actual_ns as f64 - fault.planned_ns as f64) / 1e6)
                }
                _ => None,
            })
            .collect();
        if errors.is_empty() {
            return Err(BenchError::Drill("no fault change was recorded".into()));
        }
        errors.sort_by(f64::total_cmp);
        let at = |q: f64| errors[((errors.len() - 1) as f64 * q).round() as usize];
        self.record("schedule_error_p50", "faultline", at(0.5));
        self.record("schedule_error_p99", "faultline", at(0.99));
        self.record("schedule_error_max", "faultline", at(1.0));
        self.record("schedule_changes", "faultline", errors.len() as f64);
        Ok(())
    }

    fn load_error(what: &'static str, target: &str) -> impl FnOnce(io::Error) -> BenchError {
        let target = target.to_owned();
        move |source| BenchError::Load {
            what,
            target,
            source,
        }
    }

    /// A sample's worth of connections through every target, kept open and
    /// not measured: the first connections allocate one-time structures
    /// (runtime tables, allocator state) that would otherwise land in a sample.
    fn warm_up(&mut self, held: &mut Vec<Vec<tokio::net::TcpStream>>) {
        let n = self.plan.idle;
        for (_, target) in &self.targets {
            let (open, _) = self.client.block_on(load::open_echo_connections(
                target.addr(),
                n,
                64,
                self.plan.cap,
            ));
            held.push(open);
        }
    }

    /// Memory growth per idle connection. The connections are pushed onto
    /// `held`, to stay open until every sample is taken.
    fn idle_memory(
        &mut self,
        held: &mut Vec<Vec<tokio::net::TcpStream>>,
    ) -> Result<(), BenchError> {
        self.check()?;
        let n = self.plan.idle;
        let cap = self.plan.cap;
        let mut direct_growth = 0.0;
        let mut results = Vec::new();
        for (name, target) in &self.targets {
            let before = target.memory();
            let (open, failed) =
                self.client
                    .block_on(load::open_echo_connections(target.addr(), n, 64, cap));
            let after = target.memory();
            let opened = open.len().max(1) as f64;
            let growth = after.saturating_sub(before) as f64 / opened;
            let per_connection = match target {
                Target::Direct(_) => {
                    direct_growth = growth;
                    growth
                }
                Target::Faultline(_) => growth - direct_growth,
                Target::Peer(_) => growth,
            };
            results.push((name.clone(), per_connection / 1000.0, failed));
            held.push(open);
        }
        for (name, kb, failed) in results {
            self.record("idle_kb", &name, kb);
            if failed > 0 {
                self.notes.push(format!(
                    "run {}: {failed} of {n} idle connections failed through {name}",
                    self.run + 1
                ));
            }
        }
        Ok(())
    }

    fn throughput(&mut self, streams: usize) -> Result<(), BenchError> {
        let metric = if streams == 1 {
            "throughput_1"
        } else {
            "throughput_8"
        };
        let mut direct_cpu_per_gib = None;
        let mut results = Vec::new();
        for (name, target) in &self.targets {
            self.check()?;
            let mark = target.cpu_mark();
            let result = load::throughput(target.addr(), streams, self.plan.stream, MAX_BYTES)
                .map_err(Self::load_error("throughput", name))?;
            let (process, proxy) = target.cpu_since(&mark);
            let gib = result.bytes as f64 / f64::from(1u32 << 30);
            let process_per_gib = process.as_secs_f64() / gib;
            results.push((name.clone(), result.gbit_per_s(), None, None));
            match target {
                Target::Direct(_) => direct_cpu_per_gib = Some(process_per_gib),
                Target::Faultline(_) => {
                    let last = results.len() - 1;
                    results[last].2 = Some(proxy.as_secs_f64() / gib);
                    results[last].3 = direct_cpu_per_gib.map(|d| process_per_gib - d);
                }
                Target::Peer(_) => {
                    let last = results.len() - 1;
                    results[last].2 = Some(proxy.as_secs_f64() / gib);
                }
            }
        }
        let cpu_metric = if streams == 1 {
            "cpu_per_gib_1"
        } else {
            "cpu_per_gib_8"
        };
        for (name, gbit, cpu, delta) in results {
            self.record(metric, &name, gbit);
            if let Some(cpu) = cpu {
                self.record(cpu_metric, &name, cpu);
            }
            if let Some(delta) = delta {
                self.record(&format!("{cpu_metric}_delta"), &name, delta);
            }
        }
        Ok(())
    }

    fn round_trips(&mut self) -> Result<(), BenchError> {
        self.check()?;
        let addrs: Vec<_> = self.targets.iter().map(|(_, t)| t.addr()).collect();
        let hists = load::round_trips(&addrs, self.plan.round_trips, 1000, self.plan.cap)
            .map_err(Self::load_error("round trips", "every target"))?;
        let mut results = Vec::new();
        for ((name, _), hist) in self.targets.iter().zip(&hists) {
            for (metric, q) in [("rtt_p50", 0.5), ("rtt_p99", 0.99), ("rtt_p999", 0.999)] {
                results.push((
                    metric,
                    name.clone(),
                    hist.value_at_quantile(q) as f64 / 1000.0,
                ));
            }
        }
        for (metric, name, micros) in results {
            self.record(metric, &name, micros);
        }
        Ok(())
    }

    /// New connections per second, and the CPU each costs: for direct the
    /// whole process (client and server), for a proxy the proxy alone. On a
    /// machine the load saturates, a proxy's rate can reach at most
    /// direct ÷ (direct + proxy) of direct's, recorded as `conn_ceiling`.
    fn connect_rate(&mut self) -> Result<(), BenchError> {
        let mut results = Vec::new();
        for (name, target) in &self.targets {
            self.check()?;
            let mark = target.cpu_mark();
            let (done, failed, elapsed) =
                load::connect_rate(target.addr(), self.plan.connect_threads, self.plan.connect)
                    .map_err(Self::load_error("new connections", name))?;
            let (process, proxy) = target.cpu_since(&mark);
            let cpu = match target {
                Target::Direct(_) => process,
                Target::Faultline(_) | Target::Peer(_) => proxy,
            };
            let cpu_us = cpu.as_secs_f64() * 1e6 / done.max(1) as f64;
            results.push((
                name.clone(),
                done as f64 / elapsed.as_secs_f64(),
                cpu_us,
                failed,
            ));
        }
        let direct_us = results.first().map(|r| r.2);
        for (i, (name, rate, cpu_us, failed)) in results.into_iter().enumerate() {
            self.record("conn_per_s", &name, rate);
            self.record("conn_cpu_us", &name, cpu_us);
            if let (Some(direct), true) = (direct_us, i > 0) {
                if direct + cpu_us > 0.0 {
                    self.record("conn_ceiling", &name, direct / (direct + cpu_us));
                }
            }
            if failed > 0 {
                self.notes.push(format!(
                    "run {}: {failed} new connections failed through {name}",
                    self.run + 1
                ));
            }
        }
        Ok(())
    }

    fn latency_faults(&mut self) -> Result<(), BenchError> {
        self.check()?;
        let plan = self.plan;
        let runs = [
            (self.faultline.clone(), faults::Client::Spinning, ""),
            (
                self.faultline.clone(),
                faults::Client::Blocking,
                "_blocking",
            ),
            (
                self.coarse_timer.clone(),
                faults::Client::Spinning,
                "_tokio_timer",
            ),
        ];
        for (proxy, client, suffix) in runs {
            let (errors, negative) = faults::latency_accuracy(
                &proxy,
                plan.accuracy_delay,
                plan.accuracy_count,
                plan.cap,
                client,
            )
            .map_err(Self::load_error("latency accuracy", "faultline"))?;
            let p50 = errors.value_at_quantile(0.5) as f64 / 1e6;
            let p99 = errors.value_at_quantile(0.99) as f64 / 1e6;
            self.record(&format!("latency_error_p50{suffix}"), "faultline", p50);
            self.record(&format!("latency_error_p99{suffix}"), "faultline", p99);
            if negative > 0 {
                self.notes.push(format!(
                    "run {}: {negative} latency-fault round trips{suffix} were shorter than the fault plus the median baseline",
                    self.run + 1
                ));
            }
        }
        self.check()?;
        let hist = faults::propagation(
            &self.faultline,
            &self.client,
            plan.propagation,
            Duration::from_millis(20),
        )
        .map_err(Self::load_error("fault propagation", "faultline"))?;
        if hist.is_empty() {
            self.notes.push(format!(
                "run {}: no fault change was seen on the open connection",
                self.run + 1
            ));
        } else {
            self.record(
                "propagation_p50",
                "faultline",
                hist.value_at_quantile(0.5) as f64 / 1e6,
            );
            self.record(
                "propagation_p99",
                "faultline",
                hist.value_at_quantile(0.99) as f64 / 1e6,
            );
            self.record("propagation_max", "faultline", hist.max() as f64 / 1e6);
        }
        for (proxy, metric) in [
            (self.faultline.clone(), "latency_bulk"),
            (self.raised.clone(), "latency_bulk_raised"),
        ] {
            self.check()?;
            let result = faults::bulk_under_latency(
                &proxy,
                plan.bulk_latency,
                plan.bulk_duration,
                MAX_BYTES,
            )
            .map_err(Self::load_error("bulk under latency", "faultline"))?;
            let gbit = result.sink_gbit_per_s();
            self.record(metric, "faultline", gbit);
        }
        Ok(())
    }

    fn concurrent(&mut self) -> Result<(), BenchError> {
        let mut results = Vec::new();
        for (name, target) in &self.targets {
            self.check()?;
            let n = match target {
                Target::Faultline(_) => self.plan.concurrent,
                Target::Direct(_) | Target::Peer(_) => self.plan.concurrent_out_of_process,
            };
            let started = Instant::now();
            let ok = self.client.block_on(async {
                let (open, _) =
                    load::open_echo_connections(target.addr(), n, 512, self.plan.cap).await;
                load::echo_all(open, self.plan.cap).await
            });
            results.push((name.clone(), n, ok as f64, started.elapsed()));
        }
        for (name, n, ok, elapsed) in results {
            self.record("concurrent_attempted", &name, n as f64);
            self.record("concurrent_ok", &name, ok);
            self.record("concurrent_secs", &name, elapsed.as_secs_f64());
        }
        Ok(())
    }
}
