//! Rates, algorithms and the limiter builder.

use std::fmt;
use std::time::Duration;

use super::window::FIXED_WINDOW_MAX;
use super::{LocalState, RateLimiter, Store};
use crate::builder::{Base, builder_base};
use crate::clock::duration_to_nanos;
use crate::error::ConfigError;

const POLICY: &str = "rate_limit";

/// A rate: `permits` per `period`.
///
/// ```
/// use palisade::rate_limit::Rate;
/// use std::time::Duration;
/// let api = Rate::per_second(10);
/// assert_eq!(api, Rate::new(10, Duration::from_secs(1)));
/// assert_eq!(api.to_string(), "10/1s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Permits per period; at least 1.
    pub permits: u32,
    /// The period; greater than zero.
    pub period: Duration,
}

impl Rate {
    /// `permits` per `period`.
    ///
    /// ```
    /// let r = palisade::rate_limit::Rate::new(3, std::time::Duration::from_millis(500));
    /// assert_eq!(r.permits, 3);
    /// ```
    pub const fn new(permits: u32, period: Duration) -> Rate {
        Rate { permits, period }
    }

    /// `permits` per second.
    ///
    /// ```
    /// assert_eq!(palisade::rate_limit::Rate::per_second(5).period.as_secs(), 1);
    /// ```
    pub const fn per_second(permits: u32) -> Rate {
        Rate::new(permits, Duration::from_secs(1))
    }

    /// `permits` per minute.
    ///
    /// ```
    /// assert_eq!(palisade::rate_limit::Rate::per_minute(60).period.as_secs(), 60);
    /// ```
    pub const fn per_minute(permits: u32) -> Rate {
        Rate::new(permits, Duration::from_secs(60))
    }

    /// Nanoseconds per permit, rounded up so the limiter never admits faster than the rate.
    fn interval(&self, field: &'static str) -> Result<u64, ConfigError> {
        if self.permits == 0 || self.period.is_zero() {
            return Err(ConfigError::new(
                POLICY,
                field,
                self,
                "must admit at least one permit per non-zero period",
            ));
        }
        Ok(duration_to_nanos(self.period).div_ceil(u64::from(self.permits)))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:?}", self.permits, self.period)
    }
}

/// Which algorithm a limiter runs, with its quota.
///
/// | algorithm | state | bound over any interval of length `t` |
/// |---|---|---|
/// | `Gcra` | one `u64` | `t / interval + burst` |
/// | `TokenBucket` | one `u64` | `t / interval + capacity` |
/// | `FixedWindow` | one `u64` | `max_requests` per window; `2 × max_requests` across a boundary |
/// | `SlidingWindowCounter` | three numbers | `2 × max_requests` at worst, ≈ `max_requests` for spread traffic |
/// | `SlidingWindowLog` | `max_requests` timestamps | exactly `max_requests` per window |
///
/// `interval` is `period / permits` rounded up to whole nanoseconds.
///
/// ```
/// use palisade::rate_limit::{Algorithm, Rate};
/// use std::time::Duration;
/// let api = Algorithm::Gcra { rate: Rate::per_second(10), burst: 20 };
/// let reference = Algorithm::FixedWindow { max_requests: 100, window: Duration::from_secs(60) };
/// # let _ = (api, reference);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// The Generic Cell Rate Algorithm (as governor and redis-cell): `rate`, plus up to
    /// `burst` permits at once.
    Gcra {
        /// The sustained rate.
        rate: Rate,
        /// Permits that may be taken at once; at least 1.
        burst: u32,
    },
    /// A token bucket of `capacity` tokens refilled at `rate`, starting with
    /// `initial_tokens` (default: full). The same algorithm as GCRA, seen from the bucket.
    TokenBucket {
        /// The refill rate.
        rate: Rate,
        /// The bucket's size; at least 1.
        capacity: u32,
        /// Tokens at start, at most `capacity`; `None` for a full bucket.
        initial_tokens: Option<u32>,
    },
    /// `max_requests` per fixed `window`.
    FixedWindow {
        /// Permits per window; 1 to 16,777,215.
        max_requests: u32,
        /// The window; at least 1 ms.
        window: Duration,
    },
    /// A sliding window estimated from the current and previous fixed windows.
    SlidingWindowCounter {
        /// Permits per window; at least 1.
        max_requests: u32,
        /// The window; greater than zero.
        window: Duration,
    },
    /// An exact sliding window that remembers every permit of the last `window`.
    SlidingWindowLog {
        /// Permits per window; at least 1.
        max_requests: u32,
        /// The window; greater than zero.
        window: Duration,
    },
}

/// The algorithm compiled to the two numbers the hot path needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// GCRA and token bucket: (interval, burst).
    Gcra,
    /// (window, max).
    FixedWindow,
    /// (window, max).
    SlidingCounter,
    /// (window, max).
    SlidingLog,
}

