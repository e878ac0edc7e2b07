//! Rate limiting: admit at most so many calls per unit of time.
//!
//! # Why
//!
//! A dependency has a capacity — a database handles so many queries a second, an API allows
//! so many requests a minute — and calls beyond it fail slowly or get you banned. A rate
//! limiter admits calls up to a quota and rejects the rest at once, saying when to come back
//! ([`Denied::RateLimited`] carries `retry_after`), with enough detail (limit, remaining, reset)
//! to answer with `RateLimit-*` and `Retry-After` headers.
//!
//! # Algorithms
//!
//! Five, chosen by [`Algorithm`]: GCRA (the default choice: one `u64` of state, smooth, with
//! a burst), token bucket (the same mathematics with a starting fill), fixed window (the
//! reference docs' `RateLimiter(max_requests, window_seconds)`), sliding window counter and
//! sliding window log (exact). GCRA, token bucket and fixed window decide with one
//! compare-and-swap and take no lock.
//!
//! ```
//! use palisade::rate_limit::{Algorithm, Denied, Rate, RateLimiter};
//!
//! let limiter = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 2 })
//!     .name("api")
//!     .build()?;
//! assert!(limiter.try_acquire().is_ok());
//! assert!(limiter.try_acquire().is_ok());
//! match limiter.try_acquire() {
//!     Err(Denied::RateLimited { retry_after, info, .. }) => {
//!         assert_eq!(info.remaining(), 0);
//!         assert!(retry_after <= std::time::Duration::from_millis(100));
//!     }
//!     other => panic!("expected a rejection, got {other:?}"),
//! }
//! // Asking for more than the burst can never succeed: rejected at once, not "later".
//! assert!(matches!(limiter.try_acquire_n(3), Err(Denied::ExceedsCapacity { requested: 3, capacity: 2, .. })));
//! # Ok::<(), palisade::ConfigError>(())
//! ```
//!
//! # Changing the quota
//!
//! [`set_algorithm`](RateLimiter::set_algorithm) changes the quota of a running limiter
//! without losing its state (permits already taken still count), as long as the algorithm
//! stays the same kind.
//!
//! # Keyed limits
//!
//! [`KeyedRateLimiter`] gives every key (user, IP, tenant) its own quota, with memory bounded
//! out of the box: a hard cap on keys, eviction of rested keys only, per-key overrides. See
//! its module for the memory rules.
//!
//! # Waiting
//!
//! [`acquire_n`](RateLimiter::acquire_n) waits until permits are granted — waiters served in
//! arrival order, a dropped waiter leaving the queue holding nothing, an optional maximum
//! wait — and [`acquire_n_blocking`](RateLimiter::acquire_n_blocking) does the same on a
//! thread.

mod config;
mod gcra;
mod keyed;
mod window;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use config::{Algorithm, Rate, RateLimiterBuilder};
pub use keyed::{KeyedRateLimiter, KeyedRateLimiterBuilder};

use crate::clock::Clock;
use crate::error::{ConfigError, Error};
use crate::event::{Event, Listeners};
use crate::sync::{AtomicU64, Mutex, Ordering, fence, lock};
use config::Kind;
use gcra::{Gcra, Wait};
use window::{Counts, FixedWindow, SlidingCounter, SlidingLog};

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
                write!(f, "rate limited: retry after {retry_after:?}")
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

/// [`RateLimiter::check`]'s rejection: not now, come back after
/// [`retry_after`](Self::retry_after). Only 16 bytes, so the cheapest check stays cheap to
/// return; [`try_acquire`](RateLimiter::try_acquire) gives the full [`Denied`].
///
/// ```
/// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
/// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 1 }).build()?;
/// l.check()?;
/// let throttled = l.check().unwrap_err();
/// assert!(throttled.to_string().starts_with("rate limited: retry after"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    retry_after: Duration,
}

impl Throttled {
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
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limited: retry after {:?}", self.retry_after)
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

/// A rate limiter over one shared quota; see the [module docs](self). Cheap to clone (one
/// `Arc`); clones share the quota.
///
/// ```
/// use palisade::rate_limit::{Algorithm, RateLimiter};
/// use std::time::Duration;
/// let limiter = RateLimiter::builder(Algorithm::FixedWindow { max_requests: 2, window: Duration::from_secs(1) }).build()?;
/// assert!(limiter.try_acquire().is_ok());
/// assert!(limiter.try_acquire().is_ok());
/// assert!(limiter.try_acquire().is_err());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    kind: Kind,
    params: Params,
    state: State,
    clock: Clock,
    listeners: Listeners,
    /// The configured quota; also serialises `set_algorithm` calls.
    algorithm: Mutex<Algorithm>,
    /// Async waiters take turns in arrival order (tokio's semaphore is FIFO-fair).
    #[cfg(feature = "tokio")]
    turn: tokio::sync::Semaphore,
    /// Blocking waiters take turns (one at a time; the OS decides who is next).
    blocking_turn: Mutex<()>,
}

