//! The serde model: one [`PolicyConfig`] per named pipeline, a section per policy.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::LoadError;
use super::value::{duration, named, rate};
use crate::circuit_breaker::SlidingWindow;
use crate::classify::ErrorClass;
use crate::pipeline::{ClassifiedBuilder, Disabled, Pipeline};
use crate::presets::Preset;
use crate::rate_limit::{Algorithm, Rate};
use crate::retry::{Jitter, RetryBudgetConfig, Strategy};

/// One named pipeline: an optional preset, per-policy sections, and the flat shortcuts the
/// environment scheme uses (`PALISADE_API_MAX_ATTEMPTS` is `policies.api.max_attempts`).
///
/// [`to_builder`](Self::to_builder) applies them in that order — preset, then sections, then
/// shortcuts — so a shortcut wins over the same number in its section. Every field is
/// optional: an absent one keeps the preset's (or the policy's default) value, and an absent
/// section adds no policy unless the preset or a shortcut brings it.
///
/// ```
/// use palisade::config::{Format, Loader};
///
/// let config = Loader::from_str(Format::Toml, r#"
///     [policies.payments]
///     preset = "api"
///     max_attempts = 4
///     retry.jitter = "equal"
/// "#).load()?;
/// let payments = &config.policies["payments"];
/// assert_eq!(payments.max_attempts, Some(4));
/// let pipeline = payments.to_builder("payments")?.build()?;
/// assert_eq!(pipeline.retry().map(|r| r.config().max_attempts), Some(4));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// The preset the pipeline starts from (`database`, `api`, `cache`, `file`, `ml`,
    /// `kafka`, `vault`, `network`).
    #[serde(default, with = "named", skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// Seeds the pipeline's randomness (retry jitter): the same seed on the same clock makes
    /// the same decisions, as a simulation needs. Unset, jitter is random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Where the pipeline's breaker and rate limiter keep their state: `"in_process"` (the
    /// default) or a backend the code registered with
    /// [`PalisadeConfig::with_backend`](super::PalisadeConfig::with_backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Per-attempt timeout (also spelled `timeout_seconds`).
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Bound on the whole call: every attempt and backoff sleep.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub total_timeout: Option<Duration>,
    /// Shortcut for `retry.max_attempts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Shortcut for `retry.base_delay`.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub base_delay: Option<Duration>,
    /// Shortcut for `retry.max_delay`.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<Duration>,
    /// Shortcut for `circuit_breaker.failure_threshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
    /// Shortcut for `circuit_breaker.recovery_timeout`.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub recovery_timeout: Option<Duration>,
    /// Whether retry retries a rejection from a policy inside it (an open circuit); see
    /// [`PipelineBuilder::retry_rejections`](crate::pipeline::PipelineBuilder::retry_rejections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_rejections: Option<bool>,
    /// Whether the calls are idempotent, so a timed-out attempt may be repeated; see
    /// [`PipelineBuilder::idempotent`](crate::pipeline::PipelineBuilder::idempotent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    /// The error classes retry repeats, instead of the default (*unreached* always,
    /// *transient* when idempotent): `["unreached", "transient"]`; see
    /// [`PipelineBuilder::retry_on`](crate::pipeline::PipelineBuilder::retry_on).
    #[serde(
        default,
        with = "super::classes",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_on: Option<Vec<ErrorClass>>,
    /// The error classes the breaker counts as failures, instead of every class but
    /// *answer*; see [`PipelineBuilder::failure_on`](crate::pipeline::PipelineBuilder::failure_on).
    #[serde(
        default,
        with = "super::classes",
        skip_serializing_if = "Option::is_none"
    )]
    pub failure_on: Option<Vec<ErrorClass>>,
    /// `false` turns the whole pipeline off at runtime: every call passes straight through
    /// (see [`Disabled::ALL`]). Unset or `true`, its policies apply (unless the top-level
    /// `resilience_enabled` or a section's `enabled` says otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resilience_enabled: Option<bool>,
    /// Retry settings; present adds retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySection>,
    /// Circuit breaker settings; present adds a breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreakerSection>,
    /// Rate limit; present adds a limiter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSection>,
    /// Bulkhead settings; present adds a bulkhead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulkhead: Option<BulkheadSection>,
    /// Hedging settings (used by `call_idempotent` only); present adds hedging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge: Option<HedgeSection>,
}

