//! `linearizable`: every key behaves as one atomic register.
//!
//! The operations named `read`, `write` and (optionally) `cas` form, per key,
//! a history of a read/write/compare-and-set register. The history is
//! linearizable when every acknowledged operation can be given one instant
//! between its invocation (`start_ns`) and its completion (`end_ns`) such that,
//! taken in the order of those instants, every read returns the value of the
//! latest write (or successful CAS) before it, or `initial` before any.
//!
//! How operations map onto the register:
//! - a `write` op writes its `value` to its `key`;
//! - a `read` op returned its `value` (`null` = the key was absent, which is
//!   the `initial` value unless the scenario says otherwise); an HTTP workload
//!   records the value it read with `read_value` (a JSON pointer into the
//!   response body);
//! - a `cas` op's `value` is `{"expected": E, "new": N}`: acknowledged, it
//!   found `E` and wrote `N`; `fail` means it did not happen.
//!
//! Outcomes: `ok` operations must be linearized; `fail` ones never happened
//! and are dropped; `unknown` writes and CAS may have taken effect at any
//! instant after their invocation, or never (their completion is treated as
//! the end of time); `unknown` reads tell nothing and are dropped.
//!
//! The search is Wing & Gong's, with Lowe's memoization as Porcupine and
//! Knossos use it: keys are checked independently (P-compositionality);
//! operations are a list of invocation and completion events in time order;
//! the search linearizes a pending operation whose effect the register allows,
//! backtracks at a completion whose operation is not yet linearized, and never
//! revisits a (set of linearized operations, register value) pair it has
//! seen. The set is remembered by a 128-bit Zobrist hash (an XOR of one random
//! word per operation), so a visited configuration costs 32 bytes whatever
//! the history's length; a collision, which would prune a configuration not
//! yet seen, has a probability of about visited² / 2¹²⁹. The number of
//! configurations visited per key is bounded by `max_states`.
//!
//! - a key whose history has no linearization: **fail**, with the operation
//!   the longest partial linearization could not place, the register's value
//!   there and the operation that wrote it;
//! - a key whose search hit `max_states` (and no key failed): **unknown**;
//! - no operations to judge: **unknown**.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::percentiles::ms;
use super::value_key::ValueKey;
use super::{op_evidence, require_name, CheckResult, InvariantError};
use crate::history::{History, OpRecord, Outcome};

const NAME: &str = "linearizable";

/// The default bound on configurations visited per key.
pub const DEFAULT_MAX_STATES: u64 = 2_000_000;

/// `{"linearizable": {"read": "get", "write": "put", "cas": "cas", "key": "reg"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearizableConfig {
    /// The operation that reads (its `value` is what it read).
    pub read: String,
    /// The operation that writes (its `value` is what it wrote).
    pub write: String,
    /// The compare-and-set operation (`value` = `{"expected": …, "new": …}`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas: Option<String>,
    /// Only this key (default: every key the operations touch, each its own register).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The register's value before any write (default `null`, as a read of an
    /// absent key records).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub initial: Value,
    /// At most this many configurations are visited per key; past it the key
    /// is `unknown` (default [`DEFAULT_MAX_STATES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_states: Option<u64>,
}

impl LinearizableConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// An empty name, two roles sharing one operation name, or `max_states` of 0.
    pub fn validate(&self) -> Result<Linearizable, InvariantError> {
        require_name(NAME, "read", &self.read)?;
        require_name(NAME, "write", &self.write)?;
        if let Some(cas) = &self.cas {
            require_name(NAME, "cas", cas)?;
            if cas == &self.read || cas == &self.write {
                return Err(InvariantError::invalid(
                    NAME,
                    "cas",
                    "an operation other than `read` and `write`",
                ));
            }
        }
        if self.read == self.write {
            return Err(InvariantError::invalid(
                NAME,
                "write",
                "an operation other than `read`",
            ));
        }
        if let Some(key) = &self.key {
            require_name(NAME, "key", key)?;
        }
        if self.max_states == Some(0) {
            return Err(InvariantError::invalid(NAME, "max_states", "> 0"));
        }
        Ok(Linearizable {
            read: self.read.clone(),
            write: self.write.clone(),
            cas: self.cas.clone(),
            key: self.key.clone(),
            initial: self.initial.clone(),
            max_states: self.max_states.unwrap_or(DEFAULT_MAX_STATES),
        })
    }
}

