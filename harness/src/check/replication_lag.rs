//! `replication_lag`: replication markers arrive within a bound, outside faults.
//!
//! A replication probe writes a unique marker in one region and polls another
//! until it shows; each marker is a `lag` record. Per source → target pair the
//! lag distribution is reported (p50/p90/p99/max).
//!
//! Only markers the faults could not have delayed are judged: a marker is
//! excused when a fault window, extended by `grace_after_heal` after its end,
//! meets the span from the marker's write to the write plus `max` (the time in
//! which it should have arrived). A judged marker whose lag exceeds `max` fails
//! the check; so does one never seen, unless the history ended less than `max`
//! after its write (too late to tell). Markers never seen are listed in the
//! evidence either way.
//!
//! No markers at all, or none outside the fault windows, is `unknown`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::percentiles::{ms, Percentiles};
use super::window::{fault_windows, traffic_end_ns, FaultWindow};
use super::{lag_evidence, require_name, CheckResult, InvariantError};
use crate::base::duration::{self, format as format_duration};
use crate::history::{History, LagRecord};

const NAME: &str = "replication_lag";

/// `{"replication_lag": {"max": "2s", "grace_after_heal": "30s", "pairs": [{"from": "us-east", "to": "eu-west"}]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationLagConfig {
    /// The most a marker may take to arrive, outside fault windows.
    #[serde(with = "duration::text")]
    pub max: Duration,
    /// How long after a fault heals markers are still excused (default `"0s"`).
    #[serde(with = "duration::text", default)]
    pub grace_after_heal: Duration,
    /// Source → target pairs to judge (default: every pair the history has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairs: Option<Vec<RegionPair>>,
}

/// A source → target region pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPair {
    /// Region the marker is written to.
    pub from: String,
    /// Region polled for it.
    pub to: String,
}

impl ReplicationLagConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// `max` of zero; an empty `pairs` list; a pair with an empty or repeated region.
    pub fn validate(&self) -> Result<ReplicationLag, InvariantError> {
        if self.max.is_zero() {
            return Err(InvariantError::invalid(NAME, "max", "> 0"));
        }
        if let Some(pairs) = &self.pairs {
            if pairs.is_empty() {
                return Err(InvariantError::invalid(
                    NAME,
                    "pairs",
                    "non-empty (leave it out to judge every pair)",
                ));
            }
            for (index, pair) in pairs.iter().enumerate() {
                require_name(NAME, &format!("pairs[{index}].from"), &pair.from)?;
                require_name(NAME, &format!("pairs[{index}].to"), &pair.to)?;
                if pair.from == pair.to {
                    return Err(InvariantError::invalid(
                        NAME,
                        format!("pairs[{index}]"),
                        "two different regions",
                    ));
                }
            }
        }
        Ok(ReplicationLag {
            max: self.max,
            grace: self.grace_after_heal,
            pairs: self.pairs.clone(),
        })
    }
}

/// The validated invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationLag {
    max: Duration,
    grace: Duration,
    pairs: Option<Vec<RegionPair>>,
}

/// What one pair's markers showed.
#[derive(Default)]
struct PairStats {
    markers: u64,
    never_seen: u64,
    judged: u64,
    violations: u64,
    lags: Vec<u64>,
    judged_lags: Vec<u64>,
}

impl ReplicationLag {
    /// `replication_lag(max 2s)`.
    pub fn name(&self) -> String {
        format!("{NAME}(max {})", format_duration(self.max))
    }

    fn wanted(&self, lag: &LagRecord) -> bool {
        self.pairs
            .as_ref()
            .is_none_or(|pairs| pairs.iter().any(|p| p.from == lag.from && p.to == lag.to))
    }

