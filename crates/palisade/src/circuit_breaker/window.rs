//! Sliding windows of recorded calls: the last N calls, or the last N seconds in buckets.
//!
//! Both are lock-free on the record path and exact when calls are recorded one at a time
//! (which the model-based tests check against a plain reference model). Under concurrency
//! they stay consistent — counts never go negative and no record is lost — but which bucket or
//! slot a call racing a boundary lands in is decided by the order the atomics see.

use crate::sync::seqlock::SeqLock;
use crate::sync::{AtomicI64, AtomicU64, Mutex, Ordering};

use super::machine::WindowCounts;
use crate::clock::Instant;

/// The sliding window of a breaker, or none when no rate condition is configured.
pub(crate) enum Window {
    None,
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    /// Records one call. Returns the window's counts including it — or `None` when they
    /// cannot have crossed a threshold of `minimum_calls`, so there is nothing to evaluate.
    ///
    /// With a count window, a call that is neither failed nor slow never raises a rate: it
    /// replaces an older call or adds to the calls. The one exception is the call that brings
    /// the window to `minimum_calls`, which makes the rates evaluable for the first time. (A
    /// time window can raise rates by expiring old successes, so it always evaluates.)
    // Inlined into each verdict's record path (`LocalState::record_*`), which then knows
    // whether this outcome is a failure.
    #[inline(always)]
    pub(crate) fn record(
        &self,
        now: Option<Instant>,
        failure: bool,
        slow: bool,
        minimum_calls: u64,
    ) -> Option<WindowCounts> {
        match self {
            Window::None => Some(WindowCounts::default()),
            Window::Count(w) => {
                let (calls, was_full) = w.record(failure, slow);
                if !failure && !slow && (was_full || calls != minimum_calls) {
                    return None;
                }
                // Evaluate the window as it is now, not as this record found it: of two
                // racing records, one then sees both (see `CountWindow`).
                Some(w.counts_for_evaluation())
            }
            Window::Time(w) => Some(w.record(now.unwrap_or_default(), failure, slow)),
        }
    }

    pub(crate) fn counts(&self, now: Instant) -> WindowCounts {
        match self {
            Window::None => WindowCounts::default(),
            Window::Count(w) => w.counts(),
            Window::Time(w) => w.counts(now),
        }
    }

    pub(crate) fn reset(&self, now: Instant) {
        match self {
            Window::None => {}
            Window::Count(w) => w.reset(),
            Window::Time(w) => w.reset(now),
        }
    }

    /// Whether recording needs the current time.
    pub(crate) fn needs_time(&self) -> bool {
        matches!(self, Window::Time(_))
    }
}

/// The last `size` calls: a ring of outcome bits plus running counts.
///
/// Every record claims a slot, updates the counts, then the breaker evaluates the *current*
/// window — reading the counts with a read-modify-write before loading the position. All
/// count updates and evaluation reads are then ordered on the count's atomic, and each
/// thread's slot claim travels with its acquire/release, so of any two concurrent records at
/// least one evaluates a window containing both. Without this, two failures racing into a
/// 2-call window could each see only itself and never trip (the loom model found exactly
/// that). The extra read-modify-write is paid only by records that are evaluated: failures,
/// slow calls, and the call that first brings the window to `minimum_calls`.
pub(crate) struct CountWindow {
    size: u64,
    /// The next slot in the low 32 bits; `FULL` once the ring has wrapped.
    position: AtomicU64,
    failure_bits: Box<[AtomicU64]>,
    /// Present only with slow-call detection.
    slow_bits: Option<Box<[AtomicU64]>>,
    // Signed: a bit flip and its count update are two steps, so a racing pair can take a
    // count briefly below zero; readers clamp.
    failures: AtomicI64,
    slow: AtomicI64,
}

const FULL: u64 = 1 << 63;
const INDEX: u64 = u32::MAX as u64;

impl CountWindow {
    pub(crate) fn new(size: u32, track_slow: bool) -> Self {
        let words = (size as usize).div_ceil(64);
        let bits = || (0..words).map(|_| AtomicU64::new(0)).collect();
        CountWindow {
            size: u64::from(size),
            position: AtomicU64::new(0),
            failure_bits: bits(),
            slow_bits: track_slow.then(bits),
            failures: AtomicI64::new(0),
            slow: AtomicI64::new(0),
        }
    }

