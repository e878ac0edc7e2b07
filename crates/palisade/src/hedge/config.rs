//! `HedgeConfig` (plain data, loadable from files later) and `HedgeBuilder` (the fluent form).

use std::fmt;
use std::time::Duration;

use super::{Hedge, HedgeEvent, HedgeTrigger};
use crate::builder::{Base, builder_base};
use crate::error::ConfigError;
use crate::listener::Callback;

pub(super) const POLICY: &str = "hedge";

/// The most extra attempts a policy may start (Polly allows the same): every hedge is extra
/// load on the dependency, and beyond a few the odds stop improving.
pub const MAX_HEDGED_ATTEMPTS: u32 = 10;

/// The largest latency sample a percentile policy keeps, which bounds its memory (8 bytes a
/// sample, twice) and the cost of recomputing the percentile.
pub const MAX_SAMPLE_SIZE: u32 = 65_536;

/// The settings of a hedge policy, as plain data.
///
/// Defaults: one hedge after a fixed 2 s (Polly's default delay), no percentile; for the
/// percentile mode, a sample of the last 1024 first-attempt latencies and 100 of them before
/// the percentile replaces the fixed delay.
///
/// ```
/// use palisade::hedge::{Hedge, HedgeConfig};
/// use std::time::Duration;
///
/// let config = HedgeConfig {
///     delay: Duration::from_millis(50),
///     max_hedged_attempts: 2,
///     ..HedgeConfig::default()
/// };
/// let hedge = Hedge::from_config(config)?;
/// assert_eq!(hedge.config().max_hedged_attempts, 2);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedgeConfig {
    /// How long an attempt may run without success before the next one starts. In percentile
    /// mode, the delay used until `min_samples` latencies have been measured. `Duration::ZERO`
    /// starts every attempt at once; `Duration::MAX` never hedges on time, only after a
    /// failure.
    pub delay: Duration,
    /// Hedge after this percentile of recent first-attempt latencies instead of a fixed
    /// delay. Strictly between 0 and 100.
    pub percentile: Option<f64>,
    /// Latencies measured before the percentile replaces `delay`. Between 1 and
    /// `sample_size`.
    pub min_samples: u32,
    /// How many recent latencies the percentile is computed over (a ring: the oldest is
    /// replaced). Between 1 and [`MAX_SAMPLE_SIZE`].
    pub sample_size: u32,
    /// Attempts started in addition to the first. Between 1 and [`MAX_HEDGED_ATTEMPTS`].
    pub max_hedged_attempts: u32,
}

impl Default for HedgeConfig {
    fn default() -> Self {
        HedgeConfig {
            delay: Duration::from_secs(2),
            percentile: None,
            min_samples: 100,
            sample_size: 1024,
            max_hedged_attempts: 1,
        }
    }
}

impl HedgeConfig {
    /// Checks every field; the error names the first bad field and its value.
    ///
    /// ```
    /// use palisade::hedge::HedgeConfig;
    /// let bad = HedgeConfig { percentile: Some(100.0), ..HedgeConfig::default() };
    /// let err = bad.validate().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("percentile", "100"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_hedged_attempts == 0 || self.max_hedged_attempts > MAX_HEDGED_ATTEMPTS {
            return Err(ConfigError::new(
                POLICY,
                "max_hedged_attempts",
                self.max_hedged_attempts,
                format!(
                    "must be between 1 and {MAX_HEDGED_ATTEMPTS} (attempts started in addition \
                     to the first)"
                ),
            ));
        }
        if let Some(p) = self.percentile
            && !(p.is_finite() && p > 0.0 && p < 100.0)
        {
            return Err(ConfigError::new(
                POLICY,
                "percentile",
                p,
                "must be a number strictly between 0 and 100",
            ));
        }
        if self.sample_size == 0 || self.sample_size > MAX_SAMPLE_SIZE {
            return Err(ConfigError::new(
                POLICY,
                "sample_size",
                self.sample_size,
                format!("must be between 1 and {MAX_SAMPLE_SIZE}"),
            ));
        }
        if self.min_samples == 0 || self.min_samples > self.sample_size {
            return Err(ConfigError::new(
                POLICY,
                "min_samples",
                self.min_samples,
                format!("must be between 1 and sample_size ({})", self.sample_size),
            ));
        }
        Ok(())
    }
}

