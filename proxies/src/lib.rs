//! faultline's data plane: userspace TCP proxies that inject faults into the
//! bytes crossing them, byte-exact, live on open connections.
//!
//! Module map:
//! - [`registry`]: named proxies (what `faultline serve` manages).
//! - [`proxy`]: one proxy: its listener, its connections and the fault sets
//!   of its two directions, published as immutable snapshots.
//! - `admission`: what a new connection meets before the proxy dials
//!   upstream (a `reject`, a `blackhole` holding it like lost SYNs).
//! - `listener`: the listening socket, and the bound, non-listening socket
//!   that holds its port while it does not listen.
//! - [`shared`]: what the links of a proxy share: pools, the release timer,
//!   limits and counters.
//! - [`link`]: one direction of one connection: the fast path when no fault
//!   is set, the [`pipeline`] of fault stages otherwise.
//! - [`pipeline`]: the running stages of a fault set and the swap to a new set
//!   at a chunk boundary without losing, duplicating or reordering a byte.
//! - [`fault`]: the fault kinds, one file each; every stage is a pure
//!   transform over timed chunks, handed its RNG and the time.
//! - [`fastpath`]: the zero-fault copy and its bounded buffer pool.
//! - [`splice`]: the zero-fault relay through pooled pipes with `splice(2)`.
//! - [`timer`]: the release timer finer than tokio's, for faulted links.

#![warn(missing_docs)]

mod admission;
pub mod fastpath;
pub mod fault;
pub mod link;
mod listener;
pub mod pipeline;
pub mod proxy;
pub mod registry;
pub mod shared;
pub mod splice;
pub mod timer;

pub use fault::{Direction, Fault, FaultError, FaultKind, OnHeal, Throughput};
pub use proxy::{FaultGuard, Proxy, ProxyError, ProxyInfo, ProxySpec};
pub use registry::{ProxyUpdate, Registry, RegistryError};
pub use shared::{Limits, StatsSnapshot};
