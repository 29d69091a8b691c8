//! Measurements only a fault-injecting proxy has: how exactly a latency fault
//! delays, how fast a fault change reaches an open connection, and what bulk
//! throughput survives a 100 ms latency fault.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use faultline_proxies::{Direction, Fault, FaultKind, Proxy};
use hdrhistogram::Histogram;
use tokio::runtime::Runtime;
use tokio::time::Instant;

use crate::load::{self, histogram, Throughput};
use crate::server::ECHO;

/// Size of the messages of the latency-accuracy load (FIDELITY.md's 1 KB).
const MESSAGE: usize = 1000;

fn latency(delay: Duration) -> FaultKind {
    FaultKind::Latency {
        latency: delay,
        jitter: Duration::ZERO,
    }
}

fn proxy_addr(proxy: &Proxy) -> io::Result<SocketAddr> {
    proxy
        .listen_addr()
        .ok_or_else(|| io::Error::other("the proxy does not listen"))
}

fn fault_error(err: faultline_proxies::ProxyError) -> io::Error {
    io::Error::other(err)
}

/// How the latency-accuracy client waits for its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// Blocks in `read`, as an application does: its own wake-up after a
    /// long wait (a halted virtual CPU here) is part of what it observes.
    Blocking,
    /// Polls a non-blocking socket: the arrival is seen the moment it
    /// happens, so the figure is the proxy's own release error.
    Spinning,
}

/// Writes all of `data`, retrying while a non-blocking socket would block.
fn write_spinning(stream: &mut TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Fills `buf`, polling while a non-blocking socket would block (bounded by
/// the proxy's answer; a closed connection ends it with an error).
fn read_spinning(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Latency-fault error: the round trip with a `delay` latency fault on the
/// downstream direction, minus `delay`, minus the median round trip through
/// the same proxy without the fault. One request at a time (light load).
/// Returns the errors in nanoseconds (negative errors count as zero) and how
/// many were negative.
///
/// # Errors
/// The socket's error, or the proxy refusing the fault.
pub fn latency_accuracy(
    proxy: &Proxy,
    delay: Duration,
    count: u64,
    cap: Duration,
    client: Client,
) -> io::Result<(Histogram<u64>, u64)> {
    let mut stream = TcpStream::connect(proxy_addr(proxy)?)?;
    stream.set_nodelay(true)?;
    stream.write_all(&[ECHO])?;
    stream.set_nonblocking(client == Client::Spinning)?;
    let request = vec![0x17u8; MESSAGE];
    let mut response = vec![0u8; MESSAGE];
    let mut round_trip = |stream: &mut TcpStream| -> io::Result<Duration> {
        let start = Instant::now();
        write_spinning(stream, &request)?;
        read_spinning(stream, &mut response)?;
        Ok(start.elapsed())
    };
    let mut base = histogram();
    for _ in 0..count.max(100) {
        let _ = base.record(round_trip(&mut stream)?.as_nanos() as u64);
    }
    let baseline = base.value_at_quantile(0.5);
    let _guard = proxy
        .fault_guard(Fault::new(Direction::Downstream, latency(delay)).named("bench-latency"))
        .map_err(fault_error)?;
    let expected = delay.as_nanos() as u64 + baseline;
    let mut errors = histogram();
    let mut negative = 0;
    let give_up = Instant::now() + cap;
    round_trip(&mut stream)?;
    for _ in 0..count {
        let rtt = round_trip(&mut stream)?.as_nanos() as u64;
        match rtt.checked_sub(expected) {
            Some(error) => {
                let _ = errors.record(error.max(1));
            }
            None => {
                negative += 1;
                let _ = errors.record(1);
            }
        }
        if Instant::now() > give_up {
            break;
        }
    }
    Ok((errors, negative))
}

/// Fault-change propagation: a ping-pong of small messages runs on one open
/// connection while a `delay` latency fault is added `iterations` times (and
/// removed after each). For each addition at T0 the first round trip that was
/// delayed by at least half of `delay` tells when the fault reached the
/// connection: its send time minus T0 (zero if a message already in flight
/// at T0 was caught), an upper bound within one round trip.
///
/// # Errors
/// The socket's error, or the proxy refusing the fault.
pub fn propagation(
    proxy: &Proxy,
    runtime: &Runtime,
    iterations: usize,
    delay: Duration,
) -> io::Result<Histogram<u64>> {
    let addr = proxy_addr(proxy)?;
    let stop = Arc::new(AtomicBool::new(false));
    let pinger = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("fl-bench-client".into())
            .spawn(move || ping_pong(addr, &stop))?
    };
    let mut additions = Vec::with_capacity(iterations);
    let settle = |d: Duration| runtime.block_on(async move { tokio::time::sleep(d).await });
    settle(Duration::from_millis(20));
    for _ in 0..iterations {
        let at = Instant::now();
        let guard = proxy
            .fault_guard(Fault::new(Direction::Upstream, latency(delay)).named("bench-propagation"))
            .map_err(fault_error);
        additions.push(at);
        settle(delay * 2);
        drop(guard?);
        settle(delay * 2);
    }
    stop.store(true, Ordering::Relaxed);
    let trips = pinger
        .join()
        .map_err(|_| io::Error::other("the ping-pong thread panicked"))??;
    let mut hist = histogram();
    for at in additions {
        let caught = trips
            .iter()
            .filter(|(sent, _)| *sent + Duration::from_millis(1) >= at)
            .find(|(_, rtt)| *rtt >= delay / 2);
        if let Some((sent, _)) = caught {
            let _ = hist.record(sent.saturating_duration_since(at).as_nanos().max(1) as u64);
        }
    }
    Ok(hist)
}

/// Round trips of 16-byte messages until `stop`; returns (send time, round trip) of each.
fn ping_pong(addr: SocketAddr, stop: &AtomicBool) -> io::Result<Vec<(Instant, Duration)>> {
    const MAX_TRIPS: usize = 2_000_000;
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.write_all(&[ECHO])?;
    let mut trips = Vec::with_capacity(1 << 16);
    let mut buf = [0u8; 16];
    while !stop.load(Ordering::Relaxed) && trips.len() < MAX_TRIPS {
        let sent = Instant::now();
        stream.write_all(&buf)?;
        stream.read_exact(&mut buf)?;
        trips.push((sent, sent.elapsed()));
    }
    Ok(trips)
}

/// One bulk stream for `duration` through `proxy` with a 100 ms (`delay`)
/// latency fault on the upstream direction; the rate is the sink's (from its
/// first byte to the end, so the 100 ms it takes the pipe to fill is left out).
///
/// # Errors
/// The socket's error, or the proxy refusing the fault.
pub fn bulk_under_latency(
    proxy: &Proxy,
    delay: Duration,
    duration: Duration,
    max_bytes: u64,
) -> io::Result<Throughput> {
    let addr = proxy_addr(proxy)?;
    let _guard = proxy
        .fault_guard(Fault::new(Direction::Upstream, latency(delay)).named("bench-bulk-latency"))
        .map_err(fault_error)?;
    load::throughput(addr, 1, duration, max_bytes)
}
