//! Exact event counters that cost no shared read-modify-write on the hot path.
//!
//! # Why
//!
//! Policies count what they do (successes, rejections) for their stats. A shared
//! `AtomicU64::fetch_add` per call costs a locked instruction (~6 ns) and, with two threads on
//! one policy, bounces a cache line between cores on every call — more than the whole closed
//! path of a circuit breaker is allowed to cost. So each thread gets its own slot, on its own
//! cache line, which only that thread writes (a plain load and store, no lock prefix);
//! readers sum the slots. Counts are exact: nothing is sampled or dropped.
//!
//! Thread slots come from a process-wide pool of small ids that are returned when a thread
//! exits, so a long-running service that churns threads keeps reusing the same slots. Threads
//! beyond [`SLOTS`] share an overflow slot updated with `fetch_add`.

#[cfg(not(palisade_loom))]
pub(crate) use per_thread::Counters;

#[cfg(palisade_loom)]
pub(crate) use shared::Counters;

/// Under loom: one shared atomic per counter, so the model checks the policies' logic rather
/// than the thread-id pool (which the tests below check with real threads).
#[cfg(palisade_loom)]
mod shared {
    use crate::sync::{AtomicU64, Ordering};

    pub(crate) struct Counters<const N: usize>([AtomicU64; N]);

