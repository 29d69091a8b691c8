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
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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

/// What [`Plane::location`] says for the in-process plane.
pub const IN_PROCESS: &str = "in-process";

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
    /// The address a new link proxy on this plane listens on: loopback here;
    /// on an agent, the agent's own address, so other hosts reach it. `port`
    /// 0 picks a free one.
    fn proxy_listen(&self, port: u16) -> String {
        format!("127.0.0.1:{port}")
    }
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
        IN_PROCESS.into()
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
    /// The agent's host as its URL writes it (`10.0.0.2`, `[fd00::2]`, a name).
    host: String,
}

impl Remote {
    /// A plane driving the agent at `url`.
    ///
    /// # Errors
    /// A URL that is not `http://host:port`.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, PlaneError> {
        let client = ApiClient::new(url, token)?;
        let host = client
            .url()
            .parse::<hyper::Uri>()
            .ok()
            .and_then(|uri| uri.host().map(str::to_owned))
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        Ok(Self { client, host })
    }

    /// The agent's host as an IP address, if its URL names one (`localhost`
    /// counts as 127.0.0.1).
    fn host_ip(&self) -> Option<IpAddr> {
        if self.host.eq_ignore_ascii_case("localhost") {
            return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
    }

    /// Where clients reach a proxy the agent says listens on `listen`: an
    /// unspecified address (`0.0.0.0`, `::`) is replaced by the agent's host.
    fn reachable(&self, listen: &str) -> String {
        match listen.parse::<SocketAddr>() {
            Ok(address) if address.ip().is_unspecified() => {
                format!("{}:{}", self.host, address.port())
            }
            _ => listen.to_owned(),
        }
    }

    /// The same plane, creating everything under lease `id` (see
    /// [`crate::wire::leases`]).
    pub fn leased(self, id: &str) -> Self {
        Self {
            client: self.client.with_lease(id),
            ..self
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

    /// On the agent's address when its URL names one; on every address of
    /// the agent's host when the URL names a host by name (a Kubernetes
    /// Service, say), reached through that name.
    fn proxy_listen(&self, port: u16) -> String {
        match self.host_ip() {
            Some(ip) => SocketAddr::new(ip, port).to_string(),
            None => format!("0.0.0.0:{port}"),
        }
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
            Ok(self.reachable(&created.listen))
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

    fn proxy_listen(&self, port: u16) -> String {
        self.inner.proxy_listen(port)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agents_proxies_listen_on_its_own_address() {
        let by_ip = Remote::new("http://10.200.7.11:8474", None).unwrap();
        assert_eq!(by_ip.proxy_listen(0), "10.200.7.11:0");
        assert_eq!(by_ip.reachable("10.200.7.11:4100"), "10.200.7.11:4100");
        let v6 = Remote::new("http://[fd00::2]:8474", None).unwrap();
        assert_eq!(v6.proxy_listen(9001), "[fd00::2]:9001");
        let local = Remote::new("http://localhost:8474", None).unwrap();
        assert_eq!(local.proxy_listen(0), "127.0.0.1:0");
        // A name (Service DNS): every address, and clients use the name.
        let named = Remote::new("http://agent-eu-west.faultline.svc:8474", None).unwrap();
        assert_eq!(named.proxy_listen(9001), "0.0.0.0:9001");
        assert_eq!(
            named.reachable("0.0.0.0:9001"),
            "agent-eu-west.faultline.svc:9001"
        );
        assert_eq!(
            InProcess::new(Arc::new(Registry::new(
                0,
                Default::default(),
                Default::default()
            )))
            .proxy_listen(0),
            "127.0.0.1:0"
        );
    }
}
