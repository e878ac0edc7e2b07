//! `CircuitBreakerConfig` (plain data) and `CircuitBreakerBuilder` (the fluent form).

use std::fmt;
use std::time::Duration;

use super::{CircuitBreaker, LocalState, StateStore, Store};
use crate::builder::{Base, builder_base};
use crate::error::ConfigError;
use crate::predicate::{Always, Never};
use crate::validate;

const POLICY: &str = "circuit_breaker";

/// The window over which failure and slow-call rates are computed.
///
/// ```
/// use palisade::circuit_breaker::SlidingWindow;
/// use std::time::Duration;
/// let last_100_calls = SlidingWindow::Count { size: 100 };
/// let last_10_seconds = SlidingWindow::Time { duration: Duration::from_secs(10), buckets: 10 };
/// # let _ = (last_100_calls, last_10_seconds);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SlidingWindow {
    /// The last `size` recorded calls. Needs no clock.
    Count {
        /// Calls in the window, at least 1.
        size: u32,
    },
    /// The calls of the last `duration`, kept in `buckets` equal slices that expire one at a
    /// time (so the window slides in steps of `duration / buckets`).
    Time {
        /// The window's length, greater than zero.
        duration: Duration,
        /// Slices, 1 to 1000.
        buckets: u32,
    },
}

impl Default for SlidingWindow {
    fn default() -> Self {
        SlidingWindow::Count { size: 100 }
    }
}

/// Growth of the recovery timeout when a breaker trips again without having closed in
/// between: the `n`-th consecutive trip waits `recovery_timeout × multiplier^(n-1)`, at most
/// `max`. Closing resets the count.
///
/// ```
/// use palisade::circuit_breaker::RecoveryBackoff;
/// use std::time::Duration;
/// let backoff = RecoveryBackoff { multiplier: 2.0, max: Duration::from_secs(300) };
/// # let _ = backoff;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecoveryBackoff {
    /// Growth per consecutive trip; finite, at least 1.
    pub multiplier: f64,
    /// The longest recovery timeout; at least `recovery_timeout`.
    pub max: Duration,
}

/// The settings of a circuit breaker, as plain data.
///
/// Trip conditions combine: the breaker opens when **any** configured condition holds —
/// `failure_threshold` consecutive failures; a failure rate of at least
/// `failure_rate_threshold` percent over the sliding window; a slow-call rate of at least
/// `slow_call_rate_threshold` percent. Rates are evaluated on every recorded call, once the
/// window holds `minimum_calls` calls.
///
/// Defaults: open after 5 consecutive failures, try again after 30 s with 3 trial calls.
/// [`CircuitBreaker::builder`](super::CircuitBreaker::builder) applies the 5-consecutive
/// default only when no trip condition is chosen: a builder given only a rate condition
/// trips on that rate alone (as resilience4j's users expect). This plain data keeps
/// `failure_threshold: Some(5)` in its `Default`; set it to `None` next to a rate, as below.
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreakerConfig, SlidingWindow};
/// let config = CircuitBreakerConfig {
///     failure_threshold: None,
///     failure_rate_threshold: Some(50.0),
///     sliding_window: SlidingWindow::Count { size: 100 },
///     minimum_calls: 20,
///     ..CircuitBreakerConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CircuitBreakerConfig {
    /// Open after this many consecutive failures.
    /// `None` disables the condition. Default 5.
    pub failure_threshold: Option<u32>,
    /// Open when this percentage of the window's calls failed, in (0, 100]. Default `None`.
    pub failure_rate_threshold: Option<f64>,
    /// Open when this percentage of the window's calls were slow, in (0, 100]. Default `None`.
    pub slow_call_rate_threshold: Option<f64>,
    /// A call that takes at least this long is slow. Default 60 s.
    pub slow_call_duration: Duration,
    /// The window for the rate conditions. Default the last 100 calls.
    pub sliding_window: SlidingWindow,
    /// Rates are not evaluated before the window holds this many calls. Default 100.
    pub minimum_calls: u32,
    /// Time in Open before a trial call is let through. Default 30 s.
    pub recovery_timeout: Duration,
    /// Optional growth of `recovery_timeout` on repeated trips. Default `None`.
    pub recovery_backoff: Option<RecoveryBackoff>,
    /// Trial calls admitted at a time in HalfOpen.
    /// Default 3.
    pub half_open_requests: u32,
    /// Successful trial calls needed to close; `None` means `half_open_requests`. Any failed
    /// trial re-opens the breaker.
    pub success_threshold: Option<u32>,
    /// If HalfOpen lasts this long (trial calls that never finish), the breaker re-opens, so
    /// it can never be stuck. `None` waits forever. Default 60 s.
    pub max_wait_in_half_open: Option<Duration>,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            failure_threshold: Some(5),
            failure_rate_threshold: None,
            slow_call_rate_threshold: None,
            slow_call_duration: Duration::from_secs(60),
            sliding_window: SlidingWindow::default(),
            minimum_calls: 100,
            recovery_timeout: Duration::from_secs(30),
            recovery_backoff: None,
            half_open_requests: 3,
            success_threshold: None,
            max_wait_in_half_open: Some(Duration::from_secs(60)),
        }
    }
}