/// Retry settings, as [`RetryConfig`](crate::retry::RetryConfig) names them.
///
/// ```
/// use palisade::config::{Format, Loader};
/// use palisade::retry::Jitter;
/// let config = Loader::from_str(Format::Yaml, "
/// policies:
///   search:
///     retry: { max_attempts: 4, base_delay: 200ms, jitter: decorrelated }
/// ").load()?;
/// let retry = config.policies["search"].retry.as_ref().unwrap();
/// assert_eq!(retry.jitter, Some(Jitter::Decorrelated));
/// # Ok::<(), palisade::config::LoadError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RetrySection {
    /// Attempts, the first included; at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// The first delay and the unit of growth.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub base_delay: Option<Duration>,
    /// The cap on every delay.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<Duration>,
    /// The multiplier of exponential backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exponential_base: Option<f64>,
    /// `fixed`, `linear` or `exponential`.
    #[serde(default, with = "named", skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// `none`, `full`, `equal` or `decorrelated`.
    #[serde(default, with = "named", skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Jitter>,
    /// Budget for the whole call, measured from the first attempt.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub max_elapsed: Option<Duration>,
    /// A retry budget for this pipeline's retries (Finagle's rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<RetryBudgetSection>,
    /// `false` turns the policy off at runtime: calls skip it (its state is kept). A
    /// section with nothing else set adds no policy; it turns off the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A retry budget, as [`RetryBudgetConfig`](crate::retry::RetryBudgetConfig) names it.
///
/// ```
/// use palisade::config::{Format, Loader};
/// let config = Loader::from_str(Format::Toml, "[policies.api.retry.budget]\nratio = 0.2")
///     .load()?;
/// assert!(config.pipeline("api").is_ok());
/// # Ok::<(), palisade::config::LoadError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryBudgetSection {
    /// Retries allowed per recent call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// Retries always allowed per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_retries_per_sec: Option<u32>,
    /// How long a call counts.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Duration>,
}

/// Circuit breaker settings, as
/// [`CircuitBreakerConfig`](crate::circuit_breaker::CircuitBreakerConfig) names them.
///
/// ```
/// use palisade::config::{Format, Loader};
/// let config = Loader::from_str(Format::Json, r#"{"policies": {"db": {"circuit_breaker": {
///     "failure_rate_threshold": 50.0,
///     "sliding_window": {"type": "time", "duration": "10s", "buckets": 10}
/// }}}}"#).load()?;
/// let breaker = config.pipeline("db")?;
/// assert_eq!(breaker.circuit_breaker().unwrap().config().failure_rate_threshold, Some(50.0));
/// # Ok::<(), palisade::config::LoadError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CircuitBreakerSection {
    /// Consecutive failures that open the breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
    /// Failure percentage over the window that opens the breaker, in (0, 100].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_rate_threshold: Option<f64>,
    /// Slow-call percentage over the window that opens the breaker, in (0, 100].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_call_rate_threshold: Option<f64>,
    /// A call at least this long is slow.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub slow_call_duration: Option<Duration>,
    /// The window the rate conditions are computed over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<SlidingWindowSection>,
    /// Calls the window must hold before rates are evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_calls: Option<u32>,
    /// Time open before trial calls.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub recovery_timeout: Option<Duration>,
    /// Growth of the recovery timeout on repeated trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_backoff: Option<RecoveryBackoffSection>,
    /// Trial calls admitted at a time when half-open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_open_requests: Option<u32>,
    /// Successful trials needed to close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<u32>,
    /// Longest time half-open before re-opening.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub max_wait_in_half_open: Option<Duration>,
    /// `false` turns the policy off at runtime: calls skip it (its state is kept). A
    /// section with nothing else set adds no policy; it turns off the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Which calls a breaker's rates are computed over: `{ type = "count", size = 100 }` or