impl Algorithm {
    /// Checks the quota; returns its kind, its two parameters and the initial tokens.
    pub(crate) fn compile(&self) -> Result<(Kind, [u64; 2], Option<u64>), ConfigError> {
        let window = |window: Duration, max_requests: u32, limit: u64| {
            crate::validate::positive(POLICY, "window", window)?;
            if max_requests == 0 || u64::from(max_requests) > limit {
                return Err(ConfigError::new(
                    POLICY,
                    "max_requests",
                    max_requests,
                    format!("must be between 1 and {limit}"),
                ));
            }
            Ok([duration_to_nanos(window), u64::from(max_requests)])
        };
        match *self {
            Algorithm::Gcra { rate, burst } => {
                let interval = rate.interval("rate")?;
                if burst == 0 {
                    return Err(ConfigError::new(POLICY, "burst", 0, "must be at least 1"));
                }
                Ok((Kind::Gcra, [interval, u64::from(burst)], None))
            }
            Algorithm::TokenBucket {
                rate,
                capacity,
                initial_tokens,
            } => {
                let interval = rate.interval("rate")?;
                if capacity == 0 {
                    return Err(ConfigError::new(
                        POLICY,
                        "capacity",
                        0,
                        "must be at least 1",
                    ));
                }
                if let Some(initial) = initial_tokens
                    && initial > capacity
                {
                    return Err(ConfigError::new(
                        POLICY,
                        "initial_tokens",
                        initial,
                        format!("must not exceed capacity ({capacity})"),
                    ));
                }
                Ok((
                    Kind::Gcra,
                    [interval, u64::from(capacity)],
                    initial_tokens.map(u64::from),
                ))
            }
            Algorithm::FixedWindow {
                max_requests,
                window: w,
            } => {
                if w < Duration::from_millis(1) {
                    return Err(ConfigError::new(
                        POLICY,
                        "window",
                        format_args!("{w:?}"),
                        "must be at least 1ms for a fixed window",
                    ));
                }
                Ok((
                    Kind::FixedWindow,
                    window(w, max_requests, FIXED_WINDOW_MAX)?,
                    None,
                ))
            }
            Algorithm::SlidingWindowCounter {
                max_requests,
                window: w,
            } => Ok((
                Kind::SlidingCounter,
                window(w, max_requests, u64::from(u32::MAX))?,
                None,
            )),
            Algorithm::SlidingWindowLog {
                max_requests,
                window: w,
            } => Ok((
                Kind::SlidingLog,
                window(w, max_requests, u64::from(u32::MAX))?,
                None,
            )),
        }
    }
}

/// Builds a [`RateLimiter`]; start with [`RateLimiter::builder`].
///
/// ```
/// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
/// let limiter = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 20 })
///     .name("api")
///     .build()?;
/// assert_eq!(limiter.name(), "api");
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct RateLimiterBuilder {
    algorithm: Algorithm,
    base: Base<RateLimiter>,
    store: Option<Store>,
}

impl RateLimiterBuilder {
    pub(super) fn new(algorithm: Algorithm) -> Self {
        RateLimiterBuilder {
            algorithm,
            base: Base::new(),
            store: None,
        }
    }

    /// Validates the quota and builds the limiter.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let err = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(0), burst: 1 }).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("rate", "0/1s"));
    /// ```
    pub fn build(self) -> Result<RateLimiter, ConfigError> {
        let store = match self.store {
            Some(store) => {
                // The algorithm is validated whatever keeps the state.
                self.algorithm.compile()?;
                store
            }
            None => Store::from(LocalState::new(self.algorithm, self.base.clock.now())?),
        };
        Ok(RateLimiter::assemble(
            self.base.name_or(POLICY),
            self.base.clock,
            self.base.listeners,
            store,
        ))
    }

    /// Keeps the quota's state in `store` instead of this process: a fleet-wide store, or
    /// any [`StateStore`](super::StateStore) (wrapped with [`Store::custom`]). The limiter's
    /// API, events and waiting stay the same.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, LocalState, Rate, RateLimiter, Store};
    /// let algorithm = Algorithm::Gcra { rate: Rate::per_second(5), burst: 5 };
    /// let store = Store::custom(LocalState::new(algorithm, Default::default())?);
    /// let limiter = RateLimiter::builder(algorithm).store(store).build()?;
    /// assert!(limiter.try_acquire().is_ok());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn store(mut self, store: impl Into<Store>) -> Self {
        self.store = Some(store.into());
        self
    }

    /// Builds a limiter over `store`, typed statically: no trait object, every decision
    /// inlinable. (With [`build`](Self::build), the limiter's store is a [`Store`].)
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, LocalState, Rate, RateLimiter};
    /// let algorithm = Algorithm::Gcra { rate: Rate::per_second(5), burst: 5 };
    /// let limiter: RateLimiter<LocalState> = RateLimiter::builder(algorithm)
    ///     .build_with_store(LocalState::new(algorithm, Default::default())?)?;
    /// assert!(limiter.check().is_ok());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn build_with_store<S: super::StateStore>(
        self,
        store: S,
    ) -> Result<RateLimiter<S>, ConfigError> {
        self.algorithm.compile()?;
        Ok(RateLimiter::assemble(
            self.base.name_or(POLICY),
            self.base.clock,
            self.base.listeners,
            store,
        ))
    }
}

impl fmt::Debug for RateLimiterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiterBuilder")
            .field("algorithm", &self.algorithm)
            .field("base", &self.base)
            .field("store", &self.store)
            .finish()
    }
}

builder_base!(
    RateLimiterBuilder,
    kind = RateLimiter,
    policy = RateLimiter,
    make = "palisade::rate_limit::RateLimiter::builder(palisade::rate_limit::Algorithm::Gcra { rate: palisade::rate_limit::Rate::per_second(10), burst: 10 })",
    build = ".build()"
);
