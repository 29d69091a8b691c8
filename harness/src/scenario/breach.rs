//! Whether a stop condition ([`StopCondition`], declared in `stop.rs`) holds:
//! a pure function of the operations recorded in its trailing window, so it
//! is tested on synthetic histories; the runner asks it every check tick.

use std::time::Duration;

use super::stop::{StopCondition, StopMetric};
use crate::check::FINAL_READ_OP;
use crate::history::{OpRecord, Outcome};

impl StopCondition {
    /// Where its trailing window starts at `now_ns` (ns since the drill
    /// began); `None` until one whole window has passed.
    pub fn window_start(&self, now_ns: u64) -> Option<u64> {
        now_ns.checked_sub(self.window.as_nanos() as u64)
    }

    /// The reason to stop, if the condition holds over `ops` (the
    /// operations that ended inside its window); final reads, other regions
    /// and other workloads do not count, and no operation is no breach.
    pub fn breached(&self, ops: &[OpRecord]) -> Option<String> {
        let ops: Vec<&OpRecord> = ops
            .iter()
            .filter(|op| op.op != FINAL_READ_OP)
            .filter(|op| self.region.as_ref().is_none_or(|r| *r == op.region))
            .filter(|op| self.workload.as_ref().is_none_or(|w| *w == op.op))
            .collect();
        if ops.is_empty() {
            return None;
        }
        let scope = match (&self.region, &self.workload) {
            (Some(r), Some(w)) => format!(" ({w} in {r})"),
            (Some(r), None) => format!(" (in {r})"),
            (None, Some(w)) => format!(" ({w})"),
            (None, None) => String::new(),
        };
        match self.metric {
            StopMetric::SuccessRateBelow(min) => {
                let ok = ops.iter().filter(|op| op.outcome == Outcome::Ok).count();
                let rate = ok as f64 / ops.len() as f64;
                (rate < min).then(|| {
                    format!(
                        "success rate {rate:.3} below {min} over the last {:?}{scope}",
                        self.window
                    )
                })
            }
            StopMetric::P99Above(max) => {
                let mut latencies: Vec<u64> = ops
                    .iter()
                    .map(|op| op.end_ns.saturating_sub(op.start_ns))
                    .collect();
                latencies.sort_unstable();
                let p99 = latencies[((latencies.len() as f64 * 0.99).ceil() as usize)
                    .saturating_sub(1)
                    .min(latencies.len() - 1)];
                (Duration::from_nanos(p99) > max).then(|| {
                    format!(
                        "p99 latency {:?} above {max:?} over the last {:?}{scope}",
                        Duration::from_nanos(p99),
                        self.window
                    )
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(op: &str, region: &str, outcome: Outcome, latency_ms: u64) -> OpRecord {
        OpRecord {
            id: 0,
            client: "c".into(),
            region: region.into(),
            op: op.into(),
            key: None,
            value: serde_json::Value::Null,
            start_ns: 1_000_000_000,
            end_ns: 1_000_000_000 + latency_ms * 1_000_000,
            outcome,
            detail: None,
        }
    }

    fn condition(metric: StopMetric) -> StopCondition {
        StopCondition {
            metric,
            window: Duration::from_secs(5),
            region: None,
            workload: None,
        }
    }

    #[test]
    fn the_window_starts_once_a_whole_window_has_passed() {
        let c = condition(StopMetric::SuccessRateBelow(0.5));
        assert_eq!(c.window_start(4_999_999_999), None);
        assert_eq!(c.window_start(7_000_000_000), Some(2_000_000_000));
    }

    #[test]
    fn a_success_rate_below_the_minimum_stops_and_says_why() {
        let c = condition(StopMetric::SuccessRateBelow(0.5));
        let ops = [
            op("order", "eu", Outcome::Ok, 1),
            op("order", "eu", Outcome::Fail, 1),
            op("order", "eu", Outcome::Fail, 1),
        ];
        assert_eq!(
            c.breached(&ops).as_deref(),
            Some("success rate 0.333 below 0.5 over the last 5s")
        );
        assert_eq!(c.breached(&ops[..2]), None, "0.5 is not below 0.5");
        assert_eq!(c.breached(&[]), None);
    }

    #[test]
    fn final_reads_other_regions_and_other_workloads_do_not_count() {
        let mut c = condition(StopMetric::SuccessRateBelow(0.5));
        c.region = Some("eu".into());
        c.workload = Some("order".into());
        let ops = [
            op("order", "eu", Outcome::Ok, 1),
            op(FINAL_READ_OP, "eu", Outcome::Fail, 1),
            op("order", "us", Outcome::Fail, 1),
            op("browse", "eu", Outcome::Fail, 1),
        ];
        assert_eq!(c.breached(&ops), None);
        let failing = [op("order", "eu", Outcome::Fail, 1)];
        assert_eq!(
            c.breached(&failing).as_deref(),
            Some("success rate 0.000 below 0.5 over the last 5s (order in eu)")
        );
    }

    #[test]
    fn a_p99_above_the_maximum_stops() {
        let c = condition(StopMetric::P99Above(Duration::from_millis(100)));
        let mut ops: Vec<OpRecord> = (0..99).map(|_| op("o", "eu", Outcome::Ok, 10)).collect();
        ops.push(op("o", "eu", Outcome::Ok, 500));
        assert_eq!(c.breached(&ops), None, "the slowest 1% is not the p99");
        ops.push(op("o", "eu", Outcome::Ok, 500));
        assert_eq!(
            c.breached(&ops).as_deref(),
            Some("p99 latency 500ms above 100ms over the last 5s")
        );
    }
}