/// `{ type = "time", duration = "10s", buckets = 10 }`.
///
/// ```
/// use palisade::config::{SlidingWindowSection, WindowType};
/// let window = SlidingWindowSection { kind: Some(WindowType::Count), size: Some(50), ..Default::default() };
/// # let _ = window;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlidingWindowSection {
    /// `count` (the default) or `time`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<WindowType>,
    /// Calls in a count window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// Length of a time window.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// Slices of a time window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<u32>,
}

/// The kind of a breaker's sliding window.
///
/// ```
/// assert_ne!(palisade::config::WindowType::Count, palisade::config::WindowType::Time);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowType {
    /// The last `size` calls.
    Count,
    /// The calls of the last `duration`.
    Time,
}

/// Growth of the recovery timeout: `{ multiplier = 2.0, max = "5m" }`.
///
/// ```
/// let backoff = palisade::config::RecoveryBackoffSection::default();
/// assert!(backoff.multiplier.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryBackoffSection {
    /// Growth per consecutive trip (default 2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<f64>,
    /// The longest recovery timeout (required).
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub max: Option<Duration>,
}

/// A rate limit: `{ algorithm = "gcra", rate = "100/s", burst = 20 }`.
///
/// | algorithm | needs | optional |
/// |---|---|---|
/// | `gcra` (default) | `rate`, `burst` | |
/// | `token_bucket` | `rate`, `capacity` | `initial_tokens` |
/// | `fixed_window`, `sliding_window_counter`, `sliding_window_log` | `max_requests`, `window` | |
///
/// Any algorithm takes `max_wait` (wait for a permit instead of rejecting). A field the
/// algorithm does not use is an error, like an unknown key.
///
/// ```
/// use palisade::config::{Format, Loader};
/// use palisade::rate_limit::{Algorithm, Rate};
/// let config = Loader::from_str(Format::Toml, r#"
///     [policies.payments]
///     rate_limit = { algorithm = "gcra", rate = "100/s", burst = 20 }
/// "#).load()?;
/// let limiter = config.pipeline("payments")?;
/// assert_eq!(
///     limiter.rate_limiter().unwrap().algorithm(),
///     Algorithm::Gcra { rate: Rate::per_second(100), burst: 20 }
/// );
/// # Ok::<(), palisade::config::LoadError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitSection {
    /// The algorithm; `gcra` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<RateLimitAlgorithm>,
    /// Permits per period: `"100/s"`, `"600/m"`, `"5/250ms"`.
    #[serde(default, with = "rate", skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// GCRA: permits that may be taken at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Token bucket: its size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// Token bucket: tokens at start (default full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_tokens: Option<u32>,
    /// Window algorithms: permits per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u32>,
    /// Window algorithms: the window.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    /// Wait up to this long for a permit instead of rejecting at once.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub max_wait: Option<Duration>,
    /// `false` turns the policy off at runtime: calls skip it (its state is kept). A
    /// section with nothing else set adds no policy; it turns off the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// The rate-limit algorithms by name; see [`Algorithm`].
///
/// ```
/// assert_eq!(palisade::config::RateLimitAlgorithm::default(), palisade::config::RateLimitAlgorithm::Gcra);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitAlgorithm {
    /// [`Algorithm::Gcra`].
    #[default]
    Gcra,
    /// [`Algorithm::TokenBucket`].
    TokenBucket,
    /// [`Algorithm::FixedWindow`].
    FixedWindow,
    /// [`Algorithm::SlidingWindowCounter`].
    SlidingWindowCounter,
    /// [`Algorithm::SlidingWindowLog`].
    SlidingWindowLog,
}

