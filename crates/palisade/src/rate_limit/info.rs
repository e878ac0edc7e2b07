//! What a limiter answers: [`RateLimitInfo`] (the numbers behind `RateLimit-*` headers),
//! [`Denied`] and [`Throttled`] (refusals), and the [`RateLimitEvent`]s it publishes.

use std::fmt;
use std::time::Duration;

use crate::error::human::HumanDuration;

use super::gcra;

/// What a caller may take from a limiter: the numbers behind `RateLimit-Limit`,
/// `RateLimit-Remaining` and `RateLimit-Reset` headers.
///
/// The numbers are computed when asked for, so a check that nobody inspects does not pay
/// for them (for GCRA, `remaining` costs a division).
///
/// ```
/// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
/// let limiter = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 5 }).build()?;
/// let info = limiter.try_acquire().unwrap();
/// assert_eq!((info.limit(), info.remaining()), (5, 4));
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RateLimitInfo {
    limit: u64,
    detail: Detail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// GCRA's state, from which the rest follows: how far the theoretical arrival time is
    /// ahead of now, and the interval.
    Gcra {
        ahead: u64,
        interval: u64,
    },
    Known {
        remaining: u64,
        reset_after: u64,
    },
}

impl RateLimitInfo {
    /// The numbers of a decision: `limit` permits, `remaining` of them left, all of them
    /// back after `reset_after` — what a store outside this crate (one that decides in Redis)
    /// reports.
    ///
    /// ```
    /// use palisade::rate_limit::RateLimitInfo;
    /// use std::time::Duration;
    /// let info = RateLimitInfo::new(100, 42, Duration::from_secs(30));
    /// assert_eq!((info.limit(), info.remaining(), info.reset_after()), (100, 42, Duration::from_secs(30)));
    /// ```
    pub fn new(limit: u64, remaining: u64, reset_after: Duration) -> Self {
        RateLimitInfo::known(limit, remaining, reset_after)
    }

    pub(crate) fn known(limit: u64, remaining: u64, reset_after: Duration) -> Self {
        RateLimitInfo {
            limit,
            detail: Detail::Known {
                remaining,
                reset_after: crate::clock::duration_to_nanos(reset_after),
            },
        }
    }

    #[inline]
    pub(crate) fn gcra(burst: u64, tat: u64, now: u64, interval: u64) -> Self {
        RateLimitInfo {
            limit: burst,
            detail: Detail::Gcra {
                ahead: if tat == gcra::NEVER {
                    u64::MAX
                } else {
                    tat.saturating_sub(now)
                },
                interval,
            },
        }
    }

    /// Permits available at once when the limiter is fully rested (burst, capacity or max).
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 7 }).build()?;
    /// assert_eq!(l.info().limit(), 7);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Permits that could be taken right now.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 7 }).build()?;
    /// assert_eq!(l.try_acquire_n(3).unwrap().remaining(), 4);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn remaining(&self) -> u64 {
        match self.detail {
            Detail::Gcra { ahead, interval } => gcra::remaining(ahead, interval, self.limit),
            Detail::Known { remaining, .. } => remaining,
        }
    }

    /// Time until the limiter is fully rested again.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 7 }).build()?;
    /// assert_eq!(l.info().reset_after(), std::time::Duration::ZERO);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn reset_after(&self) -> Duration {
        Duration::from_nanos(match self.detail {
            Detail::Gcra { ahead, .. } => ahead,
            Detail::Known { reset_after, .. } => reset_after,
        })
    }
}

impl fmt::Debug for RateLimitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitInfo")
            .field("limit", &self.limit)
            .field("remaining", &self.remaining())
            .field("reset_after", &self.reset_after())
            .finish()
    }
}

/// Why a limiter refused permits.
///
/// ```
/// use palisade::rate_limit::Denied;
/// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
/// # let limiter = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
/// # let _ = limiter.try_acquire();
/// if let Err(denied) = limiter.try_acquire() {
///     assert!(denied.retry_after().is_some());
/// }
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denied {
    /// Not now: the permits will be available after `retry_after`.
    RateLimited {
        /// Time until the request would be admitted.
        retry_after: Duration,
        /// The limiter's state.
        info: RateLimitInfo,
    },
    /// Never: more permits than the limiter can grant at once.
    ExceedsCapacity {
        /// Permits asked for.
        requested: u64,
        /// The most the limiter grants at once.
        capacity: u64,
    },
}

