//! A histogram of atomics: observing is a few relaxed atomic adds, no lock and no allocation.

use super::text::{Encoder, float};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Observations counted into fixed buckets, in whole units (nanoseconds for durations, items for
/// sizes); shown divided by `scale` (seconds).
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds, as shown (seconds, items), ascending.
    bounds: &'static [f64],
    /// The same bounds in whole units.
    units: Box<[u64]>,
    /// Observations per bucket (not cumulative); the last is above every bound.
    counts: Box<[AtomicU64]>,
    /// Sum of observations, in whole units.
    sum: AtomicU64,
    scale: f64,
}

/// Upper bounds for request durations, in seconds: long polls wait up to 60.
pub const REQUEST_SECONDS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Upper bounds for commit latencies, in seconds.
pub const COMMIT_SECONDS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
/// Upper bounds for writes per transaction (the SQLite writer takes at most 256).
pub const BATCH_SIZES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

impl Histogram {
    /// Durations, observed in nanoseconds, shown in seconds.
    pub fn seconds(bounds: &'static [f64]) -> Self {
        Self::new(bounds, 1e9)
    }

    /// Counts of things, shown as they are.
    pub fn sizes(bounds: &'static [f64]) -> Self {
        Self::new(bounds, 1.0)
    }

    fn new(bounds: &'static [f64], scale: f64) -> Self {
        // Rounded: the bounds are exact decimals in their own unit.
        let units = bounds.iter().map(|b| (b * scale).round() as u64).collect();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self { bounds, units, counts, sum: AtomicU64::new(0), scale }
    }

    /// Counts one observation of `value` whole units.
    pub fn observe(&self, value: u64) {
        let bucket = self.units.partition_point(|&bound| bound < value);
        if let Some(c) = self.counts.get(bucket) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    pub fn observe_duration(&self, d: Duration) {
        self.observe(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// The `_bucket`, `_sum` and `_count` samples (the family's lines are the caller's). The
    /// count is the `+Inf` bucket, read once: the two always agree.
    pub fn encode(&self, e: &mut Encoder, name: &str, labels: &[(&str, &str)]) {
        let bucket_name = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = self.bounds.get(i).map_or_else(|| "+Inf".to_owned(), |b| float(*b));
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &le));
            e.sample(&bucket_name, &with_le, cumulative);
        }
        e.sample(&format!("{name}_sum"), labels, self.sum.load(Ordering::Relaxed) as f64 / self.scale);
        e.sample(&format!("{name}_count"), labels, cumulative);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::text::Kind;

    #[test]
    fn buckets_are_cumulative_and_upper_bounds_inclusive() {
        let h = Histogram::sizes(&[1.0, 4.0]);
        for v in [1, 1, 3, 4, 9] {
            h.observe(v);
        }
        let mut e = Encoder::default();
        e.family("b", Kind::Histogram, "h");
        h.encode(&mut e, "b", &[("x", "y")]);
        let text = e.finish();
        assert!(text.contains("b_bucket{x=\"y\",le=\"1\"} 2\n"), "{text}");
        assert!(text.contains("b_bucket{x=\"y\",le=\"4\"} 4\n"), "{text}");
        assert!(text.contains("b_bucket{x=\"y\",le=\"+Inf\"} 5\n"), "{text}");
        assert!(text.contains("b_sum{x=\"y\"} 18\n"), "{text}");
        assert!(text.contains("b_count{x=\"y\"} 5\n"), "{text}");
    }

    #[test]
    fn durations_are_shown_in_seconds() {
        let h = Histogram::seconds(&[0.001, 0.01]);
        h.observe_duration(Duration::from_micros(1000));
        h.observe_duration(Duration::from_millis(5));
        let mut e = Encoder::default();
        h.encode(&mut e, "d", &[]);
        let text = e.finish();
        assert!(text.contains("d_bucket{le=\"0.001\"} 1\n"), "{text}");
        assert!(text.contains("d_bucket{le=\"0.01\"} 2\n"), "{text}");
        assert!(text.contains("d_sum 0.006\n"), "{text}");
    }
}
