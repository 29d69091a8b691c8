//! faultline's control plane.
//!
//! Module map, in layers: a module uses only modules of the layers below it
//! (ARCHITECTURE.md draws them; `tests/layers` fails on an import cycle).
//! - [`base`]: the shared vocabulary: durations, field-path problems, link
//!   ids, link effects.
//! - [`history`]: the JSON Lines history format.
//! - [`check`]: invariants over a history, one file per checker.
//! - [`schedule`]: region-level faults, ramps, flaps and the seeded nemesis,
//!   expanded into a concrete timeline of link fault changes before a run
//!   (where `time_scale` is applied).
//! - [`scenario`]: scenario files and builders: raw serde shapes → validated
//!   types; stop conditions and when they hold.
//! - [`report`]: report.json, summary.txt, timeline.svg, junit.xml.
//! - [`wire`]: what both sides of the HTTP API share: shapes, the error
//!   body, the client.
//! - [`plane`]: the proxy-control trait, in-process (the proxies crate) or
//!   remote (a `faultline serve` agent over HTTP), and a link's proxy on it.
//! - [`apply`]: applying a timeline entry's fault changes through the planes,
//!   and the [`apply::Healer`] that removes them again.
//! - [`workload`]: traffic generators and probes that record a history.
//! - [`topology`]: regions, services (addresses or spawned commands) and the
//!   links between them that become proxies.
//! - [`clients`]: a drill's client processes (one per region of each
//!   workload, probe and final read that names one), started before its clock.
//! - [`runner`]: a drill: topology up, traffic, the timeline on tokio's
//!   clock, always healed, checked and reported.
//! - [`heartbeat`]: the leases a drill holds on agents, renewed while it runs.
//! - [`runfile`]: what a running drill holds, on disk, for `faultline heal`.
//! - [`api`]: the HTTP API server (Toxiproxy's and faultline's routes) and
//!   its schedule player.
//! - [`cli`]: the `faultline` subcommands; `main.rs` only parses and dispatches.

pub mod api;
pub mod apply;
pub mod base;
pub mod check;
pub mod cli;
pub mod clients;
pub mod heartbeat;
pub mod history;
pub mod plane;
pub mod report;
pub mod runfile;
pub mod runner;
pub mod scenario;
pub mod schedule;
pub mod topology;
pub mod wire;
pub mod workload;
