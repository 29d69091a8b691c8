//! The vocabulary scenarios and schedules share, below both: durations
//! with units, problems with field paths, link ids and the effects a link
//! can carry. Dependencies run one way: `scenario` → `schedule` → `base`;
//! this module imports neither.
//!
//! Module map:
//! - [`duration`]: durations with units (`"250ms"`, `"2m"`), ranges, serde.
//! - [`problem`]: [`FieldPath`], [`Problem`], [`Problems`]: what is wrong
//!   and at which field path.
//! - [`link_id`]: [`LinkId`], `FROM->TO:SERVICE`.
//! - [`effects`]: the effects of a link baseline or a degrade step
//!   (latency, jitter, loss, bandwidth, …) and their checks.

pub mod duration;
pub mod effects;
pub mod link_id;
pub mod problem;

pub use link_id::{LinkId, LinkIdError};
pub use problem::{FieldPath, Position, Problem, Problems, Stage};