impl CircuitBreakerConfig {
    /// Checks every field; the error names the first bad field and its value.
    ///
    /// ```
    /// use palisade::circuit_breaker::CircuitBreakerConfig;
    /// let bad = CircuitBreakerConfig { failure_threshold: Some(0), ..Default::default() };
    /// let err = bad.validate().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("failure_threshold", "0"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.failure_threshold == Some(0) {
            return Err(ConfigError::new(
                POLICY,
                "failure_threshold",
                0,
                "must be at least 1 (or unset to disable the consecutive-failures condition)",
            ));
        }
        for (field, rate) in [
            ("failure_rate_threshold", self.failure_rate_threshold),
            ("slow_call_rate_threshold", self.slow_call_rate_threshold),
        ] {
            if let Some(rate) = rate
                && !(rate > 0.0 && rate <= 100.0)
            {
                return Err(ConfigError::new(
                    POLICY,
                    field,
                    rate,
                    "must be a percentage in (0, 100]",
                ));
            }
        }
        if self.failure_threshold.is_none()
            && self.failure_rate_threshold.is_none()
            && self.slow_call_rate_threshold.is_none()
        {
            return Err(ConfigError::new(
                POLICY,
                "failure_threshold",
                "none",
                "a breaker needs at least one trip condition: failure_threshold, \
                 failure_rate_threshold or slow_call_rate_threshold",
            ));
        }
        if self.slow_call_rate_threshold.is_some() {
            validate::positive(POLICY, "slow_call_duration", self.slow_call_duration)?;
        }
        match self.sliding_window {
            SlidingWindow::Count { size: 0 } => {
                return Err(ConfigError::new(
                    POLICY,
                    "sliding_window.size",
                    0,
                    "must be at least 1",
                ));
            }
            SlidingWindow::Count { size } if self.minimum_calls > size => {
                return Err(ConfigError::new(
                    POLICY,
                    "minimum_calls",
                    self.minimum_calls,
                    format!(
                        "must not exceed the count window's size ({size}), or rates could never be evaluated"
                    ),
                ));
            }
            SlidingWindow::Count { .. } => {}
            SlidingWindow::Time { duration, buckets } => {
                validate::positive(POLICY, "sliding_window.duration", duration)?;
                if !(1..=1000).contains(&buckets) {
                    return Err(ConfigError::new(
                        POLICY,
                        "sliding_window.buckets",
                        buckets,
                        "must be between 1 and 1000",
                    ));
                }
                if (duration / buckets).is_zero() {
                    return Err(ConfigError::new(
                        POLICY,
                        "sliding_window.buckets",
                        buckets,
                        format!(
                            "is too many for a window of {duration:?}: a bucket would be shorter than 1ns"
                        ),
                    ));
                }
            }
        }
        if self.minimum_calls == 0 {
            return Err(ConfigError::new(
                POLICY,
                "minimum_calls",
                0,
                "must be at least 1",
            ));
        }
        validate::positive(POLICY, "recovery_timeout", self.recovery_timeout)?;
        if let Some(backoff) = self.recovery_backoff {
            if !(backoff.multiplier.is_finite() && backoff.multiplier >= 1.0) {
                return Err(ConfigError::new(
                    POLICY,
                    "recovery_backoff.multiplier",
                    backoff.multiplier,
                    "must be a finite number of at least 1.0",
                ));
            }
            if backoff.max < self.recovery_timeout {
                return Err(ConfigError::new(
                    POLICY,
                    "recovery_backoff.max",
                    format_args!("{:?}", backoff.max),
                    format!(
                        "must be at least recovery_timeout ({:?})",
                        self.recovery_timeout
                    ),
                ));
            }
        }
        if self.half_open_requests == 0 {
            return Err(ConfigError::new(
                POLICY,
                "half_open_requests",
                0,
                "must be at least 1",
            ));
        }
        if self.success_threshold == Some(0) {
            return Err(ConfigError::new(
                POLICY,
                "success_threshold",
                0,
                "must be at least 1",
            ));
        }
        if let Some(wait) = self.max_wait_in_half_open {
            validate::positive(POLICY, "max_wait_in_half_open", wait)?;
        }
        Ok(())
    }

    /// The recovery timeout after the `trips`-th consecutive trip (1-based).
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreakerConfig, RecoveryBackoff};
    /// use std::time::Duration;
    /// let config = CircuitBreakerConfig {
    ///     recovery_timeout: Duration::from_secs(10),
    ///     recovery_backoff: Some(RecoveryBackoff { multiplier: 2.0, max: Duration::from_secs(60) }),
    ///     ..Default::default()
    /// };
    /// let waits: Vec<u64> = (1..=5).map(|n| config.recovery_timeout_after(n).as_secs()).collect();
    /// assert_eq!(waits, [10, 20, 40, 60, 60]);
    /// ```
    pub fn recovery_timeout_after(&self, trips: u32) -> Duration {
        let Some(backoff) = self.recovery_backoff else {
            return self.recovery_timeout;
        };
        crate::backoff::exponential(
            self.recovery_timeout,
            backoff.multiplier,
            trips,
            backoff.max,
        )
    }

    /// Successful trial calls needed to close.
    pub(crate) fn successes_to_close(&self) -> u32 {
        self.success_threshold.unwrap_or(self.half_open_requests)
    }

    /// Whether calls must be timed (slow-call detection is on).
    pub(crate) fn detects_slow_calls(&self) -> bool {
        self.slow_call_rate_threshold.is_some()
    }

    /// Whether a sliding window must be kept (a rate condition is on).
    pub(crate) fn uses_window(&self) -> bool {
        self.failure_rate_threshold.is_some() || self.slow_call_rate_threshold.is_some()
    }
}