impl Denied {
    /// Time until the request would be admitted; `None` if it never would.
    ///
    /// ```
    /// let d = palisade::rate_limit::Denied::ExceedsCapacity { requested: 5, capacity: 2 };
    /// assert_eq!(d.retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Denied::RateLimited { retry_after, .. } => Some(*retry_after),
            Denied::ExceedsCapacity { .. } => None,
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denied::RateLimited { retry_after, .. } => {
                write!(
                    f,
                    "rate limited: retry after {}",
                    HumanDuration(*retry_after)
                )
            }
            Denied::ExceedsCapacity {
                requested,
                capacity,
            } => write!(
                f,
                "{requested} permits requested but at most {capacity} can ever be granted at once"
            ),
        }
    }
}

impl std::error::Error for Denied {}

/// [`RateLimiter::check`](super::RateLimiter::check)'s rejection: not now, come back after
/// [`retry_after`](Self::retry_after). Only 16 bytes, so the cheapest check stays cheap to
/// return; [`try_acquire`](super::RateLimiter::try_acquire) gives the full [`Denied`].
///
/// ```
/// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
/// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 1 }).build()?;
/// l.check()?;
/// let throttled = l.check().unwrap_err();
/// assert!(throttled.to_string().starts_with("rate limited: retry after"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct Throttled {
    wait: Wait,
}

/// How long a [`Throttled`] waits: the limiter's nanoseconds as they are (turned into a
/// `Duration` only if asked: the division is not paid on the refusal's path), or a duration
/// given by a store.
#[derive(Clone, Copy)]
enum Wait {
    Nanos(u64),
    Exact(Duration),
}

impl Throttled {
    /// A refusal of one permit, available again after `retry_after` (for stores outside
    /// this crate).
    ///
    /// ```
    /// use palisade::rate_limit::Throttled;
    /// use std::time::Duration;
    /// assert_eq!(Throttled::new(Duration::from_secs(1)).retry_after(), Duration::from_secs(1));
    /// ```
    pub fn new(retry_after: Duration) -> Self {
        Throttled {
            wait: Wait::Exact(retry_after),
        }
    }

    /// A refusal for `nanos` nanoseconds.
    #[inline]
    pub(crate) fn from_nanos(nanos: u64) -> Self {
        Throttled {
            wait: Wait::Nanos(nanos),
        }
    }

    /// Time until one permit would be admitted.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// use std::time::Duration;
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// let _ = l.check();
    /// assert!(l.check().unwrap_err().retry_after() > Duration::ZERO);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn retry_after(&self) -> Duration {
        match self.wait {
            Wait::Nanos(nanos) => Duration::from_nanos(nanos),
            Wait::Exact(duration) => duration,
        }
    }
}

impl PartialEq for Throttled {
    fn eq(&self, other: &Self) -> bool {
        self.retry_after() == other.retry_after()
    }
}

impl Eq for Throttled {}

impl fmt::Debug for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttled")
            .field("retry_after", &self.retry_after())
            .finish()
    }
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limited: retry after {}",
            HumanDuration(self.retry_after())
        )
    }
}

impl std::error::Error for Throttled {}

/// What a rate limiter did, published through [`crate::event`] as
/// [`Event::RateLimit`](crate::event::Event::RateLimit).
///
/// ```
/// use palisade::rate_limit::RateLimitEvent;
/// let e = RateLimitEvent::Permitted { name: "api", permits: 1, remaining: 4 };
/// assert_eq!(e.name(), "api");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RateLimitEvent<'a> {
    /// Permits were granted.
    Permitted {
        /// The limiter's name.
        name: &'a str,
        /// Permits granted.
        permits: u64,
        /// Permits still available.
        remaining: u64,
    },
    /// Permits were refused.
    Rejected {
        /// The limiter's name.
        name: &'a str,
        /// Permits asked for.
        permits: u64,
        /// When they would be granted (`None`: never).
        retry_after: Option<Duration>,
    },
}

impl<'a> RateLimitEvent<'a> {
    /// The limiter that published the event.
    ///
    /// ```
    /// # use palisade::rate_limit::RateLimitEvent;
    /// let e = RateLimitEvent::Rejected { name: "db", permits: 1, retry_after: None };
    /// assert_eq!(e.name(), "db");
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            RateLimitEvent::Permitted { name, .. } | RateLimitEvent::Rejected { name, .. } => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_result_stays_two_words() {
        assert_eq!(std::mem::size_of::<Result<(), Throttled>>(), 16);
    }

    #[test]
    fn a_refusal_in_nanoseconds_equals_the_same_duration() {
        let nanos = Throttled::from_nanos(1_500_000_000);
        assert_eq!(nanos, Throttled::new(Duration::from_millis(1_500)));
        assert_eq!(nanos.retry_after(), Duration::from_millis(1_500));
        assert_eq!(
            format!("{nanos:?}"),
            format!("{:?}", Throttled::new(Duration::from_millis(1_500)))
        );
    }
}
