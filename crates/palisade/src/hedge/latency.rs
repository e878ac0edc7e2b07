//! The latency sample behind the percentile mode: a fixed ring of recent first-attempt
//! latencies, and their percentile recomputed now and then and cached in an atomic.
//!
//! The call path reads the delay with one relaxed load and records a latency with one
//! `fetch_add` and one store. Every `sample_size / 16` records (and once when `min_samples` is
//! first reached), the recording call copies the ring into a scratch buffer allocated at
//! build time and selects the percentile in linear time (`select_nth_unstable`): no sort, no
//! allocation, and the cached value lags the ring by at most a sixteenth of it. A recompute
//! already running elsewhere is skipped, not waited for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, TryLockError};
use std::time::Duration;

use crate::clock::{Clock, Instant, duration_to_nanos};

/// A ring slot never written.
const EMPTY: u64 = u64::MAX;
/// No percentile yet: fewer than `min_samples` latencies recorded.
const UNKNOWN: u64 = u64::MAX;

pub(super) struct LatencySample {
    /// Latencies in nanoseconds; `EMPTY` until first written. Slot `n % len` holds record `n`.
    ring: Box<[AtomicU64]>,
    /// Records ever made: the next record's index.
    recorded: AtomicU64,
    /// The percentile of the ring at the last recompute, in nanoseconds, or `UNKNOWN`.
    cached: AtomicU64,
    /// The recompute's working copy, allocated once with the ring's capacity.
    scratch: Mutex<Vec<u64>>,
    percentile: f64,
    min_samples: u64,
    recompute_every: u64,
}

impl LatencySample {
    pub(super) fn new(percentile: f64, sample_size: u32, min_samples: u32) -> Self {
        let len = sample_size as usize;
        LatencySample {
            ring: (0..len).map(|_| AtomicU64::new(EMPTY)).collect(),
            recorded: AtomicU64::new(0),
            cached: AtomicU64::new(UNKNOWN),
            scratch: Mutex::new(Vec::with_capacity(len)),
            percentile,
            min_samples: u64::from(min_samples),
            recompute_every: u64::from(sample_size / 16).max(1),
        }
    }

    /// The cached percentile, once `min_samples` latencies have been recorded.
    #[inline]
    pub(super) fn percentile_delay(&self) -> Option<Duration> {
        // Relaxed: a value, not a guard for other memory; a slightly stale delay is fine.
        match self.cached.load(Ordering::Relaxed) {
            UNKNOWN => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    pub(super) fn record(&self, latency: Duration) {
        // Relaxed: slots are independent values. A recompute racing this store reads the old
        // or the new latency of the slot; either is a recent latency.
        let n = self.recorded.fetch_add(1, Ordering::Relaxed);
        let slot = n.checked_rem(self.ring.len() as u64).unwrap_or(0) as usize;
        if let Some(cell) = self.ring.get(slot) {
            cell.store(duration_to_nanos(latency).min(EMPTY - 1), Ordering::Relaxed);
        }
        let count = n + 1;
        if count >= self.min_samples
            && (count == self.min_samples || count.is_multiple_of(self.recompute_every))
        {
            self.recompute();
        }
    }

    fn recompute(&self) {
        let mut scratch = match self.scratch.try_lock() {
            Ok(guard) => guard,
            // The scratch holds no invariant across calls: a panic mid-recompute is harmless.
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            // Another call is recomputing from the same ring right now.
            Err(TryLockError::WouldBlock) => return,
        };
        scratch.clear();
        scratch.extend(
            self.ring
                .iter()
                .map(|cell| cell.load(Ordering::Relaxed))
                .filter(|&nanos| nanos != EMPTY),
        );
        if scratch.is_empty() {
            return;
        }
        let rank = nearest_rank(self.percentile, scratch.len());
        let (_, value, _) = scratch.select_nth_unstable(rank);
        self.cached.store(*value, Ordering::Relaxed);
    }
}

/// The zero-based index, in ascending order, of the `percentile`-th percentile of `n > 0`
/// values by the nearest-rank method: the smallest value with at least `percentile` % of the
/// values at or below it, i.e. index `ceil(percentile × n / 100) − 1`.
///
/// `percentile × n` is computed before dividing so whole-number products stay exact.
pub(super) fn nearest_rank(percentile: f64, n: usize) -> usize {
    let rank = (percentile * n as f64 / 100.0).ceil() as usize;
    rank.clamp(1, n.max(1)) - 1
}

/// Measures the first attempt of a call for the percentile: records its latency when it
/// succeeds *or is dropped* (cancelled because another attempt won, or with the whole call),
/// and nothing if it fails.
///
/// Recording a cancelled first attempt at its time of cancellation understates its latency,
/// but only above the hedge delay (it was cancelled by a hedge started at that delay), so the
/// count of samples at or below any delay — which is all a percentile depends on — is exact.
pub(super) struct Probe<'a> {
    sample: &'a LatencySample,
    clock: &'a Clock,
    started: Instant,
    armed: bool,
}

impl<'a> Probe<'a> {
    pub(super) fn start(sample: &'a LatencySample, clock: &'a Clock) -> Self {
        Probe {
            sample,
            clock,
            started: clock.now(),
            armed: true,
        }
    }

    /// The attempt failed: its latency is not a sample of how long a useful answer takes.
    pub(super) fn discard(mut self) {
        self.armed = false;
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        if self.armed {
            let latency = self.clock.now().saturating_duration_since(self.started);
            self.sample.record(latency);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_follows_its_definition() {
        // 10 values: p90 is the 9th smallest, p50 the 5th, p1 the 1st, p99.9 the 10th.
        assert_eq!(nearest_rank(90.0, 10), 8);
        assert_eq!(nearest_rank(50.0, 10), 4);
        assert_eq!(nearest_rank(1.0, 10), 0);
        assert_eq!(nearest_rank(99.9, 10), 9);
        // 91 values: p90 is ceil(81.9) = the 82nd smallest.
        assert_eq!(nearest_rank(90.0, 91), 81);
        assert_eq!(nearest_rank(50.0, 1), 0);
    }

    #[test]
    fn percentile_appears_at_min_samples_and_follows_the_ring() {
        let sample = LatencySample::new(50.0, 4, 4);
        for _ in 0..3 {
            sample.record(Duration::from_millis(100));
        }
        assert_eq!(sample.percentile_delay(), None);
        sample.record(Duration::from_millis(100));
        assert_eq!(sample.percentile_delay(), Some(Duration::from_millis(100)));
        // Four newer latencies push every old one out of the ring.
        for _ in 0..4 {
            sample.record(Duration::from_millis(10));
        }
        assert_eq!(sample.percentile_delay(), Some(Duration::from_millis(10)));
    }
}
