//! `no_oversell`: acknowledged sales of one key never exceed its stock.
//!
//! Every `ok` operation named `op` on `key` sold `value` units (a non-negative
//! integer; `1` when the value is missing or not one). Operations whose outcome
//! is `unknown` may or may not have sold: they are counted apart.
//!
//! - acknowledged > stock: **fail**, definitely oversold;
//! - acknowledged ≤ stock < acknowledged + unknown: **unknown**, possibly oversold;
//! - otherwise **pass**.
//!
//! The evidence of a failure is the acknowledged operations, in the order they
//! were acknowledged, from the one that crossed the stock line on.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{op_evidence, require_name, CheckResult, InvariantError};
use crate::history::{History, OpRecord, Outcome};

const NAME: &str = "no_oversell";

/// `{"no_oversell": {"op": "order", "key": "WIDGET-001", "stock": 600}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOversellConfig {
    /// The operation that sells (a workload's `name`).
    pub op: String,
    /// The item sold (the operations' `key`).
    pub key: String,
    /// Units in stock at the start.
    pub stock: u64,
}

impl NoOversellConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// An empty `op` or `key`, or `stock` of 0.
    pub fn validate(&self) -> Result<NoOversell, InvariantError> {
        require_name(NAME, "op", &self.op)?;
        require_name(NAME, "key", &self.key)?;
        if self.stock == 0 {
            return Err(InvariantError::invalid(NAME, "stock", "> 0"));
        }
        Ok(NoOversell {
            op: self.op.clone(),
            key: self.key.clone(),
            stock: self.stock,
        })
    }
}

/// The validated invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoOversell {
    op: String,
    key: String,
    stock: u64,
}

/// Units an operation sells: its value if that is a non-negative integer, else 1.
fn units(value: &Value) -> u64 {
    match value {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as u64)
            })
            .unwrap_or(1),
        _ => 1,
    }
}

impl NoOversell {
    /// `no_oversell(op key)`.
    pub fn name(&self) -> String {
        format!("{NAME}({} {})", self.op, self.key)
    }

