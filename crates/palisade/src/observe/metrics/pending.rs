//! Counts a bound listener keeps per thread until its recorder is read.
//!
//! # Why
//!
//! Through the Prometheus exporter, a counter increment is two atomic read-modify-writes (the
//! value and the exporter's generation counter) on lines every thread shares; a pipeline call
//! makes six of them and moves the bulkhead gauge twice. A listener bound to its recorder
//! ([`PrometheusMetrics::listener`](crate::observe::PrometheusMetrics::listener)) knows when
//! that recorder is read — its `render` — so it counts in per-thread slots instead (a plain
//! load and store, see [`Counters`]) and adds what it counted to the recorder's counters and
//! gauge just before each rendering. A scrape sees every count; a call pays no shared write
//! for its counters.
//!
//! Histogram samples are aggregated the same way: per thread, one count per bucket and the
//! sum of the values, with the bucket bounds the exporter would use. A sample into the
//! exporter costs a clock reading, an epoch-protected push onto a shared list and a shared
//! generation count (about 45 ns, two samples per pipeline call); here it is a search among
//! 14 bounds and two plain stores. The exporter never sees these histograms: the listener
//! writes them into the rendered text itself
//! ([`write_histograms`](super::MetricsListener::write_histograms)), exactly — same buckets,
//! every sample counted, the sum of the values.

use std::sync::{Mutex, OnceLock, PoisonError};

use super::cache::Updates;
use super::table::{BUCKETS, M, METRICS, MetricKind, OFFSETS, SAMPLE_OFFSETS, SAMPLED, SERIES};
use crate::counter::Counters;

/// The extra count past the series: bulkhead slots released (`bulkhead_active_calls` is its
/// series' count, the slots taken, minus this).
pub(super) const RELEASED: usize = SERIES;

/// Counted indices: every series, then [`RELEASED`].
const COUNTED: usize = SERIES + 1;

/// One policy name's pending counts.
pub(super) struct Pending {
    /// Per thread, at [`series`] indices: counter increments, and the bulkhead slots taken.
    counts: Counters<COUNTED>,
    /// What has been added to the recorder so far, per counted index.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    flushed: Mutex<[u64; COUNTED]>,
    /// Per thread, at [`SAMPLE_OFFSETS`]: histogram bucket counts and sums, allocated at the
    /// first sample (many policy names never sample a histogram).
    samples: OnceLock<Box<Counters<SAMPLED>>>,
}

/// One histogram's aggregate over every thread.
#[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
pub(super) struct Aggregate {
    /// `(bound, samples at most bound)`, cumulative, ascending.
    pub(super) buckets: Vec<(f64, u64)>,
    /// Every sample.
    pub(super) count: u64,
    /// The sum of the samples' values.
    pub(super) sum: f64,
}

impl Pending {
    pub(super) fn new() -> Self {
        Pending {
            counts: Counters::new(),
            flushed: Mutex::new([0; COUNTED]),
            samples: OnceLock::new(),
        }
    }

    /// Records `value` in histogram `metric` (a [`METRICS`] index of a histogram).
    #[inline]
    pub(super) fn observe(&self, metric: usize, value: f64) {
        let bounds = BUCKETS[metric];
        // A bucket counts the values at most its bound (Prometheus `le`); past the last bound
        // is the +Inf bucket's own count. A scan from the smallest bound, not a binary
        // search: most samples fall in the first few buckets, so the scan ends after a
        // compare or two the branch predictor has learned, where a search is a chain of
        // dependent compares every time.
        let bucket = bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(bounds.len());
        let base = SAMPLE_OFFSETS[metric];
        let samples = self.samples.get_or_init(|| Box::new(Counters::new()));
        samples.sample(base + bucket, base + bounds.len() + 1, value);
    }

    /// Histogram `metric`'s aggregate, if it has samples.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(super) fn aggregate(&self, metric: usize) -> Option<Aggregate> {
        let samples = self.samples.get()?;
        let base = SAMPLE_OFFSETS[metric];
        let bounds = BUCKETS[metric];
        let mut count = 0;
        let mut cumulative = Vec::with_capacity(bounds.len());
        for (i, &bound) in bounds.iter().enumerate() {
            count += samples.get(base + i);
            cumulative.push((bound, count));
        }
        count += samples.get(base + bounds.len());
        (count > 0).then(|| Aggregate {
            buckets: cumulative,
            count,
            sum: samples.get_float(base + bounds.len() + 1),
        })
    }

    /// Adds `n` to counted index `index` (a series, or [`RELEASED`]).
    #[inline]
    pub(super) fn add(&self, index: usize, n: u64) {
        self.counts.add(index, n);
    }

    /// Adds what was counted since the last flush to the recorder of `updates`.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(super) fn flush(&self, updates: &Updates<'_>) {
        let mut flushed = self.flushed.lock().unwrap_or_else(PoisonError::into_inner);
        // Releases before admissions: a slot is released after it was taken, so the gauge is
        // never pushed below the calls that hold a slot.
        let released = self.counts.get(RELEASED);
        for (metric, info) in METRICS.iter().enumerate() {
            let active = metric == M::BhActive as usize;
            if info.kind != MetricKind::Counter && !active {
                continue;
            }
            for series in OFFSETS[metric]..OFFSETS[metric + 1] {
                let total = self.counts.get(series);
                let added = total.wrapping_sub(flushed[series]);
                if active {
                    let gone = released.wrapping_sub(flushed[RELEASED]);
                    if added != 0 || gone != 0 {
                        // Counts since the last flush fit an f64 exactly below 2^53.
                        let change = added as f64 - gone as f64;
                        updates.gauge_now(series, |gauge| gauge.increment(change));
                    }
                    flushed[RELEASED] = released;
                } else if added != 0 {
                    updates.count_now(series, added);
                }
                flushed[series] = total;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::table::series;

    #[test]
    fn samples_land_in_the_first_bucket_whose_bound_holds_them() {
        let pending = Pending::new();
        let metric = M::RetryAttemptsPerCall as usize;
        assert!(pending.aggregate(metric).is_none());
        for attempts in [1.0, 2.0, 2.0, 6.0, 25.0] {
            pending.observe(metric, attempts);
        }
        let aggregate = pending.aggregate(metric).unwrap();
        assert_eq!(aggregate.count, 5);
        assert_eq!(aggregate.sum, 36.0);
        let at = |bound: f64| aggregate.buckets.iter().find(|b| b.0 == bound).unwrap().1;
        assert_eq!(
            (at(1.0), at(2.0), at(5.0), at(7.0), at(20.0)),
            (1, 3, 3, 4, 4)
        );
        assert!(pending.aggregate(M::PipelineDuration as usize).is_none());
    }

    #[test]
    fn the_active_gauge_and_its_release_count_have_their_own_indices() {
        let active = series(M::BhActive, 0);
        assert!(active < RELEASED && RELEASED < COUNTED);
        assert_eq!(METRICS[M::BhActive as usize].kind, MetricKind::Gauge);
    }
}
