//! Leases: a dead-man switch on what a remote drill places on this agent
//! (`/faultline/leases`).
//!
//! A drill creates a lease (`POST /faultline/leases`, its TTL or the agent's
//! default) and sends its id in the [`LEASE_HEADER`] of every proxy, toxic or
//! schedule it creates; the agent notes each under the lease. The drill
//! renews the lease (`POST /faultline/leases/{id}`) well within its TTL.
//! When a lease lapses (the drill was SIGKILLed, its host died, the network
//! between them broke), the agent heals everything the lease covered: it
//! removes its toxics, cancels its schedules (which heal themselves) and
//! removes its proxies, and logs what it did. `DELETE /faultline/leases/{id}`
//! ends a lease the same way at once (what a drill that ends cleanly, or
//! `faultline heal`, does). Requests without the header, Toxiproxy's own
//! clients' included, are untouched by all of this.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use faultline_proxies::Registry;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::respond::{json, no_content};
use super::scheduler::Scheduler;
use crate::wire::decode_object;
pub use crate::wire::leases::{CoveredToxic, LeaseConfig, LeaseJson, LeaseState, LEASE_HEADER};

/// The TTL of a lease that asks for none, unless `faultline serve --lease-ttl` says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// The shortest and longest TTL a lease may ask for.
pub const TTL_RANGE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(3600));

/// Active leases at once; one more is refused (409).
pub const MAX_ACTIVE: usize = 1024;

/// Ended leases remembered for `GET` (the oldest is forgotten first).
pub const MAX_ENDED: usize = 64;

#[derive(Debug)]
struct Lease {
    id: String,
    holder: String,
    ttl: Duration,
    deadline: Instant,
    renewals: u64,
    state: LeaseState,
    proxies: BTreeSet<String>,
    toxics: BTreeSet<CoveredToxic>,
    schedules: BTreeSet<String>,
    healed: Vec<String>,
    started: SystemTime,
}

impl Lease {
    fn json(&self) -> LeaseJson {
        LeaseJson {
            id: self.id.clone(),
            holder: self.holder.clone(),
            state: self.state,
            ttl_ms: self.ttl.as_millis() as u64,
            expires_in_ms: match self.state {
                LeaseState::Active => self
                    .deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis() as u64,
                _ => 0,
            },
            renewals: self.renewals,
            proxies: self.proxies.iter().cloned().collect(),
            toxics: self.toxics.iter().cloned().collect(),
            schedules: self.schedules.iter().cloned().collect(),
            healed: self.healed.clone(),
        }
    }
}

/// What a lease covers, taken when it ends.
#[derive(Debug, Default)]
struct Covered {
    proxies: BTreeSet<String>,
    toxics: BTreeSet<CoveredToxic>,
    schedules: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct Table {
    active: BTreeMap<String, Lease>,
    ended: VecDeque<Lease>,
    next: u64,
}

/// The leases of one agent.
#[derive(Debug)]
pub struct Leases {
    table: Mutex<Table>,
    default_ttl: Duration,
    changed: Notify,
}

impl Default for Leases {
    fn default() -> Self {
        Self::new(DEFAULT_TTL)
    }
}

/// What a created object is, to note under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Creation {
    /// A proxy, by name.
    Proxy(String),
    /// A toxic of a proxy.
    Toxic(String, String),
    /// A schedule, by id.
    Schedule(String),
}

impl Leases {
    /// Leases whose TTL, when they ask for none, is `default_ttl`.
    pub fn new(default_ttl: Duration) -> Self {
        Self {
            table: Mutex::new(Table::default()),
            default_ttl,
            changed: Notify::new(),
        }
    }

