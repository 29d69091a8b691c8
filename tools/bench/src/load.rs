//! The loads: bulk streams, request/response round trips, new connections,
//! idle connections and many concurrent connections. Each is bounded in count
//! and in time and talks only to loopback.
//!
//! Throughput, round trips and connection rate run on plain threads with
//! blocking sockets (the cheapest client there is, so the direct baseline is
//! the kernel's own figure); the many-connection loads run on a tokio runtime.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::server::{ECHO, ONE_SHOT, SINK};

/// Bytes per write of a bulk stream.
const WRITE_SIZE: usize = 256 * 1024;

/// The result of a throughput load.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Bytes the sink received, all streams together.
    pub bytes: u64,
    /// From the start of the load to the last sink report (client side).
    pub elapsed: Duration,
    /// The longest sink window (first byte to end of stream) of any stream.
    pub sink_window: Duration,
}

impl Throughput {
    /// Gbit/s over the whole load.
    pub fn gbit_per_s(&self) -> f64 {
        gbit(self.bytes, self.elapsed)
    }

    /// Gbit/s over the sink's window (excludes the time a delayed stream takes to fill).
    pub fn sink_gbit_per_s(&self) -> f64 {
        gbit(self.bytes, self.sink_window)
    }
}

fn gbit(bytes: u64, over: Duration) -> f64 {
    if over.is_zero() {
        0.0
    } else {
        bytes as f64 * 8.0 / over.as_secs_f64() / 1e9
    }
}

/// `streams` bulk streams to the sink at `addr`, each writing for `duration`
/// (and at most `max_bytes`).
///
/// # Errors
/// The first stream's socket error.
pub fn throughput(
    addr: SocketAddr,
    streams: usize,
    duration: Duration,
    max_bytes: u64,
) -> io::Result<Throughput> {
    let barrier = Arc::new(Barrier::new(streams + 1));
    let handles: Vec<_> = (0..streams)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::Builder::new()
                .name("fl-bench-client".into())
                .spawn(move || {
                    let stream = TcpStream::connect(addr);
                    barrier.wait();
                    bulk_stream(stream?, duration, max_bytes)
                })
        })
        .collect::<io::Result<_>>()?;
    barrier.wait();
    let start = Instant::now();
    let mut bytes = 0;
    let mut sink_window = Duration::ZERO;
    let mut first_error = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok((b, window))) => {
                bytes += b;
                sink_window = sink_window.max(window);
            }
            Ok(Err(err)) => {
                first_error.get_or_insert(err);
            }
            Err(_) => {
                first_error.get_or_insert(io::Error::other("a client thread panicked"));
            }
        }
    }
    let elapsed = start.elapsed();
    match first_error {
        Some(err) => Err(err),
        None => Ok(Throughput {
            bytes,
            elapsed,
            sink_window,
        }),
    }
}

fn bulk_stream(
    mut stream: TcpStream,
    duration: Duration,
    max_bytes: u64,
) -> io::Result<(u64, Duration)> {
    let data = vec![0x5au8; WRITE_SIZE];
    stream.write_all(&[SINK])?;
    let deadline = Instant::now() + duration;
    let mut sent = 0u64;
    while sent < max_bytes && Instant::now() < deadline {
        stream.write_all(&data)?;
        sent += data.len() as u64;
    }
    stream.shutdown(Shutdown::Write)?;
    let mut report = [0u8; 16];
    stream.read_exact(&mut report)?;
    let bytes = u64::from_le_bytes(report[..8].try_into().unwrap_or_default());
    let window = u64::from_le_bytes(report[8..].try_into().unwrap_or_default());
    if bytes != sent {
        return Err(io::Error::other(format!(
            "the sink received {bytes} bytes of {sent}"
        )));
    }
    Ok((bytes, Duration::from_nanos(window)))
}

