//! `/populate` and `faultline serve --config`: create or replace many proxies
//! at once, with their toxics.
//!
//! Every proxy is validated before any is touched ([`PopulateConfig::into_plans`]).
//! Then, in order: a new name is created; an existing proxy is moved to the
//! requested addresses in place (the new listener is bound before the old one
//! is let go) and loses its toxics if an address changed, as a replaced proxy
//! does in Toxiproxy; `enabled` is applied. Toxics listed with a proxy are then
//! added, or replace the toxic of the same name (Toxiproxy ignores them). If a
//! step fails, the proxies this request created are removed and the ones it
//! changed are put back, so a failed populate changes nothing.
//!
//! [`PopulateConfig::into_plans`]: crate::wire::shapes::PopulateConfig::into_plans

use faultline_proxies::{Fault, Proxy, ProxyInfo, ProxyUpdate, Registry, RegistryError};

use super::error::ApiError;
use crate::wire::shapes::ProxyPlan;

/// What a populate step did, to undo it.
enum Undo {
    Created(String),
    Changed(ProxyInfo),
}

/// Creates or replaces every planned proxy; all or nothing.
///
/// # Errors
/// The first step that failed, prefixed with the proxy's name (e.g. a listen
/// address in use: 409); the registry is then as it was.
pub async fn populate(
    registry: &Registry,
    plans: Vec<ProxyPlan>,
) -> Result<Vec<ProxyInfo>, ApiError> {
    let mut done = Vec::with_capacity(plans.len());
    let mut infos = Vec::with_capacity(plans.len());
    for plan in plans {
        let name = plan.spec.name.clone();
        match apply(registry, plan, &mut done).await {
            Ok(info) => infos.push(info),
            Err(err) => {
                rollback(registry, done).await;
                return Err(err.context(&format!("proxy {name:?}")));
            }
        }
    }
    Ok(infos)
}

async fn apply(
    registry: &Registry,
    plan: ProxyPlan,
    done: &mut Vec<Undo>,
) -> Result<ProxyInfo, ApiError> {
    let ProxyPlan { spec, toxics } = plan;
    let name = spec.name.clone();
    let proxy = match registry.get(&name).await {
        Err(RegistryError::NotFound(_)) => {
            let proxy = registry.create(spec).await?;
            done.push(Undo::Created(name));
            proxy
        }
        Err(err) => return Err(err.into()),
        Ok(proxy) => {
            let before = proxy.info();
            let update = ProxyUpdate {
                listen: Some(spec.listen),
                upstream: Some(spec.upstream),
                enabled: Some(spec.enabled),
            };
            registry.update(&name, update).await?;
            let after = proxy.info();
            if after.listen != before.listen || after.upstream != before.upstream {
                proxy.clear_faults();
            }
            done.push(Undo::Changed(before));
            proxy
        }
    };
    for fault in toxics.unwrap_or_default() {
        upsert(&proxy, fault)?;
    }
    Ok(proxy.info())
}

/// Adds a fault, or replaces the fault of the same name.
fn upsert(proxy: &Proxy, fault: Fault) -> Result<(), ApiError> {
    if proxy.fault(&fault.name).is_some() {
        proxy.replace_fault(fault)?;
    } else {
        proxy.add_fault(fault)?;
    }
    Ok(())
}

/// Undoes the steps of a failed populate, latest first; best effort.
async fn rollback(registry: &Registry, done: Vec<Undo>) {
    for step in done.into_iter().rev() {
        match step {
            Undo::Created(name) => {
                let _ = registry.remove(&name).await;
            }
            Undo::Changed(before) => {
                let update = ProxyUpdate {
                    listen: Some(before.listen.clone()),
                    upstream: Some(before.upstream.clone()),
                    enabled: Some(before.enabled),
                };
                if let Err(err) = registry.update(&before.name, update).await {
                    tracing::warn!(proxy = %before.name, %err, "populate rollback: cannot restore the proxy");
                }
                if let Ok(proxy) = registry.get(&before.name).await {
                    proxy.clear_faults();
                    for fault in before.faults {
                        let _ = proxy.add_fault(fault);
                    }
                }
            }
        }
    }
}
