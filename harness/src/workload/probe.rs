//! The replication probe: write a unique marker through one region and poll
//! the others until it shows, recording a `lag` record per (marker, region).
//! Markers never seen before the probe's timeout (or the end of the drill)
//! are recorded with `seen_ns: null`, so the checker can report them.
//!
//! Markers are written and read over HTTP, or through client processes
//! ([`ProbeIo::Clients`]: `probe_write` and `probe_read` operations).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::client::HttpClient;
use super::process::ClientProcess;
use super::Recorder;
use crate::history::Outcome;
use crate::history::{LagRecord, Record};
use crate::scenario::probe::MARKER;
use crate::scenario::{ReplicationProbe, Request};

/// How a probe writes and reads its markers.
#[derive(Debug, Clone)]
pub enum ProbeIo {
    /// The probe's `write` and `read` requests; `addresses` maps each region
    /// to the probed service's address there.
    Http {
        /// The HTTP client.
        client: Box<HttpClient>,
        /// Region → address.
        addresses: Arc<BTreeMap<String, String>>,
    },
    /// `probe_write`/`probe_read` operations to each region's client process.
    Clients {
        /// Region → its client.
        processes: Arc<BTreeMap<String, Arc<ClientProcess>>>,
    },
}

impl ProbeIo {
    fn has(&self, region: &str) -> bool {
        match self {
            ProbeIo::Http { addresses, .. } => addresses.contains_key(region),
            ProbeIo::Clients { processes } => processes.contains_key(region),
        }
    }

    /// Writes `marker` in `region`; whether it was acknowledged.
    async fn write(
        &self,
        probe: &ReplicationProbe,
        recorder: &Recorder,
        region: &str,
        marker: &str,
        timeout: Duration,
    ) -> bool {
        match self {
            ProbeIo::Http { client, addresses } => {
                let Some(address) = addresses.get(region) else {
                    return false;
                };
                let write = render(&probe.write, marker);
                let reply = client
                    .send(
                        address,
                        &write.method,
                        &write.path,
                        write.body.as_ref(),
                        &write.headers,
                        timeout,
                    )
                    .await;
                reply.status.is_some_and(|s| (200..300).contains(&s))
            }
            ProbeIo::Clients { processes } => {
                let Some(process) = processes.get(region) else {
                    return false;
                };
                let answer = process
                    .call(
                        recorder.next_id(),
                        marker_op("probe_write", marker),
                        timeout,
                    )
                    .await;
                answer.outcome == Outcome::Ok
            }
        }
    }

    /// Reads `region` once; whether `marker` was there.
    async fn read(
        &self,
        probe: &ReplicationProbe,
        recorder: &Recorder,
        region: &str,
        marker: &str,
        timeout: Duration,
    ) -> bool {
        match self {
            ProbeIo::Http { client, addresses } => {
                let Some(address) = addresses.get(region) else {
                    return false;
                };
                let read = render(&probe.read, marker);
                let reply = client
                    .send(
                        address,
                        &read.method,
                        &read.path,
                        read.body.as_ref(),
                        &read.headers,
                        timeout,
                    )
                    .await;
                reply.status.is_some_and(|s| (200..300).contains(&s))
                    && contains(&reply.body, marker)
            }
            ProbeIo::Clients { processes } => {
                let Some(process) = processes.get(region) else {
                    return false;
                };
                let answer = process
                    .call(recorder.next_id(), marker_op("probe_read", marker), timeout)
                    .await;
                answer.outcome == Outcome::Ok && contains(&answer.value, marker)
            }
        }
    }
}

fn marker_op(op: &str, marker: &str) -> serde_json::Map<String, Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("op".into(), Value::from(op));
    fields.insert("marker".into(), Value::from(marker));
    fields
}

