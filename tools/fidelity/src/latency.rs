//! Request/response latency under delay and loss: one connection, 1 KB
//! requests sent open-loop at a fixed rate (a request does not wait for the
//! previous answer, as in the kernel run, where a 100 ms round trip spans two
//! sends), each timed from its write to its whole answer.
//!
//! Faults are set on both directions: `latency` first, then `loss` with the
//! kernel's 200 ms RTO floor. faultline's loss model: a "lost" chunk, and
//! everything behind it, is held until the next chunk of that direction
//! arrives at the proxy (a fast retransmission) or the RTO fires, doubling
//! while the retransmission is lost again. A userspace proxy sees whole writes
//! (chunks), not segments; here one write is one 1 KB chunk, one segment.

use std::time::Duration;

use faultline_harness::check::percentiles::{ms, Percentiles};
use faultline_proxies::{Direction, Fault, FaultKind};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::message::{self, ResponseReader};
use crate::testbed::Testbed;
use crate::FidelityError;

/// One row of the latency table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyCase {
    /// Stable key (JSON, kernel lookup).
    pub key: &'static str,
    /// The row's name, as FIDELITY.md writes it.
    pub label: &'static str,
    /// Delay on each direction.
    pub delay: Duration,
    /// Loss probability on each direction.
    pub loss: f64,
    /// Requests per second.
    pub rate_hz: u32,
}

/// The rows of FIDELITY.md's latency table, in its order.
pub static CASES: [LatencyCase; 6] = [
    LatencyCase {
        key: "none",
        label: "none",
        delay: Duration::ZERO,
        loss: 0.0,
        rate_hz: 20,
    },
    LatencyCase {
        key: "delay50",
        label: "50 ms delay",
        delay: Duration::from_millis(50),
        loss: 0.0,
        rate_hz: 20,
    },
    LatencyCase {
        key: "delay50_loss1",
        label: "50 ms + 1 % loss",
        delay: Duration::from_millis(50),
        loss: 0.01,
        rate_hz: 20,
    },
    LatencyCase {
        key: "delay50_loss5",
        label: "50 ms + 5 % loss",
        delay: Duration::from_millis(50),
        loss: 0.05,
        rate_hz: 20,
    },
    LatencyCase {
        key: "loss5",
        label: "5 % loss",
        delay: Duration::ZERO,
        loss: 0.05,
        rate_hz: 20,
    },
    LatencyCase {
        key: "loss5_sparse",
        label: "5 % loss at 4 req/s",
        delay: Duration::ZERO,
        loss: 0.05,
        rate_hz: 4,
    },
];

/// The RTO given to the loss fault: the kernel's floor (and the API's default).
pub const LOSS_RTO: Duration = Duration::from_millis(200);

/// How long answers may lag the last send before the row gives up on them.
const DRAIN: Duration = Duration::from_secs(30);

/// What one row measured in one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyStats {
    /// Requests sent.
    pub requests: u64,
    /// Requests answered (the rest were still unanswered at the deadline).
    pub answered: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Requests slower than 200 ms (the RTO floor: a loss not repaired by
    /// following traffic).
    pub over_200ms: u64,
}

impl LatencyCase {
    /// The faults of this row, both directions, latency before loss.
    pub fn faults(&self) -> Vec<Fault> {
        let mut faults = Vec::new();
        for direction in Direction::BOTH {
            if !self.delay.is_zero() {
                faults.push(Fault::new(
                    direction,
                    FaultKind::Latency {
                        latency: self.delay,
                        jitter: Duration::ZERO,
                    },
                ));
            }
            if self.loss > 0.0 {
                faults.push(Fault::new(
                    direction,
                    FaultKind::Loss {
                        probability: self.loss,
                        correlation: 0.0,
                        rto: LOSS_RTO,
                        throughput: faultline_proxies::Throughput::default(),
                    },
                ));
            }
        }
        faults
    }
}

