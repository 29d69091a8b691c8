//! Latency and lag percentiles, computed by an HDR histogram.
//!
//! Values are recorded at microsecond resolution with three significant digits,
//! which is all the precision a percentile has, so percentiles are reported
//! rounded to three significant digits (the bottom of their HDR bucket, rounded):
//! ten 450 ms samples give a p50 of 450 ms, not 449.792 or 450.047. The maximum
//! is exact, and no percentile exceeds it.
//!
//! [`median`] is the exact median of a few figures (one per run), which the
//! benchmark and the fidelity report quote; percentiles of many samples come
//! from [`Percentiles`], the checkers', the benchmark's and the fidelity
//! report's alike.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{json, Value};

/// Percentiles of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// How many samples there were.
    pub count: u64,
    /// Median, ns.
    pub p50_ns: u64,
    /// 90th percentile, ns.
    pub p90_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// The largest sample, ns (exact).
    pub max_ns: u64,
}

impl Percentiles {
    /// Percentiles of `samples_ns` (nanoseconds), or `None` if there are none.
    pub fn of(samples_ns: impl IntoIterator<Item = u64>) -> Option<Self> {
        let mut histogram =
            Histogram::<u64>::new(3).expect("three significant digits is a valid HDR precision");
        let mut max_ns = 0;
        for sample in samples_ns {
            max_ns = max_ns.max(sample);
            let us = sample.div_ceil(1_000).max(1);
            // The histogram grows to fit; only values past its ceiling (i64::MAX / 2
            // microseconds) are clamped.
            if histogram.record(us).is_err() {
                histogram.saturating_record(us);
            }
        }
        if histogram.is_empty() {
            return None;
        }
        let at = |quantile: f64| {
            let bucket = histogram.value_at_quantile(quantile);
            round_to_three_digits(histogram.lowest_equivalent(bucket) * 1_000).min(max_ns)
        };
        Some(Self {
            count: histogram.len(),
            p50_ns: at(0.50),
            p90_ns: at(0.90),
            p99_ns: at(0.99),
            max_ns,
        })
    }

    /// The 99th percentile as a `Duration`.
    pub fn p99(&self) -> Duration {
        Duration::from_nanos(self.p99_ns)
    }

    /// `{"count", "p50_ms", "p90_ms", "p99_ms", "max_ms"}` for figures and reports.
    pub fn to_figures(&self) -> Value {
        json!({
            "count": self.count,
            "p50_ms": ms(self.p50_ns),
            "p90_ms": ms(self.p90_ns),
            "p99_ms": ms(self.p99_ns),
            "max_ms": ms(self.max_ns),
        })
    }
}

/// The exact median of the finite values among `values` (`f64` or
/// `Option<f64>`; absent, NaN and infinite values are left out): the middle
/// one, or the mean of the two middle ones for an even count. `None` when no
/// value is left.
pub fn median<T: Into<Option<f64>>>(values: impl IntoIterator<Item = T>) -> Option<f64> {
    let mut values: Vec<f64> = values
        .into_iter()
        .filter_map(Into::into)
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// `ns` rounded to its three most significant decimal digits.
fn round_to_three_digits(ns: u64) -> u64 {
    let mut unit = 1u64;
    while ns / unit >= 1_000 {
        unit *= 10;
    }
    (ns / unit + u64::from(ns % unit >= unit / 2 && unit > 1)) * unit
}

/// Nanoseconds as milliseconds, rounded to the microsecond.
pub fn ms(ns: u64) -> f64 {
    (ns as f64 / 1_000.0).round() / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_keep_three_significant_digits() {
        assert_eq!(round_to_three_digits(449_792_000), 450_000_000);
        assert_eq!(round_to_three_digits(60_031_000), 60_000_000);
        assert_eq!(round_to_three_digits(999), 999);
        assert_eq!(round_to_three_digits(99_949), 99_900);
        let p = Percentiles::of([450_000_000; 7]).unwrap();
        assert_eq!(p.p50_ns, 450_000_000);
    }

    #[test]
    fn medians_of_even_and_odd_counts() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(Vec::<f64>::new()), None);
    }

    #[test]
    fn medians_leave_out_absent_and_non_finite_values() {
        assert_eq!(median([Some(5.0), None, Some(1.0), Some(3.0)]), Some(3.0));
        assert_eq!(median([f64::NAN, 2.0, f64::INFINITY, 4.0]), Some(3.0));
        assert_eq!(median([None::<f64>, None]), None);
    }

    #[test]
    fn no_samples_have_no_percentiles() {
        assert_eq!(Percentiles::of([]), None);
    }

    #[test]
    fn equal_samples_report_that_value_everywhere() {
        let p = Percentiles::of([80_000_000; 10]).unwrap();
        assert_eq!(
            (p.p50_ns, p.p99_ns, p.max_ns),
            (80_000_000, 80_000_000, 80_000_000)
        );
    }

    #[test]
    fn a_slow_tail_shows_in_the_p99_but_not_the_median() {
        let samples = (0..1000).map(|i| if i < 980 { 10_000_000 } else { 2_000_000_000 });
        let p = Percentiles::of(samples).unwrap();
        assert_eq!(p.count, 1000);
        assert_eq!(p.p50_ns, 10_000_000, "{p:?}");
        assert_eq!(p.p99_ns, 2_000_000_000, "{p:?}");
        assert_eq!(p.max_ns, 2_000_000_000);
    }
}
