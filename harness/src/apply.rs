//! Applying fault changes: what a drill's runner and the API's schedule
//! player share. [`apply_changes`] publishes one timeline entry's link
//! changes through each link's plane and tells a [`Healer`], which removes
//! every fault still in place when asked, or when dropped;
//! [`sleep_precisely`] waits for an entry's time with better than the timer
//! wheel's millisecond.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::base::LinkId;
use crate::plane::{LinkProxy, Plane, PlaneError};
use crate::schedule::{Change, TimelineEntry};

/// A fault change a plane refused.
#[derive(Debug, thiserror::Error)]
#[error("step {step}: cannot apply {change} on {link}: {source}")]
pub struct ApplyError {
    /// The step.
    pub step: String,
    /// The change.
    pub change: String,
    /// The link.
    pub link: String,
    /// What the plane said.
    #[source]
    pub source: PlaneError,
}

/// Per proxy: the plane it lives on and the faults added to it.
type Applied = BTreeMap<String, (Arc<dyn Plane>, BTreeSet<String>)>;

/// Tracks the faults a drill or a schedule added, to remove them on the
/// way out: [`Healer::heal`] on every exit path, and on drop.
#[derive(Debug, Default)]
pub struct Healer {
    applied: Mutex<Applied>,
}

impl Healer {
    pub(crate) fn added(&self, plane: &Arc<dyn Plane>, proxy: &str, fault: &str) {
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        applied
            .entry(proxy.to_owned())
            .or_insert_with(|| (plane.clone(), BTreeSet::new()))
            .1
            .insert(fault.to_owned());
    }

    pub(crate) fn removed(&self, proxy: &str, fault: &str) {
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, faults)) = applied.get_mut(proxy) {
            faults.remove(fault);
        }
    }

    fn take(&self) -> Vec<(Arc<dyn Plane>, String, String)> {
        let applied = std::mem::take(&mut *self.applied.lock().unwrap_or_else(|p| p.into_inner()));
        applied
            .into_iter()
            .flat_map(|(proxy, (plane, faults))| {
                faults
                    .into_iter()
                    .map(move |f| (plane.clone(), proxy.clone(), f))
            })
            .collect()
    }

    /// Removes every fault still in place; returns those that could not be removed.
    pub async fn heal(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for (plane, proxy, fault) in self.take() {
            if let Err(err) = plane.remove_fault(&proxy, &fault).await {
                failed.push(format!("{proxy}/{fault}: {err}"));
            }
        }
        failed
    }
}

impl Drop for Healer {
    fn drop(&mut self) {
        let left = self.take();
        if left.is_empty() {
            return;
        }
        // Dropped mid-drill (the future was cancelled or a task panicked):
        // heal on the runtime, if there still is one.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                for (plane, proxy, fault) in left {
                    let _ = plane.remove_fault(&proxy, &fault).await;
                }
            });
        }
    }
}

/// Publishes one timeline entry's link changes through the planes of
/// `proxies` (links without a proxy are skipped), telling `healer` what was
/// added and removed. Shared by drills and the API's schedules.
///
/// # Errors
/// An [`ApplyError`] for the first change a plane refuses; the changes
/// before it stay applied (and tracked by `healer`).
pub async fn apply_changes(
    entry: &TimelineEntry,
    proxies: &BTreeMap<LinkId, LinkProxy>,
    healer: &Healer,
) -> Result<(), ApplyError> {
    for change in &entry.changes {
        let Some(proxy) = proxies.get(&change.link) else {
            continue;
        };
        let result = match &change.change {
            Change::Add(fault) => proxy
                .plane
                .add_fault(&proxy.name, fault.clone())
                .await
                .map(|()| healer.added(&proxy.plane, &proxy.name, &fault.name)),
            Change::Update(fault) => proxy.plane.update_fault(&proxy.name, fault.clone()).await,
            Change::Remove { name, .. } => {
                let removed = proxy.plane.remove_fault(&proxy.name, name).await;
                healer.removed(&proxy.name, name);
                removed
            }
        };
        result.map_err(|source| ApplyError {
            step: entry.label(),
            change: format!("{:?} {}", change.change.direction(), change.change.name()),
            link: change.link.to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Sleeps until `at` with better than the timer wheel's 1 ms granularity:
/// the timer wakes us a millisecond early and the rest is spent yielding, a
/// bounded cost paid once per schedule entry.
pub async fn sleep_precisely(at: Instant) {
    let early = Duration::from_millis(1);
    if let Some(before) = at.checked_sub(early) {
        tokio::time::sleep_until(before).await;
    }
    while Instant::now() < at {
        tokio::task::yield_now().await;
    }
}
