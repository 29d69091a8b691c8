//! [`ApiState`]: what the API serves and guards.

use std::sync::Arc;
use std::time::Duration;

use faultline_proxies::Registry;
use tokio::sync::Mutex;

use super::leases::Leases;
use super::scheduler::Scheduler;

/// What the API serves: a registry of proxies (shared with whoever else drives
/// it, e.g. an in-process drill), the token mutating requests need, if any,
/// and the schedules it plays on the registry's links.
#[derive(Debug, Clone)]
pub struct ApiState {
    registry: Arc<Registry>,
    token: Option<Arc<str>>,
    mutations: Arc<Mutex<()>>,
    schedules: Arc<Scheduler>,
    leases: Arc<Leases>,
}

impl ApiState {
    /// An API over `registry`, without a token.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self {
            registry,
            token: None,
            mutations: Arc::new(Mutex::new(())),
            schedules: Arc::new(Scheduler::default()),
            leases: Arc::new(Leases::default()),
        }
    }

    /// The same API, giving leases that ask for no TTL `ttl`.
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.leases = Arc::new(Leases::new(ttl));
        self
    }

    /// The leases held on this agent.
    pub fn leases(&self) -> &Arc<Leases> {
        &self.leases
    }

    /// The same API, requiring `Authorization: Bearer <token>` on every
    /// mutating request.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Arc::from(token.into()));
        self
    }

    /// The registry the API manages.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The token mutating requests need, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The schedules played on the registry's links.
    pub fn schedules(&self) -> &Arc<Scheduler> {
        &self.schedules
    }

    /// Held by every mutating request, so mutations never interleave.
    pub(super) fn mutations(&self) -> &Mutex<()> {
        &self.mutations
    }
}
