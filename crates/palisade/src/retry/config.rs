//! `RetryConfig` (plain data, loadable from files later) and `RetryBuilder` (the fluent form).

use std::fmt;
use std::time::Duration;

use super::{Retry, RetryBudget, RetryBudgetConfig};
use crate::builder::{Base, builder_base};
use crate::error::ConfigError;
use crate::listener::Callback;
use crate::retry::{Cause, RetryEvent, StopReason};
use crate::validate;

const POLICY: &str = "retry";

/// How the delay grows from one retry to the next, before jitter and the `max_delay` cap.
///
/// With `base_delay = 1s` and `exponential_base = 2`, the delays after attempts 1, 2, 3, 4 are:
///
/// | strategy | delays |
/// |---|---|
/// | `Fixed` | 1s, 1s, 1s, 1s |
/// | `Linear` | 1s, 2s, 3s, 4s |
/// | `Exponential` | 1s, 2s, 4s, 8s |
///
/// ```
/// use palisade::retry::{RetryConfig, Strategy};
/// use std::time::Duration;
/// let config = RetryConfig { strategy: Strategy::Linear, ..RetryConfig::default() };
/// assert_eq!(config.scheduled_delay(3), Duration::from_secs(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// The same delay every time: `base_delay`.
    Fixed,
    /// `base_delay × n` after attempt `n`.
    Linear,
    /// `base_delay × exponential_base^(n-1)` after attempt `n`. The default.
    #[default]
    Exponential,
}

/// Randomisation applied to each delay so that many clients do not retry in lock-step.
///
/// For a scheduled delay `d` (from the [`Strategy`], capped by `max_delay`):
///
/// | jitter | delay |
/// |---|---|
/// | `None` | `d` |
/// | `Full` (default) | uniform in `[0, d]` |
/// | `Equal` | `d/2` + uniform in `[0, d/2]` |
/// | `Decorrelated` | `min(max_delay, uniform in [base_delay, 3 × previous delay])` |
///
/// `Decorrelated` (from AWS's "Exponential Backoff and Jitter") grows from the previous
/// *actual* delay rather than from the strategy, so it replaces the strategy's schedule.
///
/// ```
/// use palisade::retry::{Jitter, Retry};
/// let retry = Retry::builder().jitter(Jitter::Equal).build()?;
/// assert_eq!(retry.config().jitter, Jitter::Equal);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// Exactly the scheduled delay.
    None,
    /// Uniform in `[0, d]`: the best spread, the default.
    #[default]
    Full,
    /// `d/2` plus uniform in `[0, d/2]`: never shorter than half the schedule.
    Equal,
    /// `min(max_delay, uniform in [base_delay, 3 × previous])`.
    Decorrelated,
}

/// The settings of a retry policy, as plain data.
///
/// Defaults: three attempts,
/// exponential backoff from one second doubling up to thirty seconds, full jitter, and no
/// elapsed-time budget.
///
/// ```
/// use palisade::retry::{Jitter, Retry, RetryConfig, Strategy};
/// use std::time::Duration;
///
/// let config = RetryConfig {
///     max_attempts: 5,
///     base_delay: Duration::from_millis(500),
///     max_elapsed: Some(Duration::from_secs(20)),
///     ..RetryConfig::default()
/// };
/// let retry = Retry::from_config(config)?;
/// assert_eq!(retry.config().max_attempts, 5);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// Total attempts including the first one; `1` means no retries. At least 1.
    pub max_attempts: u32,
    /// The first retry's scheduled delay, and the unit of growth. Greater than zero.
    pub base_delay: Duration,
    /// No scheduled delay exceeds this. At least `base_delay`.
    pub max_delay: Duration,
    /// The multiplier of [`Strategy::Exponential`]. Finite and at least 1.
    pub exponential_base: f64,
    /// How delays grow.
    pub strategy: Strategy,
    /// How delays are randomised.
    pub jitter: Jitter,
    /// An optional budget for the whole call, measured from the start of the first attempt.
    /// A retry is made only if it would start before the budget runs out; otherwise retry
    /// gives up at once (it never sleeps into or past the budget). Greater than zero.
    pub max_elapsed: Option<Duration>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            exponential_base: 2.0,
            strategy: Strategy::Exponential,
            jitter: Jitter::Full,
            max_elapsed: None,
        }
    }
}

