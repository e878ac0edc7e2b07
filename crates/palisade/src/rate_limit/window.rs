//! The window algorithms: fixed window, sliding window counter and sliding window log.

use std::collections::VecDeque;
use std::time::Duration;

use super::RateLimitInfo;
use super::gcra::Wait;

/// `max` permits per window of `window` nanoseconds, windows aligned to the clock's origin.
///
/// State: the window's index (40 bits) and the permits taken in it (24 bits) in one `u64`.
/// Bound: at most `max` per window, so up to `2 × max` in an interval that straddles a
/// boundary (the well-known weakness of fixed windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FixedWindow {
    pub(crate) window: u64,
    pub(crate) max: u64,
}

const COUNT_BITS: u32 = 24;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// The largest `max_requests` a fixed window can count.
pub(crate) const FIXED_WINDOW_MAX: u64 = COUNT_MASK;

/// The window index bits kept in the state.
const INDEX_MASK: u64 = u64::MAX >> COUNT_BITS;

impl FixedWindow {
    fn index(&self, now: u64) -> u64 {
        now / self.window
    }

    /// The window a decision at `now` applies to and the permits already taken in it.
    ///
    /// A caller whose clock reading is older than the stored window (it read the time just
    /// before a boundary and reached the state after another caller crossed it) is treated
    /// as being in the stored window: it must neither reset the newer window's count nor
    /// write an older index back.
    fn unpack(&self, state: u64, now: u64) -> (u64, u64) {
        let index = self.index(now);
        // Indices are compared in 40 bits: windows are at least 1 ms, so they would need 2^40
        // ms (34 years) to wrap.
        let stored = state >> COUNT_BITS;
        let current = index & INDEX_MASK;
        if stored == current {
            (index, state & COUNT_MASK)
        } else if stored > current {
            (index - current + stored, state & COUNT_MASK)
        } else {
            (index, 0)
        }
    }

    fn reset_after(&self, index: u64, count: u64, now: u64) -> Duration {
        if count == 0 {
            return Duration::ZERO; // nothing taken: fully rested now
        }
        Duration::from_nanos(
            (index.saturating_add(1))
                .saturating_mul(self.window)
                .saturating_sub(now),
        )
    }

    pub(crate) fn decide(
        &self,
        state: u64,
        now: u64,
        n: u64,
    ) -> Result<(u64, RateLimitInfo), Wait> {
        let (index, count) = self.unpack(state, now);
        if count + n > self.max {
            let reset_after = self.reset_after(index, count, now);
            return Err(Wait {
                retry_after: reset_after,
                info: RateLimitInfo::known(self.max, self.max.saturating_sub(count), reset_after),
            });
        }
        let taken = count + n;
        Ok((
            ((index & INDEX_MASK) << COUNT_BITS) | taken,
            RateLimitInfo::known(
                self.max,
                self.max - taken,
                self.reset_after(index, taken, now),
            ),
        ))
    }

    pub(crate) fn info(&self, state: u64, now: u64) -> RateLimitInfo {
        let (index, count) = self.unpack(state, now);
        RateLimitInfo::known(
            self.max,
            self.max.saturating_sub(count),
            self.reset_after(index, count, now),
        )
    }

    /// Permits taken in the window current at `now`.
    pub(crate) fn taken(&self, state: u64, now: u64) -> u64 {
        self.unpack(state, now).1
    }

    /// A state for this window length holding `taken` permits in the window current at `now`.
    pub(crate) fn carry(&self, taken: u64, now: u64) -> u64 {
        ((self.index(now) & INDEX_MASK) << COUNT_BITS) | taken.min(COUNT_MASK)
    }
}

/// The sliding window counter: the current window's count plus the previous window's,
/// weighted by how much of the previous window the sliding window still covers
/// (`previous × (1 - elapsed / window) + current`). Memory: three numbers. Bound: up to
/// `2 × max` in the worst case (all of the previous window's permits at its very end), about
/// `max` for evenly spread traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlidingCounter {
    pub(crate) window: u64,
    pub(crate) max: u64,
}

/// The counts of a sliding window counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    index: u64,
    previous: u64,
    current: u64,
}