impl RateLimitAlgorithm {
    fn name(self) -> &'static str {
        match self {
            RateLimitAlgorithm::Gcra => "gcra",
            RateLimitAlgorithm::TokenBucket => "token_bucket",
            RateLimitAlgorithm::FixedWindow => "fixed_window",
            RateLimitAlgorithm::SlidingWindowCounter => "sliding_window_counter",
            RateLimitAlgorithm::SlidingWindowLog => "sliding_window_log",
        }
    }
}

/// Bulkhead settings, as [`BulkheadConfig`](crate::bulkhead::BulkheadConfig) names them.
///
/// ```
/// use palisade::config::{Format, Loader};
/// let config = Loader::from_str(Format::Toml, "[policies.db.bulkhead]\nmax_concurrent = 8").load()?;
/// assert_eq!(config.pipeline("db")?.bulkhead().map(|b| b.max_concurrent()), Some(8));
/// # Ok::<(), palisade::config::LoadError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BulkheadSection {
    /// Calls in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<usize>,
    /// Calls that may wait for a slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue: Option<usize>,
    /// How long a queued call waits.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub max_wait: Option<Duration>,
    /// `false` turns the policy off at runtime: calls skip it (its state is kept). A
    /// section with nothing else set adds no policy; it turns off the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Hedging settings, as [`HedgeConfig`](crate::hedge::HedgeConfig) names them (`percentile`
/// for its `delay_percentile`).
///
/// ```
/// use palisade::config::{Format, Loader};
/// let config = Loader::from_str(Format::Toml, "[policies.search.hedge]\ndelay = \"50ms\"").load()?;
/// let hedge = config.policies["search"].hedge.as_ref().unwrap();
/// assert_eq!(hedge.delay, Some(std::time::Duration::from_millis(50)));
/// # Ok::<(), palisade::config::LoadError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HedgeSection {
    /// Time before the next attempt starts.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// Hedge after this percentile of recent latencies instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile: Option<f64>,
    /// Latencies measured before the percentile is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u32>,
    /// Latencies the percentile is computed over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_size: Option<u32>,
    /// Attempts started in addition to the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hedged_attempts: Option<u32>,
    /// `false` turns the policy off at runtime: calls skip it (its state is kept). A
    /// section with nothing else set adds no policy; it turns off the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `if let Some(v) = field { builder = f(builder, v) }`, for every optional setting.
fn set<B, T: Copy>(builder: B, value: Option<T>, apply: impl FnOnce(B, T) -> B) -> B {
    match value {
        Some(value) => apply(builder, value),
        None => builder,
    }
}