impl RetryConfig {
    /// Checks every field; the error names the first bad field and its value.
    ///
    /// ```
    /// use palisade::retry::RetryConfig;
    /// let bad = RetryConfig { exponential_base: f64::NAN, ..RetryConfig::default() };
    /// let err = bad.validate().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("exponential_base", "NaN"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::new(
                POLICY,
                "max_attempts",
                0,
                "must be at least 1",
            ));
        }
        validate::positive(POLICY, "base_delay", self.base_delay)?;
        validate::positive(POLICY, "max_delay", self.max_delay)?;
        if self.max_delay < self.base_delay {
            return Err(ConfigError::new(
                POLICY,
                "max_delay",
                format_args!("{:?}", self.max_delay),
                format!("must be at least base_delay ({:?})", self.base_delay),
            ));
        }
        if !self.exponential_base.is_finite() {
            return Err(ConfigError::new(
                POLICY,
                "exponential_base",
                self.exponential_base,
                "must be a finite number",
            ));
        }
        if self.exponential_base < 1.0 {
            return Err(ConfigError::new(
                POLICY,
                "exponential_base",
                self.exponential_base,
                "must be at least 1.0 (a smaller multiplier would shrink the delays)",
            ));
        }
        if let Some(budget) = self.max_elapsed {
            validate::positive(POLICY, "max_elapsed", budget)?;
        }
        Ok(())
    }

    /// The delay the [`Strategy`] schedules after attempt `attempt` (1-based) fails, capped by
    /// `max_delay`, before jitter. Attempt 0 is treated as 1.
    ///
    /// ```
    /// use palisade::retry::RetryConfig;
    /// use std::time::Duration;
    /// let config = RetryConfig::default(); // exponential from 1s, doubling, capped at 30s
    /// let delays: Vec<_> = (1..=7).map(|n| config.scheduled_delay(n).as_secs()).collect();
    /// assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
    /// ```
    pub fn scheduled_delay(&self, attempt: u32) -> Duration {
        let n = attempt.max(1);
        let uncapped = match self.strategy {
            Strategy::Fixed => self.base_delay,
            Strategy::Linear => self.base_delay.saturating_mul(n),
            Strategy::Exponential => crate::backoff::exponential(
                self.base_delay,
                self.exponential_base,
                n,
                self.max_delay,
            ),
        };
        uncapped.min(self.max_delay)
    }
}

/// Builds a [`Retry`]; start with [`Retry::builder`].
///
/// Every setter accepts any value; [`build`](RetryBuilder::build) checks them all and names
/// the first bad field. The `*_secs` setters take seconds as `f64` (as configuration often
/// writes them) and report NaN, negative and zero values at `build()` instead of panicking.
///
/// ```
/// use palisade::retry::{Jitter, Retry};
/// use std::time::Duration;
///
/// let retry = Retry::builder()
///     .name("payments")
///     .max_attempts(5)
///     .exponential(Duration::from_millis(200))
///     .max_delay(Duration::from_secs(10))
///     .jitter(Jitter::Full)
///     .max_elapsed(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(retry.name(), "payments");
///
/// let err = Retry::builder().base_delay_secs(-1.0).build().unwrap_err();
/// assert_eq!(err.to_string(), "invalid retry configuration: base_delay = -1s: must be greater than zero seconds");
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct RetryBuilder {
    config: RetryConfig,
    base: Base<Retry>,
    seed: Option<u64>,
    budget: Option<Budget>,
    /// The first bad value given to a `*_secs` setter, reported by `build()`.
    error: validate::DeferredError,
}