/// `count` round trips of `size`-byte messages through the echo at each of
/// `addrs`, one connection per address and one message at a time, stopping
/// early after `cap`. The targets take turns, one round trip each, starting
/// with a different target every turn: all see the same machine (the other
/// load on it, the CPUs' sleep states), which a run of all direct round trips
/// followed by all proxied ones would not. Returns one histogram of
/// nanoseconds per address, in order.
///
/// # Errors
/// The first socket error.
pub fn round_trips(
    addrs: &[SocketAddr],
    count: u64,
    size: usize,
    cap: Duration,
) -> io::Result<Vec<Histogram<u64>>> {
    let request = vec![0x42u8; size];
    let mut response = vec![0u8; size];
    let mut streams = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.write_all(&[ECHO])?;
        // A few untimed round trips first: connection set-up, caches, the
        // proxy's upstream dial.
        for _ in 0..10 {
            stream.write_all(&request)?;
            stream.read_exact(&mut response)?;
        }
        streams.push(stream);
    }
    let mut hists: Vec<_> = addrs.iter().map(|_| histogram()).collect();
    let give_up = Instant::now() + cap;
    let n = streams.len().max(1);
    for turn in 0..count {
        for k in 0..n {
            let i = (turn as usize + k) % n;
            let stream = &mut streams[i];
            let start = Instant::now();
            stream.write_all(&request)?;
            stream.read_exact(&mut response)?;
            let _ = hists[i].record(start.elapsed().as_nanos() as u64);
        }
        if Instant::now() > give_up {
            break;
        }
    }
    Ok(hists)
}

/// A histogram of nanoseconds from 1 ns to 1 000 s, three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 1_000_000_000_000, 3)
        .expect("constant histogram bounds are valid")
}

/// New connections per second: `threads` loops of connect, one-byte round
/// trip, close, for `duration`. Returns (completed, failed, elapsed).
///
/// # Errors
/// A client thread that cannot be spawned.
pub fn connect_rate(
    addr: SocketAddr,
    threads: usize,
    duration: Duration,
) -> io::Result<(u64, u64, Duration)> {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::Builder::new()
                .name("fl-bench-client".into())
                .spawn(move || {
                    barrier.wait();
                    let deadline = Instant::now() + duration;
                    let (mut done, mut failed) = (0u64, 0u64);
                    while Instant::now() < deadline {
                        match one_shot(addr) {
                            Ok(()) => done += 1,
                            Err(_) => failed += 1,
                        }
                    }
                    (done, failed)
                })
        })
        .collect::<io::Result<_>>()?;
    barrier.wait();
    let start = Instant::now();
    let (mut done, mut failed) = (0, 0);
    for handle in handles {
        let (d, f) = handle.join().unwrap_or((0, 1));
        done += d;
        failed += f;
    }
    Ok((done, failed, start.elapsed()))
}

fn one_shot(addr: SocketAddr) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.write_all(&[ONE_SHOT, 1])?;
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer)?;
    // Wait for the server's close so the connection is complete end to end.
    let _ = stream.read(&mut answer)?;
    Ok(())
}

/// Opens `n` echo connections on the current tokio runtime, each proven open
/// end to end by a one-byte round trip, at most `parallel` opening at once and
/// giving up after `cap`. Returns the connections that succeeded and the count
/// of failures.
pub async fn open_echo_connections(
    addr: SocketAddr,
    n: usize,
    parallel: usize,
    cap: Duration,
) -> (Vec<tokio::net::TcpStream>, usize) {
    let give_up = Instant::now() + cap;
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        if Instant::now() > give_up {
            break;
        }
        tasks.spawn(async move {
            let opened = tokio::time::timeout_at(give_up, async {
                let mut stream = tokio::net::TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                stream.write_all(&[ECHO, 7]).await?;
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await?;
                io::Result::Ok(stream)
            })
            .await;
            drop(permit);
            opened.ok().and_then(Result::ok)
        });
    }
    let mut open = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        if let Some(stream) = joined.ok().flatten() {
            open.push(stream);
        }
    }
    let failed = n - open.len();
    (open, failed)
}

/// One more one-byte round trip on every connection, all at once: proves they
/// are all open at the same time. Returns how many answered before `cap`.
pub async fn echo_all(connections: Vec<tokio::net::TcpStream>, cap: Duration) -> usize {
    let give_up = Instant::now() + cap;
    let mut tasks = tokio::task::JoinSet::new();
    for mut stream in connections {
        tasks.spawn(async move {
            tokio::time::timeout_at(give_up, async {
                stream.write_all(&[9]).await?;
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await?;
                io::Result::Ok(stream)
            })
            .await
            .ok()
            .and_then(Result::ok)
        });
    }
    let mut ok = 0;
    let mut keep = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(Some(stream)) = joined {
            ok += 1;
            keep.push(stream);
        }
    }
    drop(keep);
    ok
}
