//! `blast_radius`: regions outside a fault's reach keep their SLO while it is active.
//!
//! The run is cut into phases (before the first fault, each fault window, after
//! the last heal; see [`super::sli`]) and each region's success rate and latency
//! percentiles are computed per phase. While a fault is active, every region it
//! does not reach (not among the window's `regions`) must meet the SLO; the
//! regions it reaches are reported, not judged, and so are the phases without
//! a fault. `unknown` outcomes count as not successful.
//!
//! A judged region with no operations during a window cannot be judged: that
//! cell is `unknown`, never a pass. A history without fault windows, or where
//! every region is within every fault's reach, is `unknown` as a whole.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::percentiles::ms;
use super::sli::{slis_by_phase, workload_ops, workload_regions, Phase, RegionSli};
use super::{op_evidence, require_name, require_rate, CheckResult, InvariantError};
use crate::base::duration::{self, format as format_duration};
use crate::history::{History, Outcome};

const NAME: &str = "blast_radius";

/// `{"blast_radius": {"slo": {"success_rate": 0.99, "p99": "500ms"}, "op": "order"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlastRadiusConfig {
    /// What a region outside a fault's reach must keep.
    pub slo: SloConfig,
    /// Only operations of this name count (default: every workload operation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
}

/// A service level objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// Least fraction of operations acknowledged, within 0..=1.
    pub success_rate: f64,
    /// Largest 99th percentile latency of acknowledged operations (default: not judged).
    #[serde(
        default,
        with = "duration::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub p99: Option<Duration>,
}

impl BlastRadiusConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// `slo.success_rate` outside 0..=1, `slo.p99` of zero, or an empty `op`.
    pub fn validate(&self) -> Result<BlastRadius, InvariantError> {
        require_rate(NAME, "slo.success_rate", self.slo.success_rate)?;
        if self.slo.p99.is_some_and(|p99| p99.is_zero()) {
            return Err(InvariantError::invalid(NAME, "slo.p99", "> 0"));
        }
        if let Some(op) = &self.op {
            require_name(NAME, "op", op)?;
        }
        Ok(BlastRadius {
            slo: self.slo.clone(),
            op: self.op.clone(),
        })
    }
}

/// The validated invariant.
#[derive(Debug, Clone, PartialEq)]
pub struct BlastRadius {
    slo: SloConfig,
    op: Option<String>,
}

/// How one region fared against the SLO in one window.
enum Cell {
    /// Within the fault's reach, or not during a fault.
    NotJudged,
    /// Judged, no operations.
    NoOps,
    /// Judged, met the SLO.
    Met,
    /// Judged, missed it; why.
    Missed(String),
}

impl BlastRadius {
    /// `blast_radius(success_rate 0.99, p99 500ms)`.
    pub fn name(&self) -> String {
        match self.slo.p99 {
            Some(p99) => format!(
                "{NAME}(success_rate {}, p99 {})",
                self.slo.success_rate,
                format_duration(p99)
            ),
            None => format!("{NAME}(success_rate {})", self.slo.success_rate),
        }
    }

    fn judge(&self, sli: &RegionSli) -> Cell {
        let Some(rate) = sli.success_rate() else {
            return Cell::NoOps;
        };
        let mut misses = Vec::new();
        if rate < self.slo.success_rate {
            misses.push(format!(
                "success {} < {}",
                percent(rate),
                percent(self.slo.success_rate)
            ));
        }
        if let (Some(bound), Some(latency)) = (self.slo.p99, sli.latency) {
            if latency.p99() > bound {
                misses.push(format!(
                    "p99 {}ms > {}",
                    ms(latency.p99_ns),
                    format_duration(bound)
                ));
            }
        }
        if misses.is_empty() {
            Cell::Met
        } else {
            Cell::Missed(misses.join(", "))
        }
    }

    /// Judges the history.
    pub fn check(&self, history: &History) -> CheckResult {
        let op = self.op.as_deref();
        let regions = workload_regions(history, op);
        let slis = slis_by_phase(history, op, &regions);

        let mut windows_figures = Map::new();
        let mut missed: Vec<(String, &Phase, String)> = Vec::new();
        let mut no_ops: Vec<(String, &Phase)> = Vec::new();
        let (mut judged, mut within_reach, mut fault_phases) = (0u64, 0u64, 0u64);
        for phase_slis in &slis {
            let phase = &phase_slis.phase;
            let window = phase.window();
            fault_phases += u64::from(window.is_some());
            let mut cells = Map::new();
            for (region, sli) in &phase_slis.regions {
                let cell = match window {
                    Some(w) if !w.reaches(region) => self.judge(sli),
                    Some(_) => {
                        within_reach += 1;
                        Cell::NotJudged
                    }
                    None => Cell::NotJudged,
                };
                let mut figures = sli.to_figures();
                let judged_here = !matches!(cell, Cell::NotJudged);
                figures["judged"] = json!(u8::from(judged_here));
                figures["met_slo"] = match &cell {
                    Cell::Met => json!(1),
                    Cell::Missed(_) => json!(0),
                    Cell::NotJudged | Cell::NoOps => Value::Null,
                };
                judged += u64::from(judged_here);
                match cell {
                    Cell::Missed(why) => missed.push((region.clone(), phase, why)),
                    Cell::NoOps => no_ops.push((region.clone(), phase)),
                    Cell::Met | Cell::NotJudged => {}
                }
                cells.insert(region.clone(), figures);
            }
            let mut key = phase.label();
            let mut n = 2;
            while windows_figures.contains_key(&key) {
                key = format!("{} ({n})", phase.label());
                n += 1;
            }
            windows_figures.insert(
                key,
                json!({
                    "start_ms": ms(phase.start_ns),
                    "end_ms": ms(phase.end_ns),
                    "regions": cells,
                }),
            );
        }
        let figures = json!({
            "slo_success_rate": self.slo.success_rate,
            "slo_p99_ms": self.slo.p99.map(|d| ms(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))),
            "fault_windows": fault_phases,
            "judged": judged,
            "missed": missed.len(),
            "no_ops": no_ops.len(),
            "within_reach": within_reach,
            "windows": windows_figures,
        });

