//! GCRA, the Generic Cell Rate Algorithm (ITU-T I.371; as in governor and redis-cell).
//!
//! The whole state is one number: the theoretical arrival time `tat` of the next permit if
//! permits were spaced exactly `interval` apart. A request for `n` permits at time `now` is
//! admitted when it is no earlier than `tat + (n - 1) × interval - tau`, where
//! `tau = (burst - 1) × interval` is how far ahead of schedule a burst may run; admitting moves
//! `tat` to `max(tat, now) + n × interval`.
//!
//! Bound: over any interval of length `t`, at most `t / interval + burst` permits are admitted.
//! A stream spaced at least `interval` apart is never rejected.

use std::time::Duration;

use super::RateLimitInfo;

/// The parameters, in clock nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gcra {
    /// Nanoseconds per permit (rounded up, so the rate is never exceeded).
    pub(crate) interval: u64,
    /// The burst, in permits (at least 1).
    pub(crate) burst: u64,
}

/// A rejected request: how long until it would be admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wait {
    pub(crate) retry_after: Duration,
    pub(crate) info: RateLimitInfo,
}

/// A theoretical arrival time too far ahead to represent: the quota will not refill within
/// this process's lifetime (over 584 years), so the limiter never admits again.
pub(crate) const NEVER: u64 = u64::MAX;

impl Gcra {
    fn tau(&self) -> u128 {
        u128::from(self.interval) * u128::from(self.burst - 1)
    }

    /// The state of a limiter that has never been used: a full burst is available.
    pub(crate) fn initial(&self, now: u64) -> u64 {
        now
    }

    /// Decides a request for `n` permits (`1 ≤ n ≤ burst`) at `now` against `tat`. On
    /// admission returns the new `tat` and what remains.
    ///
    /// Arithmetic is in `u128`, so quotas that refill over centuries neither overflow nor
    /// saturate into "unlimited"; a `tat` beyond `u64` is stored as [`NEVER`].
    #[inline]
    pub(crate) fn decide(&self, tat: u64, now: u64, n: u64) -> Result<(u64, RateLimitInfo), Wait> {
        let interval = u128::from(self.interval);
        let earliest = if tat == NEVER {
            u128::MAX
        } else {
            (u128::from(tat) + interval * u128::from(n - 1)).saturating_sub(self.tau())
        };
        if u128::from(now) < earliest {
            let wait = u64::try_from(earliest - u128::from(now)).unwrap_or(u64::MAX);
            return Err(Wait {
                retry_after: Duration::from_nanos(wait),
                info: self.info(tat, now),
            });
        }
        let next = u128::from(tat.max(now)) + interval * u128::from(n);
        let next = u64::try_from(next).unwrap_or(NEVER);
        Ok((next, self.info(next, now)))
    }

    /// What a caller may take right now, given `tat` (computed lazily by the info).
    #[inline]
    pub(crate) fn info(&self, tat: u64, now: u64) -> RateLimitInfo {
        RateLimitInfo::gcra(self.burst, tat, now, self.interval)
    }

    /// `tat` re-expressed for a new interval: the time still owed scales with the interval,
    /// so permits already taken keep counting at the new rate.
    pub(crate) fn rescale(tat: u64, now: u64, old_interval: u64, new_interval: u64) -> u64 {
        if tat == NEVER || tat <= now || old_interval == 0 {
            return tat;
        }
        let owed = u128::from(tat - now) * u128::from(new_interval) / u128::from(old_interval);
        u64::try_from(u128::from(now) + owed).unwrap_or(NEVER)
    }
}

/// Permits that fit right now, given how far `tat` is `ahead` of now (`u64::MAX`: never):
/// one more while `ahead ≤ tau`, k more while `ahead + (k - 1) × interval ≤ tau`.
pub(crate) fn remaining(ahead: u64, interval: u64, burst: u64) -> u64 {
    if ahead == u64::MAX {
        return 0;
    }
    // In 64 bits whenever tau fits (every realistic limit): a 128-bit division is a
    // library call, and listeners ask for this on every permitted call.
    if let Some(tau) = interval.checked_mul(burst - 1) {
        return if ahead <= tau {
            ((tau - ahead) / interval + 1).min(burst)
        } else {
            0
        };
    }
    let tau = u128::from(interval) * u128::from(burst - 1);
    let ahead = u128::from(ahead);
    if ahead <= tau {
        let fit = (tau - ahead) / u128::from(interval) + 1;
        u64::try_from(fit).unwrap_or(u64::MAX).min(burst)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_burst_then_one_permit_per_interval() {
        // 10 per second, burst 3.
        let g = Gcra {
            interval: 100 * MS,
            burst: 3,
        };
        let mut tat = g.initial(0);
        for expected_remaining in [2, 1, 0] {
            let (next, info) = g.decide(tat, 0, 1).unwrap();
            assert_eq!(info.remaining(), expected_remaining);
            tat = next;
        }
        let wait = g.decide(tat, 0, 1).unwrap_err();
        assert_eq!(wait.retry_after, Duration::from_millis(100));
        assert!(g.decide(tat, 100 * MS, 1).is_ok());
    }

    #[test]
    fn n_permits_need_n_intervals_of_room() {
        let g = Gcra {
            interval: 10,
            burst: 5,
        };
        let (tat, info) = g.decide(g.initial(1000), 1000, 5).unwrap();
        assert_eq!((tat, info.remaining()), (1050, 0));
        // Two permits need the room of two intervals.
        assert_eq!(
            g.decide(tat, 1005, 2).unwrap_err().retry_after,
            Duration::from_nanos(5 + 10)
        );
        assert!(g.decide(tat, 1020, 2).is_ok());
    }
}