/// The validated invariant.
#[derive(Debug, Clone, PartialEq)]
pub struct Linearizable {
    read: String,
    write: String,
    cas: Option<String>,
    key: Option<String>,
    initial: Value,
    max_states: u64,
}

/// What one register operation does, with values interned per key
/// (`0` is the initial value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Returned this value; `None`: a value nothing wrote (never possible).
    Read(Option<u32>),
    /// Wrote this value.
    Write(u32),
    /// Found the first value and wrote the second.
    Cas(Option<u32>, u32),
}

impl Effect {
    /// The register's value after this operation, if it can happen in `state`.
    fn apply(self, state: u32) -> Option<u32> {
        match self {
            Effect::Read(value) => (value == Some(state)).then_some(state),
            Effect::Write(value) => Some(value),
            Effect::Cas(expected, new) => (expected == Some(state)).then_some(new),
        }
    }
}

/// One key's operations, ready to search.
struct Register<'a> {
    ops: Vec<&'a OpRecord>,
    effects: Vec<Effect>,
    /// Whether each operation was acknowledged (must be linearized).
    definite: Vec<bool>,
    /// Interned values, by id.
    values: Vec<&'a Value>,
}

/// How one key's search ended.
#[derive(Debug)]
enum Search {
    Linearizable,
    /// No linearization; the deepest point the search reached.
    Violation(Stuck),
    /// The bound was hit.
    Bound,
}

/// Where the longest partial linearization stopped.
#[derive(Debug, Clone, Copy)]
struct Stuck {
    /// Operations linearized before it.
    depth: usize,
    /// The operation that completed without a place in the order.
    op: usize,
    /// The register's value there.
    state: u32,
    /// The last operation linearized (the one that wrote `state`, or a read of it).
    last: Option<usize>,
}

impl Linearizable {
    /// `linearizable(put/get)`, `linearizable(put/get/cas reg)`.
    pub fn name(&self) -> String {
        let mut ops = format!("{}/{}", self.write, self.read);
        if let Some(cas) = &self.cas {
            ops = format!("{ops}/{cas}");
        }
        match &self.key {
            Some(key) => format!("{NAME}({ops} {key})"),
            None => format!("{NAME}({ops})"),
        }
    }