    impl<const N: usize> Counters<N> {
        pub(crate) fn new() -> Self {
            Counters(std::array::from_fn(|_| AtomicU64::new(0)))
        }
        pub(crate) fn incr(&self, which: usize) {
            self.add(which, 1);
        }
        pub(crate) fn add(&self, which: usize, n: u64) {
            self.0[which].fetch_add(n, Ordering::Relaxed);
        }
        pub(crate) fn get(&self, which: usize) -> u64 {
            self.0[which].load(Ordering::Relaxed)
        }
        #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
        pub(crate) fn sample(&self, which: usize, float: usize, x: f64) {
            self.add(which, 1);
            let _ = self.0[float].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + x).to_bits())
            });
        }
        #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
        pub(crate) fn get_float(&self, float: usize) -> f64 {
            f64::from_bits(self.get(float))
        }
        pub(crate) fn reset(&self) {
            for c in &self.0 {
                c.store(0, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(not(palisade_loom))]
mod per_thread {
    use std::cell::Cell;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Per-thread slots per counter set; thread ids beyond this share the overflow slot.
    pub(crate) const SLOTS: usize = 64;

    /// A set of `N` counters (for example successes, failures, rejections) counted per thread.
    pub(crate) struct Counters<const N: usize> {
        // A fixed-size array: the bounds check compares with a constant, not a loaded length.
        slots: Box<[Slot<N>; SLOTS]>,
        overflow: Slot<N>,
        /// Subtracted from the sums: `reset` records the sums instead of racing the owners' stores.
        baseline: [AtomicU64; N],
    }

    #[repr(align(64))]
    struct Slot<const N: usize>([AtomicU64; N]);

    impl<const N: usize> Slot<N> {
        fn new() -> Self {
            Slot(std::array::from_fn(|_| AtomicU64::new(0)))
        }
    }

    impl<const N: usize> Counters<N> {
        pub(crate) fn new() -> Self {
            Counters {
                slots: Box::new(std::array::from_fn(|_| Slot::new())),
                overflow: Slot::new(),
                baseline: std::array::from_fn(|_| AtomicU64::new(0)),
            }
        }

        /// Adds one to counter `which`.
        #[inline]
        pub(crate) fn incr(&self, which: usize) {
            self.add(which, 1);
        }

        /// Adds `n` to counter `which` (modulo 2^64, as every sum here is).
        #[inline]
        pub(crate) fn add(&self, which: usize, n: u64) {
            match self.slots.get(thread_slot()) {
                // Only this thread writes its slot, so load + store cannot lose an update; Relaxed
                // is enough because readers only need each counter's own value.
                Some(slot) => {
                    let cell = &slot.0[which];
                    cell.store(
                        cell.load(Ordering::Relaxed).wrapping_add(n),
                        Ordering::Relaxed,
                    );
                }
                None => {
                    self.overflow.0[which].fetch_add(n, Ordering::Relaxed);
                }
            }
        }

        /// Adds one to counter `which` and `x` to counter `float`, which holds the bits of an
        /// `f64` sum (see [`get_float`](Self::get_float)): a histogram sample, its bucket
        /// counted and its value summed, with one lookup of the thread's slot.
        #[inline]
        #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
        pub(crate) fn sample(&self, which: usize, float: usize, x: f64) {
            match self.slots.get(thread_slot()) {
                // As in `add`: only this thread writes its slot.
                Some(slot) => {
                    let cell = &slot.0[which];
                    cell.store(
                        cell.load(Ordering::Relaxed).wrapping_add(1),
                        Ordering::Relaxed,
                    );
                    let sum = &slot.0[float];
                    let total = f64::from_bits(sum.load(Ordering::Relaxed)) + x;
                    sum.store(total.to_bits(), Ordering::Relaxed);
                }
                None => {
                    self.overflow.0[which].fetch_add(1, Ordering::Relaxed);
                    // Shared by every thread past the slots: a read-modify-write loop.
                    let _ = self.overflow.0[float].fetch_update(
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                        |bits| Some((f64::from_bits(bits) + x).to_bits()),
                    );
                }
            }
        }

        /// The sum of float counter `float` (fed only by [`sample`](Self::sample), never
        /// [`reset`](Self::reset)) over every thread.
        #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
        pub(crate) fn get_float(&self, float: usize) -> f64 {
            self.slots
                .iter()
                .chain(std::iter::once(&self.overflow))
                .map(|slot| f64::from_bits(slot.0[float].load(Ordering::Relaxed)))
                .sum()
        }

        /// The current value of counter `which` since creation or the last `reset`.
        pub(crate) fn get(&self, which: usize) -> u64 {
            self.raw(which)
                .wrapping_sub(self.baseline[which].load(Ordering::Relaxed))
        }

        fn raw(&self, which: usize) -> u64 {
            self.slots
                .iter()
                .chain(std::iter::once(&self.overflow))
                .fold(0u64, |sum, slot| {
                    sum.wrapping_add(slot.0[which].load(Ordering::Relaxed))
                })
        }

        /// Starts every counter again from zero.
        pub(crate) fn reset(&self) {
            for which in 0..N {
                self.baseline[which].store(self.raw(which), Ordering::Relaxed);
            }
        }
    }

    /// Ids handed out to threads, lowest free first, returned when the thread exits.
    static FREE_IDS: Mutex<IdPool> = Mutex::new(IdPool {
        next: 0,
        free: Vec::new(),
    });

    struct IdPool {
        next: usize,
        free: Vec<usize>,
    }

    /// Returns this thread's id to the pool when the thread exits.
    struct ThreadId(usize);

    impl Drop for ThreadId {
        fn drop(&mut self) {
            // Counting that still happens on this thread (from other thread-local destructors)
            // must not touch the slot once another thread may own it: send it to overflow.
            let _ = SLOT.try_with(|slot| slot.set(usize::MAX));
            if let Ok(mut pool) = FREE_IDS.lock() {
                pool.free.push(self.0);
            }
        }
    }

    thread_local! {
        static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
        static OWNER: ThreadId = ThreadId(claim_id());
    }

    fn claim_id() -> usize {
        match FREE_IDS.lock() {
            Ok(mut pool) => match pool.free.pop() {
                Some(id) => id,
                None => {
                    pool.next += 1;
                    pool.next - 1
                }
            },
            // A poisoned pool only means another thread panicked while holding it; use the
            // overflow slot rather than propagate the panic.
            Err(_) => usize::MAX,
        }
    }

    /// This thread's slot index (`usize::MAX`, i.e. the overflow slot, if it has none).
    #[inline]
    fn thread_slot() -> usize {
        SLOT.try_with(|slot| {
            let id = slot.get();
            if id != usize::MAX {
                return id;
            }
            let id = OWNER.try_with(|owner| owner.0).unwrap_or(usize::MAX);
            slot.set(id);
            id
        })
        .unwrap_or(usize::MAX)
    }
}

#[cfg(all(test, not(palisade_loom)))]
mod tests {
    use super::per_thread::SLOTS;
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_from_many_threads_are_exact() {
        let counters = Arc::new(Counters::<2>::new());
        let threads: Vec<_> = (0..SLOTS + 8)
            .map(|i| {
                let c = counters.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.incr(i % 2);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let total = (SLOTS as u64 + 8) * 1000;
        assert_eq!(counters.get(0) + counters.get(1), total);
        assert_eq!(counters.get(0), total / 2);
    }

    #[test]
    fn samples_count_and_sum_from_many_threads() {
        let counters = Arc::new(Counters::<2>::new());
        let threads: Vec<_> = (0..SLOTS + 8)
            .map(|_| {
                let c = counters.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        c.sample(0, 1, 0.5);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let total = (SLOTS as u64 + 8) * 100;
        assert_eq!(counters.get(0), total);
        // Halves add up exactly in an f64.
        assert_eq!(counters.get_float(1), total as f64 / 2.0);
    }

    #[test]
    fn reset_starts_from_zero_without_touching_owner_slots() {
        let counters = Counters::<1>::new();
        counters.incr(0);
        counters.incr(0);
        counters.reset();
        assert_eq!(counters.get(0), 0);
        counters.incr(0);
        assert_eq!(counters.get(0), 1);
    }
}