        if !missed.is_empty() {
            let listed: Vec<String> = missed
                .iter()
                .take(3)
                .map(|(region, phase, why)| format!("{region} during {} ({why})", phase.label()))
                .collect();
            let more = missed.len().saturating_sub(listed.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            let evidence = missed
                .iter()
                .flat_map(|(region, phase, _)| self.offending_ops(history, region, phase))
                .collect::<Vec<_>>();
            return CheckResult::fail(
                self.name(),
                format!(
                    "{} outside a fault's reach missed the SLO: {}{more}",
                    plural(missed.len(), "region-window", "region-windows"),
                    listed.join("; ")
                ),
            )
            .with_figures(figures)
            .with_evidence(evidence);
        }
        if fault_phases == 0 {
            return CheckResult::unknown(
                self.name(),
                "no fault windows in the history: nothing to judge",
            )
            .with_figures(figures);
        }
        if !no_ops.is_empty() {
            let listed: Vec<String> = no_ops
                .iter()
                .take(3)
                .map(|(region, phase)| format!("{region} during {}", phase.label()))
                .collect();
            return CheckResult::unknown(
                self.name(),
                format!(
                    "no operations to judge for {}: {}",
                    plural(no_ops.len(), "region-window", "region-windows"),
                    listed.join("; ")
                ),
            )
            .with_figures(figures);
        }
        if judged == 0 {
            return CheckResult::unknown(
                self.name(),
                "every region was within every fault's reach: nothing to judge",
            )
            .with_figures(figures);
        }
        CheckResult::pass(
            self.name(),
            format!(
                "{} outside a fault's reach met the SLO; {within_reach} within reach reported, not judged",
                plural(judged as usize, "region-window", "region-windows")
            ),
        )
        .with_figures(figures)
    }

    /// The operations that made a region miss its SLO in a phase: the
    /// unsuccessful ones, then the acknowledged ones slower than the p99 bound.
    fn offending_ops(&self, history: &History, region: &str, phase: &Phase) -> Vec<Value> {
        let ops: Vec<_> = workload_ops(history, self.op.as_deref())
            .filter(|o| o.region == region && phase.contains(o.start_ns))
            .collect();
        let label = phase.label();
        let unsuccessful = ops.iter().filter(|o| o.outcome != Outcome::Ok).map(|o| {
            let outcome = if o.outcome == Outcome::Fail {
                "failed"
            } else {
                "outcome unknown"
            };
            op_evidence(
                o,
                format!("{region} outside the reach of {label}: {outcome}"),
            )
        });
        let bound_ns = self
            .slo
            .p99
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let slow = ops
            .iter()
            .filter(|o| {
                o.outcome == Outcome::Ok
                    && bound_ns.is_some_and(|b| o.end_ns.saturating_sub(o.start_ns) > b)
            })
            .map(|o| {
                op_evidence(
                    o,
                    format!(
                        "{region} outside the reach of {label}: took {}ms",
                        ms(o.end_ns.saturating_sub(o.start_ns))
                    ),
                )
            });
        unsuccessful.chain(slow).collect()
    }
}

