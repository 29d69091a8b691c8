//! The kernel's own answers, from FIDELITY.md: Linux 6.18, two network
//! namespaces joined by a veth; loss, partitions and resets by iptables; delay
//! by holding packets in NFQUEUE; bbr; one run each. Shapes and orders of
//! magnitude, not exact constants.

use serde::Serialize;

/// One row of the kernel's request/response latency table (1 KB each way,
/// one connection).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KernelLatency {
    /// Median, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
    /// Requests slower than 200 ms.
    pub over_200ms: u64,
    /// Requests sent (20 req/s for 20 s, or 4 req/s for 40 s).
    pub requests: u64,
}

const fn row(
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    over_200ms: u64,
    requests: u64,
) -> KernelLatency {
    KernelLatency {
        p50_ms,
        p90_ms,
        p99_ms,
        max_ms,
        over_200ms,
        requests,
    }
}

/// The latency table, keyed like [`crate::latency::CASES`].
pub const LATENCY: [(&str, KernelLatency); 6] = [
    ("none", row(0.4, 0.5, 0.6, 0.9, 0, 400)),
    ("delay50", row(100.9, 101.0, 101.1, 101.5, 0, 400)),
    ("delay50_loss1", row(100.8, 101.5, 352.0, 452.0, 23, 400)),
    ("delay50_loss5", row(101.0, 252.0, 452.0, 689.0, 78, 400)),
    ("loss5", row(0.5, 50.5, 208.0, 258.0, 8, 400)),
    ("loss5_sparse", row(0.6, 207.0, 251.0, 415.0, 24, 160)),
];

/// The kernel's latency row of a case key.
pub fn latency(key: &str) -> Option<KernelLatency> {
    LATENCY.iter().find(|(k, _)| *k == key).map(|(_, row)| *row)
}

/// Bulk throughput at a 40 ms round trip: (loss, bbr Mbit/s, cubic Mbit/s).
/// Without loss both are bound by the send buffer.
pub const BULK: [(f64, f64, f64); 3] = [(0.0, 410.0, 411.0), (0.01, 214.0, 3.4), (0.05, 89.0, 1.1)];

/// The kernel's bulk row for a loss probability.
pub fn bulk(loss: f64) -> Option<(f64, f64)> {
    BULK.iter()
        .find(|(l, _, _)| (l - loss).abs() < 1e-9)
        .map(|(_, bbr, cubic)| (*bbr, *cubic))
}

/// When the client retransmitted into the blackhole, seconds after the
/// partition began (the request in flight was sent at about 0.08 s). The
/// first gap is a tail-loss probe, then the RTO doubles from 200 ms.
pub const RETRANSMISSIONS_S: [f64; 9] = [0.29, 0.49, 0.90, 1.73, 3.40, 6.9, 13.5, 26.8, 53.4];

/// SYNs of a connect() into a blackhole, seconds after the call.
pub const SYNS_S: [f64; 11] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 11.0, 19.0, 35.5, 68.8];

/// When the kernel's first client timeout came, seconds after the partition
/// started (the request in flight plus its 5 s timeout).
pub const FIRST_TIMEOUT_S: f64 = 5.08;

/// A client that reconnects after its timeout recovers this long after the heal.
pub const RECONNECT_RECOVERY_S: f64 = 0.1;

/// The new connect() of the partition experiment starts this long into it.
pub const NEW_CONNECT_AT_S: f64 = 0.5;

/// With a 3 s connect timeout, connect() into a blackhole fails at 3.0 s.
pub const CONNECT_TIMEOUT_FAILS_S: f64 = 3.0;

/// What the kernel showed for a blackhole partition of one length.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KernelPartition {
    /// First byte after the heal, seconds after it.
    pub first_byte_after_heal_s: f64,
    /// A connect() started 0.5 s into the partition completes this long after the heal.
    pub new_connect_after_heal_s: f64,
    /// True when the figures are derived from the measured schedules
    /// ([`RETRANSMISSIONS_S`], [`SYNS_S`]) rather than measured at this length.
    pub derived: bool,
}

/// The kernel's partition figures for a partition of `length_s` seconds:
/// measured for 10 s and 40 s, derived from the schedules otherwise.
pub fn partition(length_s: f64) -> KernelPartition {
    if (length_s - 10.0).abs() < 1e-6 {
        return KernelPartition {
            first_byte_after_heal_s: 3.5,
            new_connect_after_heal_s: 1.7,
            derived: false,
        };
    }
    if (length_s - 40.0).abs() < 1e-6 {
        return KernelPartition {
            first_byte_after_heal_s: 13.4,
            new_connect_after_heal_s: 29.8,
            derived: false,
        };
    }
    let next = |times: &[f64], offset: f64| {
        times
            .iter()
            .map(|t| t + offset)
            .find(|t| *t >= length_s)
            .map_or(f64::NAN, |t| t - length_s)
    };
    KernelPartition {
        first_byte_after_heal_s: next(&RETRANSMISSIONS_S, 0.0),
        new_connect_after_heal_s: next(&SYNS_S, NEW_CONNECT_AT_S),
        derived: true,
    }
}

/// An open connection's next send after a reject partition starts: ECONNRESET
/// this long after the start.
pub const REJECT_OPEN_RESET_S: f64 = 0.07;

/// A new connect() during a reject partition: ECONNREFUSED at once.
pub const REJECT_NEW_CONNECT: &str = "ECONNREFUSED at once";

/// The first successful connect comes this long after a reject partition heals.
pub const REJECT_FIRST_SUCCESS_S: f64 = 0.05;
