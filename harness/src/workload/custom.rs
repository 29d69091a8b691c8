//! Any async closure as a workload: Rust users drive the system their own way
//! and record operations through the [`Recorder`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Recorder;

/// What a custom workload is handed: the recorder, the service addresses by
/// `(service, region)`, and the stop signal it must honour.
#[derive(Debug, Clone)]
pub struct WorkloadContext {
    /// Where to record operations.
    pub recorder: Arc<Recorder>,
    /// `(service, region)` → address of that region's instance.
    pub addresses: std::collections::BTreeMap<(String, String), String>,
    /// Link (`from->to:service`) → the address of its proxy: what a client
    /// in region `from` uses to reach `service` in region `to`.
    pub links: std::collections::BTreeMap<String, String>,
    /// Cancelled when the workload must stop.
    pub stop: CancellationToken,
}

impl WorkloadContext {
    /// The proxy address of the link `from->to:service`, if the scenario has it.
    pub fn link(&self, from: &str, to: &str, service: &str) -> Option<&str> {
        self.links
            .get(&format!("{from}->{to}:{service}"))
            .map(String::as_str)
    }

    /// The address of `service` in `region`, if the topology has it.
    pub fn address(&self, service: &str, region: &str) -> Option<&str> {
        self.addresses
            .get(&(service.to_owned(), region.to_owned()))
            .map(String::as_str)
    }
}

/// A boxed future, as custom workloads return.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A named async closure run for the drill's duration.
#[derive(Clone)]
pub struct CustomWorkload {
    /// Its name (for progress and errors).
    pub name: String,
    /// The closure.
    pub run: Arc<dyn Fn(WorkloadContext) -> BoxFuture + Send + Sync>,
}

impl std::fmt::Debug for CustomWorkload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomWorkload")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CustomWorkload {
    /// Wraps an async closure.
    pub fn new<F, Fut>(name: impl Into<String>, run: F) -> Self
    where
        F: Fn(WorkloadContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            name: name.into(),
            run: Arc::new(move |ctx| Box::pin(run(ctx))),
        }
    }
}