impl RetryBuilder {
    pub(super) fn new(config: RetryConfig) -> Self {
        RetryBuilder {
            config,
            base: Base::new(),
            seed: None,
            budget: None,
            error: validate::DeferredError::default(),
        }
    }

    /// Total attempts, the first included (`1` = never retry).
    ///
    /// ```
    /// let r = palisade::retry::Retry::builder().max_attempts(5).build()?;
    /// assert_eq!(r.config().max_attempts, 5);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.config.max_attempts = attempts;
        self
    }

    /// The first delay and unit of growth.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let r = palisade::retry::Retry::builder().base_delay(Duration::from_millis(100)).build()?;
    /// assert_eq!(r.config().base_delay, Duration::from_millis(100));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.config.base_delay = delay;
        self.error.clear("base_delay");
        self
    }

    /// [`base_delay`](Self::base_delay) in seconds; bad numbers are reported by `build()`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let r = palisade::retry::Retry::builder().base_delay_secs(0.5).build()?;
    /// assert_eq!(r.config().base_delay, Duration::from_millis(500));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn base_delay_secs(mut self, secs: f64) -> Self {
        if let Some(d) = self.secs("base_delay", secs) {
            self.config.base_delay = d;
        }
        self
    }

    /// The cap on every scheduled delay.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let r = palisade::retry::Retry::builder().max_delay(Duration::from_secs(5)).build()?;
    /// assert_eq!(r.config().max_delay, Duration::from_secs(5));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.config.max_delay = delay;
        self.error.clear("max_delay");
        self
    }

    /// [`max_delay`](Self::max_delay) in seconds; bad numbers are reported by `build()`.
    ///
    /// ```
    /// let err = palisade::retry::Retry::builder().max_delay_secs(f64::NAN).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("max_delay", "NaN"));
    /// ```
    pub fn max_delay_secs(mut self, secs: f64) -> Self {
        if let Some(d) = self.secs("max_delay", secs) {
            self.config.max_delay = d;
        }
        self
    }

    /// The multiplier of exponential backoff (default 2.0).
    ///
    /// ```
    /// let err = palisade::retry::Retry::builder().exponential_base(0.5).build().unwrap_err();
    /// assert_eq!(err.field(), "exponential_base");
    /// ```
    pub fn exponential_base(mut self, multiplier: f64) -> Self {
        self.config.exponential_base = multiplier;
        self
    }

    /// How delays grow.
    ///
    /// ```
    /// use palisade::retry::{Retry, Strategy};
    /// let r = Retry::builder().strategy(Strategy::Fixed).build()?;
    /// assert_eq!(r.config().strategy, Strategy::Fixed);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.config.strategy = strategy;
        self
    }

    /// Shorthand for a [`Strategy::Fixed`] delay of `delay`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let r = palisade::retry::Retry::builder().fixed(Duration::from_millis(50)).build()?;
    /// assert_eq!(r.config().scheduled_delay(9), Duration::from_millis(50));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn fixed(self, delay: Duration) -> Self {
        self.strategy(Strategy::Fixed).base_delay(delay)
    }

    /// Shorthand for [`Strategy::Linear`] growth from `base_delay`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let r = palisade::retry::Retry::builder().linear(Duration::from_millis(50)).build()?;
    /// assert_eq!(r.config().scheduled_delay(3), Duration::from_millis(150));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn linear(self, base_delay: Duration) -> Self {
        self.strategy(Strategy::Linear).base_delay(base_delay)
    }

    /// Shorthand for [`Strategy::Exponential`] growth from `base_delay`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let r = palisade::retry::Retry::builder().exponential(Duration::from_millis(50)).build()?;
    /// assert_eq!(r.config().scheduled_delay(3), Duration::from_millis(200));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn exponential(self, base_delay: Duration) -> Self {
        self.strategy(Strategy::Exponential).base_delay(base_delay)
    }

    /// How delays are randomised (default [`Jitter::Full`]).
    ///
    /// ```
    /// use palisade::retry::{Jitter, Retry};
    /// let r = Retry::builder().jitter(Jitter::None).build()?;
    /// assert_eq!(r.config().jitter, Jitter::None);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.config.jitter = jitter;
        self
    }

    /// A budget for the whole call, measured from the start of the first attempt.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let r = palisade::retry::Retry::builder().max_elapsed(Duration::from_secs(10)).build()?;
    /// assert_eq!(r.config().max_elapsed, Some(Duration::from_secs(10)));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_elapsed(mut self, budget: Duration) -> Self {
        self.config.max_elapsed = Some(budget);
        self.error.clear("max_elapsed");
        self
    }

    /// [`max_elapsed`](Self::max_elapsed) in seconds; bad numbers are reported by `build()`.
    ///
    /// ```
    /// let err = palisade::retry::Retry::builder().max_elapsed_secs(-3.0).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("max_elapsed", "-3s"));
    /// ```
    pub fn max_elapsed_secs(mut self, secs: f64) -> Self {
        if let Some(d) = self.secs("max_elapsed", secs) {
            self.config.max_elapsed = Some(d);
        }
        self
    }

    /// Seeds the jitter RNG so delays are reproducible. Each call through the policy still
    /// draws a different (but deterministic) sequence: call `k` (counting every call since the
    /// policy was built, by any clone) uses a stream derived from `seed` and `k`.
    ///
    /// ```
    /// let r = palisade::retry::Retry::builder().seed(7).build()?;
    /// # let _ = r;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Shares a [`RetryBudget`] with other policies: every call deposits into it, every
    /// retry must withdraw from it, and a refused withdrawal stops retry with
    /// [`StopReason::BudgetExhausted`]. The budget is checked last, once `max_attempts` and
    /// `max_elapsed` allow the retry, so no retry is spent on one that would not happen.
    /// Without a budget a call pays nothing for the feature (one `None` check).
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use palisade::retry::{Retry, RetryBudget, StopReason};
    /// use palisade::Error;
    ///
    /// let clock = ManualClock::new();
    /// // No floor and a ratio of 0: this budget never grants a retry.
    /// let budget = RetryBudget::builder().ratio(0.0).min_retries_per_sec(0).clock(clock.clone()).build()?;
    /// let retry = Retry::builder().clock(clock).budget(budget.clone()).build()?;
    /// let err = retry.call_blocking(|| Err::<(), _>("down")).unwrap_err();
    /// assert!(matches!(
    ///     err,
    ///     Error::RetriesExhausted { attempts: 1, reason: StopReason::BudgetExhausted, .. }
    /// ));
    /// assert_eq!(budget.stats().calls, 1);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(Budget::Shared(budget));
        self
    }

    /// Gives the policy a [`RetryBudget`] of its own, built by `build()` on the policy's
    /// clock (so a pipeline on a [`ManualClock`](crate::clock::ManualClock) ages it on
    /// virtual time too). Use [`budget`](Self::budget) to share one between policies.
    ///
    /// ```
    /// use palisade::retry::{Retry, RetryBudgetConfig};
    /// let retry = Retry::builder()
    ///     .own_budget(RetryBudgetConfig { ratio: 0.1, ..Default::default() })
    ///     .build()?;
    /// assert_eq!(retry.budget().map(|b| b.config().ratio), Some(0.1));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn own_budget(mut self, config: RetryBudgetConfig) -> Self {
        self.budget = Some(Budget::Own(config));
        self
    }

    /// Seeds the jitter unless a seed is already set (a pipeline's seed, given to the retry
    /// it builds, does not override the retry's own).
    pub(crate) fn seed_unless_set(mut self, seed: Option<u64>) -> Self {
        self.seed = self.seed.or(seed);
        self
    }

    /// Called before each retry with the failed attempt's number (1-based), the delay about to
    /// be slept and what caused the retry.
    ///
    /// ```
    /// use palisade::retry::{Cause, Retry};
    /// let r = Retry::builder()
    ///     .on_retry(|attempt, delay, cause: Cause<'_>| eprintln!("attempt {attempt} failed ({cause:?}), retrying in {delay:?}"))
    ///     .build()?;
    /// # let _ = r;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn on_retry<F>(self, f: F) -> Self
    where
        F: Fn(u32, Duration, Cause<'_>) + Send + Sync + 'static,
    {
        self.on_event(Callback(move |event: &RetryEvent<'_>| {
            if let RetryEvent::RetryScheduled {
                attempt,
                delay,
                cause,
                ..
            } = event
            {
                f(*attempt, *delay, *cause)
            }
        }))
    }

    /// Called when a call succeeds, with the attempts it took and the time from the start of
    /// the first attempt.
    ///
    /// ```
    /// let r = palisade::retry::Retry::builder()
    ///     .on_success(|attempts, took| eprintln!("ok after {attempts} attempts in {took:?}"))
    ///     .build()?;
    /// # let _ = r;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn on_success<F>(self, f: F) -> Self
    where
        F: Fn(u32, Duration) + Send + Sync + 'static,
    {
        self.on_event(Callback(move |event: &RetryEvent<'_>| {
            if let RetryEvent::Succeeded {
                attempts,
                total_duration,
                ..
            } = event
            {
                f(*attempts, *total_duration)
            }
        }))
    }

    /// Called when retry gives up, with the attempts made, why it stopped and the last
    /// outcome.
    ///
    /// ```
    /// use palisade::retry::{Cause, Retry, StopReason};
    /// let r = Retry::builder()
    ///     .on_failure(|attempts, reason: StopReason, last: Cause<'_>| eprintln!("gave up after {attempts}: {reason}; last: {last:?}"))
    ///     .build()?;
    /// # let _ = r;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn on_failure<F>(self, f: F) -> Self
    where
        F: Fn(u32, StopReason, Cause<'_>) + Send + Sync + 'static,
    {
        self.on_event(Callback(move |event: &RetryEvent<'_>| {
            if let RetryEvent::GaveUp {
                attempts,
                reason,
                cause,
                ..
            } = event
            {
                f(*attempts, *reason, *cause)
            }
        }))
    }

    /// Validates the settings and builds the policy.
    ///
    /// ```
    /// let err = palisade::retry::Retry::builder().max_attempts(0).build().unwrap_err();
    /// assert_eq!(err.field(), "max_attempts");
    /// ```
    pub fn build(self) -> Result<Retry, ConfigError> {
        self.error.check()?;
        self.config.validate()?;
        let budget = match self.budget {
            None => None,
            Some(Budget::Shared(budget)) => Some(budget),
            Some(Budget::Own(config)) => {
                Some(RetryBudget::with_clock(config, self.base.clock.clone())?)
            }
        };
        Ok(Retry::assemble(
            self.base.name_or(POLICY),
            self.config,
            self.base.clock,
            self.base.listeners,
            self.seed,
            budget,
        ))
    }

    fn secs(&mut self, field: &'static str, secs: f64) -> Option<Duration> {
        self.error.secs(POLICY, field, secs)
    }
}

impl fmt::Debug for RetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBuilder")
            .field("config", &self.config)
            .field("base", &self.base)
            .field("seed", &self.seed)
            .field("budget", &self.budget)
            .field("error", &self.error)
            .finish()
    }
}

/// The builder's retry budget: one shared with other policies, or one of its own to build.
#[derive(Debug)]
enum Budget {
    Shared(RetryBudget),
    Own(RetryBudgetConfig),
}

builder_base!(
    RetryBuilder,
    kind = Retry,
    policy = Retry,
    make = "palisade::retry::Retry::builder()",
    build = ".build()"
);