    /// Judges the history.
    pub fn check(&self, history: &History) -> CheckResult {
        let mut ops: Vec<&OpRecord> = history
            .ops()
            .filter(|o| o.op == self.op && o.key.as_deref() == Some(self.key.as_str()))
            .collect();
        if ops.is_empty() {
            return CheckResult::unknown(
                self.name(),
                format!(
                    "no `{}` operations on {} in the history: nothing to judge",
                    self.op, self.key
                ),
            );
        }
        // In the order the clients learnt of them: that is when each sale was promised.
        ops.sort_by_key(|o| (o.end_ns, o.id));

        let (mut acknowledged, mut unknown) = (0u64, 0u64);
        let (mut ok_ops, mut unknown_ops, mut failed_ops) = (0u64, 0u64, 0u64);
        let mut crossing = Vec::new();
        let mut unknowns = Vec::new();
        for op in &ops {
            let units = units(&op.value);
            match op.outcome {
                Outcome::Ok => {
                    ok_ops += 1;
                    acknowledged = acknowledged.saturating_add(units);
                    if acknowledged > self.stock {
                        crossing.push(op_evidence(
                            op,
                            format!("acknowledged {acknowledged} of {} in stock", self.stock),
                        ));
                    }
                }
                Outcome::Unknown => {
                    unknown_ops += 1;
                    unknown = unknown.saturating_add(units);
                    unknowns.push(op_evidence(op, format!("{units} units, outcome unknown")));
                }
                Outcome::Fail => failed_ops += 1,
            }
        }

        let stock = self.stock;
        let oversold = acknowledged.saturating_sub(stock);
        let possibly = acknowledged
            .saturating_add(unknown)
            .saturating_sub(stock.max(acknowledged));
        let figures = json!({
            "stock": stock,
            "acknowledged": acknowledged,
            "unknown": unknown,
            "oversold_by": oversold,
            "possibly_oversold_by": possibly,
            "ok_ops": ok_ops,
            "unknown_ops": unknown_ops,
            "failed_ops": failed_ops,
        });
        let counts = format!("{acknowledged} acknowledged, {unknown} unknown");
        if oversold > 0 {
            CheckResult::fail(
                self.name(),
                format!("definitely oversold by {oversold} of {stock}: {counts}"),
            )
            .with_figures(figures)
            .with_evidence(crossing)
        } else if possibly > 0 {
            CheckResult::unknown(
                self.name(),
                format!("possibly oversold by up to {possibly} of {stock}: {counts}"),
            )
            .with_figures(figures)
            .with_evidence(unknowns)
        } else {
            CheckResult::pass(
                self.name(),
                format!("not oversold ({stock} in stock): {counts}"),
            )
            .with_figures(figures)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::check::synthetic::{history, op_kv};
    use crate::check::Verdict;
    use crate::history::Record;

    fn invariant(stock: u64) -> NoOversell {
        NoOversellConfig {
            op: "order".into(),
            key: "WIDGET-001".into(),
            stock,
        }
        .validate()
        .unwrap()
    }

    fn order(id: u64, region: &str, qty: Value, outcome: Outcome) -> Record {
        op_kv(
            id,
            region,
            "order",
            Some("WIDGET-001"),
            qty,
            outcome,
            id * 10,
            id * 10 + 5,
        )
    }

    /// The chapter's incident: 500 sold in us-east and 400 in eu-west, of 600.
    fn split_brain(unknown: u64) -> Vec<Record> {
        let mut records = Vec::new();
        let mut id = 0;
        for (region, count) in [("us-east", 500), ("eu-west", 400)] {
            for _ in 0..count {
                id += 1;
                records.push(order(id, region, json!(1), Outcome::Ok));
            }
        }
        for _ in 0..unknown {
            id += 1;
            records.push(order(id, "eu-west", json!(1), Outcome::Unknown));
        }
        records
    }

    #[test]
    fn acknowledged_sales_beyond_stock_fail_with_the_crossing_ops() {
        let result = invariant(600).check(&history(split_brain(12)));
        assert_eq!(result.verdict, Verdict::Fail);
        assert_eq!(
            result.message,
            "definitely oversold by 300 of 600: 900 acknowledged, 12 unknown"
        );
        assert_eq!(result.figures["oversold_by"], 300);
        // 300 operations crossed the line: 20 are kept, the rest counted.
        assert_eq!(result.evidence.len() + result.evidence_omitted, 300);
        assert_eq!(
            result.evidence[0]["id"], 601,
            "the 601st sale is the first oversold one"
        );
        assert_eq!(result.evidence[0]["kind"], "op");
    }

    #[test]
    fn unknown_outcomes_that_might_cross_the_line_are_unknown() {
        let mut records: Vec<Record> = (1..=598)
            .map(|id| order(id, "us-east", json!(1), Outcome::Ok))
            .collect();
        records.extend((599..=603).map(|id| order(id, "eu-west", json!(1), Outcome::Unknown)));
        let result = invariant(600).check(&history(records));
        assert_eq!(result.verdict, Verdict::Unknown);
        assert_eq!(
            result.message,
            "possibly oversold by up to 3 of 600: 598 acknowledged, 5 unknown"
        );
        assert_eq!(result.evidence.len(), 5);
    }

    #[test]
    fn sales_within_stock_pass_and_failed_orders_do_not_count() {
        let mut records: Vec<Record> = (1..=60)
            .map(|id| order(id, "us-east", json!(10), Outcome::Ok))
            .collect();
        records.push(order(61, "eu-west", json!(10), Outcome::Fail));
        let result = invariant(600).check(&history(records));
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
        assert_eq!(result.figures["acknowledged"], 600);
        assert_eq!(result.figures["failed_ops"], 1);
    }

    #[test]
    fn quantities_are_summed_and_a_missing_value_sells_one() {
        let records = vec![
            order(1, "us-east", json!(3), Outcome::Ok),
            order(2, "us-east", Value::Null, Outcome::Ok),
        ];
        let result = invariant(3).check(&history(records));
        assert_eq!(result.verdict, Verdict::Fail);
        assert_eq!(result.figures["acknowledged"], 4);
    }

    #[test]
    fn other_keys_and_operations_are_not_counted() {
        let records = vec![
            order(1, "us-east", json!(1), Outcome::Ok),
            op_kv(
                2,
                "us-east",
                "order",
                Some("GADGET"),
                json!(5),
                Outcome::Ok,
                0,
                1,
            ),
            op_kv(
                3,
                "us-east",
                "refund",
                Some("WIDGET-001"),
                json!(5),
                Outcome::Ok,
                0,
                1,
            ),
        ];
        assert_eq!(invariant(1).check(&history(records)).verdict, Verdict::Pass);
    }

    #[test]
    fn a_history_without_the_operation_is_unknown() {
        let result = invariant(600).check(&history(vec![]));
        assert_eq!(result.verdict, Verdict::Unknown);
    }

    #[test]
    fn zero_stock_is_refused() {
        let err = NoOversellConfig {
            op: "order".into(),
            key: "k".into(),
            stock: 0,
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.to_string(), "no_oversell: stock must be > 0");
    }
}
