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
//! for its counters. Histogram samples are not counts: they go to the recorder at once.

use std::sync::{Mutex, PoisonError};

use super::cache::Updates;
use super::table::{M, METRICS, MetricKind, OFFSETS, SERIES};
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
}

impl Pending {
    pub(super) fn new() -> Self {
        Pending {
            counts: Counters::new(),
            flushed: Mutex::new([0; COUNTED]),
        }
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
    fn the_active_gauge_and_its_release_count_have_their_own_indices() {
        let active = series(M::BhActive, 0);
        assert!(active < RELEASED && RELEASED < COUNTED);
        assert_eq!(METRICS[M::BhActive as usize].kind, MetricKind::Gauge);
    }
}
