//! Builders of small synthetic histories for the checkers' unit tests.

use serde_json::{json, Value};

use crate::history::{
    FaultAction, FaultRecord, History, LagRecord, OpRecord, Outcome, Record, RunRecord,
    HISTORY_VERSION,
};

/// A history of these records under a fixed header.
pub(crate) fn history(records: Vec<Record>) -> History {
    let mut history = History::new(RunRecord {
        version: HISTORY_VERSION,
        name: "synthetic".into(),
        seed: 7,
        started_at: "2026-11-27T00:00:00Z".into(),
    });
    history.records = records;
    history
}

/// An operation without key or value.
pub(crate) fn op(
    id: u64,
    region: &str,
    name: &str,
    outcome: Outcome,
    start_ns: u64,
    end_ns: u64,
) -> Record {
    op_kv(
        id,
        region,
        name,
        None,
        Value::Null,
        outcome,
        start_ns,
        end_ns,
    )
}

/// An operation with a key and a value.
#[allow(clippy::too_many_arguments)]
pub(crate) fn op_kv(
    id: u64,
    region: &str,
    name: &str,
    key: Option<&str>,
    value: Value,
    outcome: Outcome,
    start_ns: u64,
    end_ns: u64,
) -> Record {
    Record::Op(OpRecord {
        id,
        client: format!("{name}-{region}").into(),
        region: region.into(),
        op: name.into(),
        key: key.map(Into::into),
        value,
        start_ns,
        end_ns,
        outcome,
        detail: None,
    })
}

/// A final read of `service` in `region` returning `data` with `digest`, completing at `at_ns`.
pub(crate) fn final_read(
    id: u64,
    region: &str,
    service: &str,
    digest: &str,
    data: Value,
    at_ns: u64,
) -> Record {
    op_kv(
        id,
        region,
        super::FINAL_READ_OP,
        Some(service),
        json!({"digest": digest, "data": data}),
        Outcome::Ok,
        at_ns.saturating_sub(1_000_000),
        at_ns,
    )
}

/// A partition change of `step` reaching `regions`, applied at `at_ns` (as planned).
pub(crate) fn fault(step: u32, action: FaultAction, regions: &[&str], at_ns: u64) -> Record {
    Record::Fault(FaultRecord {
        step,
        action,
        what: json!({"partition": [["us-east"], ["eu-west"]]}),
        links: vec!["us-east->eu-west:kv".into(), "eu-west->us-east:kv".into()],
        regions: regions.iter().map(|r| (*r).to_owned()).collect(),
        planned_ns: at_ns,
        actual_ns: at_ns,
        placed_on: std::collections::BTreeMap::new(),
    })
}

/// A replication marker written in `from` at `written_ns` and seen in `to` at `seen_ns`.
pub(crate) fn lag(
    marker: &str,
    from: &str,
    to: &str,
    written_ns: u64,
    seen_ns: Option<u64>,
) -> Record {
    Record::Lag(LagRecord {
        marker: marker.into(),
        from: from.into(),
        to: to.into(),
        written_ns,
        seen_ns,
    })
}

/// Milliseconds as nanoseconds, to keep the tests readable.
pub(crate) const fn ms(ms: u64) -> u64 {
    ms * 1_000_000
}