    /// The TTL of a lease that asks for none.
    pub fn default_ttl(&self) -> Duration {
        self.default_ttl
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a lease.
    ///
    /// # Errors
    /// A TTL outside [`TTL_RANGE`] (400), or [`MAX_ACTIVE`] leases active (409).
    pub fn create(&self, config: LeaseConfig) -> Result<LeaseJson, ApiError> {
        let ttl = config.ttl.unwrap_or(self.default_ttl);
        if ttl < TTL_RANGE.0 || ttl > TTL_RANGE.1 {
            return Err(ApiError::BadRequest(format!(
                "ttl: {ttl:?} is outside {:?}..={:?}",
                TTL_RANGE.0, TTL_RANGE.1
            )));
        }
        let mut table = self.lock();
        if table.active.len() >= MAX_ACTIVE {
            return Err(ApiError::Conflict(format!(
                "{MAX_ACTIVE} leases are active; end one first"
            )));
        }
        table.next += 1;
        let id = format!("lease-{}", table.next);
        let lease = Lease {
            id: id.clone(),
            holder: config.holder.unwrap_or_else(|| "unnamed".into()),
            ttl,
            deadline: Instant::now() + ttl,
            renewals: 0,
            state: LeaseState::Active,
            proxies: BTreeSet::new(),
            toxics: BTreeSet::new(),
            schedules: BTreeSet::new(),
            healed: Vec::new(),
            started: SystemTime::now(),
        };
        let shown = lease.json();
        tracing::info!(lease = %id, holder = %lease.holder, ?ttl, "lease created");
        table.active.insert(id, lease);
        drop(table);
        self.changed.notify_one();
        Ok(shown)
    }

    /// Renews a lease for another TTL.
    ///
    /// # Errors
    /// 404 for a lease that is not active (never was, lapsed or released).
    pub fn renew(&self, id: &str) -> Result<LeaseJson, ApiError> {
        let mut table = self.lock();
        let lease = table.active.get_mut(id).ok_or_else(|| not_active(id))?;
        lease.deadline = Instant::now() + lease.ttl;
        lease.renewals += 1;
        Ok(lease.json())
    }

    /// Every lease, active ones first.
    pub fn list(&self) -> Vec<LeaseJson> {
        let table = self.lock();
        table
            .active
            .values()
            .chain(table.ended.iter().rev())
            .map(Lease::json)
            .collect()
    }

    /// Checks that `id` is an active lease (before a creation under it).
    ///
    /// # Errors
    /// 409: the lease is not active, so what the request would create would
    /// be covered by nothing.
    pub fn check_active(&self, id: &str) -> Result<(), ApiError> {
        if self.lock().active.contains_key(id) {
            Ok(())
        } else {
            Err(ApiError::Conflict(format!(
                "{LEASE_HEADER}: lease {id:?} is not active (it lapsed, was released, or never existed); create a new one"
            )))
        }
    }

    /// Notes `creation` under lease `id`; `false` when the lease ended
    /// meanwhile (the caller undoes the creation).
    pub fn cover(&self, id: &str, creation: Creation) -> bool {
        let mut table = self.lock();
        let Some(lease) = table.active.get_mut(id) else {
            return false;
        };
        match creation {
            Creation::Proxy(name) => lease.proxies.insert(name),
            Creation::Toxic(proxy, toxic) => lease.toxics.insert(CoveredToxic { proxy, toxic }),
            Creation::Schedule(id) => lease.schedules.insert(id),
        };
        true
    }

    /// Forgets a proxy or toxic removed by anyone (so a later lapse does
    /// not remove a new one of the same name that another client made).
    pub fn uncover(&self, proxy: &str, toxic: Option<&str>) {
        let mut table = self.lock();
        for lease in table.active.values_mut() {
            match toxic {
                Some(toxic) => {
                    lease.toxics.remove(&CoveredToxic {
                        proxy: proxy.to_owned(),
                        toxic: toxic.to_owned(),
                    });
                }
                None => {
                    lease.proxies.remove(proxy);
                    lease.toxics.retain(|t| t.proxy != proxy);
                }
            }
        }
    }

    /// Ends lease `id` now (`DELETE`), healing what it covers.
    ///
    /// # Errors
    /// 404 for a lease that is not active.
    pub async fn release(
        &self,
        id: &str,
        registry: &Registry,
        schedules: &Scheduler,
    ) -> Result<LeaseJson, ApiError> {
        let (lease, covered) = {
            let mut table = self.lock();
            let lease = table.active.remove(id).ok_or_else(|| not_active(id))?;
            take(lease)
        };
        Ok(self
            .end(lease, covered, LeaseState::Released, registry, schedules)
            .await)
    }

    /// Heals every lease whose deadline has passed, until `stop`; run by
    /// [`super::serve`] next to the accept loop.
    pub async fn reap(
        &self,
        registry: Arc<Registry>,
        schedules: Arc<Scheduler>,
        stop: CancellationToken,
    ) {
        loop {
            let next = self.lock().active.values().map(|l| l.deadline).min();
            let changed = self.changed.notified();
            tokio::select! {
                () = stop.cancelled() => return,
                () = changed => continue,
                () = async {
                    match next {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
            let now = Instant::now();
            let lapsed: Vec<(Lease, Covered)> = {
                let mut table = self.lock();
                let ids: Vec<String> = table
                    .active
                    .values()
                    .filter(|l| l.deadline <= now)
                    .map(|l| l.id.clone())
                    .collect();
                ids.iter()
                    .filter_map(|id| table.active.remove(id))
                    .map(take)
                    .collect()
            };
            for (lease, covered) in lapsed {
                self.end(lease, covered, LeaseState::Lapsed, &registry, &schedules)
                    .await;
            }
        }
    }

    /// Heals what an ended lease covered, logs it, and keeps it for `GET`.
    async fn end(
        &self,
        mut lease: Lease,
        covered: Covered,
        state: LeaseState,
        registry: &Registry,
        schedules: &Scheduler,
    ) -> LeaseJson {
        let mut healed = Vec::new();
        for id in &covered.schedules {
            if schedules.cancel(id).await.is_some() {
                healed.push(format!("schedule {id}"));
            }
        }
        for toxic in &covered.toxics {
            if let Ok(proxy) = registry.get(&toxic.proxy).await {
                if proxy.remove_fault(&toxic.toxic).is_ok() {
                    healed.push(format!("toxic {} of {}", toxic.toxic, toxic.proxy));
                }
            }
        }
        for name in &covered.proxies {
            if registry.remove(name).await.is_ok() {
                healed.push(format!("proxy {name}"));
            }
        }
        match state {
            LeaseState::Lapsed => tracing::warn!(
                lease = %lease.id,
                holder = %lease.holder,
                ttl = ?lease.ttl,
                age = ?lease.started.elapsed().unwrap_or_default(),
                healed = ?healed,
                "lease lapsed (not renewed within its TTL): healed what it covered"
            ),
            _ => {
                tracing::info!(lease = %lease.id, holder = %lease.holder, healed = ?healed, "lease released")
            }
        }
        lease.state = state;
        lease.healed = healed;
        lease.proxies = covered.proxies;
        lease.toxics = covered.toxics;
        lease.schedules = covered.schedules;
        let shown = lease.json();
        let mut table = self.lock();
        table.ended.push_back(lease);
        while table.ended.len() > MAX_ENDED {
            table.ended.pop_front();
        }
        shown
    }
}

fn take(mut lease: Lease) -> (Lease, Covered) {
    let covered = Covered {
        proxies: std::mem::take(&mut lease.proxies),
        toxics: std::mem::take(&mut lease.toxics),
        schedules: std::mem::take(&mut lease.schedules),
    };
    (lease, covered)
}

fn not_active(id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "lease not found: {id:?} is not active (it lapsed, was released, or never existed)"
    ))
}

type Reply = Result<Response<Full<Bytes>>, ApiError>;

/// `GET /faultline/leases`.
pub fn list(leases: &Leases) -> Reply {
    json(StatusCode::OK, &leases.list())
}

/// `POST /faultline/leases`: 201 with the lease.
pub fn create(leases: &Leases, body: &Bytes) -> Reply {
    let config = if body.iter().all(u8::is_ascii_whitespace) {
        LeaseConfig::default()
    } else {
        decode_object::<LeaseConfig>(body)?
    };
    json(StatusCode::CREATED, &leases.create(config)?)
}

/// `POST /faultline/leases/{id}`: renews it: 200 with the lease.
pub fn renew(leases: &Leases, id: &str) -> Reply {
    json(StatusCode::OK, &leases.renew(id)?)
}

/// `DELETE /faultline/leases/{id}`: ends it, healing what it covers: 204.
pub async fn release(
    leases: &Leases,
    id: &str,
    registry: &Registry,
    schedules: &Scheduler,
) -> Reply {
    leases.release(id, registry, schedules).await?;
    Ok(no_content())
}
