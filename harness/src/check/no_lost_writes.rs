//! `no_lost_writes`: every acknowledged write is present in every region at the end.
//!
//! A write is an `ok` operation named `op` with key `k` and value `v`. Each
//! region's end state is its latest successful final read of each service
//! (operations named [`FINAL_READ_OP`](super::FINAL_READ_OP), `value.data` holding the service's
//! keys). A write is present in a region when `data[k] == v`, or `data[k]` is
//! an array holding `v` (append-style keys); a write without a value is present
//! when `k` is.
//!
//! A write is not lost where it was overwritten: when the region holds, for `k`,
//! the value of another write to `k` that began after the first was
//! acknowledged. Writes acknowledged concurrently are both required, so a
//! last-writer-wins merge that drops an acknowledged write is caught.
//!
//! - a write missing from a region: **fail**, with the lost writes and the regions lacking them;
//! - no final reads, or a region without a successful one, or no writes at all: **unknown**.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::convergence::final_reads;
use super::value_key::ValueKey;
use super::{op_evidence, require_name, CheckResult, InvariantError};
use crate::history::{History, OpRecord, Outcome};

const NAME: &str = "no_lost_writes";

/// `{"no_lost_writes": {"op": "put", "service": "kv"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoLostWritesConfig {
    /// The operation that writes (a workload's `name`).
    pub op: String,
    /// Only this service's final reads hold the writes (default: any service's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl NoLostWritesConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// An empty `op` or `service`.
    pub fn validate(&self) -> Result<NoLostWrites, InvariantError> {
        require_name(NAME, "op", &self.op)?;
        if let Some(service) = &self.service {
            require_name(NAME, "service", service)?;
        }
        Ok(NoLostWrites {
            op: self.op.clone(),
            service: self.service.clone(),
        })
    }
}

/// The validated invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoLostWrites {
    op: String,
    service: Option<String>,
}

/// The keys a final read returned.
fn read_data(read: &OpRecord) -> &Value {
    read.value.get("data").unwrap_or(&read.value)
}

/// Whether `held` (a region's value for a key) holds `written`.
fn holds(held: &Value, written: &Value) -> bool {
    written.is_null()
        || held == written
        || held.as_array().is_some_and(|items| items.contains(written))
}

impl NoLostWrites {
    /// `no_lost_writes(put)`.
    pub fn name(&self) -> String {
        format!("{NAME}({})", self.op)
    }