/// Builds a [`CircuitBreaker`]; start with [`CircuitBreaker::builder`].
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreaker, SlidingWindow};
/// use std::time::Duration;
///
/// let breaker = CircuitBreaker::builder()
///     .name("payments")
///     .failure_threshold(5)                       // 5 consecutive failures, or
///     .failure_rate_threshold(50.0)               // half the last 100 calls
///     .sliding_window(SlidingWindow::Count { size: 100 })
///     .minimum_calls(20)
///     .recovery_timeout(Duration::from_secs(30))
///     .half_open_requests(3)
///     .build()?;
/// assert_eq!(breaker.name(), "payments");
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct CircuitBreakerBuilder {
    config: CircuitBreakerConfig,
    base: Base<CircuitBreaker>,
    /// Where the state lives; in this process unless set.
    store: Option<Store>,
    /// The first bad value given to a `*_secs` setter, reported by `build()`.
    error: validate::DeferredError,
    /// Whether `failure_threshold` is still the default's, not chosen: it then gives way to
    /// a rate condition if one is set (see [`CircuitBreakerConfig`]).
    default_threshold: bool,
}

impl CircuitBreakerBuilder {
    pub(super) fn new(config: CircuitBreakerConfig) -> Self {
        CircuitBreakerBuilder {
            config,
            base: Base::new(),
            store: None,
            error: validate::DeferredError::default(),
            default_threshold: false,
        }
    }

    /// A builder on the defaults: the 5-consecutive-failures condition applies only if no
    /// other trip condition is chosen.
    pub(super) fn with_defaults() -> Self {
        CircuitBreakerBuilder {
            default_threshold: true,
            ..Self::new(CircuitBreakerConfig::default())
        }
    }

