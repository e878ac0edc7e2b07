//! [`Batch`]: the Closed outcomes one instance saw since its last flush, summed so that the
//! fleet can both add them to its window and continue its run of consecutive failures.
//!
//! # Why these numbers
//!
//! Failure and slow-call *rates* need only sums. A *run* of consecutive failures needs order:
//! the flush script continues the fleet's run with the failures before the batch's first
//! success (`leading`), ends it at that success, and starts the next run with the failures
//! after its last one (`trailing`); a run wholly inside the batch (`inner`) trips on its own.
//!
//! # Cost on the call's path
//!
//! A success writes nothing when nothing changes (a load of the run, a load of the flag), the
//! same as the in-process breaker's success path; with a sliding window it adds one counter.
//! A failure is rarer and takes a few atomic adds. Outcomes that race with a flush land in
//! this batch or the next one; the summary of a batch written by several threads at once is
//! as ordered as their outcomes were.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Outcomes not flushed yet; see the [module docs](self).
#[derive(Debug, Default)]
pub(super) struct Batch {
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
    leading: AtomicU64,
    inner: AtomicU64,
    trailing: AtomicU64,
    succeeded: AtomicBool,
}

/// A batch taken for one flush.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Taken {
    pub(super) calls: u64,
    pub(super) failures: u64,
    pub(super) slow: u64,
    pub(super) leading: u64,
    pub(super) inner: u64,
    pub(super) trailing: u64,
    pub(super) succeeded: bool,
}

impl Taken {
    /// Whether there is nothing to send.
    pub(super) fn is_empty(&self) -> bool {
        self.calls == 0 && self.failures == 0 && !self.succeeded
    }
}

impl Batch {
    /// Whether a success would change nothing: no run of failures to end, a success noted
    /// already, nothing counted.
    #[inline]
    pub(super) fn is_quiet(&self) -> bool {
        self.trailing.load(Ordering::Relaxed) == 0 && self.succeeded.load(Ordering::Relaxed)
    }

    /// A success (`counted`: a sliding window is kept, so calls are counted); returns the
    /// calls in the batch (0 if not counted).
    #[inline(never)]
    pub(super) fn success(&self, counted: bool, slow: bool) -> u64 {
        if !counted && self.is_quiet() {
            return 0;
        }
        self.record_success(counted, slow)
    }

    #[inline(never)]
    fn record_success(&self, counted: bool, slow: bool) -> u64 {
        let mut calls = 0;
        if counted {
            calls = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
            if slow {
                self.slow.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Load first: a success after a success writes nothing.
        let run = self.trailing.load(Ordering::Relaxed);
        if run != 0 {
            if self.succeeded.load(Ordering::Relaxed) {
                self.inner.fetch_max(run, Ordering::Relaxed);
            }
            self.trailing.store(0, Ordering::Relaxed);
        }
        if !self.succeeded.load(Ordering::Relaxed) {
            self.succeeded.store(true, Ordering::Relaxed);
        }
        calls
    }

    /// A failure; returns the failures in a row this instance has seen in this batch and the
    /// calls in it.
    pub(super) fn failure(&self, counted: bool, slow: bool) -> (u64, u64) {
        let calls = if counted {
            if slow {
                self.slow.fetch_add(1, Ordering::Relaxed);
            }
            self.calls.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            0
        };
        self.failures.fetch_add(1, Ordering::Relaxed);
        if !self.succeeded.load(Ordering::Relaxed) {
            self.leading.fetch_add(1, Ordering::Relaxed);
        }
        (self.trailing.fetch_add(1, Ordering::Relaxed) + 1, calls)
    }

    /// Takes the batch, leaving it empty.
    pub(super) fn take(&self) -> Taken {
        let taken = Taken {
            succeeded: self.succeeded.swap(false, Ordering::Relaxed),
            calls: self.calls.swap(0, Ordering::Relaxed),
            failures: self.failures.swap(0, Ordering::Relaxed),
            slow: self.slow.swap(0, Ordering::Relaxed),
            leading: self.leading.swap(0, Ordering::Relaxed),
            inner: self.inner.swap(0, Ordering::Relaxed),
            trailing: self.trailing.swap(0, Ordering::Relaxed),
        };
        // Without a success, every failure leads (and trails): keep the two consistent for
        // the script, whatever raced.
        if !taken.succeeded {
            return Taken {
                leading: taken.failures,
                trailing: taken.failures,
                ..taken
            };
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_keeps_the_runs_around_its_successes() {
        let batch = Batch::default();
        batch.failure(true, false);
        batch.failure(true, false);
        batch.success(true, false);
        for _ in 0..3 {
            batch.failure(true, true);
        }
        batch.success(true, false);
        batch.failure(true, false);
        let taken = batch.take();
        assert_eq!(
            taken,
            Taken {
                calls: 8,
                failures: 6,
                slow: 3,
                leading: 2,
                inner: 3,
                trailing: 1,
                succeeded: true
            }
        );
        assert!(batch.take().is_empty());
    }

    #[test]
    fn failures_alone_all_lead_and_trail() {
        let batch = Batch::default();
        assert_eq!(batch.failure(false, false), (1, 0));
        assert_eq!(batch.failure(false, false), (2, 0));
        let taken = batch.take();
        assert_eq!((taken.leading, taken.trailing, taken.calls), (2, 2, 0));
    }
}
