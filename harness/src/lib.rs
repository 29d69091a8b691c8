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
//! - [`workload`]: traffic generators and probes that record a history.
//! - [`history`]: the JSON Lines history format.
//! - [`check`]: invariants over a history, one file per checker.
//! - [`report`]: report.json, summary.txt, timeline.svg, junit.xml.
//! - [`api`]: the Toxiproxy-compatible HTTP API.
//! - [`cli`]: the `faultline` subcommands; `main.rs` only parses and dispatches.

pub mod api;
pub mod check;
pub mod cli;
pub mod history;
pub mod plane;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod schedule;
pub mod topology;
pub mod workload;