    /// Judges the history.
    pub fn check(&self, history: &History) -> CheckResult {
        let mut by_key: BTreeMap<&str, Vec<&OpRecord>> = BTreeMap::new();
        let (mut failed, mut unknown_reads, mut without_key, mut total) = (0u64, 0u64, 0u64, 0u64);
        for op in history.ops() {
            let is_read = op.op == self.read;
            if !(is_read || op.op == self.write || self.cas.as_deref() == Some(op.op.as_str())) {
                continue;
            }
            total += 1;
            let Some(key) = op.key.as_deref() else {
                without_key += 1;
                continue;
            };
            if self.key.as_deref().is_some_and(|k| k != key) {
                total -= 1;
                continue;
            }
            match op.outcome {
                Outcome::Fail => failed += 1,
                Outcome::Unknown if is_read => unknown_reads += 1,
                _ => by_key.entry(key).or_default().push(op),
            }
        }
        let judged: usize = by_key.values().map(Vec::len).sum();
        if judged == 0 {
            return CheckResult::unknown(
                self.name(),
                format!(
                    "no acknowledged or unknown `{}`/`{}` operations with a key: nothing to judge",
                    self.write, self.read
                ),
            );
        }

        let mut states_total = 0u64;
        let mut bounded: Vec<&str> = Vec::new();
        let mut violations: Vec<(&str, Register<'_>, Stuck)> = Vec::new();
        let mut malformed: Vec<Value> = Vec::new();
        for (key, ops) in &by_key {
            let register = match self.register(ops) {
                Ok(register) => register,
                Err(evidence) => {
                    malformed.push(evidence);
                    continue;
                }
            };
            let (search, states) = search(&register, self.max_states);
            states_total += states;
            match search {
                Search::Linearizable => {}
                Search::Bound => bounded.push(key),
                Search::Violation(stuck) => violations.push((key, register, stuck)),
            }
        }

        let figures = json!({
            "keys": by_key.len(),
            "operations": total,
            "judged": judged,
            "failed_ignored": failed,
            "unknown_reads_ignored": unknown_reads,
            "without_key": without_key,
            "states": states_total,
            "max_states": self.max_states,
            "keys_not_linearizable": violations.len(),
            "keys_at_bound": bounded.len(),
            "malformed_cas": malformed.len(),
        });
        if !violations.is_empty() {
            let listed: Vec<String> = violations
                .iter()
                .take(3)
                .map(|(key, register, stuck)| describe(key, register, stuck))
                .collect();
            let more = violations.len().saturating_sub(listed.len());
            let more = if more > 0 {
                format!(" and {more} more keys")
            } else {
                String::new()
            };
            let evidence: Vec<Value> = violations
                .iter()
                .flat_map(|(key, register, stuck)| evidence(key, register, stuck))
                .collect();
            return CheckResult::fail(
                self.name(),
                format!(
                    "{} of {} keys not linearizable: {}{more}",
                    violations.len(),
                    by_key.len(),
                    listed.join("; ")
                ),
            )
            .with_figures(figures)
            .with_evidence(evidence);
        }
        if !malformed.is_empty() {
            return CheckResult::unknown(
                self.name(),
                format!(
                    "{} `{}` operations without a value of the form {{\"expected\": …, \"new\": …}}: cannot judge their keys",
                    malformed.len(),
                    self.cas.as_deref().unwrap_or_default()
                ),
            )
            .with_figures(figures)
            .with_evidence(malformed);
        }
        if !bounded.is_empty() {
            return CheckResult::unknown(
                self.name(),
                format!(
                    "search bound of {} states per key reached for {}: cannot tell",
                    self.max_states,
                    bounded.join(", ")
                ),
            )
            .with_figures(figures);
        }
        CheckResult::pass(
            self.name(),
            format!(
                "{judged} operations on {} keys linearizable ({states_total} states visited)",
                by_key.len()
            ),
        )
        .with_figures(figures)
    }

    /// One key's operations as register effects, or the evidence of a CAS
    /// whose value is not `{"expected", "new"}`.
    fn register<'a>(&'a self, ops: &[&'a OpRecord]) -> Result<Register<'a>, Value> {
        let mut ids: HashMap<ValueKey<'a>, u32> = HashMap::new();
        let mut values: Vec<&'a Value> = Vec::new();
        let mut intern = |value: &'a Value| {
            *ids.entry(ValueKey(value)).or_insert_with(|| {
                values.push(value);
                u32::try_from(values.len() - 1).unwrap_or(u32::MAX)
            })
        };
        // The initial value is state 0.
        intern(&self.initial);
        let mut effects = Vec::with_capacity(ops.len());
        let mut pending_reads = Vec::new();
        for (index, &op) in ops.iter().enumerate() {
            let effect = if op.op == self.write {
                Effect::Write(intern(&op.value))
            } else if self.cas.as_deref() == Some(op.op.as_str()) {
                let (Some(expected), Some(new)) = (op.value.get("expected"), op.value.get("new"))
                else {
                    return Err(op_evidence(
                        op,
                        "a CAS value must be {\"expected\": …, \"new\": …}",
                    ));
                };
                pending_reads.push((index, expected));
                Effect::Cas(None, intern(new))
            } else {
                pending_reads.push((index, &op.value));
                Effect::Read(None)
            };
            effects.push(effect);
        }
        // Every value any operation wrote has an id now; a read (or a CAS
        // expecting) a value nothing wrote can never be linearized.
        for (index, value) in pending_reads {
            let id = ids.get(&ValueKey(value)).copied();
            effects[index] = match effects[index] {
                Effect::Cas(_, new) => Effect::Cas(id, new),
                _ => Effect::Read(id),
            };
        }
        Ok(Register {
            ops: ops.to_vec(),
            effects,
            definite: ops.iter().map(|o| o.outcome == Outcome::Ok).collect(),
            values,
        })
    }
}

/// A random 128-bit word per operation index (splitmix64), for Zobrist hashing.
fn zobrist(index: usize) -> u128 {
    fn splitmix(mut x: u64) -> u64 {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }
    let i = index as u64;
    (u128::from(splitmix(i.wrapping_mul(2))) << 64) | u128::from(splitmix(i.wrapping_mul(2) | 1))
}

const NIL: usize = usize::MAX;

/// Invocation and completion events of one register's operations, as a
/// doubly linked list in time order (index `events` is the head sentinel).
struct Events {
    op: Vec<usize>,
    is_call: Vec<bool>,
    /// For a call, its completion event.
    partner: Vec<usize>,
    next: Vec<usize>,
    prev: Vec<usize>,
    head: usize,
}

impl Events {
    fn new(register: &Register<'_>) -> Self {
        // (time, calls before completions, definite completions before
        // unknown ones, op): an operation completing at the instant another
        // begins counts as concurrent with it, the permissive reading.
        let mut order: Vec<(u64, u8, usize, bool)> = Vec::with_capacity(register.ops.len() * 2);
        for (i, op) in register.ops.iter().enumerate() {
            order.push((op.start_ns, 0, i, true));
            let (end, rank) = if register.definite[i] {
                (op.end_ns.max(op.start_ns), 1)
            } else {
                (u64::MAX, 2)
            };
            order.push((end, rank, i, false));
        }
        order.sort_unstable();
        let n = order.len();
        let head = n;
        let mut events = Events {
            op: order.iter().map(|e| e.2).collect(),
            is_call: order.iter().map(|e| e.3).collect(),
            partner: vec![NIL; n],
            next: (1..=n).map(|i| if i == n { NIL } else { i }).collect(),
            prev: (0..n).map(|i| if i == 0 { head } else { i - 1 }).collect(),
            head,
        };
        events.next.push(if n == 0 { NIL } else { 0 });
        events.prev.push(NIL);
        let mut call_of = vec![NIL; register.ops.len()];
        for e in 0..n {
            if events.is_call[e] {
                call_of[events.op[e]] = e;
            } else {
                let call = call_of[events.op[e]];
                events.partner[call] = e;
            }
        }
        events
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        if n != NIL {
            self.prev[n] = e;
        }
    }