    /// Records one call; returns the calls in the window including it, and whether the ring
    /// had already wrapped before it.
    #[inline]
    fn record(&self, failure: bool, slow: bool) -> (u64, bool) {
        let size = self.size;
        // Claim the next slot. Relaxed: the slot index only needs to be unique; the bits and
        // counts carry their own read-modify-writes.
        let previous = match self
            .position
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                let next = (p & INDEX) + 1;
                Some(if next == size {
                    FULL
                } else {
                    (p & FULL) | next
                })
            }) {
            Ok(p) | Err(p) => p,
        };
        let slot = previous & INDEX;
        let was_full = previous & FULL != 0;
        let calls = if was_full { size } else { slot + 1 };
        set_bit(&self.failure_bits, slot, failure, &self.failures);
        if let Some(bits) = &self.slow_bits {
            set_bit(bits, slot, slow, &self.slow);
        }
        (calls, was_full)
    }

    fn counts(&self) -> WindowCounts {
        let failures = clamp(self.failures.load(Ordering::Acquire));
        let slow = clamp(self.slow.load(Ordering::Acquire));
        self.with_calls(failures, slow)
    }

    /// The counts for deciding whether to trip; see the type's docs for the ordering.
    fn counts_for_evaluation(&self) -> WindowCounts {
        let failures = clamp(self.failures.fetch_add(0, Ordering::AcqRel));
        let slow = if self.slow_bits.is_some() {
            clamp(self.slow.fetch_add(0, Ordering::AcqRel))
        } else {
            0
        };
        self.with_calls(failures, slow)
    }

    fn with_calls(&self, failures: u64, slow: u64) -> WindowCounts {
        let p = self.position.load(Ordering::Acquire);
        WindowCounts {
            calls: if p & FULL != 0 { self.size } else { p & INDEX },
            failures,
            slow,
        }
    }

    fn reset(&self) {
        self.position.store(0, Ordering::Relaxed);
        for word in self
            .failure_bits
            .iter()
            .chain(self.slow_bits.iter().flatten())
        {
            word.store(0, Ordering::Relaxed);
        }
        self.failures.store(0, Ordering::Relaxed);
        self.slow.store(0, Ordering::Relaxed);
    }
}

/// Sets slot `slot` of `bits` to `value`, keeping `count` equal to the number of set bits.
/// A success over a success slot — the common case — is one load and no write.
#[inline]
fn set_bit(bits: &[AtomicU64], slot: u64, value: bool, count: &AtomicI64) {
    let Some(word) = bits.get((slot / 64) as usize) else {
        return;
    };
    let mask = 1u64 << (slot % 64);
    if value {
        if word.fetch_or(mask, Ordering::AcqRel) & mask == 0 {
            count.fetch_add(1, Ordering::AcqRel);
        }
    } else if word.load(Ordering::Relaxed) & mask != 0
        && word.fetch_and(!mask, Ordering::AcqRel) & mask != 0
    {
        // The count follows what the read-modify-write saw, not the plain load, so a
        // racing writer of the same slot cannot make it drift.
        count.fetch_sub(1, Ordering::AcqRel);
    }
}

