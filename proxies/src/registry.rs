//! Named proxies: what `faultline serve` and an in-process drill manage.

use std::collections::BTreeMap;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::fault::Fault;
use crate::proxy::{Proxy, ProxyError, ProxyInfo, ProxySpec};
use crate::shared::{Limits, StatsSnapshot};

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No proxy of that name.
    #[error("proxy {0:?} not found")]
    NotFound(String),
    /// A proxy of that name exists already.
    #[error("proxy {0:?} already exists")]
    Exists(String),
    /// The proxy refused the operation.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

/// A partial update of a proxy; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyUpdate {
    /// New listen address.
    pub listen: Option<String>,
    /// New upstream address.
    pub upstream: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// The proxies of one server, by name.
#[derive(Debug)]
pub struct Registry {
    proxies: Mutex<BTreeMap<String, Proxy>>,
    seed: u64,
    limits: Limits,
    shutdown: CancellationToken,
}

impl Registry {
    /// An empty registry. Every proxy's RNG streams derive from `seed` and the
    /// proxy's name; cancelling `shutdown` stops every proxy.
    pub fn new(seed: u64, limits: Limits, shutdown: CancellationToken) -> Self {
        Self {
            proxies: Mutex::new(BTreeMap::new()),
            seed,
            limits,
            shutdown,
        }
    }

    /// Creates and starts a proxy.
    ///
    /// # Errors
    /// [`RegistryError::Exists`] for a duplicate name; a bind error.
    pub async fn create(&self, spec: ProxySpec) -> Result<Proxy, RegistryError> {
        let mut proxies = self.proxies.lock().await;
        if proxies.contains_key(&spec.name) {
            return Err(RegistryError::Exists(spec.name));
        }
        let seed = derive_seed(self.seed, &spec.name);
        let proxy = Proxy::start(spec.clone(), seed, self.limits, &self.shutdown).await?;
        proxies.insert(spec.name, proxy.clone());
        Ok(proxy)
    }

    /// The proxy of that name.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`].
    pub async fn get(&self, name: &str) -> Result<Proxy, RegistryError> {
        self.proxies
            .lock()
            .await
            .get(name)
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(name.to_owned()))
    }

    /// Every proxy, by name.
    pub async fn list(&self) -> Vec<ProxyInfo> {
        self.proxies
            .lock()
            .await
            .values()
            .map(Proxy::info)
            .collect()
    }

    /// Applies a partial update.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`]; a bind error (the proxy is then unchanged).
    pub async fn update(
        &self,
        name: &str,
        update: ProxyUpdate,
    ) -> Result<ProxyInfo, RegistryError> {
        let proxy = self.get(name).await?;
        proxy.set_addresses(update.listen, update.upstream).await?;
        if let Some(enabled) = update.enabled {
            proxy.set_enabled(enabled).await?;
        }
        Ok(proxy.info())
    }

    /// Stops and removes a proxy.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`].
    pub async fn remove(&self, name: &str) -> Result<(), RegistryError> {
        let proxy = self
            .proxies
            .lock()
            .await
            .remove(name)
            .ok_or_else(|| RegistryError::NotFound(name.to_owned()))?;
        proxy.shutdown().await;
        Ok(())
    }

    /// Adds a fault to a proxy.
    ///
    /// # Errors
    /// Not found, a duplicate fault name, or an attribute out of range.
    pub async fn add_fault(&self, proxy: &str, fault: Fault) -> Result<(), RegistryError> {
        Ok(self.get(proxy).await?.add_fault(fault)?)
    }

    /// Removes every fault of every proxy and enables every proxy (Toxiproxy's `/reset`).
    ///
    /// # Errors
    /// A proxy that cannot listen again on its address.
    pub async fn reset(&self) -> Result<(), RegistryError> {
        let proxies: Vec<Proxy> = self.proxies.lock().await.values().cloned().collect();
        for proxy in proxies {
            proxy.clear_faults();
            proxy.set_enabled(true).await?;
        }
        Ok(())
    }

    /// Counters of every proxy, by name.
    pub async fn stats(&self) -> Vec<(String, StatsSnapshot)> {
        self.proxies
            .lock()
            .await
            .iter()
            .map(|(name, p)| (name.clone(), p.stats()))
            .collect()
    }

    /// Stops every proxy and waits for their connections to end.
    pub async fn shutdown(&self) {
        let proxies: Vec<Proxy> = std::mem::take(&mut *self.proxies.lock().await)
            .into_values()
            .collect();
        for proxy in proxies {
            proxy.shutdown().await;
        }
    }
}

/// A proxy's seed: the run's seed mixed with the proxy's name (FNV-1a, then
/// splitmix64), so each proxy draws its own stream and renaming one proxy
/// does not shift another's.
pub fn derive_seed(seed: u64, name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = seed ^ hash;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