/// The two numbers the algorithm needs, plus one derived for GCRA's fast path, behind a
/// sequence lock so a quota change is seen whole: a reader retries if a writer ran while it
/// read.
struct Params {
    version: AtomicU64,
    /// `[a, b, tau]`: the algorithm's two numbers (GCRA: interval and burst; windows: window
    /// and max) and GCRA's `tau = interval × (burst − 1)`, saturated (exact whenever it fits,
    /// and a saturated `tau` admits exactly as the exact one would: see `acquire_one`).
    words: [AtomicU64; 3],
}

impl Params {
    fn new(words: [u64; 2]) -> Self {
        Params {
            version: AtomicU64::new(0),
            words: Self::derive(words).map(AtomicU64::new),
        }
    }

    fn derive([a, b]: [u64; 2]) -> [u64; 3] {
        [a, b, a.saturating_mul(b.saturating_sub(1))]
    }

    /// The algorithm's two numbers.
    #[inline]
    fn read(&self) -> [u64; 2] {
        let [a, b, _] = self.read_all();
        [a, b]
    }

    #[inline]
    fn read_all(&self) -> [u64; 3] {
        loop {
            let before = self.version.load(Ordering::Acquire);
            let words = [
                self.words[0].load(Ordering::Relaxed),
                self.words[1].load(Ordering::Relaxed),
                self.words[2].load(Ordering::Relaxed),
            ];
            fence(Ordering::Acquire);
            if before.is_multiple_of(2) && self.version.load(Ordering::Relaxed) == before {
                return words;
            }
            std::hint::spin_loop();
        }
    }

    /// Caller serialises writers (the `algorithm` mutex).
    fn write(&self, words: [u64; 2]) {
        self.version.fetch_add(1, Ordering::AcqRel);
        fence(Ordering::Release);
        for (cell, word) in self.words.iter().zip(Self::derive(words)) {
            cell.store(word, Ordering::Relaxed);
        }
        self.version.fetch_add(1, Ordering::Release);
    }
}

/// Where an algorithm keeps its state; the variant is the algorithm, so a check dispatches
/// with one match.
enum State {
    /// GCRA and token bucket: the theoretical arrival time, updated by compare-and-swap.
    Gcra(AtomicU64),
    /// Fixed window: window index and count in one word, updated by compare-and-swap.
    FixedWindow(AtomicU64),
    Counter(Mutex<Counts>),
    Log(Mutex<VecDeque<u64>>),
}

