//! The HTTP API server: Toxiproxy's API, so Toxiproxy's own clients drive
//! faultline unchanged (DESIGN §4), and faultline's own routes. It stands on
//! [`crate::wire`] (the shapes and the client it shares with the remote
//! plane) and [`crate::apply`] (how a schedule's changes are applied and
//! healed); nothing below it imports it.
//!
//! Module map:
//! - this file: [`serve`] (the accept loop: bounded connections, graceful
//!   stop, then every running schedule cancelled and healed).
//! - [`state`]: [`ApiState`] (the registry the API manages, the token, the
//!   schedules).
//! - [`routes`]: the routing table (method and path → handler), 404 and 405.
//! - [`respond`]: the replies handlers send (JSON, empty, text).
//! - [`proxies`]: the routes `/proxies`, `/proxies/{proxy}`, `/populate`, `/reset`.
//! - [`toxics`]: the routes under `/proxies/{proxy}/toxics`.
//! - [`links`]: faultline's `/faultline/links` and `/faultline/regions`
//!   (proxies named by link id, `FROM->TO:SERVICE`).
//! - [`schedules`]: faultline's `/faultline/schedules` (a scenario's
//!   `schedule`, validated and expanded against the agent's links);
//!   [`scheduler`]: the runs, each played and healed in its own task.
//! - [`leases`]: faultline's `/faultline/leases`, the dead-man switch on
//!   what a remote drill creates here (healed when not renewed in time).
//! - [`populate`]: create-or-replace of many proxies, all or nothing (also
//!   used by `faultline serve --config`).
//! - [`metrics`]: the `/metrics` text, Prometheus's format.
//! - [`access`]: browser refusal, bearer token, the loopback-or-token rule.
//! - [`body`]: bounded request bodies.
//! - [`error`]: every error and the one place it becomes a status code.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod access;
pub mod body;
pub mod error;
pub mod leases;
pub mod links;
pub mod metrics;
pub mod populate;
pub mod proxies;
pub mod respond;
pub mod routes;
pub mod scheduler;
pub mod schedules;
pub mod state;
pub mod toxics;

pub use error::ApiError;
pub use routes::TOXIPROXY_VERSION;
pub use scheduler::Scheduler;
pub use state::ApiState;

/// API connections served at once; further clients wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 256;

/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(15);

/// How long open requests may take to finish once the API is stopped.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves the API on `listener` until `stop` is cancelled, then stops
/// accepting, lets open requests finish (within [`DRAIN_TIMEOUT`]), cancels
/// every running schedule, waits until each has healed, and returns.
/// It does not shut the registry's proxies down: their owner does.
pub async fn serve(listener: TcpListener, state: ApiState, stop: CancellationToken) {
    let connections = TaskTracker::new();
    let reaper = {
        let (leases, registry, schedules) = (
            state.leases().clone(),
            state.registry().clone(),
            state.schedules().clone(),
        );
        let stop = stop.clone();
        tokio::spawn(async move { leases.reap(registry, schedules, stop).await })
    };
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of descriptors, or a client gone before accept: back off
                // briefly; the listener itself is fine.
                tracing::debug!(%err, "API accept failed");
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let state = state.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            serve_connection(stream, state, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("API stopped with requests still open after {DRAIN_TIMEOUT:?}");
    }
    let _ = reaper.await;
    state.schedules().shutdown().await;
}

async fn serve_connection(stream: TcpStream, state: ApiState, stop: CancellationToken) {
    let service = service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(routes::handle(&state, request).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        // One connection's error never reaches the listener.
        tracing::debug!(%err, "API connection ended with an error");
    }
}