impl SlidingCounter {
    fn roll(&self, state: Counts, now: u64) -> Counts {
        let index = now / self.window;
        match index.checked_sub(state.index) {
            Some(0) => state,
            Some(1) => Counts {
                index,
                previous: state.current,
                current: 0,
            },
            // Two or more windows later — or a clock that went backwards — nothing counts.
            _ if index > state.index => Counts {
                index,
                previous: 0,
                current: 0,
            },
            _ => state,
        }
    }

    /// `previous × (window - elapsed) + current × window`, i.e. the estimate × window.
    fn weighted(&self, counts: Counts, elapsed: u64) -> u128 {
        u128::from(counts.previous) * u128::from(self.window - elapsed)
            + u128::from(counts.current) * u128::from(self.window)
    }

    /// Time since the start of the counts' window; zero for a reading older than that (a
    /// caller that read the clock before another moved the state to a newer window).
    fn elapsed(&self, counts: Counts, now: u64) -> u64 {
        now.saturating_sub(counts.index.saturating_mul(self.window))
            .min(self.window)
    }

    fn info_of(&self, counts: Counts, now: u64) -> RateLimitInfo {
        let elapsed = self.elapsed(counts, now);
        let capacity = u128::from(self.max) * u128::from(self.window);
        let used = self.weighted(counts, elapsed);
        let remaining = (capacity.saturating_sub(used) / u128::from(self.window)) as u64;
        // Everything has slid out one full window after the current one ends.
        let window_end = |k: u64| {
            counts
                .index
                .saturating_add(k)
                .saturating_mul(self.window)
                .saturating_sub(now)
        };
        let reset_after = if counts.current > 0 {
            window_end(2)
        } else if counts.previous > 0 {
            window_end(1)
        } else {
            0
        };
        RateLimitInfo::known(self.max, remaining, Duration::from_nanos(reset_after))
    }

    /// How long until `n` more permits fit, from `counts` at `now`.
    fn wait(&self, counts: Counts, now: u64, n: u64) -> u64 {
        let w = u128::from(self.window);
        let elapsed = u128::from(self.elapsed(counts, now));
        // In this window: previous × (w - e) ≤ (max - current - n) × w.
        if counts.current + n <= self.max {
            let room = u128::from(self.max - counts.current - n) * w;
            if counts.previous == 0 {
                return 0;
            }
            let needed = w - room / u128::from(counts.previous).max(1);
            return needed.saturating_sub(elapsed) as u64;
        }
        // In the next window, where the current count becomes the previous one.
        let room = u128::from(self.max.saturating_sub(n)) * w;
        let needed = w - (room / u128::from(counts.current)).min(w);
        (w - elapsed + needed) as u64
    }

    pub(crate) fn decide(
        &self,
        state: &mut Counts,
        now: u64,
        n: u64,
    ) -> Result<RateLimitInfo, Wait> {
        let counts = self.roll(*state, now);
        let elapsed = self.elapsed(counts, now);
        let needed = u128::from(n) * u128::from(self.window);
        let capacity = u128::from(self.max) * u128::from(self.window);
        if self.weighted(counts, elapsed) + needed > capacity {
            *state = counts;
            return Err(Wait {
                retry_after: Duration::from_nanos(self.wait(counts, now, n).max(1)),
                info: self.info_of(counts, now),
            });
        }
        let taken = Counts {
            current: counts.current + n,
            ..counts
        };
        *state = taken;
        Ok(self.info_of(taken, now))
    }

    pub(crate) fn info(&self, state: &Counts, now: u64) -> RateLimitInfo {
        self.info_of(self.roll(*state, now), now)
    }

    /// The permits the window holds at `now`, as estimated (rounded up).
    pub(crate) fn estimate(&self, state: Counts, now: u64) -> u64 {
        let counts = self.roll(state, now);
        let w = u128::from(self.window);
        let weighted = self.weighted(counts, self.elapsed(counts, now));
        u64::try_from(weighted.div_ceil(w)).unwrap_or(u64::MAX)
    }

    /// A state for this window length holding `taken` permits in the window current at `now`.
    pub(crate) fn carry(&self, taken: u64, now: u64) -> Counts {
        Counts {
            index: now / self.window,
            previous: 0,
            current: taken,
        }
    }