impl RateLimiter {
    /// Starts building a limiter running `algorithm`.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::TokenBucket { rate: Rate::per_second(100), capacity: 1000, initial_tokens: None }).build()?;
    /// # let _ = l;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn builder(algorithm: Algorithm) -> RateLimiterBuilder {
        RateLimiterBuilder::new(algorithm)
    }

    pub(crate) fn assemble(
        name: Arc<str>,
        algorithm: Algorithm,
        kind: Kind,
        params: [u64; 2],
        initial_tokens: Option<u64>,
        clock: Clock,
        listeners: Listeners,
    ) -> RateLimiter {
        let now = clock.now().as_nanos();
        let state = match kind {
            Kind::Gcra => {
                let gcra = Gcra {
                    interval: params[0],
                    burst: params[1],
                };
                // A token bucket that starts with fewer tokens is one whose "full again"
                // time lies ahead by the missing tokens.
                let missing = params[1] - initial_tokens.unwrap_or(params[1]);
                State::Gcra(AtomicU64::new(
                    gcra.initial(now)
                        .saturating_add(missing.saturating_mul(params[0])),
                ))
            }
            Kind::FixedWindow => State::FixedWindow(AtomicU64::new(0)),
            Kind::SlidingCounter => State::Counter(Mutex::new(
                SlidingCounter {
                    window: params[0],
                    max: params[1],
                }
                .initial(now),
            )),
            Kind::SlidingLog => State::Log(Mutex::new(VecDeque::new())),
        };
        RateLimiter {
            inner: Arc::new(Inner {
                name,
                kind,
                params: Params::new(params),
                state,
                clock,
                listeners,
                algorithm: Mutex::new(algorithm),
                #[cfg(feature = "tokio")]
                turn: tokio::sync::Semaphore::new(1),
                blocking_turn: Mutex::new(()),
            }),
        }
    }

    /// Takes one permit if available now, reporting only whether it was granted and, if
    /// not, when to come back — the cheapest check (like governor's `check`). Its error,
    /// [`Throttled`], is 16 bytes, so the result comes back in registers. Use
    /// [`try_acquire`](Self::try_acquire) for the limit, remaining and reset numbers behind
    /// `RateLimit-*` headers.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// use std::time::Duration;
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// assert!(l.check().is_ok());
    /// let throttled = l.check().unwrap_err();
    /// assert!(throttled.retry_after() <= Duration::from_secs(1));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn check(&self) -> Result<(), Throttled> {
        self.acquire_one(|_| Ok(()), throttled)
    }

    /// Takes one permit if available now.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// assert!(l.try_acquire().is_ok());
    /// assert!(l.try_acquire().is_err());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<RateLimitInfo, Denied> {
        self.acquire_one(
            |admitted| {
                Ok(Gcra {
                    interval: admitted.interval,
                    burst: admitted.burst,
                }
                .info(admitted.tat, admitted.now))
            },
            |outcome| outcome,
        )
    }

    /// One permit: the hot path of [`check`](Self::check) and
    /// [`try_acquire`](Self::try_acquire). For GCRA and the token bucket with nobody
    /// listening, the decision is made inline in `u64` arithmetic — one clock read, one
    /// load, one compare-and-swap, as in governor. `tat.saturating_sub(tau)` is exact when
    /// `tau` fits and 0 (admit) when it saturated, which is what the exact `u128` value
    /// (negative, clamped to 0) decides too. Anything else — a denial, a `tat` that would
    /// overflow (including [`gcra::NEVER`]), another algorithm, listeners — goes out of line
    /// to the general `u128` path, which decides from the same readings.
    #[inline(always)]
    fn acquire_one<T>(
        &self,
        admitted: impl FnOnce(Admitted) -> T,
        general: impl FnOnce(Result<RateLimitInfo, Denied>) -> T,
    ) -> T {
        let inner = &*self.inner;
        if let State::Gcra(word) = &inner.state
            && inner.listeners.is_empty()
        {
            let now = inner.clock.now().as_nanos();
            let [interval, burst, tau] = inner.params.read_all();
            let mut tat = word.load(Ordering::Acquire);
            loop {
                if now < tat.saturating_sub(tau) {
                    break;
                }
                let Some(next) = tat.max(now).checked_add(interval) else {
                    break;
                };
                match word.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        return admitted(Admitted {
                            tat: next,
                            now,
                            interval,
                            burst,
                        });
                    }
                    Err(actual) => tat = actual,
                }
            }
            return general(gcra_from(word, tat, Gcra { interval, burst }, now));
        }
        general(self.try_acquire_n_general(1))
    }

    /// Takes `n` permits at once if available now — all or none. More than the limiter can
    /// ever grant at once is [`Denied::ExceedsCapacity`]. `n = 0` takes nothing and reports.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter, Denied};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 10 }).build()?;
    /// assert_eq!(l.try_acquire_n(4).map(|i| i.remaining()), Ok(6));
    /// assert!(matches!(l.try_acquire_n(11), Err(Denied::ExceedsCapacity { .. })));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn try_acquire_n(&self, n: u32) -> Result<RateLimitInfo, Denied> {
        let inner = &*self.inner;
        // The hot path — GCRA or token bucket, nobody listening, 1 ≤ n ≤ burst — inline;
        // everything else out of line.
        if let State::Gcra(word) = &inner.state
            && inner.listeners.is_empty()
        {
            let now = inner.clock.now().as_nanos();
            let [interval, burst] = inner.params.read();
            let n = u64::from(n);
            if n.wrapping_sub(1) < burst {
                return update(word, |tat| Gcra { interval, burst }.decide(tat, now, n));
            }
        }
        self.try_acquire_n_general(n)
    }

    #[inline(never)]
    fn try_acquire_n_general(&self, n: u32) -> Result<RateLimitInfo, Denied> {
        let inner = &*self.inner;
        let n = u64::from(n);
        let now = inner.clock.now().as_nanos();
        let [a, b] = inner.params.read();
        let outcome = if n == 0 {
            Ok(self.info_at(now, [a, b]))
        } else if n > b {
            Err(Denied::ExceedsCapacity {
                requested: n,
                capacity: b,
            })
        } else {
            match &inner.state {
                State::Gcra(word) => update(word, |tat| {
                    Gcra {
                        interval: a,
                        burst: b,
                    }
                    .decide(tat, now, n)
                }),
                State::FixedWindow(word) => update(word, |state| {
                    FixedWindow { window: a, max: b }.decide(state, now, n)
                }),
                State::Counter(counts) => {
                    let mut counts = lock(counts);
                    SlidingCounter { window: a, max: b }
                        .decide(&mut counts, now, n)
                        .map_err(denied)
                }
                State::Log(log) => {
                    let mut log = lock(log);
                    SlidingLog { window: a, max: b }
                        .decide(&mut log, now, n)
                        .map_err(denied)
                }
            }
        };
        // Asking for nothing takes nothing: no event.
        if n > 0 && !inner.listeners.is_empty() {
            publish(&inner.listeners, &inner.name, n, &outcome);
        }
        outcome
    }

    /// Waits until `n` permits are granted, then takes them.
    ///
    /// Waiters are served in arrival order: each takes its turn, and while it is the turn
    /// holder it sleeps exactly the `retry_after` it was told. Nothing is reserved before the
    /// permits are granted, so dropping the future (a cancelled request, a timeout) gives
    /// nothing back because it holds nothing — and it leaves the queue at once. With
    /// `max_wait`, a request that would have to wait longer fails at once with the
    /// rejection (and its `retry_after`) instead of waiting. More than the limiter can ever
    /// grant fails at once with [`Denied::ExceedsCapacity`] — it never waits forever.
    /// Calls to [`try_acquire`](Self::try_acquire) do not queue.
    ///
    /// On a [`ManualClock`](crate::clock::ManualClock) the wait advances the clock.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use palisade::clock::Clock;
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// use std::time::Duration;
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 1 })
    ///     .clock(Clock::tokio())
    ///     .build()?;
    /// let start = tokio::time::Instant::now();
    /// l.acquire_n(1, None).await?;
    /// l.acquire_n(1, None).await?; // waits one interval
    /// assert_eq!(start.elapsed(), Duration::from_millis(100));
    /// // Too long a wait fails at once.
    /// assert!(l.acquire_n(1, Some(Duration::from_millis(10))).await.is_err());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn acquire_n(
        &self,
        n: u32,
        max_wait: Option<Duration>,
    ) -> Result<RateLimitInfo, Denied> {
        // The semaphore is never closed, so acquiring cannot fail; hold the turn until done.
        let _turn = self.inner.turn.acquire().await.ok();
        let start = self.inner.clock.now();
        loop {
            match self.wait_for(n, start, max_wait)? {
                Ok(info) => return Ok(info),
                Err(wait) => self.inner.clock.sleep(wait).await,
            }
        }
    }

    /// [`acquire_n`](Self::acquire_n) for blocking code: sleeps the thread (or advances a
    /// [`ManualClock`](crate::clock::ManualClock)). Blocking waiters take turns one at a
    /// time; which waiting thread goes next is up to the OS.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// use std::time::Duration;
    /// let clock = ManualClock::new();
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 1 })
    ///     .clock(clock.clone())
    ///     .build()?;
    /// l.acquire_n_blocking(1, None)?;
    /// l.acquire_n_blocking(1, None)?; // advances the manual clock by one interval
    /// assert_eq!(clock.now().as_nanos(), 100_000_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_n_blocking(
        &self,
        n: u32,
        max_wait: Option<Duration>,
    ) -> Result<RateLimitInfo, Denied> {
        let _turn = lock(&self.inner.blocking_turn);
        let start = self.inner.clock.now();
        loop {
            match self.wait_for(n, start, max_wait)? {
                Ok(info) => return Ok(info),
                Err(wait) => self.inner.clock.sleep_blocking(wait),
            }
        }
    }

    /// One step of a waiting acquisition: granted (`Ok(Ok)`), sleep this long (`Ok(Err)`), or
    /// give up (`Err`: never satisfiable, or the wait would pass `max_wait`).
    fn wait_for(
        &self,
        n: u32,
        start: crate::clock::Instant,
        max_wait: Option<Duration>,
    ) -> Result<Result<RateLimitInfo, Duration>, Denied> {
        match self.try_acquire_n(n) {
            Ok(info) => Ok(Ok(info)),
            Err(Denied::RateLimited { retry_after, info }) => {
                let waited = self.inner.clock.now().saturating_duration_since(start);
                if max_wait.is_some_and(|max| waited.saturating_add(retry_after) > max) {
                    return Err(Denied::RateLimited { retry_after, info });
                }
                Ok(Err(retry_after))
            }
            Err(never) => Err(never),
        }
    }

    /// What could be taken right now, without taking anything.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 3 }).build()?;
    /// assert_eq!(l.info().remaining(), 3);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn info(&self) -> RateLimitInfo {
        self.info_at(self.inner.clock.now().as_nanos(), self.inner.params.read())
    }

    fn info_at(&self, now: u64, [a, b]: [u64; 2]) -> RateLimitInfo {
        match &self.inner.state {
            State::Gcra(word) => Gcra {
                interval: a,
                burst: b,
            }
            .info(word.load(Ordering::Acquire), now),
            State::FixedWindow(word) => {
                FixedWindow { window: a, max: b }.info(word.load(Ordering::Acquire), now)
            }
            State::Counter(counts) => SlidingCounter { window: a, max: b }.info(&lock(counts), now),
            State::Log(log) => SlidingLog { window: a, max: b }.info(&mut lock(log), now),
        }
    }

    /// Runs `operation` if a permit is available now; otherwise returns
    /// [`Error::RateLimited`] (or [`Error::InsufficientCapacity`]) without running it.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// use palisade::Error;
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// assert_eq!(l.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    /// assert!(matches!(l.call_blocking(|| Ok::<_, ()>(2)), Err(Error::RateLimited { .. })));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn call_blocking<T, E, F>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.try_acquire().map_err(|d| self.error(d))?;
        operation().map_err(Error::Operation)
    }

    /// Awaits `future` if a permit is available now; otherwise returns
    /// [`Error::RateLimited`] without polling it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// assert_eq!(l.call(async { Ok::<_, std::io::Error>(1) }).await?, 1);
    /// # Ok(()) }
    /// ```
    pub async fn call<T, E, Fut>(&self, future: Fut) -> Result<T, Error<E>>
    where
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        self.try_acquire().map_err(|d| self.error(d))?;
        future.await.map_err(Error::Operation)
    }

    fn error<E>(&self, denied: Denied) -> Error<E> {
        match denied {
            Denied::RateLimited { retry_after, .. } => Error::RateLimited {
                name: self.inner.name.clone(),
                retry_after,
            },
            Denied::ExceedsCapacity {
                requested,
                capacity,
            } => Error::InsufficientCapacity {
                name: self.inner.name.clone(),
                requested,
                capacity,
            },
        }
    }

    /// Changes the quota of the running limiter, keeping its state: permits already taken
    /// still count against the new quota. The algorithm must stay the same kind (GCRA and
    /// token bucket may be exchanged, since they share their state); the error names the
    /// offending field otherwise.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 1 }).build()?;
    /// l.try_acquire().unwrap();
    /// assert!(l.try_acquire().is_err());
    /// l.set_algorithm(Algorithm::Gcra { rate: Rate::per_second(10), burst: 2 })?;
    /// assert!(l.try_acquire().is_ok()); // the larger burst applies to the existing state
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn set_algorithm(&self, algorithm: Algorithm) -> Result<(), ConfigError> {
        let (kind, params, _) = algorithm.compile()?;
        if kind != self.inner.kind {
            return Err(ConfigError::new(
                "rate_limit",
                "algorithm",
                format_args!("{algorithm:?}"),
                "a running limiter keeps its kind of algorithm; build a new limiter to change it",
            ));
        }
        let mut current = lock(&self.inner.algorithm);
        let old = self.inner.params.read();
        let now = self.inner.clock.now().as_nanos();
        // Re-express the state in the new units, so permits already taken still count.
        match &self.inner.state {
            State::Gcra(word) if old[0] != params[0] => {
                convert(word, |tat| Gcra::rescale(tat, now, old[0], params[0]));
            }
            State::FixedWindow(word) if old[0] != params[0] => {
                let from = FixedWindow {
                    window: old[0],
                    max: old[1],
                };
                let to = FixedWindow {
                    window: params[0],
                    max: params[1],
                };
                convert(word, |state| to.carry(from.taken(state, now), now));
            }
            State::Counter(counts) if old[0] != params[0] => {
                let mut counts = lock(counts);
                let from = SlidingCounter {
                    window: old[0],
                    max: old[1],
                };
                let to = SlidingCounter {
                    window: params[0],
                    max: params[1],
                };
                *counts = to.carry(from.estimate(*counts, now), now);
            }
            _ => {}
        }
        self.inner.params.write(params);
        *current = algorithm;
        Ok(())
    }

    /// The current quota.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let a = Algorithm::Gcra { rate: Rate::per_second(5), burst: 5 };
    /// assert_eq!(RateLimiter::builder(a).build()?.algorithm(), a);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn algorithm(&self) -> Algorithm {
        *lock(&self.inner.algorithm)
    }

    /// The limiter's name.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(5), burst: 5 }).build()?;
    /// assert_eq!(l.name(), "rate_limit");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }
}