    /// Judges the history.
    pub fn check(&self, history: &History) -> CheckResult {
        let writes: Vec<&OpRecord> = history.ops().filter(|o| o.op == self.op).collect();
        if writes.is_empty() {
            return CheckResult::unknown(
                self.name(),
                format!(
                    "no `{}` operations in the history: nothing to judge",
                    self.op
                ),
            );
        }
        let reads: Vec<&OpRecord> = final_reads(history)
            .filter(|r| self.service.is_none() || r.key.as_deref() == self.service.as_deref())
            .collect();
        if reads.is_empty() {
            return CheckResult::unknown(
                self.name(),
                "no final reads in the history: cannot tell whether writes survived",
            );
        }

        // region → service → latest successful read.
        let mut states: BTreeMap<&str, BTreeMap<&str, &OpRecord>> = BTreeMap::new();
        for &read in &reads {
            let services = states.entry(read.region.as_str()).or_default();
            if read.outcome != Outcome::Ok {
                continue;
            }
            let service = read.key.as_deref().unwrap_or_default();
            let latest = services.entry(service).or_insert(read);
            if (latest.end_ns, latest.id) < (read.end_ns, read.id) {
                *latest = read;
            }
        }
        let unread: Vec<&str> = states
            .iter()
            .filter(|(_, s)| s.is_empty())
            .map(|(region, _)| *region)
            .collect();

        let acknowledged: Vec<&OpRecord> = writes
            .iter()
            .copied()
            .filter(|w| w.outcome == Outcome::Ok && w.key.is_some())
            .collect();
        let without_key = writes
            .iter()
            .filter(|w| w.outcome == Outcome::Ok && w.key.is_none())
            .count();
        let latest = LatestStarts::of(&writes);
        let mut lost: Vec<(&OpRecord, Vec<&str>)> = Vec::new();
        let mut superseded = 0u64;
        for &write in &acknowledged {
            let key = write.key.as_deref().unwrap_or_default();
            let mut lacking = Vec::new();
            for (region, services) in states.iter().filter(|(_, s)| !s.is_empty()) {
                let held: Vec<&Value> = services
                    .values()
                    .filter_map(|read| read_data(read).get(key))
                    .collect();
                if held.iter().any(|value| holds(value, &write.value)) {
                    continue;
                }
                if held
                    .iter()
                    .any(|value| !value.is_array() && latest.overwritten(write, value))
                {
                    superseded += 1;
                    continue;
                }
                lacking.push(*region);
            }
            if !lacking.is_empty() {
                lost.push((write, lacking));
            }
        }

        let figures = json!({
            "writes": writes.len(),
            "acknowledged": acknowledged.len(),
            "unknown_writes": writes.iter().filter(|w| w.outcome == Outcome::Unknown).count(),
            "failed_writes": writes.iter().filter(|w| w.outcome == Outcome::Fail).count(),
            "writes_without_key": without_key,
            "regions": states.len(),
            "regions_unread": unread.len(),
            "superseded": superseded,
            "lost": lost.len(),
        });
        if !lost.is_empty() {
            let lacking_regions: BTreeSet<&str> = lost
                .iter()
                .flat_map(|(_, regions)| regions.iter().copied())
                .collect();
            let examples: Vec<String> = lost
                .iter()
                .take(3)
                .map(|(w, regions)| {
                    format!(
                        "{}={} missing from {}",
                        w.key.as_deref().unwrap_or_default(),
                        w.value,
                        regions.join(", ")
                    )
                })
                .collect();
            let more = lost.len().saturating_sub(examples.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            let evidence: Vec<Value> = lost
                .iter()
                .map(|(w, regions)| op_evidence(w, format!("missing from {}", regions.join(", "))))
                .collect();
            return CheckResult::fail(
                self.name(),
                format!(
                    "{} of {} acknowledged writes lost in {}: {}{more}",
                    lost.len(),
                    acknowledged.len(),
                    lacking_regions.into_iter().collect::<Vec<_>>().join(", "),
                    examples.join("; ")
                ),
            )
            .with_figures(figures)
            .with_evidence(evidence);
        }
        if !unread.is_empty() {
            return CheckResult::unknown(
                self.name(),
                format!(
                    "no successful final read from {}: cannot tell whether its writes survived",
                    unread.join(", ")
                ),
            )
            .with_figures(figures);
        }
        CheckResult::pass(
            self.name(),
            format!(
                "all {} acknowledged writes present in {} regions ({superseded} overwritten by later writes)",
                acknowledged.len(),
                states.len()
            ),
        )
        .with_figures(figures)
    }
}

/// For every (key, value) written by a write that did not fail, the latest
/// time such a write began: "was `held` written by a write that began after
/// `write` was acknowledged" is then one lookup instead of a scan of every
/// write (which made hot keys cubic).
struct LatestStarts<'a> {
    by_key_value: HashMap<(&'a str, ValueKey<'a>), u64>,
}

