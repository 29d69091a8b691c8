//! Open-loop workloads through a client process: the same arrivals,
//! concurrency cap and bounded queue as HTTP workloads ([`super::http`]), each
//! operation sent to the region's client as `{"id", "op", "key", "value"}`.
//!
//! The record's times are faultline's: the start is when the operation was
//! due (so a slow client shows as latency, not as fewer operations), the end
//! when its answer line was read. A non-null `value` in the answer replaces
//! the workload's value in the record (what a read returned).

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::http::{open_loop, Completion};
use super::process::ClientProcess;
use super::template::OpVars;
use super::Recorder;
use crate::history::OpRecord;
use crate::scenario::Workload;

/// Runs `workload` in `region` through `client` until `stop`. Returns when
/// every operation sent has been answered or timed out.
pub async fn run(
    workload: Arc<Workload>,
    region: String,
    client: Arc<ClientProcess>,
    recorder: Arc<Recorder>,
    stop: CancellationToken,
) {
    let timeout = workload.timeout;
    let name = workload.name.clone();
    let send = move |op: &OpRecord, _vars: &OpVars<'_>| {
        let mut fields = Map::new();
        fields.insert("op".into(), Value::from(name.as_str()));
        if let Some(key) = &op.key {
            fields.insert("key".into(), Value::from(key.as_str()));
        }
        fields.insert("value".into(), op.value.clone());
        let (client, id) = (client.clone(), op.id);
        async move {
            let answer = client.call(id, fields, timeout).await;
            Completion {
                outcome: answer.outcome,
                detail: answer.detail,
                value: (!answer.value.is_null()).then_some(answer.value),
                at: Some(answer.at),
            }
        }
    };
    open_loop(workload, region, recorder, stop, send).await;
}