fn clamp(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The calls of the last `buckets × bucket_nanos`.
///
/// Records never reset shared state: they add to cumulative counters (calls in the low 32
/// bits, failures in the high 32, wrapping — differences stay exact modulo 2^64 while a window
/// holds fewer than 2^32 calls). The first record of each bucket-length epoch stores a
/// snapshot of the cumulative counters; a window's counts are "now minus the snapshot at the
/// start of the oldest live epoch". So rotation can neither lose a record nor count a stale
/// one, and an idle breaker needs no sweeping.
pub(crate) struct TimeWindow {
    bucket_nanos: u64,
    buckets: u64,
    cumulative: AtomicU64,
    cumulative_slow: AtomicU64,
    /// Whether slow calls are evaluated (slow-call detection is on).
    track_slow: bool,
    /// The latest epoch with a snapshot.
    last_epoch: AtomicU64,
    /// Slot `epoch % buckets`: the cumulative counters (`[cumulative, cumulative_slow]`) at
    /// the start of `epoch`, tagged with it, so a reader never pairs an epoch with another's
    /// counts, nor a reset's rewrite of a slot with what it held before.
    snapshots: Box<[SeqLock<2>]>,
    /// Serialises snapshot writers. Records only ever `try_lock` it: a record that loses the
    /// race goes on without waiting, the winner writes the snapshot.
    writer: Mutex<()>,
}

const FAILURE_UNIT: u64 = 1 << 32;

impl TimeWindow {
    pub(crate) fn new(bucket_nanos: u64, buckets: u32, now: Instant, track_slow: bool) -> Self {
        let window = TimeWindow {
            bucket_nanos: bucket_nanos.max(1),
            buckets: u64::from(buckets.max(1)),
            cumulative: AtomicU64::new(0),
            cumulative_slow: AtomicU64::new(0),
            track_slow,
            last_epoch: AtomicU64::new(0),
            snapshots: (0..buckets.max(1)).map(|_| SeqLock::new([0, 0])).collect(),
            writer: Mutex::new(()),
        };
        window.reset(now);
        window
    }

    fn epoch(&self, now: Instant) -> u64 {
        now.as_nanos() / self.bucket_nanos
    }

    #[inline]
    fn record(&self, now: Instant, failure: bool, slow: bool) -> WindowCounts {
        let epoch = self.epoch(now);
        if epoch > self.last_epoch.load(Ordering::Acquire) {
            self.advance(epoch);
        }
        let delta = 1 + if failure { FAILURE_UNIT } else { 0 };
        // Calls and failures share one atomic, so of two racing records the later
        // read-modify-write sees both. Slow calls live in another: read them with a
        // read-modify-write too (as `CountWindow` does), so one of two racing records
        // evaluates both.
        self.cumulative.fetch_add(delta, Ordering::AcqRel);
        if slow {
            self.cumulative_slow.fetch_add(1, Ordering::AcqRel);
        }
        let slow_now = if self.track_slow {
            self.cumulative_slow.fetch_add(0, Ordering::AcqRel)
        } else {
            self.cumulative_slow.load(Ordering::Acquire)
        };
        self.counts_from(epoch, self.cumulative.load(Ordering::Acquire), slow_now)
    }

    /// Writes the snapshot that opens `epoch`, unless another record is already doing so.
    #[cold]
    fn advance(&self, epoch: u64) {
        let Ok(_guard) = self.writer.try_lock() else {
            return;
        };
        if epoch <= self.last_epoch.load(Ordering::Acquire) {
            return;
        }
        self.write_snapshot(epoch);
        self.last_epoch.store(epoch, Ordering::Release);
    }

    fn write_snapshot(&self, epoch: u64) {
        let Some(slot) = self.snapshots.get((epoch % self.buckets) as usize) else {
            return;
        };
        slot.write_tagged(
            epoch,
            [
                self.cumulative.load(Ordering::Acquire),
                self.cumulative_slow.load(Ordering::Acquire),
            ],
        );
    }

    /// The snapshot of `epoch`, if its slot holds that epoch's.
    fn snapshot(&self, epoch: u64) -> Option<(u64, u64)> {
        let slot = self.snapshots.get((epoch % self.buckets) as usize)?;
        let [cumulative, slow] = slot.read_tagged(epoch)?;
        Some((cumulative, slow))
    }

    fn counts(&self, now: Instant) -> WindowCounts {
        self.counts_from(
            self.epoch(now),
            self.cumulative.load(Ordering::Acquire),
            self.cumulative_slow.load(Ordering::Acquire),
        )
    }

    /// Counts of the window ending with `epoch` (epochs `epoch - buckets + 1 ..= epoch`),
    /// given the cumulative counters now.
    fn counts_from(&self, epoch: u64, cumulative: u64, cumulative_slow: u64) -> WindowCounts {
        let oldest = epoch.saturating_sub(self.buckets - 1);
        // No record since the window's oldest epoch began means an empty window; otherwise
        // the first snapshot at or after `oldest` marks where the window's calls start.
        if self.last_epoch.load(Ordering::Acquire) < oldest {
            return WindowCounts::default();
        }
        for e in oldest..=epoch {
            if let Some((base, base_slow)) = self.snapshot(e) {
                let delta = cumulative.wrapping_sub(base);
                return WindowCounts {
                    calls: delta & (FAILURE_UNIT - 1),
                    failures: delta >> 32,
                    slow: cumulative_slow.wrapping_sub(base_slow),
                };
            }
        }
        WindowCounts::default()
    }

    /// Empties the window: only calls recorded from now on count.
    fn reset(&self, now: Instant) {
        // A rare, non-hot path: wait for any snapshot writer. Every rewrite of a slot, even
        // under the epoch it already holds, is a new version, so a racing reader retries
        // instead of pairing old and new counters.
        let _guard = self.writer.lock();
        for slot in self.snapshots.iter() {
            slot.clear();
        }
        let epoch = self.epoch(now);
        self.write_snapshot(epoch);
        self.last_epoch.store(epoch, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_window_holds_the_last_n_outcomes() {
        let w = CountWindow::new(3, true);
        let counts = |calls, failures, slow| WindowCounts {
            calls,
            failures,
            slow,
        };
        let record = |failure, slow| {
            w.record(failure, slow);
            w.counts()
        };
        assert_eq!(record(true, false), counts(1, 1, 0));
        assert_eq!(record(false, true), counts(2, 1, 1));
        assert_eq!(record(true, true), counts(3, 2, 2));
        // The first call (a failure) leaves the window; the ring has wrapped.
        assert_eq!(w.record(false, false), (3, true));
        assert_eq!(w.counts(), counts(3, 1, 2));
        w.reset();
        assert_eq!(w.counts(), WindowCounts::default());
        assert_eq!(w.record(false, false), (1, false));
    }

    #[test]
    fn count_window_counts_stay_exact_under_concurrency() {
        let w = std::sync::Arc::new(CountWindow::new(100, false));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        w.record((i + t) % 3 == 0, false);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let set: u32 = w
            .failure_bits
            .iter()
            .map(|b| b.load(Ordering::Relaxed).count_ones())
            .sum();
        assert_eq!(w.counts().failures, u64::from(set));
        assert_eq!(w.counts().calls, 100);
    }

    fn at(ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn time_window_expires_whole_buckets() {
        // 4 buckets of 250ms: a one-second window.
        let w = TimeWindow::new(250_000_000, 4, at(0), true);
        w.record(at(0), true, false);
        w.record(at(100), false, true);
        assert_eq!(
            w.counts(at(100)),
            WindowCounts {
                calls: 2,
                failures: 1,
                slow: 1
            }
        );
        w.record(at(600), true, false);
        assert_eq!(
            w.counts(at(999)),
            WindowCounts {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        // At 1000ms the bucket [0, 250) has expired.
        assert_eq!(
            w.counts(at(1000)),
            WindowCounts {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(
            w.record(at(1100), false, false),
            WindowCounts {
                calls: 2,
                failures: 1,
                slow: 0
            }
        );
        // Idle far beyond the window: empty, then counting again.
        assert_eq!(w.counts(at(60_000)), WindowCounts::default());
        assert_eq!(
            w.record(at(60_000), true, false),
            WindowCounts {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
    }

    #[test]
    fn time_window_reset_forgets_earlier_calls() {
        let w = TimeWindow::new(1_000_000, 10, at(0), false);
        w.record(at(1), true, false);
        w.reset(at(2));
        assert_eq!(w.counts(at(2)), WindowCounts::default());
        assert_eq!(
            w.record(at(2), false, false),
            WindowCounts {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn time_window_loses_no_record_across_rotations_under_concurrency() {
        let clock = crate::clock::ManualClock::new();
        // 1000 buckets of 1µs: a 1ms window that rotates every microsecond, while four
        // threads advance time by 1ns per record (40µs in all, so every call stays inside).
        let w = std::sync::Arc::new(TimeWindow::new(1_000, 1000, clock.now(), false));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let w = w.clone();
                let clock = clock.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        clock.advance(std::time::Duration::from_nanos(1));
                        w.record(clock.now(), true, false);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            w.counts(clock.now()),
            WindowCounts {
                calls: 40_000,
                failures: 40_000,
                slow: 0
            }
        );
    }
}