    /// Judges the history.
    pub fn check(&self, history: &History) -> CheckResult {
        let mut markers: Vec<&LagRecord> = history.lags().filter(|l| self.wanted(l)).collect();
        if markers.is_empty() {
            return CheckResult::unknown(
                self.name(),
                "no replication markers in the history: nothing to judge",
            );
        }
        markers.sort_by(|a, b| (a.written_ns, &a.marker).cmp(&(b.written_ns, &b.marker)));
        let windows = fault_windows(history);
        // Markers still being polled when traffic stopped were cut off, not lost.
        let end_ns = traffic_end_ns(history);
        let max_ns = duration_ns(self.max);
        let grace_ns = duration_ns(self.grace);
        let excuses = Excuses::new(&windows, grace_ns);

        let mut pairs: BTreeMap<String, PairStats> = BTreeMap::new();
        let mut violations: Vec<(u64, Value)> = Vec::new();
        let mut listed_unseen = Vec::new();
        let (mut judged, mut excused, mut too_late) = (0u64, 0u64, 0u64);
        let mut worst: Option<(u64, &LagRecord)> = None;
        for &marker in &markers {
            let stats = pairs
                .entry(format!("{}->{}", marker.from, marker.to))
                .or_default();
            stats.markers += 1;
            let deadline = marker.written_ns.saturating_add(max_ns);
            let is_excused = excuses.overlap(marker.written_ns, deadline);
            debug_assert_eq!(
                is_excused,
                windows
                    .iter()
                    .any(|w| w.overlaps(marker.written_ns, deadline, grace_ns))
            );
            match marker.seen_ns {
                Some(seen) => {
                    let lag = seen.saturating_sub(marker.written_ns);
                    stats.lags.push(lag);
                    if is_excused {
                        excused += 1;
                        continue;
                    }
                    judged += 1;
                    stats.judged += 1;
                    stats.judged_lags.push(lag);
                    if worst.is_none_or(|(w, _)| lag > w) {
                        worst = Some((lag, marker));
                    }
                    if lag > max_ns {
                        stats.violations += 1;
                        let note = format!(
                            "lag {} > max {} outside fault windows",
                            show_ms(lag),
                            show_ms(max_ns)
                        );
                        violations.push((lag, lag_evidence(marker, note)));
                    }
                }
                None => {
                    stats.never_seen += 1;
                    if is_excused {
                        excused += 1;
                        listed_unseen
                            .push(lag_evidence(marker, "never seen (inside a fault window)"));
                    } else if deadline > end_ns {
                        too_late += 1;
                        listed_unseen.push(lag_evidence(
                            marker,
                            "never seen, but written less than max before traffic stopped",
                        ));
                    } else {
                        judged += 1;
                        stats.judged += 1;
                        stats.violations += 1;
                        violations.push((
                            u64::MAX,
                            lag_evidence(marker, "never seen, written outside fault windows"),
                        ));
                    }
                }
            }
        }
        // Worst first: never-seen markers, then the longest lags.
        violations.sort_by_key(|(lag, _)| std::cmp::Reverse(*lag));

        let never_seen: u64 = pairs.values().map(|p| p.never_seen).sum();
        let figures = json!({
            "max_ms": ms(max_ns),
            "grace_after_heal_ms": ms(grace_ns),
            "markers": markers.len(),
            "judged": judged,
            "excused": excused,
            "too_late_to_judge": too_late,
            "never_seen": never_seen,
            "violations": violations.len(),
            "pairs": pairs.iter().map(|(pair, s)| (pair.clone(), json!({
                "markers": s.markers,
                "never_seen": s.never_seen,
                "judged": s.judged,
                "violations": s.violations,
                "lag": Percentiles::of(s.lags.iter().copied()).map(|p| p.to_figures()),
                "judged_lag": Percentiles::of(s.judged_lags.iter().copied()).map(|p| p.to_figures()),
            }))).collect::<serde_json::Map<_, _>>(),
        });
        let unseen_note = if never_seen > 0 {
            format!("; {never_seen} never seen")
        } else {
            String::new()
        };

        if !violations.is_empty() {
            let unseen_judged = violations
                .iter()
                .filter(|(lag, _)| *lag == u64::MAX)
                .count();
            let slow = violations.len() - unseen_judged;
            let mut parts = Vec::new();
            if slow > 0 {
                let (lag, marker) = worst.expect("a slow marker was judged");
                parts.push(format!(
                    "{slow} exceeded max {} (worst {} {}->{}, marker {})",
                    format_duration(self.max),
                    show_ms(lag),
                    marker.from,
                    marker.to,
                    marker.marker
                ));
            }
            if unseen_judged > 0 {
                parts.push(format!("{unseen_judged} never seen"));
            }
            return CheckResult::fail(
                self.name(),
                format!(
                    "{} of {judged} markers outside fault windows failed: {}",
                    violations.len(),
                    parts.join(", ")
                ),
            )
            .with_figures(figures)
            .with_evidence(violations.into_iter().map(|(_, e)| e).chain(listed_unseen));
        }
        if judged == 0 {
            return CheckResult::unknown(
                self.name(),
                format!(
                    "none of {} markers was written outside fault windows (+{} grace): nothing to judge{unseen_note}",
                    markers.len(),
                    format_duration(self.grace)
                ),
            )
            .with_figures(figures)
            .with_evidence(listed_unseen);
        }
        let worst = worst.map_or_else(String::new, |(lag, m)| {
            format!(", worst {} {}->{}", show_ms(lag), m.from, m.to)
        });
        CheckResult::pass(
            self.name(),
            format!(
                "{judged} markers outside fault windows arrived within {}{worst}; {excused} excused{unseen_note}",
                format_duration(self.max)
            ),
        )
        .with_figures(figures)
        .with_evidence(listed_unseen)
    }
}

fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn show_ms(ns: u64) -> String {
    format!("{}ms", ms(ns))
}

/// Fault windows sorted by start, with the latest end (plus grace) of every
/// prefix: "does `[from, to]` meet any window" is a binary search, so markers
/// cost O(log w) each instead of a scan of every window.
struct Excuses {
    starts: Vec<u64>,
    max_end: Vec<u64>,
}

impl Excuses {
    fn new(windows: &[FaultWindow], grace_ns: u64) -> Self {
        let mut spans: Vec<(u64, u64)> = windows
            .iter()
            .map(|w| (w.start_ns, w.end_ns.saturating_add(grace_ns)))
            .collect();
        spans.sort_unstable();
        let mut max_end = Vec::with_capacity(spans.len());
        let mut latest = 0;
        for &(_, end) in &spans {
            latest = latest.max(end);
            max_end.push(latest);
        }
        Self {
            starts: spans.iter().map(|&(start, _)| start).collect(),
            max_end,
        }
    }

    /// Whether `[from_ns, to_ns]` meets a window (as [`FaultWindow::overlaps`]).
    fn overlap(&self, from_ns: u64, to_ns: u64) -> bool {
        // Windows starting at or before `to_ns` are a prefix; one of them
        // meets the span when it ends after `from_ns`.
        let n = self.starts.partition_point(|&start| start <= to_ns);
        n > 0 && self.max_end[n - 1] > from_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::synthetic::{fault, history, lag, ms, op};
    use crate::check::Verdict;
    use crate::history::{FaultAction, Outcome, Record};

    fn invariant(max_ms: u64, grace_ms: u64) -> ReplicationLag {
        ReplicationLagConfig {
            max: Duration::from_millis(max_ms),
            grace_after_heal: Duration::from_millis(grace_ms),
            pairs: None,
        }
        .validate()
        .unwrap()
    }

    /// A partition from 10s to 20s, and a last record at 60s.
    fn partition(mut records: Vec<Record>) -> History {
        records.insert(
            0,
            fault(0, FaultAction::Start, &["us-east", "eu-west"], ms(10_000)),
        );
        records.push(fault(
            0,
            FaultAction::End,
            &["us-east", "eu-west"],
            ms(20_000),
        ));
        records.push(lag(
            "tail",
            "us-east",
            "eu-west",
            ms(59_000),
            Some(ms(60_000) - 1),
        ));
        let mut h = history(records);
        h.records.sort_by_key(|r| match r {
            Record::Fault(f) => f.actual_ns,
            Record::Lag(l) => l.written_ns,
            _ => 0,
        });
        h
    }

    #[test]
    fn markers_within_the_bound_pass_with_percentiles() {
        let records = (0..100)
            .map(|i| {
                lag(
                    &format!("m{i}"),
                    "us-east",
                    "eu-west",
                    ms(i * 100),
                    Some(ms(i * 100 + 80)),
                )
            })
            .collect();
        let result = invariant(1_000, 0).check(&history(records));
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
        let pair = &result.figures["pairs"]["us-east->eu-west"];
        assert_eq!(pair["lag"]["p50_ms"], 80.0);
        assert_eq!(pair["lag"]["max_ms"], 80.0);
    }

    #[test]
    fn a_slow_marker_outside_any_fault_fails() {
        let result = invariant(1_000, 0).check(&partition(vec![
            lag("ok", "us-east", "eu-west", ms(1_000), Some(ms(1_100))),
            lag("slow", "us-east", "eu-west", ms(30_000), Some(ms(33_000))),
        ]));
        assert_eq!(result.verdict, Verdict::Fail);
        assert!(result.message.contains("marker slow"), "{}", result.message);
        assert_eq!(result.evidence[0]["marker"], "slow");
    }

    #[test]
    fn a_marker_never_seen_outside_any_fault_fails_and_is_listed() {
        let result = invariant(1_000, 0).check(&partition(vec![lag(
            "lost",
            "eu-west",
            "us-east",
            ms(30_000),
            None,
        )]));
        assert_eq!(result.verdict, Verdict::Fail);
        assert!(
            result.message.contains("1 never seen"),
            "{}",
            result.message
        );
        assert_eq!(result.evidence[0]["marker"], "lost");
    }

    #[test]
    fn markers_in_a_partition_window_plus_grace_are_reported_not_judged() {
        let result = invariant(1_000, 5_000).check(&partition(vec![
            // Written during the partition, seen after the heal.
            lag("during", "us-east", "eu-west", ms(12_000), Some(ms(21_000))),
            // Written just before the partition began: it could not have arrived.
            lag(
                "just-before",
                "us-east",
                "eu-west",
                ms(9_500),
                Some(ms(20_500)),
            ),
            // Written within the grace after the heal, still catching up.
            lag("grace", "us-east", "eu-west", ms(23_000), Some(ms(26_000))),
            // Never seen, but written during the partition.
            lag("dropped", "us-east", "eu-west", ms(15_000), None),
        ]));
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
        assert_eq!(result.figures["excused"], 4);
        assert_eq!(result.figures["never_seen"], 1);
        assert_eq!(
            result.evidence[0]["marker"], "dropped",
            "never-seen markers are listed"
        );
        let pair = &result.figures["pairs"]["us-east->eu-west"];
        assert_eq!(
            pair["lag"]["max_ms"], 11_000.0,
            "the excused lag is reported"
        );
    }

    #[test]
    fn a_slow_marker_after_the_grace_fails() {
        let result = invariant(1_000, 5_000).check(&partition(vec![lag(
            "late",
            "us-east",
            "eu-west",
            ms(26_000),
            Some(ms(29_000)),
        )]));
        assert_eq!(result.verdict, Verdict::Fail);
    }

    #[test]
    fn a_marker_written_just_before_the_end_and_never_seen_is_not_a_failure() {
        let result = invariant(1_000, 0).check(&history(vec![
            lag("a", "us-east", "eu-west", ms(1_000), Some(ms(1_050))),
            lag("b", "us-east", "eu-west", ms(1_500), None),
        ]));
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
        assert_eq!(result.figures["too_late_to_judge"], 1);
    }

    #[test]
    fn a_marker_cut_off_when_traffic_stopped_is_not_a_failure_even_if_the_history_runs_on() {
        // Traffic stops at 1.5 s; a slow request and the final reads end at 5 s.
        let result = invariant(1_000, 0).check(&history(vec![
            lag("a", "us-east", "eu-west", ms(1_000), Some(ms(1_050))),
            lag("b", "us-east", "eu-west", ms(1_500), None),
            op(1, "us-east", "put", Outcome::Ok, ms(1_400), ms(5_000)),
        ]));
        assert_eq!(result.verdict, Verdict::Pass, "{}", result.message);
        assert_eq!(result.figures["too_late_to_judge"], 1);
        // Written long before traffic stopped and never seen: a failure.
        let result = invariant(1_000, 0).check(&history(vec![
            lag("b", "us-east", "eu-west", ms(1_500), None),
            op(1, "us-east", "put", Outcome::Ok, ms(4_000), ms(5_000)),
        ]));
        assert_eq!(result.verdict, Verdict::Fail, "{}", result.message);
    }

    #[test]
    fn no_markers_is_unknown() {
        let result = invariant(1_000, 0).check(&history(vec![]));
        assert_eq!(result.verdict, Verdict::Unknown);
    }

    #[test]
    fn markers_only_inside_fault_windows_are_unknown() {
        let h = history(vec![
            fault(0, FaultAction::Start, &["us-east"], 0),
            lag("a", "us-east", "eu-west", ms(1_000), Some(ms(9_000))),
            fault(0, FaultAction::End, &["us-east"], ms(10_000)),
        ]);
        assert_eq!(invariant(1_000, 0).check(&h).verdict, Verdict::Unknown);
    }

    #[test]
    fn only_the_chosen_pairs_are_judged() {
        let h = history(vec![
            lag("a", "us-east", "eu-west", 0, Some(ms(100))),
            lag("b", "eu-west", "us-east", 0, Some(ms(5_000))),
        ]);
        let only_east_to_west = ReplicationLagConfig {
            max: Duration::from_secs(1),
            grace_after_heal: Duration::ZERO,
            pairs: Some(vec![RegionPair {
                from: "us-east".into(),
                to: "eu-west".into(),
            }]),
        }
        .validate()
        .unwrap();
        assert_eq!(only_east_to_west.check(&h).verdict, Verdict::Pass);
        assert_eq!(invariant(1_000, 0).check(&h).verdict, Verdict::Fail);
    }

    #[test]
    fn a_pair_of_one_region_is_refused() {
        let err = ReplicationLagConfig {
            max: Duration::from_secs(1),
            grace_after_heal: Duration::ZERO,
            pairs: Some(vec![RegionPair {
                from: "a".into(),
                to: "a".into(),
            }]),
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "replication_lag: pairs[0] must be two different regions"
        );
    }
}