/// Runs the probe over HTTP until `stop`; returns once every marker is
/// resolved. `addresses` maps each region to the probed service's address there.
pub async fn run(
    probe: Arc<ReplicationProbe>,
    addresses: Arc<BTreeMap<String, String>>,
    recorder: Arc<Recorder>,
    client: HttpClient,
    stop: CancellationToken,
) {
    let client = Box::new(client);
    run_with(probe, ProbeIo::Http { client, addresses }, recorder, stop).await;
}

/// Runs the probe with `io` until `stop`; returns once every marker is resolved.
pub async fn run_with(
    probe: Arc<ReplicationProbe>,
    io: ProbeIo,
    recorder: Arc<Recorder>,
    stop: CancellationToken,
) {
    let tasks = TaskTracker::new();
    let poll_every = (probe.every / 5).clamp(Duration::from_millis(5), Duration::from_millis(50));
    let mut due = Instant::now();
    let mut round = 0u64;
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            () = tokio::time::sleep_until(due) => {}
        }
        due += probe.every;
        round += 1;
        for from in &probe.from {
            if !io.has(from) {
                continue;
            }
            let marker = format!("{}-{from}-{round}", probe.name);
            let (probe, io, recorder, stop, from) = (
                probe.clone(),
                io.clone(),
                recorder.clone(),
                stop.clone(),
                from.clone(),
            );
            tasks.spawn(async move {
                let write_timeout = probe.timeout.min(Duration::from_secs(5));
                if !io
                    .write(&probe, &recorder, &from, &marker, write_timeout)
                    .await
                {
                    // Not written: there is no lag to measure.
                    return;
                }
                let written_ns = recorder.now_ns();
                let pollers = TaskTracker::new();
                for to in probe.to.iter().filter(|to| **to != from) {
                    if !io.has(to) {
                        continue;
                    }
                    let (probe, io, recorder, stop, marker, from, to) = (
                        probe.clone(),
                        io.clone(),
                        recorder.clone(),
                        stop.clone(),
                        marker.clone(),
                        from.clone(),
                        to.clone(),
                    );
                    pollers.spawn(async move {
                        let deadline = Instant::now() + probe.timeout;
                        let read_timeout = poll_every.max(Duration::from_millis(500));
                        let seen_ns = loop {
                            if io.read(&probe, &recorder, &to, &marker, read_timeout).await {
                                break Some(recorder.now_ns());
                            }
                            let next = Instant::now() + poll_every;
                            if next >= deadline {
                                break None;
                            }
                            tokio::select! {
                                () = stop.cancelled() => break None,
                                () = tokio::time::sleep_until(next) => {}
                            }
                        };
                        recorder.push(Record::Lag(LagRecord {
                            marker,
                            from,
                            to,
                            written_ns,
                            seen_ns,
                        }));
                    });
                }
                pollers.close();
                pollers.wait().await;
            });
        }
    }
    tasks.close();
    tasks.wait().await;
}

fn render(request: &Request, marker: &str) -> Request {
    Request {
        method: request.method.clone(),
        path: request.path.replace(MARKER, marker),
        body: request.body.as_ref().map(|b| replace(b, marker)),
        headers: request.headers.clone(),
    }
}

fn replace(value: &Value, marker: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace(MARKER, marker)),
        Value::Array(items) => Value::Array(items.iter().map(|v| replace(v, marker)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), replace(v, marker)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether the marker appears anywhere in the response.
fn contains(body: &Value, marker: &str) -> bool {
    match body {
        Value::String(s) => s.contains(marker),
        Value::Array(items) => items.iter().any(|v| contains(v, marker)),
        Value::Object(map) => map.values().any(|v| contains(v, marker)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_marker_is_found_anywhere_in_a_response() {
        assert!(contains(
            &json!({"key": "x", "value": ["a", "probe-us-east-3"]}),
            "probe-us-east-3"
        ));
        assert!(!contains(
            &json!({"key": "x", "value": "probe-us-east-30"}),
            "probe-us-east-4"
        ));
    }
}