impl PolicyConfig {
    /// A policy that starts from `preset`.
    ///
    /// ```
    /// use palisade::config::PolicyConfig;
    /// use palisade::presets::Preset;
    /// let policy = PolicyConfig::from_preset(Preset::Cache);
    /// let p = policy.to_builder("sessions")?.build()?;
    /// assert_eq!(p.retry().map(|r| r.config().max_attempts), Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_preset(preset: Preset) -> PolicyConfig {
        PolicyConfig {
            preset: Some(preset),
            ..PolicyConfig::default()
        }
    }

    /// A pipeline builder named `name`: the preset's builder (or an empty one), then each
    /// section, then the shortcuts. Override further in code before `build()` — the last
    /// layer. Errors name the key path under `policies.<name>` (a rate limit missing its
    /// rate, a field its algorithm does not use, an invalid retry budget); values that only
    /// `build()` checks are reported by [`PalisadeConfig::pipeline`](super::PalisadeConfig::pipeline)
    /// with their key path.
    ///
    /// ```
    /// use palisade::config::{PolicyConfig, RateLimitSection};
    /// let mut policy = PolicyConfig::default();
    /// policy.rate_limit = Some(RateLimitSection::default()); // no rate: an error
    /// let err = policy.to_builder("api").unwrap_err();
    /// assert_eq!(err.key(), Some("policies.api.rate_limit.rate"));
    /// ```
    pub fn to_builder(&self, name: &str) -> Result<ClassifiedBuilder, LoadError> {
        let mut builder = match self.preset {
            Some(preset) => preset.pipeline(),
            None => Pipeline::builder().classified(),
        }
        .name(name);
        builder = set(builder, self.seed, |b, v| b.seed(v));
        if let Some(retry) = adds(&self.retry, |s| &mut s.enabled) {
            let budget = match &retry.budget {
                Some(budget) => Some(build_budget(name, budget)?),
                None => None,
            };
            builder = builder.retry(|r| {
                let r = set(r, retry.max_attempts, |r, v| r.max_attempts(v));
                let r = set(r, retry.base_delay, |r, v| r.base_delay(v));
                let r = set(r, retry.max_delay, |r, v| r.max_delay(v));
                let r = set(r, retry.exponential_base, |r, v| r.exponential_base(v));
                let r = set(r, retry.strategy, |r, v| r.strategy(v));
                let r = set(r, retry.jitter, |r, v| r.jitter(v));
                let r = set(r, retry.max_elapsed, |r, v| r.max_elapsed(v));
                match budget {
                    // Built with the pipeline's clock, when the pipeline is built.
                    Some(budget) => r.own_budget(budget),
                    None => r,
                }
            });
        }
        if let Some(breaker) = adds(&self.circuit_breaker, |s| &mut s.enabled) {
            let window = match &breaker.sliding_window {
                Some(window) => Some(sliding_window(name, window)?),
                None => None,
            };
            let backoff = match &breaker.recovery_backoff {
                Some(backoff) => Some(recovery_backoff(name, backoff)?),
                None => None,
            };
            builder = builder.circuit_breaker(|b| {
                let b = set(b, breaker.failure_threshold, |b, v| b.failure_threshold(v));
                let b = set(b, breaker.failure_rate_threshold, |b, v| {
                    b.failure_rate_threshold(v)
                });
                let b = set(b, breaker.slow_call_rate_threshold, |b, v| {
                    b.slow_call_rate_threshold(v)
                });
                let b = set(b, breaker.slow_call_duration, |b, v| {
                    b.slow_call_duration(v)
                });
                let b = set(b, window, |b, v| b.sliding_window(v));
                let b = set(b, breaker.minimum_calls, |b, v| b.minimum_calls(v));
                let b = set(b, breaker.recovery_timeout, |b, v| b.recovery_timeout(v));
                let b = set(b, backoff, |b, (multiplier, max)| {
                    b.recovery_backoff(multiplier, max)
                });
                let b = set(b, breaker.half_open_requests, |b, v| {
                    b.half_open_requests(v)
                });
                let b = set(b, breaker.success_threshold, |b, v| b.success_threshold(v));
                set(b, breaker.max_wait_in_half_open, |b, v| {
                    b.max_wait_in_half_open(Some(v))
                })
            });
        }
        if let Some(limit) = adds(&self.rate_limit, |s| &mut s.enabled) {
            builder = builder.rate_limit(algorithm(name, limit)?);
            builder = set(builder, limit.max_wait, |b, v| b.rate_limit_max_wait(v));
        }
        if let Some(bulkhead) = adds(&self.bulkhead, |s| &mut s.enabled) {
            builder = builder.bulkhead(|b| {
                let b = set(b, bulkhead.max_concurrent, |b, v| b.max_concurrent(v));
                let b = set(b, bulkhead.max_queue, |b, v| b.max_queue(v));
                set(b, bulkhead.max_wait, |b, v| b.max_wait(v))
            });
        }
        if let Some(hedge) = adds(&self.hedge, |s| &mut s.enabled) {
            builder = builder.hedge(|h| {
                let h = set(h, hedge.delay, |h, v| h.delay(v));
                let h = set(h, hedge.percentile, |h, v| h.delay_percentile(v));
                let h = set(h, hedge.min_samples, |h, v| h.min_samples(v));
                let h = set(h, hedge.sample_size, |h, v| h.sample_size(v));
                set(h, hedge.max_hedged_attempts, |h, v| {
                    h.max_hedged_attempts(v)
                })
            });
        }
        builder = set(builder, self.retry_rejections, |b, v| b.retry_rejections(v));
        builder = set(builder, self.idempotent, |b, v| b.idempotent(v));
        if let Some(classes) = &self.retry_on {
            builder = builder.retry_on(classes);
        }
        if let Some(classes) = &self.failure_on {
            builder = builder.failure_on(classes);
        }
        builder = set(builder, self.timeout, |b, v| b.timeout(v));
        builder = set(builder, self.total_timeout, |b, v| b.total_timeout(v));
        builder = set(builder, self.max_attempts, |b, v| b.max_attempts(v));
        builder = set(builder, self.base_delay, |b, v| b.base_delay(v));
        builder = set(builder, self.max_delay, |b, v| b.max_delay(v));
        builder = set(builder, self.failure_threshold, |b, v| {
            b.failure_threshold(v)
        });
        builder = set(builder, self.recovery_timeout, |b, v| b.recovery_timeout(v));
        Ok(builder)
    }

    /// Which of the pipeline's policies calls skip: [`Disabled::ALL`] for
    /// `resilience_enabled = false`, else the sections with `enabled = false`.
    ///
    /// ```
    /// use palisade::config::{Format, Loader};
    /// use palisade::pipeline::Disabled;
    /// let config = Loader::from_str(Format::Toml, r#"
    ///     [policies.search]
    ///     preset = "api"
    ///     retry.enabled = false
    ///     circuit_breaker.enabled = false
    /// "#).load()?;
    /// let search = &config.policies["search"];
    /// assert_eq!(search.disabled(), Disabled::RETRY | Disabled::CIRCUIT_BREAKER);
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn disabled(&self) -> Disabled {
        if self.resilience_enabled == Some(false) {
            return Disabled::ALL;
        }
        let off = |enabled: Option<Option<bool>>, part| match enabled {
            Some(Some(false)) => part,
            _ => Disabled::NONE,
        };
        let rate_limit = self.rate_limit.as_ref().map(|s| s.enabled);
        let bulkhead = self.bulkhead.as_ref().map(|s| s.enabled);
        let retry = self.retry.as_ref().map(|s| s.enabled);
        let breaker = self.circuit_breaker.as_ref().map(|s| s.enabled);
        let hedge = self.hedge.as_ref().map(|s| s.enabled);
        off(rate_limit, Disabled::RATE_LIMIT)
            | off(bulkhead, Disabled::BULKHEAD)
            | off(retry, Disabled::RETRY)
            | off(breaker, Disabled::CIRCUIT_BREAKER)
            | off(hedge, Disabled::HEDGE)
    }
}

