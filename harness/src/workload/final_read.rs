//! Final reads: after the schedule, read every region's state so the
//! convergence and lost-write checkers can compare them. Reads repeat until
//! all regions report the same digest or the deadline passes; each read is an
//! `final_read` op whose `key` is the service and whose `value` is the state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::HttpClient;
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
    let deadline = Instant::now() + within;
    loop {
        let mut digests = Vec::new();
        for (region, address) in addresses {
            let id = recorder.next_id();
            let start_ns = recorder.now_ns();
            let reply = client
                .send(address, "GET", path, None, &BTreeMap::new(), timeout)
                .await;
            let outcome = reply.outcome(|status| (200..300).contains(&status));
            digests.push(if outcome == Outcome::Ok {
                reply.body.get("digest").cloned()
            } else {
                None
            });
            recorder.op(OpRecord {
                id,
                client: format!("final-read-{service}").into(),
                region: region.as_str().into(),
                op: FINAL_READ_OP.into(),
                key: Some(Sym::from(service)),
                value: if outcome == Outcome::Ok {
                    reply.body
                } else {
                    Value::Null
                },
                start_ns,
                end_ns: recorder.now_ns(),
                outcome,
                detail: Some(reply.detail.into()),
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
