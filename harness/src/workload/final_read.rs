//! Final reads: after the schedule, read every region's state so the
//! convergence and lost-write checkers can compare them. Reads repeat until
//! all regions report the same digest or the deadline passes; each read is an
//! `final_read` op whose `key` is the service and whose `value` is the state.
//! States are read with `GET path` or through client processes (`final_read`
//! operations).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::HttpClient;
use super::process::ClientProcess;
use super::Recorder;
use crate::check::FINAL_READ_OP;
use crate::history::{OpRecord, Outcome, Sym};

/// Pause between rounds of reads while regions disagree.
const ROUND_PAUSE: Duration = Duration::from_millis(100);

/// Where and how to read one service's final state.
#[derive(Debug)]
pub struct FinalReads<'a> {
    /// The service (the records' `key`).
    pub service: &'a str,
    /// The path to `GET`.
    pub path: &'a str,
    /// Deadline of one read.
    pub timeout: Duration,
    /// How long to keep reading while regions disagree.
    pub within: Duration,
    /// `region → address` of the service.
    pub addresses: &'a BTreeMap<String, String>,
}

/// Reads every region until their digests agree or `within` passes (at least
/// one round is always made).
pub async fn run(
    reads: FinalReads<'_>,
    recorder: &Arc<Recorder>,
    client: &HttpClient,
    stop: &CancellationToken,
) {
    let FinalReads {
        service,
        path,
        timeout,
        within,
        addresses,
    } = reads;
    let read = |region: &str| {
        let address = addresses.get(region).cloned().unwrap_or_default();
        async move {
            let reply = client
                .send(&address, "GET", path, None, &BTreeMap::new(), timeout)
                .await;
            let outcome = reply.outcome(|status| (200..300).contains(&status));
            let state = if outcome == Outcome::Ok {
                reply.body
            } else {
                Value::Null
            };
            (outcome, state, reply.detail)
        }
    };
    let regions: Vec<String> = addresses.keys().cloned().collect();
    rounds(service, &regions, within, recorder, stop, read).await;
}

/// Reads every region through its client process (`{"op": "final_read"}`,
/// answered with the state as a JSON object) until their digests agree or
/// `within` passes.
pub async fn run_clients(
    service: &str,
    timeout: Duration,
    within: Duration,
    processes: &BTreeMap<String, Arc<ClientProcess>>,
    recorder: &Arc<Recorder>,
    stop: &CancellationToken,
) {
    let read = |region: &str| {
        let process = processes.get(region).cloned();
        let id = recorder.next_id();
        async move {
            let Some(process) = process else {
                return (Outcome::Fail, Value::Null, "no client".to_owned());
            };
            let mut fields = serde_json::Map::new();
            fields.insert("op".into(), Value::from(FINAL_READ_OP));
            let answer = process.call(id, fields, timeout).await;
            match (answer.outcome, answer.value) {
                (Outcome::Ok, state @ Value::Object(_)) => (Outcome::Ok, state, answer.detail),
                (Outcome::Ok, other) => (
                    Outcome::Fail,
                    Value::Null,
                    format!("final_read must answer the state as a JSON object, not {other}"),
                ),
                (outcome, _) => (outcome, Value::Null, answer.detail),
            }
        }
    };
    let regions: Vec<String> = processes.keys().cloned().collect();
    rounds(service, &regions, within, recorder, stop, read).await;
}

/// Rounds of `read` over every region until their digests agree or the
/// deadline passes; each read is recorded.
async fn rounds<R, F>(
    service: &str,
    regions: &[String],
    within: Duration,
    recorder: &Arc<Recorder>,
    stop: &CancellationToken,
    read: R,
) where
    R: Fn(&str) -> F,
    F: std::future::Future<Output = (Outcome, Value, String)>,
{
    let deadline = Instant::now() + within;
    loop {
        let mut digests = Vec::new();
        for region in regions {
            let id = recorder.next_id();
            let start_ns = recorder.now_ns();
            let (outcome, state, detail) = read(region).await;
            digests.push(if outcome == Outcome::Ok {
                Some(state_digest(&state))
            } else {
                None
            });
            recorder.op(OpRecord {
                id,
                client: format!("final-read-{service}").into(),
                region: region.as_str().into(),
                op: FINAL_READ_OP.into(),
                key: Some(Sym::from(service)),
                value: state,
                start_ns,
                end_ns: recorder.now_ns(),
                outcome,
                detail: Some(detail.into()),
            });
        }
        let agree = digests.iter().all(|d| d.is_some() && *d == digests[0]);
        if agree || Instant::now() + ROUND_PAUSE >= deadline {
            return;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(ROUND_PAUSE) => {}
        }
    }
}

/// What the rounds compare: the state's `digest`, or its data without one.
fn state_digest(state: &Value) -> Value {
    match state.get("digest") {
        Some(digest) => digest.clone(),
        None => state.get("data").unwrap_or(state).clone(),
    }
}