/// Builds a [`Hedge`]; start with [`Hedge::builder`].
///
/// Every setter accepts any value; [`build`](HedgeBuilder::build) checks them all and names
/// the first bad field.
///
/// ```
/// use palisade::hedge::Hedge;
/// use std::time::Duration;
///
/// // Fixed: a second attempt if the first has not succeeded within 50 ms.
/// let fixed = Hedge::builder().name("search").delay(Duration::from_millis(50)).build()?;
/// assert_eq!(fixed.name(), "search");
///
/// // Adaptive: hedge the slowest 5 % of calls; 200 ms until 100 latencies are known.
/// let adaptive = Hedge::builder()
///     .delay_percentile(95.0)
///     .delay(Duration::from_millis(200))
///     .min_samples(100)
///     .build()?;
/// assert_eq!(adaptive.current_delay(), Duration::from_millis(200));
///
/// let err = Hedge::builder().delay_percentile(100.0).build().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid hedge configuration: percentile = 100: must be a number strictly between 0 and 100"
/// );
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct HedgeBuilder {
    config: HedgeConfig,
    base: Base<Hedge>,
}

impl HedgeBuilder {
    pub(super) fn new(config: HedgeConfig) -> Self {
        HedgeBuilder {
            config,
            base: Base::new(),
        }
    }

    /// The fixed hedge delay: how long the latest attempt may run without a success before
    /// the next one starts. With [`delay_percentile`](Self::delay_percentile), the delay used
    /// until enough latencies are known. `Duration::ZERO` starts all attempts at once;
    /// `Duration::MAX` hedges only after a failure. Default 2 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// let h = palisade::hedge::Hedge::builder().delay(Duration::from_millis(30)).build()?;
    /// assert_eq!(h.current_delay(), Duration::from_millis(30));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn delay(mut self, delay: Duration) -> Self {
        self.config.delay = delay;
        self
    }

    /// Hedges after the `percentile`-th percentile (strictly between 0 and 100) of recent
    /// first-attempt latencies, instead of a fixed delay. Until
    /// [`min_samples`](Self::min_samples) latencies are known, the fixed
    /// [`delay`](Self::delay) applies. See the [module docs](super#choosing-the-delay).
    ///
    /// ```
    /// let h = palisade::hedge::Hedge::builder().delay_percentile(99.0).build()?;
    /// assert_eq!(h.config().percentile, Some(99.0));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn delay_percentile(mut self, percentile: f64) -> Self {
        self.config.percentile = Some(percentile);
        self
    }

    /// Latencies to measure before the percentile replaces the fixed delay. Default 100.
    ///
    /// ```
    /// let h = palisade::hedge::Hedge::builder().delay_percentile(90.0).min_samples(20).build()?;
    /// assert_eq!(h.config().min_samples, 20);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn min_samples(mut self, samples: u32) -> Self {
        self.config.min_samples = samples;
        self
    }

    /// How many recent latencies the percentile is computed over. Default 1024.
    ///
    /// ```
    /// let h = palisade::hedge::Hedge::builder().delay_percentile(90.0).sample_size(256).build()?;
    /// assert_eq!(h.config().sample_size, 256);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn sample_size(mut self, samples: u32) -> Self {
        self.config.sample_size = samples;
        self
    }

    /// Attempts started in addition to the first (1 to 10). Default 1.
    ///
    /// ```
    /// let h = palisade::hedge::Hedge::builder().max_hedged_attempts(2).build()?;
    /// assert_eq!(h.config().max_hedged_attempts, 2);
    /// let err = palisade::hedge::Hedge::builder().max_hedged_attempts(0).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("max_hedged_attempts", "0"));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_hedged_attempts(mut self, attempts: u32) -> Self {
        self.config.max_hedged_attempts = attempts;
        self
    }

    /// Called each time a hedged attempt starts, with its number (2 for the first hedge) and
    /// what started it: Polly's `OnHedging`.
    ///
    /// ```
    /// use palisade::hedge::{Hedge, HedgeTrigger};
    /// let h = Hedge::builder()
    ///     .on_hedge(|attempt, trigger: HedgeTrigger| eprintln!("hedge #{attempt} ({trigger:?})"))
    ///     .build()?;
    /// # let _ = h;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn on_hedge<F>(self, f: F) -> Self
    where
        F: Fn(u32, HedgeTrigger) + Send + Sync + 'static,
    {
        self.on_event(Callback(move |event: &HedgeEvent<'_>| {
            if let HedgeEvent::HedgeStarted {
                attempt, trigger, ..
            } = event
            {
                f(*attempt, *trigger);
            }
        }))
    }

    /// Validates the configuration and builds the policy.
    ///
    /// ```
    /// let err = palisade::hedge::Hedge::builder().min_samples(0).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("min_samples", "0"));
    /// ```
    pub fn build(self) -> Result<Hedge, ConfigError> {
        self.config.validate()?;
        Ok(Hedge::assemble(
            self.base.name_or(POLICY),
            self.config,
            self.base.clock,
            self.base.listeners,
        ))
    }
}

impl fmt::Debug for HedgeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeBuilder")
            .field("config", &self.config)
            .field("base", &self.base)
            .finish()
    }
}

builder_base!(
    HedgeBuilder,
    kind = Hedge,
    policy = Hedge,
    make = "palisade::hedge::Hedge::builder()",
    build = ".build()"
);
