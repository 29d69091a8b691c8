//! What the links of one proxy share: its pools, its release timer, its
//! limits and its counters.

use std::sync::atomic::AtomicU64;

use crate::fastpath::BufferPool;
use crate::fault::Direction;
use crate::splice::PipePool;
use crate::timer::ReleaseTimer;

/// Bounds that keep one proxy's resources finite.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; further clients wait in the kernel's backlog.
    pub max_connections: usize,
    /// Bytes a faulted link holds before it stops reading (back-pressure).
    pub max_held_bytes: usize,
    /// Free copy buffers kept for reuse.
    pub pooled_buffers: usize,
    /// Size of a copy buffer (the fast path's fallback).
    pub buffer_size: usize,
    /// Relay zero-fault bytes with `splice(2)` through pooled pipes; false
    /// copies through pooled buffers instead.
    pub splice: bool,
    /// Capacity asked for each pipe (`F_SETPIPE_SZ`); the kernel's default
    /// (64 KiB) is used when it refuses.
    pub pipe_size: usize,
    /// Pipes alive at once, in use or free; a link that finds none copies
    /// through a buffer. Pipe capacity counts against the user's
    /// `pipe-user-pages-soft` (64 MiB by default).
    pub max_pipes: usize,
    /// Free pipes kept for reuse.
    pub pooled_pipes: usize,
    /// Release faulted chunks with sub-millisecond precision (a timer thread
    /// for the last 3 ms before each release); false uses tokio's 1 ms timer.
    pub precise_timer: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 16_384,
            max_held_bytes: 8 * 1024 * 1024,
            pooled_buffers: 64,
            buffer_size: crate::fastpath::BUFFER_SIZE,
            splice: true,
            pipe_size: crate::splice::DEFAULT_PIPE_SIZE,
            max_pipes: 32,
            pooled_pipes: 16,
            precise_timer: true,
        }
    }
}

/// Counters of one proxy.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) bytes_upstream: AtomicU64,
    pub(crate) bytes_downstream: AtomicU64,
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_active: AtomicU64,
    /// Bytes held by faulted links (in latency queues, blackholes, …).
    pub held: AtomicU64,
}

impl Stats {
    /// The byte counter of a direction.
    pub fn bytes(&self, direction: Direction) -> &AtomicU64 {
        match direction {
            Direction::Upstream => &self.bytes_upstream,
            Direction::Downstream => &self.bytes_downstream,
        }
    }
}

/// A snapshot of a proxy's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// Bytes written client → server.
    pub bytes_upstream: u64,
    /// Bytes written server → client.
    pub bytes_downstream: u64,
    /// Connections accepted since start.
    pub connections_total: u64,
    /// Connections open now.
    pub connections_active: u64,
    /// Bytes held by faults right now (both directions).
    pub bytes_held: u64,
    /// Faults on the upstream direction.
    pub faults_upstream: u64,
    /// Faults on the downstream direction.
    pub faults_downstream: u64,
}

/// What the links of a proxy share.
#[derive(Debug)]
pub struct Shared {
    /// Copy buffers for the fast path.
    pub buffers: BufferPool,
    /// Pipes for the fast path's splice relay.
    pub pipes: PipePool,
    /// The release timer of faulted links.
    pub timer: ReleaseTimer,
    /// Limits.
    pub limits: Limits,
    /// Counters.
    pub stats: Stats,
}

impl Shared {
    /// The shared state of a new proxy bounded by `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            buffers: BufferPool::with_size(limits.pooled_buffers, limits.buffer_size),
            pipes: PipePool::new(limits.pipe_size, limits.max_pipes, limits.pooled_pipes),
            timer: ReleaseTimer::new(limits.precise_timer),
            limits,
            stats: Stats::default(),
        }
    }
}
