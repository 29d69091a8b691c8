//! A release timer finer than tokio's.
//!
//! tokio's timer wheel ticks once a millisecond and rounds every deadline up
//! to the next tick, so a latency fault built on it releases chunks 0–1 ms
//! late (1–2 ms measured here). [`ReleaseTimer::sleep_until`] sleeps on
//! tokio's timer until just before the deadline and covers the last stretch
//! (at most [`FINE_SPAN`]) with a futex wait on a dedicated thread, which the
//! kernel's high-resolution timers wake within microseconds; the thread then
//! wakes the task. A sparse release is woken a little early and yields until
//! its deadline (see [`ReleaseTimer::sleep_until`]), so its CPU cost is
//! bounded by [`SPIN_SPAN`]; a dense one costs one thread wake-up. The thread
//! is started only when a faulted link first needs it and stops when its
//! proxy is dropped.

use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

/// The stretch before a deadline that the fine timer covers; tokio's timer
/// covers the rest. Larger than tokio's 1 ms tick, so tokio's rounding never
/// makes a release late.
pub const FINE_SPAN: Duration = Duration::from_millis(3);

/// How early a sparse release is woken, to yield until its deadline: covers
/// the cost of waking an idle worker thread on this kind of machine (a
/// virtual one: p50 80 µs, p99 about 250 µs measured).
pub const SPIN_SPAN: Duration = Duration::from_micros(300);

/// Timer slack asked for the timer thread (the kernel's default is 50 µs).
const TIMER_SLACK_NS: u64 = 10_000;

/// The proxy's fine release timer (see the module documentation).
#[derive(Debug)]
pub struct ReleaseTimer {
    inner: Arc<Inner>,
    enabled: bool,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    entries: BinaryHeap<Entry>,
    next_seq: u64,
    started: bool,
    shutdown: bool,
}

#[derive(Debug)]
struct Entry {
    due: std::time::Instant,
    seq: u64,
    slot: Arc<Slot>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed: the heap's top is the earliest deadline.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

#[derive(Debug, Default)]
struct Slot {
    fired: AtomicBool,
    cancelled: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ReleaseTimer {
    /// A timer; with `enabled` false it is tokio's timer alone.
    pub fn new(enabled: bool) -> Self {
        Self {
            inner: Arc::default(),
            enabled,
        }
    }

    /// Completes at `deadline`, never early, and (when the timer is enabled
    /// and the machine not saturated) within tens of microseconds after it.
    ///
    /// A sleep that starts more than [`FINE_SPAN`] ahead is a sparse release
    /// (light load): it is woken [`SPIN_SPAN`] early and yields until the
    /// deadline, so the wake-up of an idle worker thread (tens of
    /// microseconds on a virtual machine) happens before the deadline rather
    /// than after it. That costs at most `SPIN_SPAN` of CPU per sparse
    /// release; a dense stream of releases (a bulk transfer) never spins.
    pub async fn sleep_until(&self, deadline: Instant) {
        if !self.enabled {
            return tokio::time::sleep_until(deadline).await;
        }
        let sparse = deadline.saturating_duration_since(Instant::now()) > FINE_SPAN;
        if sparse {
            tokio::time::sleep_until(deadline - FINE_SPAN).await;
        }
        let target = if sparse {
            deadline - SPIN_SPAN
        } else {
            deadline
        };
        let now = Instant::now();
        if now < target {
            let fine = FineSleep {
                inner: &self.inner,
                remaining: target - now,
                slot: None,
            };
            // tokio's own sleep as well: under a paused test clock, only it
            // moves time forward (the fine sleep waits in real time).
            tokio::select! {
                () = fine => {}
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
        if sparse {
            spin_until(deadline).await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.inner)
    }
}

impl Drop for ReleaseTimer {
    fn drop(&mut self) {
        self.lock().shutdown = true;
        self.inner.changed.notify_one();
    }
}

fn lock(inner: &Inner) -> MutexGuard<'_, State> {
    // The lock is never held across user code; a poisoned one is still consistent.
    inner
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Yields until `deadline`. If tokio's clock does not move while real time
/// passes (a paused test clock), it stops spinning and sleeps on tokio's
/// timer, which a paused clock advances.
async fn spin_until(deadline: Instant) {
    let started = real_now();
    let budget = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(1);
    while Instant::now() < deadline {
        if started.elapsed() > budget {
            return tokio::time::sleep_until(deadline).await;
        }
        tokio::task::yield_now().await;
    }
}

/// The timer thread works in real time whatever tokio's clock does (a paused
/// test clock must not make it wait for virtual hours).
#[allow(clippy::disallowed_methods)]
fn real_now() -> std::time::Instant {
    std::time::Instant::now()
}

struct FineSleep<'a> {
    inner: &'a Arc<Inner>,
    remaining: Duration,
    slot: Option<Arc<Slot>>,
}

impl Future for FineSleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(slot) = &self.slot {
            if slot.fired.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            if let Ok(mut waker) = slot.waker.lock() {
                match &mut *waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    w => *w = Some(cx.waker().clone()),
                }
            }
            // The thread may have fired between the check and the new waker.
            return if slot.fired.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            };
        }
        let slot = Arc::new(Slot {
            waker: Mutex::new(Some(cx.waker().clone())),
            ..Slot::default()
        });
        let due = real_now() + self.remaining;
        let (earliest, start) = {
            let mut state = lock(self.inner);
            let seq = state.next_seq;
            state.next_seq += 1;
            state.entries.push(Entry {
                due,
                seq,
                slot: slot.clone(),
            });
            let earliest = state.entries.peek().is_some_and(|top| top.seq == seq);
            let start = !std::mem::replace(&mut state.started, true);
            (earliest, start)
        };
        if start {
            let inner = self.inner.clone();
            let spawned = std::thread::Builder::new()
                .name("faultline-timer".into())
                .spawn(move || run(&inner));
            if let Err(err) = spawned {
                // No thread: fall back to a plain wake-up; the caller re-checks the time.
                tracing::debug!(%err, "cannot start the release timer thread");
                lock(self.inner).started = false;
                cx.waker().wake_by_ref();
            }
        } else if earliest {
            self.inner.changed.notify_one();
        }
        self.slot = Some(slot);
        Poll::Pending
    }
}

