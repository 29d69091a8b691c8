//! The drill side of leases (see [`crate::api::leases`]): one lease per
//! agent, renewed by a heartbeat task every third of its TTL while the drill
//! runs, and released when it ends. If the drill dies (or its future is
//! dropped), the heartbeat stops and the agent heals what the lease covered
//! once the TTL passes.

use std::time::Duration;

use hyper::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::wire::client::{ApiClient, ClientError};

/// How often, as a fraction of the TTL, a lease is renewed.
pub const RENEW_FRACTION: u32 = 3;

/// A lease held on one agent.
#[derive(Debug, Clone)]
pub struct HeldLease {
    /// The agent's client (without the lease header).
    pub client: ApiClient,
    /// The lease id.
    pub id: String,
    /// Its TTL.
    pub ttl: Duration,
}

/// The leases of one drill and their heartbeat.
#[derive(Debug, Default)]
pub struct Heartbeat {
    leases: Vec<HeldLease>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// What asking an agent for a lease gave.
#[derive(Debug)]
pub enum Acquired {
    /// The lease.
    Lease(Box<HeldLease>),
    /// The agent has no leases (Toxiproxy itself, an older faultline).
    Unsupported,
}

/// Asks `client`'s agent for a lease of `ttl` (its default when `None`).
///
/// # Errors
/// The agent cannot be reached or refuses (a TTL out of its range, say).
pub async fn acquire(
    client: &ApiClient,
    holder: &str,
    ttl: Option<Duration>,
) -> Result<Acquired, ClientError> {
    match client.create_lease(holder, ttl).await {
        Ok(lease) => Ok(Acquired::Lease(Box::new(HeldLease {
            client: client.clone(),
            id: lease.id,
            ttl: Duration::from_millis(lease.ttl_ms),
        }))),
        Err(ClientError::Api {
            status: StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED,
            ..
        }) => Ok(Acquired::Unsupported),
        Err(err) => Err(err),
    }
}

impl Heartbeat {
    /// Starts renewing `leases`.
    pub fn start(leases: Vec<HeldLease>) -> Self {
        let stop = CancellationToken::new();
        let task = (!leases.is_empty()).then(|| {
            let leases = leases.clone();
            let stop = stop.clone();
            tokio::spawn(async move { beat(leases, stop).await })
        });
        Self { leases, stop, task }
    }

    /// The leases held.
    pub fn leases(&self) -> &[HeldLease] {
        &self.leases
    }

    /// Stops the heartbeat and releases every lease (the agent heals what a
    /// lease still covers: nothing, after a clean end). Returns the leases
    /// that could not be released.
    pub async fn release(mut self) -> Vec<String> {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let mut failed = Vec::new();
        for lease in std::mem::take(&mut self.leases) {
            if let Err(err) = lease.client.end_lease(&lease.id).await {
                failed.push(format!(
                    "lease {} at {}: {err}",
                    lease.id,
                    lease.client.url()
                ));
            }
        }
        failed
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        // A dropped drill stops renewing: its leases lapse on the agents.
        self.stop.cancel();
    }
}

async fn beat(leases: Vec<HeldLease>, stop: CancellationToken) {
    let shortest = leases
        .iter()
        .map(|l| l.ttl)
        .min()
        .unwrap_or(Duration::from_secs(10));
    let every = (shortest / RENEW_FRACTION).max(Duration::from_millis(20));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        for lease in &leases {
            if let Err(err) = lease.client.renew_lease(&lease.id).await {
                tracing::error!(lease = %lease.id, agent = %lease.client.url(), %err,
                    "could not renew the lease; if it lapses, the agent heals this drill's faults there");
            }
        }
    }
}