/// The section, if it adds its policy: present, and not a bare `enabled = false` (which only
/// turns off the policy a preset or a shortcut brings).
fn adds<S: Default + PartialEq>(
    section: &Option<S>,
    enabled: fn(&mut S) -> &mut Option<bool>,
) -> Option<&S> {
    let section = section.as_ref()?;
    let mut bare = S::default();
    *enabled(&mut bare) = Some(false);
    (*section != bare).then_some(section)
}

/// A key path under `policies.<name>`.
fn key(name: &str, path: &str) -> String {
    format!("policies.{name}.{path}")
}

/// The budget's settings, checked here so an error names its key path; the budget itself is
/// built with the pipeline, on the pipeline's clock.
fn build_budget(name: &str, section: &RetryBudgetSection) -> Result<RetryBudgetConfig, LoadError> {
    let defaults = RetryBudgetConfig::default();
    let config = RetryBudgetConfig {
        ratio: section.ratio.unwrap_or(defaults.ratio),
        min_retries_per_sec: section
            .min_retries_per_sec
            .unwrap_or(defaults.min_retries_per_sec),
        ttl: section.ttl.unwrap_or(defaults.ttl),
    };
    config.validate().map(|()| config).map_err(|error| {
        LoadError::invalid(
            key(name, &format!("retry.budget.{}", error.field())),
            error.value(),
            error.reason(),
        )
    })
}

