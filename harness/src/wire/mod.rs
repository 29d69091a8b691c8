//! What both sides of the HTTP API share: the JSON shapes, their decoding and
//! conversion to the data plane's types, the error body, and the client.
//! The server ([`crate::api`]) and the remote plane ([`crate::plane`]) both
//! stand on this module; it knows neither.
//!
//! Module map:
//! - [`decode`](mod@decode): bodies and files into shapes; [`ShapeError`], which names
//!   the field or toxic attribute at fault.
//! - [`shapes`]: Toxiproxy's JSON shapes (proxies, toxics, populate) and
//!   their conversion to and from the data plane's types.
//! - [`attributes`]: toxic attributes ⇄ fault kinds, in Toxiproxy's units.
//! - [`links`]: faultline's own shapes, `LinkJson` and `RegionJson`.
//! - [`error`]: the error body, `{"error": …, "status": …}`.
//! - [`client`]: a small client of the API (`faultline fault`, remote agents).

pub mod attributes;
pub mod client;
pub mod decode;
pub mod error;
pub mod leases;
pub mod links;
pub mod shapes;

pub use decode::{decode, decode_object, ShapeError};
