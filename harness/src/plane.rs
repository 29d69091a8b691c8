//! Where proxies run: one trait, two implementations.
//!
//! - [`InProcess`]: the proxies crate's [`Registry`] inside the drill process.
//! - [`Remote`]: a `faultline serve` agent driven over its Toxiproxy-compatible
//!   HTTP API, so a drill can span machines (one agent per region, say).
//!
//! The runner only speaks [`Plane`]; a scenario chooses per region.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use faultline_proxies::{Fault, ProxySpec, Registry, RegistryError};

use crate::api::attributes::attributes_of;
use crate::api::client::{ApiClient, ClientError};
use crate::api::shapes::{ProxyConfig, ToxicConfig};

/// A boxed future borrowing the plane.
pub type PlaneFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PlaneError>> + Send + 'a>>;

/// Why a proxy-control call failed.
#[derive(Debug, thiserror::Error)]
pub enum PlaneError {
    /// The in-process registry refused.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The remote agent refused or could not be reached.
    #[error(transparent)]
    Remote(#[from] ClientError),
    /// The remote agent answered something that is not a fault we know.
    #[error("agent {agent}: {message}")]
    Protocol {
        /// The agent's URL.
        agent: String,
        /// What was wrong.
        message: String,
    },
}

/// Control of the proxies of a drill.
pub trait Plane: Send + Sync + fmt::Debug {
    /// Where this plane lives, for messages (`in-process` or the agent URL).
    fn location(&self) -> String;
    /// Creates a proxy; returns the address it listens on.
    fn create_proxy(&self, spec: ProxySpec) -> PlaneFuture<'_, String>;
    /// Adds a fault.
    fn add_fault<'a>(&'a self, proxy: &'a str, fault: Fault) -> PlaneFuture<'a, ()>;
    /// Replaces the fault of the same name.
    fn update_fault<'a>(&'a self, proxy: &'a str, fault: Fault) -> PlaneFuture<'a, ()>;
    /// Removes a fault by name.
    fn remove_fault<'a>(&'a self, proxy: &'a str, name: &'a str) -> PlaneFuture<'a, ()>;
    /// The proxy's faults now.
    fn faults<'a>(&'a self, proxy: &'a str) -> PlaneFuture<'a, Vec<Fault>>;
    /// Removes the proxy.
    fn remove_proxy<'a>(&'a self, proxy: &'a str) -> PlaneFuture<'a, ()>;
}

/// Proxies in this process.
#[derive(Debug, Clone)]
pub struct InProcess {
    registry: Arc<Registry>,
}

impl InProcess {
    /// A plane over `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }

    /// The registry (to serve the HTTP API on it, say).
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}

impl Plane for InProcess {
    fn location(&self) -> String {
        "in-process".into()
    }

    fn create_proxy(&self, spec: ProxySpec) -> PlaneFuture<'_, String> {
        Box::pin(async move {
            let proxy = self.registry.create(spec).await?;
            Ok(proxy.info().listen)
        })
    }

    fn add_fault<'a>(&'a self, proxy: &'a str, fault: Fault) -> PlaneFuture<'a, ()> {
        Box::pin(async move { Ok(self.registry.add_fault(proxy, fault).await?) })
    }

    fn update_fault<'a>(&'a self, proxy: &'a str, fault: Fault) -> PlaneFuture<'a, ()> {
        Box::pin(async move {
            let proxy = self.registry.get(proxy).await?;
            proxy.replace_fault(fault).map_err(RegistryError::from)?;
            Ok(())
        })
    }

    fn remove_fault<'a>(&'a self, proxy: &'a str, name: &'a str) -> PlaneFuture<'a, ()> {
        Box::pin(async move {
            let proxy = self.registry.get(proxy).await?;
            proxy.remove_fault(name).map_err(RegistryError::from)?;
            Ok(())
        })
    }

    fn faults<'a>(&'a self, proxy: &'a str) -> PlaneFuture<'a, Vec<Fault>> {
        Box::pin(async move { Ok(self.registry.get(proxy).await?.info().faults) })
    }

    fn remove_proxy<'a>(&'a self, proxy: &'a str) -> PlaneFuture<'a, ()> {
        Box::pin(async move { Ok(self.registry.remove(proxy).await?) })
    }
}

/// Proxies on a `faultline serve` agent (or any Toxiproxy-compatible server,
/// for the kinds Toxiproxy has).
#[derive(Debug, Clone)]
pub struct Remote {
    client: ApiClient,
}

impl Remote {
    /// A plane driving the agent at `url`.
    ///
    /// # Errors
    /// A URL that is not `http://host:port`.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, PlaneError> {
        Ok(Self {
            client: ApiClient::new(url, token)?,
        })
    }

    /// The same plane, creating everything under lease `id` (see
    /// [`crate::api::leases`]).
    pub fn leased(self, id: &str) -> Self {
        Self {
            client: self.client.with_lease(id),
        }
    }

    /// The client it drives the agent with.
    pub fn client(&self) -> &ApiClient {
        &self.client
    }
}

fn toxic(fault: &Fault) -> ToxicConfig {
    ToxicConfig {
        name: Some(fault.name.clone()),
        kind: Some(fault.kind.type_name().to_owned()),
        stream: Some(fault.direction.as_str().to_owned()),
        toxicity: Some(fault.toxicity),
        attributes: Some(attributes_of(&fault.kind)),
    }
}

impl Plane for Remote {
    fn location(&self) -> String {
        self.client.url().to_owned()
    }