fn sliding_window(name: &str, window: &SlidingWindowSection) -> Result<SlidingWindow, LoadError> {
    let path = |field: &str| key(name, &format!("circuit_breaker.sliding_window.{field}"));
    match window.kind.unwrap_or(WindowType::Count) {
        WindowType::Count => {
            unused(
                path("duration"),
                window.duration.is_some(),
                "a count window",
            )?;
            unused(path("buckets"), window.buckets.is_some(), "a count window")?;
            Ok(SlidingWindow::Count {
                size: required(path("size"), window.size, "a count window")?,
            })
        }
        WindowType::Time => {
            unused(path("size"), window.size.is_some(), "a time window")?;
            Ok(SlidingWindow::Time {
                duration: required(path("duration"), window.duration, "a time window")?,
                buckets: window.buckets.unwrap_or(10),
            })
        }
    }
}

fn recovery_backoff(
    name: &str,
    backoff: &RecoveryBackoffSection,
) -> Result<(f64, Duration), LoadError> {
    let max = required(
        key(name, "circuit_breaker.recovery_backoff.max"),
        backoff.max,
        "a recovery backoff",
    )?;
    Ok((backoff.multiplier.unwrap_or(2.0), max))
}

fn algorithm(name: &str, limit: &RateLimitSection) -> Result<Algorithm, LoadError> {
    let kind = limit.algorithm.unwrap_or_default();
    let what = format!("the {} algorithm", kind.name());
    let path = |field: &str| key(name, &format!("rate_limit.{field}"));
    let bucket = matches!(
        kind,
        RateLimitAlgorithm::Gcra | RateLimitAlgorithm::TokenBucket
    );
    unused(path("rate"), !bucket && limit.rate.is_some(), &what)?;
    unused(
        path("max_requests"),
        bucket && limit.max_requests.is_some(),
        &what,
    )?;
    unused(path("window"), bucket && limit.window.is_some(), &what)?;
    let gcra = kind == RateLimitAlgorithm::Gcra;
    let token_bucket = kind == RateLimitAlgorithm::TokenBucket;
    unused(path("burst"), !gcra && limit.burst.is_some(), &what)?;
    unused(
        path("capacity"),
        !token_bucket && limit.capacity.is_some(),
        &what,
    )?;
    unused(
        path("initial_tokens"),
        !token_bucket && limit.initial_tokens.is_some(),
        &what,
    )?;
    let windowed = || -> Result<(u32, Duration), LoadError> {
        Ok((
            required(path("max_requests"), limit.max_requests, &what)?,
            required(path("window"), limit.window, &what)?,
        ))
    };
    Ok(match kind {
        RateLimitAlgorithm::Gcra => Algorithm::Gcra {
            rate: required(path("rate"), limit.rate, &what)?,
            burst: required(path("burst"), limit.burst, &what)?,
        },
        RateLimitAlgorithm::TokenBucket => Algorithm::TokenBucket {
            rate: required(path("rate"), limit.rate, &what)?,
            capacity: required(path("capacity"), limit.capacity, &what)?,
            initial_tokens: limit.initial_tokens,
        },
        RateLimitAlgorithm::FixedWindow => {
            let (max_requests, window) = windowed()?;
            Algorithm::FixedWindow {
                max_requests,
                window,
            }
        }
        RateLimitAlgorithm::SlidingWindowCounter => {
            let (max_requests, window) = windowed()?;
            Algorithm::SlidingWindowCounter {
                max_requests,
                window,
            }
        }
        RateLimitAlgorithm::SlidingWindowLog => {
            let (max_requests, window) = windowed()?;
            Algorithm::SlidingWindowLog {
                max_requests,
                window,
            }
        }
    })
}

fn required<T>(key: String, value: Option<T>, what: &str) -> Result<T, LoadError> {
    value.ok_or_else(|| LoadError::at_key(key, format!("is required by {what}")))
}

fn unused(key: String, present: bool, what: &str) -> Result<(), LoadError> {
    if present {
        return Err(LoadError::at_key(
            key,
            format!("is not used by {what}: remove it"),
        ));
    }
    Ok(())
}