impl Drop for FineSleep<'_> {
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            slot.cancelled.store(true, Ordering::Release);
        }
    }
}

fn run(inner: &Inner) {
    let _ = nix::sys::prctl::set_timerslack(TIMER_SLACK_NS);
    let mut state = lock(inner);
    let mut due_now: Vec<Waker> = Vec::new();
    loop {
        if state.shutdown {
            return;
        }
        let now = real_now();
        while let Some(top) = state.entries.peek() {
            if top.slot.cancelled.load(Ordering::Acquire) {
                state.entries.pop();
            } else if top.due <= now {
                if let Some(entry) = state.entries.pop() {
                    entry.slot.fired.store(true, Ordering::Release);
                    if let Some(waker) = entry.slot.waker.lock().ok().and_then(|mut w| w.take()) {
                        due_now.push(waker);
                    }
                }
            } else {
                break;
            }
        }
        if !due_now.is_empty() {
            drop(state);
            due_now.drain(..).for_each(Waker::wake);
            state = lock(inner);
            continue;
        }
        state = match state.entries.peek() {
            Some(top) => {
                let wait = top.due.saturating_duration_since(now);
                inner
                    .changed
                    .wait_timeout(state, wait)
                    .map_or_else(|p| p.into_inner().0, |(s, _)| s)
            }
            None => inner.changed.wait(state).unwrap_or_else(|p| p.into_inner()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fine_sleep_never_ends_before_its_deadline() {
        let timer = ReleaseTimer::new(true);
        for micros in [0u64, 10, 300, 1_400, 2_600] {
            let deadline = Instant::now() + Duration::from_micros(micros);
            timer.sleep_until(deadline).await;
            assert!(Instant::now() >= deadline, "woke before {micros} µs");
        }
    }

    #[tokio::test]
    async fn a_dropped_sleep_is_cancelled_and_the_timer_serves_the_next() {
        let timer = ReleaseTimer::new(true);
        let far = Instant::now() + Duration::from_millis(1);
        // Register a fine sleep, then drop it before it fires.
        let mut sleep = Box::pin(timer.sleep_until(far));
        assert!(poll_once(sleep.as_mut()).await.is_pending());
        assert_eq!(timer.lock().entries.len(), 1);
        drop(sleep);
        assert!(timer
            .lock()
            .entries
            .iter()
            .all(|e| e.slot.cancelled.load(Ordering::Acquire)));
        // A later sleep still completes (the thread skips the cancelled entry).
        let deadline = Instant::now() + Duration::from_micros(200);
        timer.sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
    }

    async fn poll_once<F: Future + Unpin>(mut f: F) -> Poll<F::Output> {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut f).poll(cx))).await
    }

    #[tokio::test]
    async fn a_disabled_timer_is_tokios_timer() {
        let timer = ReleaseTimer::new(false);
        let deadline = Instant::now() + Duration::from_micros(500);
        timer.sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
        assert!(!timer.lock().started);
    }
}