/// Applies `decide` to `word` with a compare-and-swap loop; the decision is made on the value
/// the swap succeeds against, so concurrent callers never over-admit.
#[inline]
fn update(
    word: &AtomicU64,
    decide: impl Fn(u64) -> Result<(u64, RateLimitInfo), Wait>,
) -> Result<RateLimitInfo, Denied> {
    update_from(word, word.load(Ordering::Acquire), decide)
}

/// [`update`] starting from `current`, a value already read from `word`.
#[inline]
fn update_from(
    word: &AtomicU64,
    mut current: u64,
    decide: impl Fn(u64) -> Result<(u64, RateLimitInfo), Wait>,
) -> Result<RateLimitInfo, Denied> {
    loop {
        match decide(current) {
            Ok((next, info)) => {
                match word.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => return Ok(info),
                    Err(actual) => current = actual,
                }
            }
            Err(wait) => return Err(denied(wait)),
        }
    }
}

/// A permit admitted on the fast path: what [`RateLimitInfo`] is computed from, if asked.
struct Admitted {
    tat: u64,
    now: u64,
    interval: u64,
    burst: u64,
}

/// One GCRA permit decided by the general (`u128`) path from `tat`, a value already read:
/// the fast path's denials and overflows.
#[cold]
#[inline(never)]
fn gcra_from(word: &AtomicU64, tat: u64, gcra: Gcra, now: u64) -> Result<RateLimitInfo, Denied> {
    update_from(word, tat, |tat| gcra.decide(tat, now, 1))
}