    pub(crate) fn initial(&self, now: u64) -> Counts {
        Counts {
            index: now / self.window,
            previous: 0,
            current: 0,
        }
    }
}

/// The sliding window log: the time of every permit taken in the last window. Exact — at
/// most `max` permits in any interval of one window — at the cost of `max` timestamps of
/// memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlidingLog {
    pub(crate) window: u64,
    pub(crate) max: u64,
}

impl SlidingLog {
    fn expire(&self, log: &mut VecDeque<u64>, now: u64) {
        // A permit taken at `t` counts during (t - window, t]... i.e. until t + window.
        while log
            .front()
            .is_some_and(|&t| t.saturating_add(self.window) <= now)
        {
            log.pop_front();
        }
    }

    fn info_of(&self, log: &VecDeque<u64>, now: u64) -> RateLimitInfo {
        RateLimitInfo::known(
            self.max,
            self.max.saturating_sub(log.len() as u64),
            Duration::from_nanos(
                log.back()
                    .map_or(0, |&t| t.saturating_add(self.window).saturating_sub(now)),
            ),
        )
    }

    pub(crate) fn decide(
        &self,
        log: &mut VecDeque<u64>,
        now: u64,
        n: u64,
    ) -> Result<RateLimitInfo, Wait> {
        self.expire(log, now);
        let held = log.len() as u64;
        if held + n > self.max {
            // The (held + n - max)-th oldest permit must expire first.
            let must_expire = (held + n - self.max) as usize;
            let at = log
                .get(must_expire - 1)
                .map_or(now, |&t| t.saturating_add(self.window));
            return Err(Wait {
                retry_after: Duration::from_nanos(at.saturating_sub(now).max(1)),
                info: self.info_of(log, now),
            });
        }
        log.extend(std::iter::repeat_n(now, n as usize));
        Ok(self.info_of(log, now))
    }

    pub(crate) fn info(&self, log: &mut VecDeque<u64>, now: u64) -> RateLimitInfo {
        self.expire(log, now);
        self.info_of(log, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn fixed_window_counts_per_window_and_resets_at_the_boundary() {
        let w = FixedWindow {
            window: 1000 * MS,
            max: 3,
        };
        let mut state = 0;
        for remaining in [2, 1, 0] {
            let (s, info) = w.decide(state, 100 * MS, 1).unwrap();
            assert_eq!(info.remaining(), remaining);
            state = s;
        }
        let wait = w.decide(state, 100 * MS, 1).unwrap_err();
        assert_eq!(wait.retry_after, Duration::from_millis(900));
        assert!(w.decide(state, 1000 * MS, 3).is_ok());
    }

    #[test]
    fn sliding_counter_weights_the_previous_window() {
        let w = SlidingCounter {
            window: 1000 * MS,
            max: 10,
        };
        let mut state = w.initial(0);
        assert!(w.decide(&mut state, 0, 10).is_ok());
        // Half-way into the next window, half of the previous 10 still count: 5 fit.
        assert!(w.decide(&mut state, 1500 * MS, 5).is_ok());
        let wait = w.decide(&mut state, 1500 * MS, 1).unwrap_err();
        // 10 × (1000 - e)/1000 + 5 + 1 ≤ 10 needs e ≥ 600 ms: 100 ms from now.
        assert_eq!(wait.retry_after, Duration::from_millis(100));
        assert!(w.decide(&mut state, 1599 * MS, 1).is_err());
        assert!(w.decide(&mut state, 1600 * MS, 1).is_ok());
    }

    #[test]
    fn sliding_log_is_exact() {
        let w = SlidingLog {
            window: 1000 * MS,
            max: 2,
        };
        let mut log = VecDeque::new();
        assert!(w.decide(&mut log, 0, 1).is_ok());
        assert!(w.decide(&mut log, 400 * MS, 1).is_ok());
        let wait = w.decide(&mut log, 500 * MS, 1).unwrap_err();
        assert_eq!(wait.retry_after, Duration::from_millis(500));
        assert!(w.decide(&mut log, 1000 * MS, 1).is_ok());
        assert!(w.decide(&mut log, 1000 * MS, 1).is_err());
    }
}