    fn create_proxy(&self, spec: ProxySpec) -> PlaneFuture<'_, String> {
        Box::pin(async move {
            let created = self
                .client
                .create_proxy(&ProxyConfig {
                    name: Some(spec.name),
                    listen: Some(spec.listen),
                    upstream: Some(spec.upstream),
                    enabled: Some(spec.enabled),
                    toxics: None,
                })
                .await?;
            Ok(created.listen)
        })
    }

    fn add_fault<'a>(&'a self, proxy: &'a str, fault: Fault) -> PlaneFuture<'a, ()> {
        Box::pin(async move {
            self.client.add_toxic(proxy, &toxic(&fault)).await?;
            Ok(())
        })
    }

    fn update_fault<'a>(&'a self, proxy: &'a str, fault: Fault) -> PlaneFuture<'a, ()> {
        Box::pin(async move {
            let mut update = toxic(&fault);
            // Type and stream are fixed for a toxic's life; send only what changes.
            update.kind = None;
            update.stream = None;
            update.name = None;
            self.client
                .update_toxic(proxy, &fault.name, &update)
                .await?;
            Ok(())
        })
    }

    fn remove_fault<'a>(&'a self, proxy: &'a str, name: &'a str) -> PlaneFuture<'a, ()> {
        Box::pin(async move {
            self.client.remove_toxic(proxy, name).await?;
            Ok(())
        })
    }

    fn faults<'a>(&'a self, proxy: &'a str) -> PlaneFuture<'a, Vec<Fault>> {
        Box::pin(async move {
            let toxics = self.client.toxics(proxy).await?;
            toxics
                .into_iter()
                .map(|t| {
                    ToxicConfig {
                        name: Some(t.name),
                        kind: Some(t.kind),
                        stream: Some(t.stream),
                        toxicity: Some(t.toxicity),
                        attributes: Some(t.attributes),
                    }
                    .into_fault()
                    .map_err(|e| PlaneError::Protocol {
                        agent: self.location(),
                        message: e.to_string(),
                    })
                })
                .collect()
        })
    }

    fn remove_proxy<'a>(&'a self, proxy: &'a str) -> PlaneFuture<'a, ()> {
        Box::pin(async move {
            self.client.delete_proxy(proxy).await?;
            Ok(())
        })
    }
}

/// A plane that tells the drill's run file every proxy it creates and every
/// fault it places or removes, so `faultline heal` can undo them if the drill dies.
#[derive(Debug, Clone)]
pub struct Recorded {
    inner: Arc<dyn Plane>,
    run_file: Arc<crate::runfile::RunFile>,
}

impl Recorded {
    /// `inner`, recorded in `run_file`.
    pub fn new(inner: Arc<dyn Plane>, run_file: Arc<crate::runfile::RunFile>) -> Self {
        Self { inner, run_file }
    }

    fn fault_entry(&self, proxy: &str, fault: &str) -> crate::runfile::FaultEntry {
        crate::runfile::FaultEntry {
            plane: self.inner.location(),
            proxy: proxy.to_owned(),
            fault: fault.to_owned(),
        }
    }
}

impl Plane for Recorded {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn create_proxy(&self, spec: ProxySpec) -> PlaneFuture<'_, String> {
        Box::pin(async move {
            let entry = crate::runfile::ProxyEntry {
                plane: self.inner.location(),
                name: spec.name.clone(),
            };
            // Recorded before the request: a drill killed while the agent
            // creates it still names it.
            self.run_file.update(|r| r.proxies.push(entry.clone()));
            let created = self.inner.create_proxy(spec).await;
            if created.is_err() {
                self.run_file.update(|r| r.proxies.retain(|p| *p != entry));
            }
            created
        })
    }

    fn add_fault<'a>(&'a self, proxy: &'a str, fault: Fault) -> PlaneFuture<'a, ()> {
        Box::pin(async move {
            let entry = self.fault_entry(proxy, &fault.name);
            self.run_file.update(|r| r.faults.push(entry.clone()));
            let added = self.inner.add_fault(proxy, fault).await;
            if added.is_err() {
                self.run_file.update(|r| {
                    if let Some(i) = r.faults.iter().position(|f| *f == entry) {
                        r.faults.remove(i);
                    }
                });
            }
            added
        })
    }

    fn update_fault<'a>(&'a self, proxy: &'a str, fault: Fault) -> PlaneFuture<'a, ()> {
        self.inner.update_fault(proxy, fault)
    }

    fn remove_fault<'a>(&'a self, proxy: &'a str, name: &'a str) -> PlaneFuture<'a, ()> {
        Box::pin(async move {
            let removed = self.inner.remove_fault(proxy, name).await;
            if removed.is_ok() {
                let entry = self.fault_entry(proxy, name);
                self.run_file.update(|r| r.faults.retain(|f| *f != entry));
            }
            removed
        })
    }

    fn faults<'a>(&'a self, proxy: &'a str) -> PlaneFuture<'a, Vec<Fault>> {
        self.inner.faults(proxy)
    }

    fn remove_proxy<'a>(&'a self, proxy: &'a str) -> PlaneFuture<'a, ()> {
        Box::pin(async move {
            let removed = self.inner.remove_proxy(proxy).await;
            if removed.is_ok() {
                let location = self.inner.location();
                self.run_file.update(|r| {
                    r.proxies
                        .retain(|p| !(p.plane == location && p.name == proxy));
                    r.faults
                        .retain(|f| !(f.plane == location && f.proxy == proxy));
                });
            }
            removed
        })
    }
}