impl<'a> LatestStarts<'a> {
    fn of(writes: &[&'a OpRecord]) -> Self {
        let mut by_key_value: HashMap<(&str, ValueKey<'_>), u64> = HashMap::new();
        for write in writes.iter().filter(|w| w.outcome != Outcome::Fail) {
            let Some(key) = write.key.as_deref() else {
                continue;
            };
            let start = by_key_value
                .entry((key, ValueKey(&write.value)))
                .or_insert(write.start_ns);
            *start = (*start).max(write.start_ns);
        }
        Self { by_key_value }
    }

    /// Whether `held` is the value of a write to the same key that began after
    /// `write` was acknowledged (so `write` was legitimately overwritten). A
    /// write holding `held` itself is never asked about: it is present.
    fn overwritten(&self, write: &OpRecord, held: &Value) -> bool {
        let Some(key) = write.key.as_deref() else {
            return false;
        };
        self.by_key_value
            .get(&(key, ValueKey(held)))
            .is_some_and(|&start| start > write.end_ns)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::check::synthetic::{final_read, history, ms, op_kv};
    use crate::check::{Verdict, FINAL_READ_OP};
    use crate::history::Record;

    fn invariant() -> NoLostWrites {
        NoLostWritesConfig {
            op: "put".into(),
            service: None,
        }
        .validate()
        .unwrap()
    }

    fn put(id: u64, region: &str, key: &str, value: Value, outcome: Outcome, at_ms: u64) -> Record {
        op_kv(
            id,
            region,
            "put",
            Some(key),
            value,
            outcome,
            ms(at_ms),
            ms(at_ms + 5),
        )
    }

    #[test]
    fn writes_present_everywhere_pass() {
        let h = history(vec![
            put(1, "us-east", "a", json!(1), Outcome::Ok, 0),
            put(2, "eu-west", "log", json!("x"), Outcome::Ok, 10),
            final_read(
                3,
                "us-east",
                "kv",
                "d",
                json!({"a": 1, "log": ["w", "x"]}),
                ms(100),
            ),
            final_read(
                4,
                "eu-west",
                "kv",
                "d",
                json!({"a": 1, "log": ["x", "w"]}),
                ms(100),
            ),
        ]);
        let result = invariant().check(&h);
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
    }

    #[test]
    fn a_write_missing_from_a_region_fails_naming_the_write_and_the_region() {
        let h = history(vec![
            put(1, "us-east", "a", json!(1), Outcome::Ok, 0),
            put(2, "eu-west", "b", json!(2), Outcome::Ok, 10),
            final_read(3, "us-east", "kv", "d1", json!({"a": 1}), ms(100)),
            final_read(4, "eu-west", "kv", "d2", json!({"a": 1, "b": 2}), ms(100)),
        ]);
        let result = invariant().check(&h);
        assert_eq!(result.verdict, Verdict::Fail);
        assert_eq!(
            result.message,
            "1 of 2 acknowledged writes lost in us-east: b=2 missing from us-east"
        );
        assert_eq!(result.evidence[0]["id"], 2);
        assert_eq!(result.evidence[0]["note"], "missing from us-east");
    }

    #[test]
    fn concurrent_writes_merged_by_last_writer_wins_lose_one() {
        // Both acknowledged during a partition, neither after the other.
        let h = history(vec![
            put(1, "us-east", "a", json!("east"), Outcome::Ok, 0),
            put(2, "eu-west", "a", json!("west"), Outcome::Ok, 1),
            final_read(3, "us-east", "kv", "d", json!({"a": "west"}), ms(100)),
            final_read(4, "eu-west", "kv", "d", json!({"a": "west"}), ms(100)),
        ]);
        assert_eq!(invariant().check(&h).verdict, Verdict::Fail);
    }

    #[test]
    fn a_write_overwritten_by_a_later_one_is_not_lost() {
        let h = history(vec![
            put(1, "us-east", "a", json!(1), Outcome::Ok, 0),
            put(2, "us-east", "a", json!(2), Outcome::Ok, 50),
            final_read(3, "us-east", "kv", "d", json!({"a": 2}), ms(100)),
        ]);
        let result = invariant().check(&h);
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
        assert_eq!(result.figures["superseded"], 1);
    }

    #[test]
    fn unacknowledged_writes_need_not_be_present() {
        let h = history(vec![
            put(1, "us-east", "a", json!(1), Outcome::Unknown, 0),
            put(2, "us-east", "b", json!(1), Outcome::Fail, 0),
            final_read(3, "us-east", "kv", "d", json!({}), ms(100)),
        ]);
        assert_eq!(invariant().check(&h).verdict, Verdict::Pass);
    }

    #[test]
    fn no_final_reads_is_unknown() {
        let h = history(vec![put(1, "us-east", "a", json!(1), Outcome::Ok, 0)]);
        assert_eq!(invariant().check(&h).verdict, Verdict::Unknown);
    }

    #[test]
    fn a_region_whose_final_read_failed_is_unknown() {
        let h = history(vec![
            put(1, "us-east", "a", json!(1), Outcome::Ok, 0),
            final_read(2, "us-east", "kv", "d", json!({"a": 1}), ms(100)),
            op_kv(
                3,
                "eu-west",
                FINAL_READ_OP,
                Some("kv"),
                Value::Null,
                Outcome::Unknown,
                0,
                ms(100),
            ),
        ]);
        let result = invariant().check(&h);
        assert_eq!(result.verdict, Verdict::Unknown);
        assert!(result.message.contains("eu-west"), "{}", result.message);
    }

    #[test]
    fn on_a_hot_key_an_overwritten_write_passes_and_a_lost_one_is_named() {
        // 300 sequential writes to one key, then two concurrent ones: the
        // region holds the last sequential value's successor "w-a" only, so
        // "w-b" (acknowledged concurrently with "w-a") is lost, and every
        // earlier write was legitimately overwritten.
        let mut records: Vec<Record> = (0..300)
            .map(|i| {
                put(
                    i + 1,
                    "us-east",
                    "cart",
                    json!(format!("v{i}")),
                    Outcome::Ok,
                    i * 10,
                )
            })
            .collect();
        records.push(put(301, "us-east", "cart", json!("w-a"), Outcome::Ok, 4000));
        records.push(put(302, "eu-west", "cart", json!("w-b"), Outcome::Ok, 4001));
        records.push(final_read(
            303,
            "us-east",
            "kv",
            "d",
            json!({"cart": "w-a"}),
            ms(9000),
        ));
        let result = invariant().check(&history(records.clone()));
        assert_eq!(result.verdict, Verdict::Fail, "{}", result.message);
        assert_eq!(
            result.message,
            "1 of 302 acknowledged writes lost in us-east: cart=\"w-b\" missing from us-east"
        );
        assert_eq!(result.figures["superseded"], 300);
        assert_eq!(result.figures["lost"], 1);
        assert_eq!(result.evidence.len(), 1);
        assert_eq!(result.evidence[0]["id"], 302);
        assert_eq!(result.evidence[0]["note"], "missing from us-east");

        // Without the concurrent write, every write is accounted for.
        records.retain(|r| !matches!(r, Record::Op(o) if o.id == 302));
        let result = invariant().check(&history(records));
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
        assert_eq!(
            result.message,
            "all 301 acknowledged writes present in 1 regions (300 overwritten by later writes)"
        );
    }

    #[test]
    fn a_failed_write_or_one_begun_before_the_ack_does_not_excuse_a_loss() {
        let h = history(vec![
            put(1, "us-east", "a", json!(1), Outcome::Ok, 100),
            // Began before write 1 was acknowledged (concurrent): no excuse.
            put(2, "us-east", "a", json!(2), Outcome::Ok, 104),
            // Began after, but failed: it never happened.
            put(3, "us-east", "a", json!(3), Outcome::Fail, 200),
            final_read(4, "us-east", "kv", "d", json!({"a": 2}), ms(900)),
            final_read(5, "eu-west", "kv", "d", json!({"a": 3}), ms(900)),
        ]);
        let result = invariant().check(&h);
        assert_eq!(result.verdict, Verdict::Fail);
        let ids: Vec<u64> = result
            .evidence
            .iter()
            .map(|e| e["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(result.evidence[0]["note"], "missing from eu-west, us-east");
        assert_eq!(result.evidence[1]["note"], "missing from eu-west");
    }

    mod reference {
        //! The rule stated directly, quadratic in the writes: the oracle the
        //! indexed checker is compared with.
        use super::*;

        /// (id of each lost write with the regions lacking it, superseded count).
        pub(super) fn lost(history: &History) -> (Vec<(u64, Vec<String>)>, u64) {
            let ops: Vec<&OpRecord> = history.ops().collect();
            let writes: Vec<&OpRecord> = ops.iter().copied().filter(|o| o.op == "put").collect();
            let mut regions: BTreeMap<String, BTreeMap<String, &OpRecord>> = BTreeMap::new();
            for read in ops.iter().filter(|o| o.op == FINAL_READ_OP) {
                let services = regions.entry(read.region.to_string()).or_default();
                if read.outcome == Outcome::Ok {
                    let service = read.key.as_deref().unwrap_or_default().to_owned();
                    let keep = services
                        .get(&service)
                        .is_none_or(|r| (r.end_ns, r.id) < (read.end_ns, read.id));
                    if keep {
                        services.insert(service, read);
                    }
                }
            }
            let mut lost = Vec::new();
            let mut superseded = 0;
            for w in writes
                .iter()
                .filter(|w| w.outcome == Outcome::Ok && w.key.is_some())
            {
                let key = w.key.as_deref().unwrap();
                let mut lacking = Vec::new();
                for (region, services) in regions.iter().filter(|(_, s)| !s.is_empty()) {
                    let held: Vec<&Value> = services
                        .values()
                        .filter_map(|r| read_data(r).get(key))
                        .collect();
                    if held.iter().any(|v| holds(v, &w.value)) {
                        continue;
                    }
                    let excused = held.iter().any(|v| {
                        !v.is_array()
                            && writes.iter().any(|later| {
                                later.id != w.id
                                    && later.outcome != Outcome::Fail
                                    && later.key == w.key
                                    && later.start_ns > w.end_ns
                                    && &later.value == *v
                            })
                    });
                    if excused {
                        superseded += 1;
                    } else {
                        lacking.push(region.clone());
                    }
                }
                if !lacking.is_empty() {
                    lost.push((w.id, lacking));
                }
            }
            (lost, superseded)
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        #[test]
        fn the_indexed_checker_agrees_with_the_quadratic_rule(
            writes in proptest::collection::vec(
                (0..3usize, 0..3usize, 0..4u64, 0..3usize, 0..40u64, 0..12u64), 1..24),
            reads in proptest::collection::vec(
                (0..3usize, proptest::collection::vec((0..3usize, 0..5u64), 0..3), proptest::bool::ANY), 0..4),
        ) {
            let regions = ["us-east", "eu-west", "ap-south"];
            let keys = ["a", "b", "c"];
            let outcomes = [Outcome::Ok, Outcome::Fail, Outcome::Unknown];
            let mut records = Vec::new();
            let mut id = 0;
            for &(region, key, value, outcome, start, len) in &writes {
                id += 1;
                // Values 0..=2 as numbers, 3 as a float twin of 1 (not equal to it).
                let value = if value == 3 { json!(1.0) } else { json!(value) };
                records.push(op_kv(id, regions[region], "put", Some(keys[key]), value,
                    outcomes[outcome], start, start + len));
            }
            for (region, data, ok) in &reads {
                id += 1;
                let data: serde_json::Map<String, Value> = data.iter().map(|&(k, v)| {
                    let v = match v { 3 => json!(1.0), 4 => json!([0, 1]), v => json!(v) };
                    (keys[k].to_owned(), v)
                }).collect();
                let mut read = final_read(id, regions[*region], "kv", "d", Value::Object(data), 1_000);
                if !ok {
                    if let Record::Op(o) = &mut read { o.outcome = Outcome::Unknown; }
                }
                records.push(read);
            }
            let h = history(records);
            let (lost, superseded) = reference::lost(&h);
            let result = invariant().check(&h);
            if !lost.is_empty() {
                proptest::prop_assert_eq!(result.verdict, Verdict::Fail);
                let got: Vec<(u64, String)> = result.evidence.iter()
                    .map(|e| (e["id"].as_u64().unwrap(), e["note"].as_str().unwrap().to_owned()))
                    .collect();
                let want: Vec<(u64, String)> = lost.iter()
                    .map(|(id, regions)| (*id, format!("missing from {}", regions.join(", "))))
                    .collect();
                proptest::prop_assert_eq!(got, want);
            } else {
                proptest::prop_assert_ne!(result.verdict, Verdict::Fail);
            }
            if result.figures.get("lost").is_some() {
                proptest::prop_assert_eq!(&result.figures["lost"], &json!(lost.len()));
                proptest::prop_assert_eq!(&result.figures["superseded"], &json!(superseded));
            }
        }
    }
}