    /// A rate condition was chosen: the default consecutive-failures condition gives way
    /// (a `failure_threshold` chosen before or after stays).
    fn rate_chosen(&mut self) {
        if self.default_threshold {
            self.config.failure_threshold = None;
        }
    }

    /// Opens after `failures` consecutive failures. Unless called (or the breaker is built
    /// from a [`CircuitBreakerConfig`]), 5 consecutive failures is the condition only when
    /// no rate condition is set.
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().failure_threshold(3).build()?;
    /// assert_eq!(b.config().failure_threshold, Some(3));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.config.failure_threshold = Some(failures);
        self.default_threshold = false;
        self
    }

    /// Turns the consecutive-failures condition off (use a rate condition instead).
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder()
    ///     .no_failure_threshold()
    ///     .failure_rate_threshold(25.0)
    ///     .build()?;
    /// assert_eq!(b.config().failure_threshold, None);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn no_failure_threshold(mut self) -> Self {
        self.config.failure_threshold = None;
        self.default_threshold = false;
        self
    }

    /// Opens when at least `percent` of the window's calls failed. Chosen alone, it replaces
    /// the default 5-consecutive-failures condition (call
    /// [`failure_threshold`](Self::failure_threshold) to keep both).
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().failure_rate_threshold(40.0).build()?;
    /// assert_eq!(b.config().failure_threshold, None);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    ///
    /// ```
    /// let err = palisade::circuit_breaker::CircuitBreaker::builder()
    ///     .failure_rate_threshold(150.0).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("failure_rate_threshold", "150"));
    /// ```
    pub fn failure_rate_threshold(mut self, percent: f64) -> Self {
        self.config.failure_rate_threshold = Some(percent);
        self.rate_chosen();
        self
    }

    /// Opens when at least `percent` of the window's calls took `slow_call_duration` or more.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder()
    ///     .slow_call_rate_threshold(80.0)
    ///     .slow_call_duration(Duration::from_secs(2))
    ///     .build()?;
    /// assert_eq!(b.config().slow_call_rate_threshold, Some(80.0));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn slow_call_rate_threshold(mut self, percent: f64) -> Self {
        self.config.slow_call_rate_threshold = Some(percent);
        self.rate_chosen();
        self
    }

    /// The duration from which a call counts as slow.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().slow_call_duration(Duration::from_millis(500)).build()?;
    /// assert_eq!(b.config().slow_call_duration, Duration::from_millis(500));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn slow_call_duration(mut self, duration: Duration) -> Self {
        self.config.slow_call_duration = duration;
        self
    }

    /// The window for the rate conditions.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, SlidingWindow};
    /// use std::time::Duration;
    /// let b = CircuitBreaker::builder()
    ///     .failure_rate_threshold(50.0)
    ///     .sliding_window(SlidingWindow::Time { duration: Duration::from_secs(10), buckets: 10 })
    ///     .build()?;
    /// # let _ = b;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn sliding_window(mut self, window: SlidingWindow) -> Self {
        self.config.sliding_window = window;
        if let SlidingWindow::Count { size } = window {
            // Keep the default minimum evaluable in a smaller window; an explicit
            // `minimum_calls` set afterwards still wins and is validated.
            self.config.minimum_calls = self.config.minimum_calls.min(size.max(1));
        }
        self
    }

    /// Calls the window must hold before rates are evaluated.
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().minimum_calls(10).build()?;
    /// assert_eq!(b.config().minimum_calls, 10);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.config.minimum_calls = calls;
        self
    }

    /// Time in Open before trial calls are let through.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().recovery_timeout(Duration::from_secs(10)).build()?;
    /// assert_eq!(b.config().recovery_timeout, Duration::from_secs(10));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn recovery_timeout(mut self, timeout: Duration) -> Self {
        self.config.recovery_timeout = timeout;
        self.error.clear("recovery_timeout");
        self
    }

    /// [`recovery_timeout`](Self::recovery_timeout) in seconds; bad numbers are reported by
    /// `build()`.
    ///
    /// ```
    /// let err = palisade::circuit_breaker::CircuitBreaker::builder().recovery_timeout_secs(-5.0).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("recovery_timeout", "-5s"));
    /// ```
    pub fn recovery_timeout_secs(mut self, secs: f64) -> Self {
        if let Some(d) = self.error.secs(POLICY, "recovery_timeout", secs) {
            self.config.recovery_timeout = d;
        }
        self
    }

    /// Grows the recovery timeout on repeated trips.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder()
    ///     .recovery_backoff(2.0, Duration::from_secs(300))
    ///     .build()?;
    /// assert_eq!(b.config().recovery_timeout_after(2), Duration::from_secs(60));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn recovery_backoff(mut self, multiplier: f64, max: Duration) -> Self {
        self.config.recovery_backoff = Some(RecoveryBackoff { multiplier, max });
        self
    }

    /// Trial calls admitted at a time in HalfOpen.
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().half_open_requests(1).build()?;
    /// assert_eq!(b.config().half_open_requests, 1);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn half_open_requests(mut self, requests: u32) -> Self {
        self.config.half_open_requests = requests;
        self
    }

    /// Successful trial calls needed to close (default: `half_open_requests`).
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().success_threshold(5).build()?;
    /// assert_eq!(b.config().success_threshold, Some(5));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn success_threshold(mut self, successes: u32) -> Self {
        self.config.success_threshold = Some(successes);
        self
    }

    /// Re-opens a breaker that has been HalfOpen this long; `None` never does.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().max_wait_in_half_open(None).build()?;
    /// assert_eq!(b.config().max_wait_in_half_open, None);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_wait_in_half_open(mut self, wait: Option<Duration>) -> Self {
        self.config.max_wait_in_half_open = wait;
        self
    }

    /// Validates the settings and builds the breaker, Closed.
    ///
    /// ```
    /// let err = palisade::circuit_breaker::CircuitBreaker::builder().half_open_requests(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid circuit_breaker configuration: half_open_requests = 0: must be at least 1");
    /// ```
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        self.error.check()?;
        self.config.validate()?;
        let store = match self.store {
            Some(store) => store,
            None => Store::from(LocalState::new(&self.config, self.base.clock.now())),
        };
        Ok(CircuitBreaker::assemble(
            self.base.name_or(POLICY),
            self.config,
            self.base.clock,
            self.base.listeners,
            store,
        ))
    }

    /// The configuration set so far.
    pub(crate) fn config(&self) -> &CircuitBreakerConfig {
        &self.config
    }

    /// Keeps the breaker's state in `store` instead of this process: a fleet-wide store, or
    /// any [`StateStore`] (wrapped with [`Store::custom`]). Calls, events and operator
    /// actions go through the same API whatever the store.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, LocalState, Store};
    /// let config = CircuitBreakerConfig::default();
    /// let store = Store::custom(LocalState::new(&config, Default::default()));
    /// let breaker = CircuitBreaker::builder_from(config).store(store).build()?;
    /// assert_eq!(breaker.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn store(mut self, store: impl Into<Store>) -> Self {
        self.store = Some(store.into());
        self
    }

    /// Builds a breaker over `store`, typed statically: no trait object, every call to the
    /// store inlinable. (With [`build`](Self::build), the breaker's store is a [`Store`].)
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, LocalState};
    /// let breaker: CircuitBreaker<_, _, _, LocalState> = CircuitBreaker::builder()
    ///     .build_with_store(LocalState::new(&Default::default(), Default::default()))?;
    /// assert_eq!(breaker.call_blocking(|| Ok::<_, ()>(2)), Ok(2));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn build_with_store<S: StateStore>(
        self,
        store: S,
    ) -> Result<CircuitBreaker<Always, Never, Never, S>, ConfigError> {
        self.error.check()?;
        self.config.validate()?;
        Ok(CircuitBreaker::assemble(
            self.base.name_or(POLICY),
            self.config,
            self.base.clock,
            self.base.listeners,
            store,
        ))
    }
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("config", &self.config)
            .field("base", &self.base)
            .field("store", &self.store)
            .field("error", &self.error)
            .finish()
    }
}

builder_base!(
    CircuitBreakerBuilder,
    kind = CircuitBreaker,
    policy = CircuitBreaker,
    make = "palisade::circuit_breaker::CircuitBreaker::builder()",
    build = ".build()"
);
