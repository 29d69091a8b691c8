//! Where proxies run: one trait, two implementations.
//!
//! - [`InProcess`]: the proxies crate's [`Registry`] inside the drill process.
//! - [`Remote`]: a `faultline serve` agent driven over its Toxiproxy-compatible
//!   HTTP API, so a drill can span machines (one agent per region, say).
//!
//! The runner only speaks [`Plane`]; a scenario chooses per region. A
//! [`LinkProxy`] is one link's proxy on its plane, what fault changes are
//! applied to (by a drill and by the API's schedules alike).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use faultline_proxies::{Fault, ProxySpec, Registry, RegistryError};

use crate::wire::attributes::attributes_of;
use crate::wire::client::{ApiClient, ClientError};
use crate::wire::shapes::{ProxyConfig, ToxicConfig};

/// A link's proxy.
#[derive(Debug, Clone)]
pub struct LinkProxy {
    /// Where it runs.
    pub plane: Arc<dyn Plane>,
    /// Its proxy name (the link id).
    pub name: String,
    /// The address region `from`'s clients use.
    pub listen: String,
}

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