    /// Takes a call and its completion out of the list.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.partner[call]);
    }

    /// Puts them back (in the reverse order of [`Events::lift`]).
    fn unlift(&mut self, call: usize) {
        self.relink(self.partner[call]);
        self.relink(call);
    }
}

/// Searches one register's history; returns how it ended and the
/// configurations visited.
fn search(register: &Register<'_>, max_states: u64) -> (Search, u64) {
    let mut events = Events::new(register);
    let mut remaining = register.definite.iter().filter(|&&d| d).count();
    let mut state = 0u32;
    let mut linearized = 0u128;
    let mut seen: HashSet<(u128, u32)> = HashSet::new();
    let mut stack: Vec<(usize, u32)> = Vec::new();
    let mut deepest: Option<Stuck> = None;
    let mut e = events.next[events.head];
    loop {
        if remaining == 0 {
            return (Search::Linearizable, seen.len() as u64);
        }
        if e == NIL {
            // Unreachable: a definite operation's completion is still listed.
            return (Search::Linearizable, seen.len() as u64);
        }
        let op = events.op[e];
        if events.is_call[e] {
            if let Some(next_state) = register.effects[op].apply(state) {
                let next_linearized = linearized ^ zobrist(op);
                if seen.insert((next_linearized, next_state)) {
                    if seen.len() as u64 > max_states {
                        return (Search::Bound, seen.len() as u64);
                    }
                    stack.push((e, state));
                    state = next_state;
                    linearized = next_linearized;
                    remaining -= usize::from(register.definite[op]);
                    events.lift(e);
                    e = events.next[events.head];
                    continue;
                }
            }
            e = events.next[e];
        } else {
            if !register.definite[op] {
                // Every definite completion precedes this one: all placed.
                return (Search::Linearizable, seen.len() as u64);
            }
            if deepest.is_none_or(|d| stack.len() > d.depth) {
                deepest = Some(Stuck {
                    depth: stack.len(),
                    op,
                    state,
                    last: stack.last().map(|&(call, _)| events.op[call]),
                });
            }
            let Some((call, previous)) = stack.pop() else {
                let stuck = deepest.unwrap_or(Stuck {
                    depth: 0,
                    op,
                    state,
                    last: None,
                });
                return (Search::Violation(stuck), seen.len() as u64);
            };
            let undone = events.op[call];
            state = previous;
            linearized ^= zobrist(undone);
            remaining += usize::from(register.definite[undone]);
            events.unlift(call);
            e = events.next[call];
        }
    }
}