fn percent(rate: f64) -> String {
    format!("{:.2}%", rate * 100.0)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::synthetic::{fault, history, ms as millis, op};
    use crate::check::Verdict;
    use crate::history::{FaultAction, Record};

    fn invariant(success_rate: f64, p99_ms: Option<u64>) -> BlastRadius {
        BlastRadiusConfig {
            slo: SloConfig {
                success_rate,
                p99: p99_ms.map(Duration::from_millis),
            },
            op: None,
        }
        .validate()
        .unwrap()
    }

    /// Ten operations per region in each second of `seconds`, each taking
    /// `latency_ms`, with `outcome` decided per region and second.
    fn traffic(
        regions: &[&str],
        seconds: std::ops::Range<u64>,
        outcome: impl Fn(&str, u64) -> Outcome,
        latency_ms: u64,
    ) -> Vec<Record> {
        let mut records = Vec::new();
        let mut id = 0;
        for second in seconds {
            for region in regions {
                for i in 0..10 {
                    id += 1;
                    let start = millis(second * 1_000 + i * 100);
                    records.push(op(
                        id + second * 1_000,
                        region,
                        "get",
                        outcome(region, second),
                        start,
                        start + millis(latency_ms),
                    ));
                }
            }
        }
        records
    }

    /// eu-west is isolated from 10s to 20s; the fault reaches eu-west and us-east
    /// (the links cut run between them), not ap-northeast.
    fn isolation(traffic: Vec<Record>) -> History {
        let mut records = vec![fault(
            0,
            FaultAction::Start,
            &["eu-west", "us-east"],
            millis(10_000),
        )];
        records.extend(traffic);
        records.push(fault(
            0,
            FaultAction::End,
            &["eu-west", "us-east"],
            millis(20_000),
        ));
        let mut h = history(records);
        h.records.sort_by_key(|r| match r {
            Record::Op(o) => o.start_ns,
            Record::Fault(f) => f.actual_ns,
            _ => 0,
        });
        h
    }

    const REGIONS: [&str; 3] = ["us-east", "eu-west", "ap-northeast"];

    #[test]
    fn the_faulted_region_is_excluded_from_its_own_judgment() {
        // eu-west fails completely while isolated; ap-northeast is untouched.
        let h = isolation(traffic(
            &REGIONS,
            0..30,
            |region, s| {
                if region == "eu-west" && (10..20).contains(&s) {
                    Outcome::Fail
                } else {
                    Outcome::Ok
                }
            },
            20,
        ));
        let result = invariant(0.99, Some(500)).check(&h);
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
        let during = &result.figures["windows"]["step 0 partition [us-east] | [eu-west]"];
        assert_eq!(during["regions"]["eu-west"]["success_rate"], 0.0);
        assert_eq!(during["regions"]["eu-west"]["judged"], 0);
        assert_eq!(during["regions"]["ap-northeast"]["judged"], 1);
        assert_eq!(result.figures["within_reach"], 2);
    }

    #[test]
    fn a_region_outside_the_reach_failing_during_the_fault_fails_the_check() {
        // A global singleton in eu-west: ap-northeast loses a third of its requests.
        let h = isolation(traffic(
            &REGIONS,
            0..30,
            |region, s| match (region, (10..20).contains(&s)) {
                ("ap-northeast", true) if s % 3 == 0 => Outcome::Unknown,
                ("eu-west", true) => Outcome::Fail,
                _ => Outcome::Ok,
            },
            20,
        ));
        let result = invariant(0.99, None).check(&h);
        assert_eq!(result.verdict, Verdict::Fail);
        assert!(
            result.message.starts_with("1 region-window outside"),
            "{}",
            result.message
        );
        assert!(
            result.message.contains("ap-northeast during step 0"),
            "{}",
            result.message
        );
        assert!(
            result.message.contains("success 70.00% < 99.00%"),
            "{}",
            result.message
        );
        assert!(result
            .evidence
            .iter()
            .all(|e| e["region"] == "ap-northeast"));
        assert_eq!(
            result.evidence[0]["outcome"], "unknown",
            "unknown counts as unsuccessful"
        );
    }

    #[test]
    fn a_slow_region_outside_the_reach_fails_the_latency_objective() {
        let h = isolation(
            traffic(&["us-east", "ap-northeast"], 0..30, |_, _| Outcome::Ok, 900)
                .into_iter()
                .chain(traffic(&["eu-west"], 0..30, |_, _| Outcome::Ok, 20))
                .collect(),
        );
        let result = invariant(0.99, Some(500)).check(&h);
        assert_eq!(result.verdict, Verdict::Fail);
        assert!(
            result.message.contains("p99 900ms > 500ms"),
            "{}",
            result.message
        );
    }

    #[test]
    fn a_region_without_operations_during_the_fault_is_unknown_not_pass() {
        let h = isolation(traffic(&REGIONS, 0..30, |_, _| Outcome::Ok, 20));
        let mut h = h;
        h.records.retain(|r| match r {
            Record::Op(o) => !(o.region == "ap-northeast" && o.start_ns >= millis(10_000)),
            _ => true,
        });
        let result = invariant(0.99, None).check(&h);
        assert_eq!(result.verdict, Verdict::Unknown, "{}", result.message);
        assert!(
            result.message.contains("ap-northeast during step 0"),
            "{}",
            result.message
        );
    }

    #[test]
    fn a_history_without_faults_is_unknown() {
        let h = history(traffic(&REGIONS, 0..3, |_, _| Outcome::Ok, 20));
        assert_eq!(invariant(0.99, None).check(&h).verdict, Verdict::Unknown);
    }

    #[test]
    fn a_success_rate_above_one_is_refused() {
        let err = BlastRadiusConfig {
            slo: SloConfig {
                success_rate: 1.5,
                p99: None,
            },
            op: None,
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "blast_radius: slo.success_rate must be within 0..=1"
        );
    }
}