/// A slow-path decision for [`RateLimiter::check`], reduced to its small error.
#[cold]
#[inline(never)]
fn throttled(outcome: Result<RateLimitInfo, Denied>) -> Result<(), Throttled> {
    match outcome {
        Ok(_) => Ok(()),
        Err(Denied::RateLimited { retry_after, .. }) => Err(Throttled { retry_after }),
        // One permit always fits (burst and max are at least 1); should that ever change,
        // "never" is the honest answer.
        Err(Denied::ExceedsCapacity { .. }) => Err(Throttled {
            retry_after: Duration::MAX,
        }),
    }
}

/// Publishes a decision to `listeners`: shared by the direct and the keyed limiter.
#[cold]
fn publish(
    listeners: &Listeners,
    name: &str,
    permits: u64,
    outcome: &Result<RateLimitInfo, Denied>,
) {
    listeners.emit(|| {
        Event::RateLimit(match outcome {
            Ok(info) => RateLimitEvent::Permitted {
                name,
                permits,
                remaining: info.remaining(),
            },
            Err(denied) => RateLimitEvent::Rejected {
                name,
                permits,
                retry_after: denied.retry_after(),
            },
        })
    });
}

/// Replaces `word` with `f(word)` atomically.
fn convert(word: &AtomicU64, f: impl Fn(u64) -> u64) {
    let mut current = word.load(Ordering::Acquire);
    while let Err(actual) =
        word.compare_exchange_weak(current, f(current), Ordering::AcqRel, Ordering::Acquire)
    {
        current = actual;
    }
}

fn denied(wait: Wait) -> Denied {
    Denied::RateLimited {
        retry_after: wait.retry_after,
        info: wait.info,
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.inner.name)
            .field("algorithm", &self.algorithm())
            .field("info", &self.info())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(palisade_loom)))]
mod tests {
    use super::*;

    #[test]
    fn quota_parameters_are_never_read_torn() {
        // A writer flips between two parameter pairs; readers must only ever see one of them.
        let params = Params::new([1, 100]);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..200_000u64 {
                    params.write(if i % 2 == 0 { [100, 1] } else { [1, 100] });
                }
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            for _ in 0..3 {
                s.spawn(|| {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let seen = params.read();
                        assert!(seen == [1, 100] || seen == [100, 1], "torn read {seen:?}");
                    }
                });
            }
        });
    }
}