fn what(register: &Register<'_>, op: usize) -> String {
    let record = register.ops[op];
    let verb = match register.effects[op] {
        Effect::Read(_) => format!("read {}", record.value),
        Effect::Write(_) => format!("write {}", record.value),
        Effect::Cas(..) => format!(
            "cas {} -> {}",
            record.value.get("expected").unwrap_or(&Value::Null),
            record.value.get("new").unwrap_or(&Value::Null)
        ),
    };
    format!(
        "op {} ({verb} in {}, {}..{} ms)",
        record.id,
        record.region,
        ms(record.start_ns),
        ms(record.end_ns)
    )
}

fn describe(key: &str, register: &Register<'_>, stuck: &Stuck) -> String {
    let held = register.values[stuck.state as usize];
    let after = match stuck.last {
        Some(last) => format!(" after {}", what(register, last)),
        None => String::new(),
    };
    format!(
        "{key}: {} has no place in any order; the register held {held}{after}",
        what(register, stuck.op)
    )
}

fn evidence(key: &str, register: &Register<'_>, stuck: &Stuck) -> Vec<Value> {
    let held = register.values[stuck.state as usize];
    let mut out = vec![op_evidence(
        register.ops[stuck.op],
        format!(
            "{key}: not linearizable: completed while the register held {held} ({} operations placed before it)",
            stuck.depth
        ),
    )];
    if let Some(last) = stuck.last {
        out.push(op_evidence(
            register.ops[last],
            format!("{key}: the last operation placed before it, leaving {held}"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::check::synthetic::{history, op_kv};
    use crate::check::Verdict;
    use crate::history::Record;

    fn invariant() -> Linearizable {
        config().validate().unwrap()
    }

    fn config() -> LinearizableConfig {
        LinearizableConfig {
            read: "get".into(),
            write: "put".into(),
            cas: Some("cas".into()),
            key: None,
            initial: Value::Null,
            max_states: None,
        }
    }

    fn rec(
        id: u64,
        name: &str,
        key: &str,
        value: Value,
        outcome: Outcome,
        from: u64,
        to: u64,
    ) -> Record {
        op_kv(id, "us-east", name, Some(key), value, outcome, from, to)
    }

    fn put(id: u64, value: Value, from: u64, to: u64) -> Record {
        rec(id, "put", "r", value, Outcome::Ok, from, to)
    }

    fn get(id: u64, value: Value, from: u64, to: u64) -> Record {
        rec(id, "get", "r", value, Outcome::Ok, from, to)
    }

    #[test]
    fn sequential_writes_and_reads_pass() {
        let h = history(vec![
            get(1, Value::Null, 0, 5),
            put(2, json!(1), 10, 20),
            get(3, json!(1), 30, 40),
            put(4, json!(2), 50, 60),
            get(5, json!(2), 70, 80),
        ]);
        let result = invariant().check(&h);
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
        assert_eq!(result.figures["judged"], 5);
    }

    #[test]
    fn a_stale_read_fails_naming_the_read_and_the_write_it_missed() {
        let h = history(vec![
            put(1, json!(1), 0, 10),
            put(2, json!(2), 20, 30),
            get(3, json!(1), 40, 50),
        ]);
        let result = invariant().check(&h);
        assert_eq!(result.verdict, Verdict::Fail, "{}", result.message);
        assert!(
            result
                .message
                .starts_with("1 of 1 keys not linearizable: r: op 3 (read 1"),
            "{}",
            result.message
        );
        assert!(
            result
                .message
                .contains("the register held 2 after op 2 (write 2"),
            "{}",
            result.message
        );
        assert_eq!(result.evidence[0]["id"], 3);
        assert_eq!(
            result.evidence[0]["note"],
            "r: not linearizable: completed while the register held 2 (2 operations placed before it)"
        );
        assert_eq!(result.evidence[1]["id"], 2);
    }

    #[test]
    fn reads_concurrent_with_a_write_may_see_either_value_but_not_go_back() {
        let mut records = vec![
            put(1, json!(1), 0, 100),
            get(2, Value::Null, 10, 20),
            get(3, json!(1), 30, 40),
            get(4, json!(1), 50, 60),
        ];
        let result = invariant().check(&history(records.clone()));
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
        // Once a read saw the write, a later read may not see the old value.
        records.push(get(5, Value::Null, 70, 80));
        let result = invariant().check(&history(records));
        assert_eq!(result.verdict, Verdict::Fail, "{}", result.message);
        assert_eq!(result.evidence[0]["id"], 5);
    }

    #[test]
    fn an_acknowledged_write_that_reads_never_see_is_lost() {
        let h = history(vec![
            put(1, json!(1), 0, 10),
            put(2, json!(2), 5, 15),
            get(3, json!(2), 20, 30),
            get(4, json!(1), 40, 50),
        ]);
        assert_eq!(invariant().check(&h).verdict, Verdict::Fail);
        let h = history(vec![put(1, json!("x"), 0, 10), get(2, Value::Null, 20, 30)]);
        let result = invariant().check(&h);
        assert_eq!(result.verdict, Verdict::Fail);
        assert!(result.message.contains("read null"), "{}", result.message);
    }

    #[test]
    fn unknown_writes_may_land_late_or_never_and_failed_ones_never() {
        let unknown = rec(1, "put", "r", json!(1), Outcome::Unknown, 0, 10);
        let h = history(vec![
            unknown.clone(),
            get(2, Value::Null, 50, 60),
            get(3, json!(1), 100, 110),
        ]);
        assert_eq!(invariant().check(&h).verdict, Verdict::Pass);
        let h = history(vec![unknown.clone(), get(2, Value::Null, 50, 60)]);
        assert_eq!(invariant().check(&h).verdict, Verdict::Pass);
        let h = history(vec![
            unknown,
            get(2, json!(1), 50, 60),
            get(3, Value::Null, 100, 110),
        ]);
        assert_eq!(invariant().check(&h).verdict, Verdict::Fail);
        let h = history(vec![
            rec(1, "put", "r", json!(1), Outcome::Fail, 0, 10),
            get(2, json!(1), 50, 60),
        ]);
        let result = invariant().check(&h);
        assert_eq!(result.verdict, Verdict::Fail);
        assert_eq!(result.figures["failed_ignored"], 1);
    }

    #[test]
    fn compare_and_set_must_find_its_expected_value() {
        let cas = |id, expected: i64, new: i64, from, to| {
            rec(
                id,
                "cas",
                "r",
                json!({"expected": expected, "new": new}),
                Outcome::Ok,
                from,
                to,
            )
        };
        let ok = vec![
            put(1, json!(0), 0, 10),
            cas(2, 0, 1, 20, 30),
            get(3, json!(1), 40, 50),
        ];
        assert_eq!(
            invariant().check(&history(ok.clone())).verdict,
            Verdict::Pass
        );
        let mut bad = ok;
        bad.push(cas(4, 0, 2, 60, 70));
        let result = invariant().check(&history(bad));
        assert_eq!(result.verdict, Verdict::Fail);
        assert_eq!(result.evidence[0]["id"], 4);
        let malformed = history(vec![rec(1, "cas", "r", json!(3), Outcome::Ok, 0, 1)]);
        let result = invariant().check(&malformed);
        assert_eq!(result.verdict, Verdict::Unknown);
        assert_eq!(result.evidence[0]["id"], 1);
    }

    #[test]
    fn keys_are_judged_apart_and_only_the_broken_one_is_named() {
        let h = history(vec![
            rec(1, "put", "a", json!(1), Outcome::Ok, 0, 10),
            rec(2, "put", "b", json!(1), Outcome::Ok, 0, 10),
            rec(3, "get", "a", json!(1), Outcome::Ok, 20, 30),
            rec(4, "get", "b", Value::Null, Outcome::Ok, 20, 30),
        ]);
        let result = invariant().check(&h);
        assert_eq!(result.verdict, Verdict::Fail);
        assert!(
            result
                .message
                .starts_with("1 of 2 keys not linearizable: b: "),
            "{}",
            result.message
        );
        let only_a = LinearizableConfig {
            key: Some("a".into()),
            ..config()
        }
        .validate()
        .unwrap();
        assert_eq!(only_a.check(&h).verdict, Verdict::Pass);
        assert_eq!(only_a.name(), "linearizable(put/get/cas a)");
    }

    #[test]
    fn the_search_bound_gives_unknown() {
        // Ten concurrent writes and a read: many orders to try.
        let mut records: Vec<Record> = (0..10).map(|i| put(i, json!(i), 0, 100)).collect();
        records.push(get(10, json!(3), 50, 60));
        let h = history(records);
        assert_eq!(invariant().check(&h).verdict, Verdict::Pass);
        let tight = LinearizableConfig {
            max_states: Some(3),
            ..config()
        }
        .validate()
        .unwrap();
        let result = tight.check(&h);
        assert_eq!(result.verdict, Verdict::Unknown, "{}", result.message);
        assert!(
            result.message.contains("bound of 3 states"),
            "{}",
            result.message
        );
    }

    #[test]
    fn nothing_to_judge_is_unknown_and_bad_configs_name_the_field() {
        assert_eq!(
            invariant().check(&history(vec![])).verdict,
            Verdict::Unknown
        );
        let err = LinearizableConfig {
            write: "get".into(),
            ..config()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("write"), "{err}");
        let err = LinearizableConfig {
            max_states: Some(0),
            ..config()
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.to_string(), "linearizable: max_states must be > 0");
        let err = LinearizableConfig {
            cas: Some(" ".into()),
            ..config()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("cas"), "{err}");
    }

    /// Brute force: some order of all definite operations (plus any subset of
    /// the unknown ones) respecting real time and the register's rules.
    fn brute_force(ops: &[(u8, i64, u64, u64, bool)]) -> bool {
        // (kind 0 read / 1 write, value (-1 = null), start, end, definite)
        fn go(ops: &[(u8, i64, u64, u64, bool)], used: &mut Vec<bool>, state: i64) -> bool {
            if ops.iter().zip(used.iter()).all(|(o, &u)| u || !o.4) {
                return true;
            }
            for i in 0..ops.len() {
                if used[i] {
                    continue;
                }
                // i may go next only if no unused definite op ended before i began.
                let blocked = ops
                    .iter()
                    .zip(used.iter())
                    .any(|(o, &u)| !u && o.4 && o.3 < ops[i].2);
                if blocked {
                    continue;
                }
                let (kind, value, ..) = ops[i];
                let next = match kind {
                    0 if value == state => state,
                    0 => continue,
                    _ => value,
                };
                used[i] = true;
                if go(ops, used, next) {
                    return true;
                }
                used[i] = false;
            }
            false
        }
        go(ops, &mut vec![false; ops.len()], -1)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 400, ..Default::default() })]

        #[test]
        fn the_search_agrees_with_brute_force_on_small_histories(
            ops in proptest::collection::vec((0..2u8, -1..3i64, 0..30u64, 0..15u64, 0..5u8), 1..7)
        ) {
            let ops: Vec<(u8, i64, u64, u64, bool)> = ops.into_iter()
                .filter(|o| !(o.0 == 0 && o.4 == 0))
                .map(|(kind, value, start, len, outcome)| {
                    let value = if kind == 1 && value < 0 { 0 } else { value };
                    (kind, value, start, start + len, outcome != 0)
                })
                .collect();
            let records: Vec<Record> = ops.iter().enumerate().map(|(i, &(kind, value, start, end, definite))| {
                let value = if value < 0 { Value::Null } else { json!(value) };
                let outcome = if definite { Outcome::Ok } else { Outcome::Unknown };
                rec(i as u64, if kind == 0 { "get" } else { "put" }, "r", value, outcome, start, end)
            }).collect();
            let result = invariant().check(&history(records));
            if ops.is_empty() {
                proptest::prop_assert_eq!(result.verdict, Verdict::Unknown);
            } else {
                let want = if brute_force(&ops) { Verdict::Pass } else { Verdict::Fail };
                proptest::prop_assert_eq!(result.verdict, want, "{:?}: {}", ops, result.message);
            }
        }
    }
}
