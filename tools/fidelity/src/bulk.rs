//! Bulk throughput at a 40 ms round trip (20 ms delay each direction) with 0,
//! 1 and 5 % loss, next to the kernel's bbr and cubic.
//!
//! A userspace proxy sits above two loss-free loopback TCP connections: it
//! cannot drop a byte without breaking the stream, and the senders' congestion
//! control never sees a loss, so no congestion window collapses. faultline's
//! `loss` only delays chunks (a whole read, up to 1 MiB of a bulk stream):
//! a lost chunk waits for the next one, which in a bulk stream is already
//! there, so loss costs a bulk stream almost nothing. Throughput is bound
//! instead by what the delay holds: at most `max_held_bytes` (8 MiB by
//! default) per 20 ms in flight.

use std::time::Duration;

use faultline_proxies::{Direction, Fault, FaultKind};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::latency::LOSS_RTO;
use crate::testbed::Testbed;
use crate::FidelityError;

/// The loss probabilities of the kernel's table.
pub const LOSSES: [f64; 3] = [0.0, 0.01, 0.05];

/// Delay on each direction (a 40 ms round trip).
pub const DELAY: Duration = Duration::from_millis(20);

/// Bytes of one write of the sender.
const WRITE: usize = 256 * 1024;

/// How long the sink's answer may take after the sender stops: a lossy
/// stream's backlog (the proxy's held bytes and both sockets' buffers, some
/// 10 MB) drains at the loss fault's congestion model, about 200 KB/s at 5 %.
const ANSWER: Duration = Duration::from_secs(180);

/// One bulk stream's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BulkRun {
    /// Loss probability on each direction.
    pub loss: f64,
    /// Bytes the sink received.
    pub bytes: u64,
    /// Mbit/s at the sink, from its first byte to the end of the stream.
    pub mbit_s: f64,
}

/// One stream of `length` through a fresh proxy with the delay and `loss`.
///
/// # Errors
/// [`FidelityError`] if the proxy cannot start or the stream fails.
pub async fn measure(
    bed: &Testbed,
    loss: f64,
    length: Duration,
    seed: u64,
) -> Result<BulkRun, FidelityError> {
    let mut faults = Vec::new();
    for direction in Direction::BOTH {
        faults.push(Fault::new(
            direction,
            FaultKind::Latency {
                latency: DELAY,
                jitter: Duration::ZERO,
            },
        ));
        if loss > 0.0 {
            faults.push(Fault::new(
                direction,
                FaultKind::Loss {
                    probability: loss,
                    correlation: 0.0,
                    rto: LOSS_RTO,
                    throughput: faultline_proxies::Throughput::default(),
                },
            ));
        }
    }
    let proxy = bed.proxy("bulk", bed.sink, seed, faults).await?;
    let addr = proxy
        .listen_addr()
        .ok_or_else(|| FidelityError::Task("the proxy is not listening".into()))?;
    let result = stream(addr, length).await;
    bed.retire(proxy).await;
    let (bytes, nanos) = result.map_err(FidelityError::io("bulk stream over the proxy"))?;
    let mbit_s = if nanos == 0 {
        0.0
    } else {
        bytes as f64 * 8.0 / (nanos as f64 / 1e9) / 1e6
    };
    Ok(BulkRun {
        loss,
        bytes,
        mbit_s,
    })
}

/// Writes for `length`, half-closes, and reads the sink's count and time.
async fn stream(addr: std::net::SocketAddr, length: Duration) -> std::io::Result<(u64, u64)> {
    let mut stream = TcpStream::connect(addr).await?;
    let data = vec![0x5a_u8; WRITE];
    let end = Instant::now() + length;
    while Instant::now() < end {
        // A stalled stream must not outlive its slot.
        match tokio::time::timeout_at(end, stream.write_all(&data)).await {
            Ok(written) => written?,
            Err(_) => break,
        }
    }
    stream.shutdown().await?;
    let mut answer = [0u8; 16];
    tokio::time::timeout(ANSWER, stream.read_exact(&mut answer))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let mut word = [0u8; 8];
    word.copy_from_slice(&answer[..8]);
    let bytes = u64::from_le_bytes(word);
    word.copy_from_slice(&answer[8..]);
    Ok((bytes, u64::from_le_bytes(word)))
}