/// Runs one row: a fresh proxy with the row's faults in front of the echo
/// server, `requests` requests at the row's rate.
///
/// # Errors
/// [`FidelityError`] if the proxy cannot start or the connection fails.
pub async fn measure(
    bed: &Testbed,
    case: &LatencyCase,
    requests: u64,
    seed: u64,
) -> Result<LatencyStats, FidelityError> {
    let proxy = bed
        .proxy(
            &format!("latency-{}", case.key),
            bed.echo,
            seed,
            case.faults(),
        )
        .await?;
    let addr = proxy
        .listen_addr()
        .ok_or_else(|| FidelityError::Task("the proxy is not listening".into()))?;
    let result = open_loop(addr, case.rate_hz, requests).await;
    bed.retire(proxy).await;
    let latencies = result.map_err(FidelityError::io("request/response over the proxy"))?;
    Ok(stats(requests, &latencies))
}

/// Sends `requests` requests at `rate_hz` on one connection without waiting
/// for answers, and times each answer from its request's write.
async fn open_loop(
    addr: std::net::SocketAddr,
    rate_hz: u32,
    requests: u64,
) -> std::io::Result<Vec<Duration>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    let period = Duration::from_secs(1) / rate_hz.max(1);
    let (sent_tx, mut sent_rx) = mpsc::channel::<Instant>(requests.max(1) as usize);
    let writer = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        // The schedule is the client's: a late tick does not shift the rest.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
        for id in 0..requests {
            ticks.tick().await;
            let sent = Instant::now();
            wr.write_all(&message::request(id)).await?;
            if sent_tx.send(sent).await.is_err() {
                break;
            }
        }
        Ok::<_, std::io::Error>(wr)
    });
    let deadline = Instant::now() + period * requests as u32 + DRAIN;
    let mut reader = ResponseReader::default();
    let mut latencies = Vec::with_capacity(requests as usize);
    for expected in 0..requests {
        let Ok(Some(sent)) = tokio::time::timeout_at(deadline, sent_rx.recv()).await else {
            break;
        };
        match tokio::time::timeout_at(deadline, reader.next(&mut rd)).await {
            Err(_) => break,
            Ok(Err(err)) => {
                writer.abort();
                return Err(err);
            }
            Ok(Ok(id)) if id != expected => {
                writer.abort();
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("answer {id} arrived where {expected} was due: bytes reordered"),
                ));
            }
            Ok(Ok(_)) => latencies.push(sent.elapsed()),
        }
    }
    writer.abort();
    Ok(latencies)
}

/// Percentiles of the answered requests (the checkers' HDR percentiles:
/// three significant digits, none above the exact maximum).
pub fn stats(requests: u64, latencies: &[Duration]) -> LatencyStats {
    let nanos = |latency: &Duration| u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
    let percentiles = Percentiles::of(latencies.iter().map(nanos));
    let at = |f: fn(&Percentiles) -> u64| percentiles.as_ref().map_or(0.0, |p| ms(f(p)));
    LatencyStats {
        requests,
        answered: latencies.len() as u64,
        p50_ms: at(|p| p.p50_ns),
        p90_ms: at(|p| p.p90_ns),
        p99_ms: at(|p| p.p99_ns),
        max_ms: at(|p| p.max_ns),
        over_200ms: latencies
            .iter()
            .filter(|l| **l > Duration::from_millis(200))
            .count() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_quotes_percentiles_of_the_answered_requests_and_counts_slow_ones() {
        let mut latencies = vec![Duration::from_millis(100); 98];
        latencies.extend([Duration::from_millis(250), Duration::from_millis(412)]);
        let row = stats(101, &latencies);
        assert_eq!((row.requests, row.answered), (101, 100));
        assert_eq!((row.p50_ms, row.p90_ms), (100.0, 100.0));
        assert_eq!(row.p99_ms, 250.0);
        assert_eq!(row.max_ms, 412.0);
        assert_eq!(row.over_200ms, 2);
    }

    #[test]
    fn a_row_without_answers_has_zero_figures() {
        let row = stats(5, &[]);
        assert_eq!((row.answered, row.p50_ms, row.max_ms), (0, 0.0, 0.0));
    }
}
