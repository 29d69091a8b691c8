//! faultline's control plane.
//!
//! Module map:
//! - [`scenario`]: scenario files and builders: raw serde shapes → validated types.
//! - [`schedule`]: region-level faults, ramps, flaps and the seeded nemesis,
//!   expanded into a concrete timeline of link fault changes before a run.
//! - [`topology`]: regions, services (addresses or spawned commands) and the
//!   links between them that become proxies.
//! - [`plane`]: the proxy-control trait, in-process (the proxies crate) or remote
//!   (a `faultline serve` agent over HTTP).
//! - [`runner`]: applies a timeline on tokio's clock and always heals.
//! - [`heartbeat`]: the leases a drill holds on agents, renewed while it runs.
//! - [`runfile`]: what a running drill holds, on disk, for `faultline heal`.
//! - [`workload`]: traffic generators and probes that record a history.
//! - [`history`]: the JSON Lines history format.
//! - [`check`]: invariants over a history, one file per checker.
//! - [`report`]: report.json, summary.txt, timeline.svg, junit.xml.
//! - [`api`]: the Toxiproxy-compatible HTTP API.
//! - [`demo`]: the small regional service the default drill runs.
//! - [`cli`]: the `faultline` subcommands; `main.rs` only parses and dispatches.
//! - [`bench`](mod@bench): the benchmark behind `faultline-bench` (DESIGN.md §7).
//! - [`fidelity`]: faults as an application sees them, next to the kernel's (FIDELITY.md).

pub mod api;
pub mod bench;
pub mod check;
pub mod cli;
pub mod demo;
pub mod fidelity;
pub mod heartbeat;
pub mod history;
pub mod plane;
pub mod report;
pub mod runfile;
pub mod runner;
pub mod scenario;
pub mod schedule;
pub mod topology;
pub mod workload;
