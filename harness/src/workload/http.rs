//! Open-loop HTTP workloads.
//!
//! Requests arrive at a fixed rate per region whatever the service does, as
//! real users do: when the service slows, arrivals queue behind the
//! concurrency cap and their latency, counted from when they were due, grows,
//! so a latency explosion shows in the history instead of being hidden by a
//! client that politely waits (coordinated omission). The queue is bounded; an
//! arrival that finds it full is recorded as a client-side failure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::client::HttpClient;
use super::template::OpVars;
use super::Recorder;
use crate::history::{OpRecord, Outcome, Sym};
use crate::scenario::Workload;

/// How many arrivals may wait for a free slot, per concurrency slot.
const QUEUE_PER_SLOT: usize = 16;

/// Runs `workload` against one region's service at `address` until `stop`.
/// Returns when every request it sent has completed or timed out.
pub async fn run(
    workload: Arc<Workload>,
    region: String,
    address: String,
    recorder: Arc<Recorder>,
    client: HttpClient,
    stop: CancellationToken,
) {
    let address: Arc<str> = address.into();
    let send_workload = workload.clone();
    let send = move |_op: &OpRecord, vars: &OpVars<'_>| {
        let workload = send_workload.clone();
        let path = vars.render(&workload.request.path);
        let body = workload.request.body.as_ref().map(|b| vars.render_value(b));
        let (client, address) = (client.clone(), address.clone());
        async move {
            let reply = client
                .send(
                    &address,
                    &workload.request.method,
                    &path,
                    body.as_ref(),
                    &workload.request.headers,
                    workload.timeout,
                )
                .await;
            // A read records what it read (`read_value`, a JSON pointer into
            // the body), which is what `linearizable` judges.
            let value = workload
                .read_value
                .as_ref()
                .map(|pointer| reply.body.pointer(pointer).cloned().unwrap_or(Value::Null));
            Completion {
                outcome: reply.outcome(|status| workload.is_ok(status)),
                detail: reply.detail,
                value,
                at: None,
            }
        }
    };
    open_loop(workload, region, recorder, stop, send).await;
}

/// How one operation of an open-loop workload ended.
#[derive(Debug)]
pub(crate) struct Completion {
    /// Its outcome.
    pub outcome: Outcome,
    /// Its detail.
    pub detail: String,
    /// The value to record instead of the workload's (what a read returned).
    pub value: Option<serde_json::Value>,
    /// When it completed, if known more precisely than when `send` returned.
    pub at: Option<Instant>,
}

/// The open loop shared by HTTP and client-process workloads: arrivals at
/// the workload's rate in `region`, at most `concurrency` in flight, a
/// bounded queue behind them; `send` performs one operation (its record and
/// placeholders given) and says how it ended.
pub(crate) async fn open_loop<S, F>(
    workload: Arc<Workload>,
    region: String,
    recorder: Arc<Recorder>,
    stop: CancellationToken,
    send: S,
) where
    S: Fn(&OpRecord, &OpVars<'_>) -> F,
    F: std::future::Future<Output = Completion> + Send + 'static,
{
    let rate = workload.rate_per_s.max(f64::MIN_POSITIVE);
    let interval = Duration::from_secs_f64((1.0 / rate).min(3600.0));
    let concurrency = workload.concurrency.max(1) as usize;
    let slots = Arc::new(Semaphore::new(concurrency));
    let waiting = Arc::new(AtomicUsize::new(0));
    let client_name: Arc<str> = format!("{}-{}", workload.name, region).into();
    let region: Arc<str> = region.into();
    let op_name: Sym = workload.name.as_str().into();
    let tasks = TaskTracker::new();
    let mut due = Instant::now();
    let mut seq = 0u64;
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            () = tokio::time::sleep_until(due) => {}
        }
        let intended = due;
        due += interval;
        seq += 1;
        let id = recorder.next_id();
        let vars = OpVars {
            seq,
            id,
            region: &region,
            client: &client_name,
        };
        let op = OpRecord {
            id,
            client: client_name.clone().into(),
            region: region.clone().into(),
            op: op_name.clone(),
            key: workload.key.as_deref().map(|k| vars.render(k).into()),
            value: vars.render_value(&workload.value),
            start_ns: recorder.ns_at(intended),
            end_ns: 0,
            outcome: Outcome::Fail,
            detail: None,
        };
        if waiting.load(Ordering::Relaxed) >= concurrency * QUEUE_PER_SLOT {
            recorder.op(OpRecord {
                end_ns: recorder.now_ns(),
                detail: Some(
                    format!(
                        "client queue full: {concurrency} in flight, {} waiting",
                        concurrency * QUEUE_PER_SLOT
                    )
                    .into(),
                ),
                ..op
            });
            continue;
        }
        let exchange = send(&op, &vars);
        let (recorder, slots, waiting, stop) = (
            recorder.clone(),
            slots.clone(),
            waiting.clone(),
            stop.clone(),
        );
        tasks.spawn(async move {
            waiting.fetch_add(1, Ordering::Relaxed);
            let slot = tokio::select! {
                slot = slots.acquire_owned() => slot,
                // Never sent: not part of the history.
                () = stop.cancelled() => { waiting.fetch_sub(1, Ordering::Relaxed); return; }
            };
            waiting.fetch_sub(1, Ordering::Relaxed);
            let Ok(_slot) = slot else { return };
            let done = exchange.await;
            let end_ns = recorder.ns_at(done.at.unwrap_or_else(Instant::now));
            recorder.op(OpRecord {
                end_ns,
                outcome: done.outcome,
                value: done.value.unwrap_or(op.value),
                detail: Some(done.detail.into()),
                ..op
            });
        });
    }
    tasks.close();
    tasks.wait().await;
}
