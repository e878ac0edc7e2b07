//! Pipeline: several policies around one call, in one documented order.
//!
//! # Why one order
//!
//! Policies compose differently depending on which wraps which: a timeout outside retry bounds
//! all attempts, inside it bounds each; a breaker outside retry sees one outcome per call,
//! inside it one per attempt. Getting this wrong is the classic resilience bug (retrying into an
//! open circuit, a bulkhead slot held through every backoff sleep). A pipeline fixes the order,
//! outermost first:
//!
//! ```text
//! fallback → rate limit → bulkhead → total timeout → retry (with budget) → circuit breaker
//!          → hedging → per-attempt timeout → operation
//! ```
//!
//! - the **rate limit** is checked once per call, before anything else holds resources;
//! - the **bulkhead** slot is held for the whole call, retries included;
//! - the **total timeout** bounds every attempt and every backoff sleep together;
//! - **retry** sees one outcome per attempt. It never retries a rejection from a policy
//!   inside it — an open circuit — unless [`retry_rejections`](PipelineBuilder::retry_rejections)
//!   says so, and then it waits at least the rejection's `retry_after`. When an attempt's
//!   failure opens the breaker, retry stops at once (`RetriesExhausted` with
//!   [`StopReason::CircuitOpened`] and that attempt's error) rather than sleeping only to be
//!   refused;
//! - the **circuit breaker** counts each attempt: operation errors (as classified by
//!   [`failure_if`](Pipeline::failure_if)) and per-attempt timeouts are failures;
//! - **hedging** applies only to calls declared idempotent
//!   ([`call_idempotent`](Pipeline::call_idempotent)); plain [`call`](Pipeline::call) never
//!   runs an operation twice at once;
//! - the **per-attempt timeout** cancels one attempt.
//!
//! Every policy is optional and an absent one costs one predictable branch. One error type
//! comes out: [`Error<E>`], with your operation's error as [`Error::Operation`] and every
//! policy's decision as its own variant; the fallback, given to
//! [`call_with_fallback`](Pipeline::call_with_fallback), sees all of them.
//!
//! ```
//! use palisade::pipeline::Pipeline;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pipeline = Pipeline::builder()
//!     .name("payments")
//!     .timeout(Duration::from_secs(2))          // per attempt
//!     .total_timeout(Duration::from_secs(10))   // all attempts and sleeps
//!     .retry(|r| r.max_attempts(3).exponential(Duration::from_millis(100)))
//!     .circuit_breaker(|b| b.failure_threshold(5))
//!     .build()?;
//! let charged = pipeline.call(|| async { Ok::<_, std::io::Error>("charged") }).await?;
//! assert_eq!(charged, "charged");
//! # Ok(()) }
//! ```
//!
//! # Blocking calls
//!
//! [`call_blocking`](Pipeline::call_blocking) runs the same order on the calling thread, with
//! what blocking code allows: a blocking operation cannot be interrupted, so the per-attempt
//! timeout marks an attempt that *returned* after its limit as timed out (its result is
//! discarded and it counts as a breaker failure), and the total timeout stops retrying — no
//! attempt starts and no backoff sleep runs past it, and an attempt that overruns it ends the
//! call with [`Error::Timeout`]. Hedging needs concurrency and is skipped.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::builder::PolicyBuilder;
use crate::bulkhead::{Bulkhead, BulkheadBuilder};
use crate::circuit_breaker::{
    CircuitBreaker, CircuitBreakerBuilder, State as CircuitState, Verdict,
};
use crate::clock::Clock;
use crate::error::{ConfigError, Error};
use crate::event::Listener;
pub use crate::event::{CallOutcome, PipelineEvent};
use crate::fallback::Action;
use crate::fallback::{BlockingAction, Fallback};
use crate::hedge::{Hedge, HedgeBuilder};
use crate::listener::{Kind, Listen, Listeners};
use crate::predicate::{Always, Never, Predicate};
use crate::rate_limit::{Algorithm, RateLimiter};
use crate::retry::{DelayFn, Outcome, Retry, RetryBuilder, Step, StopReason};
use crate::timeout::{Deadline, Timeout};
use crate::timeout::{Timed, operation_result};

const POLICY: &str = "pipeline";

/// Policies composed around a call; see the [module docs](self) for the order. Cheap to
/// clone: clones share every policy's state.
///
/// `R` classifies which operation errors retry retries ([`retry_if`](Self::retry_if)), `B`
/// which ones the breaker counts as failures ([`failure_if`](Self::failure_if)); both default
/// to every error.
///
/// ```
/// use palisade::pipeline::Pipeline;
/// let pipeline = Pipeline::builder().retry(|r| r.max_attempts(2)).build()?;
/// let mut calls = 0;
/// let result = pipeline.call_blocking(|| {
///     calls += 1;
///     if calls < 2 { Err("flaky") } else { Ok(calls) }
/// });
/// assert_eq!(result, Ok(2));
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct Pipeline<R = Always, B = Always, H = NoHint> {
    stack: Arc<Stack>,
    retry_if: R,
    failure_if: B,
    retry_after: H,
}

impl<R: Clone, B: Clone, H: Clone> Clone for Pipeline<R, B, H> {
    fn clone(&self) -> Self {
        Pipeline {
            stack: Arc::clone(&self.stack),
            retry_if: self.retry_if.clone(),
            failure_if: self.failure_if.clone(),
            retry_after: self.retry_after.clone(),
        }
    }
}

/// How long an operation error asks the caller to wait before trying again (an HTTP 429 or
/// 503's `Retry-After`). Retry waits at least that long. Implemented for every
/// `Fn(&E) -> Option<Duration>`; the default, [`NoHint`], never asks.
///
/// ```
/// use palisade::pipeline::RetryAfter;
/// use std::time::Duration;
/// struct Busy { retry_after: Duration }
/// let hint = |e: &Busy| Some(e.retry_after);
/// assert_eq!(hint.retry_after(&Busy { retry_after: Duration::from_secs(2) }), Some(Duration::from_secs(2)));
/// ```
pub trait RetryAfter<E> {
    /// The wait `error` asks for, if any.
    fn retry_after(&self, error: &E) -> Option<Duration>;
}

impl<E, F: Fn(&E) -> Option<Duration>> RetryAfter<E> for F {
    #[inline]
    fn retry_after(&self, error: &E) -> Option<Duration> {
        self(error)
    }
}

/// The default [`RetryAfter`]: operation errors never ask for a wait.
///
/// ```
/// use palisade::pipeline::{NoHint, RetryAfter};
/// assert_eq!(RetryAfter::<u16>::retry_after(&NoHint, &503), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHint;

impl<E> RetryAfter<E> for NoHint {
    #[inline(always)]
    fn retry_after(&self, _: &E) -> Option<Duration> {
        None
    }
}

/// The policies of a pipeline, in order; each optional.
pub(crate) struct Stack {
    pub(crate) name: Arc<str>,
    pub(crate) clock: Clock,
    pub(crate) rate_limiter: Option<RateLimiter>,
    pub(crate) rate_limit_max_wait: Option<Duration>,
    pub(crate) bulkhead: Option<Bulkhead>,
    pub(crate) total_timeout: Option<Timeout>,
    pub(crate) retry: Option<Retry>,
    pub(crate) retry_rejections: bool,
    pub(crate) breaker: Option<CircuitBreaker>,
    pub(crate) hedge: Option<Hedge>,
    pub(crate) attempt_timeout: Option<Timeout>,
    /// Listeners of the pipeline itself: one [`PipelineEvent`] per call.
    pub(crate) listeners: Listeners<Pipeline>,
}

/// A part of the pipeline: configured here (and built with the pipeline's name, clock and
/// listeners) or built elsewhere and shared.
#[derive(Debug)]
enum Part<B, P> {
    Configure(B),
    Shared(P),
}

impl<B, P> Part<B, P> {
    /// `part` configured further by `configure`: its builder if it has one, else a `fresh`
    /// one (a shared policy is replaced).
    fn configure(
        part: Option<Part<B, P>>,
        fresh: fn() -> B,
        configure: impl FnOnce(B) -> B,
    ) -> Option<Part<B, P>> {
        let builder = match part {
            Some(Part::Configure(builder)) => builder,
            _ => fresh(),
        };
        Some(Part::Configure(configure(builder)))
    }

    /// The policy of an optional part: a shared one as it is, a configured one built by
    /// `build`.
    fn resolve(
        part: Option<Part<B, P>>,
        build: impl FnOnce(B) -> Result<P, ConfigError>,
    ) -> Result<Option<P>, ConfigError> {
        match part {
            None => Ok(None),
            Some(Part::Shared(policy)) => Ok(Some(policy)),
            Some(Part::Configure(builder)) => build(builder).map(Some),
        }
    }
}

/// What a pipeline gives each policy it builds: its name, clock and listeners.
struct Own<'a> {
    name: &'a Arc<str>,
    clock: &'a Clock,
    listeners: &'a [Arc<dyn Listener>],
}

impl Own<'_> {
    fn build<B: PolicyBuilder>(&self, builder: B) -> Result<B::Policy, ConfigError>
    where
        dyn Listener: Listen<B::Kind>,
    {
        builder
            .with(self.name, self.clock, self.listeners)
            .build_policy()
    }
}

/// Builds a [`Pipeline`]; start with [`Pipeline::builder`] or a
/// [`Preset`](crate::presets::Preset). Every policy is optional; `build()` validates each and
/// names the first bad field.
///
/// ```
/// use palisade::pipeline::Pipeline;
/// use std::time::Duration;
/// let err = Pipeline::builder().retry(|r| r.max_attempts(0)).build().unwrap_err();
/// assert_eq!((err.policy(), err.field()), ("retry", "max_attempts"));
/// ```
pub struct PipelineBuilder {
    name: Option<Arc<str>>,
    clock: Option<Clock>,
    listeners: Vec<Arc<dyn Listener>>,
    rate_limit: Option<Part<Algorithm, RateLimiter>>,
    rate_limit_max_wait: Option<Duration>,
    bulkhead: Option<Part<BulkheadBuilder, Bulkhead>>,
    total_timeout: Option<Part<Duration, Timeout>>,
    retry: Option<Part<RetryBuilder, Retry>>,
    retry_rejections: bool,
    breaker: Option<Part<CircuitBreakerBuilder, CircuitBreaker>>,
    hedge: Option<Part<HedgeBuilder, Hedge>>,
    attempt_timeout: Option<Part<Duration, Timeout>>,
}

impl Kind for Pipeline {
    type Event<'a> = PipelineEvent<'a>;
}

/// Every [`Listener`] hears pipelines too (the other kinds are routed in [`crate::event`]).
impl<L: Listener + ?Sized> Listen<Pipeline> for L {
    #[inline]
    fn notify(&self, event: &PipelineEvent<'_>) {
        self.on_event(&crate::event::Event::Pipeline(*event));
    }
}

impl Pipeline {
    /// Starts an empty pipeline: add the policies you want.
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().name("search").build()?;
    /// assert_eq!(p.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder {
            name: None,
            clock: None,
            listeners: Vec::new(),
            rate_limit: None,
            rate_limit_max_wait: None,
            bulkhead: None,
            total_timeout: None,
            retry: None,
            retry_rejections: false,
            breaker: None,
            hedge: None,
            attempt_timeout: None,
        }
    }
}

impl Pipeline {
    /// A pipeline of already-built policies: `set` fills in the ones it has (the tower
    /// layers of single policies). Infallible, since nothing is left to validate.
    #[cfg(feature = "tower")]
    pub(crate) fn of(name: Arc<str>, set: impl FnOnce(&mut Stack)) -> Pipeline {
        let mut stack = Stack {
            name,
            clock: Clock::default(),
            rate_limiter: None,
            rate_limit_max_wait: None,
            bulkhead: None,
            total_timeout: None,
            retry: None,
            retry_rejections: false,
            breaker: None,
            hedge: None,
            attempt_timeout: None,
            listeners: Listeners::new(),
        };
        set(&mut stack);
        Pipeline {
            stack: Arc::new(stack),
            retry_if: Always,
            failure_if: Always,
            retry_after: NoHint,
        }
    }
}

impl PipelineBuilder {
    /// The pipeline's name, given to every policy it builds (events and errors carry it).
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().name("db").build()?;
    /// assert_eq!(p.name(), "db");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The clock for every policy the pipeline builds (a
    /// [`ManualClock`](crate::clock::ManualClock) or [`Clock::tokio`] in tests).
    ///
    /// ```
    /// use palisade::clock::Clock;
    /// let p = palisade::pipeline::Pipeline::builder().clock(Clock::tokio()).build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = Some(clock.into());
        self
    }

    /// Registers a listener on every policy the pipeline builds.
    ///
    /// ```
    /// use palisade::event::Event;
    /// let p = palisade::pipeline::Pipeline::builder()
    ///     .retry(|r| r)
    ///     .on_event(|e: &Event<'_>| println!("{} {}", e.policy_kind(), e.policy_name()))
    ///     .build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn on_event(mut self, listener: impl Listener) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Limits the call rate with `algorithm`; a call beyond the quota is rejected with
    /// [`Error::RateLimited`] (or waits, with
    /// [`rate_limit_max_wait`](Self::rate_limit_max_wait)).
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, Rate};
    /// let p = palisade::pipeline::Pipeline::builder()
    ///     .rate_limit(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 })
    ///     .build()?;
    /// assert!(p.call_blocking(|| Ok::<_, ()>(1)).is_ok());
    /// assert!(matches!(p.call_blocking(|| Ok::<_, ()>(1)), Err(palisade::Error::RateLimited { .. })));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn rate_limit(mut self, algorithm: Algorithm) -> Self {
        self.rate_limit = Some(Part::Configure(algorithm));
        self
    }

    /// Uses `limiter` (shared with whatever else uses it) as the pipeline's rate limit.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let shared = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// let a = palisade::pipeline::Pipeline::builder().shared_rate_limiter(shared.clone()).build()?;
    /// let b = palisade::pipeline::Pipeline::builder().shared_rate_limiter(shared).build()?;
    /// assert!(a.call_blocking(|| Ok::<_, ()>(1)).is_ok());
    /// assert!(b.call_blocking(|| Ok::<_, ()>(1)).is_err()); // one quota for both
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn shared_rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.rate_limit = Some(Part::Shared(limiter));
        self
    }

    /// Waits up to `max_wait` for a rate-limit permit instead of rejecting at once (async
    /// calls wait on the limiter's FIFO queue; blocking calls sleep).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = palisade::pipeline::Pipeline::builder().rate_limit_max_wait(Duration::from_millis(50));
    /// # let _ = p;
    /// ```
    pub fn rate_limit_max_wait(mut self, max_wait: Duration) -> Self {
        self.rate_limit_max_wait = Some(max_wait);
        self
    }

    /// Adds a bulkhead configured by `configure` (applied to the preset's bulkhead, if any; a
    /// shared bulkhead is replaced by a fresh one).
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().bulkhead(|b| b.max_concurrent(4)).build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn bulkhead(mut self, configure: impl FnOnce(BulkheadBuilder) -> BulkheadBuilder) -> Self {
        self.bulkhead = Part::configure(self.bulkhead.take(), Bulkhead::builder, configure);
        self
    }

    /// Uses `bulkhead` (shared with whatever else uses it).
    ///
    /// ```
    /// let shared = palisade::bulkhead::Bulkhead::builder().max_concurrent(8).build()?;
    /// let p = palisade::pipeline::Pipeline::builder().shared_bulkhead(shared).build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn shared_bulkhead(mut self, bulkhead: Bulkhead) -> Self {
        self.bulkhead = Some(Part::Shared(bulkhead));
        self
    }

    /// Bounds the whole call — every attempt and every backoff sleep — by `limit`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = palisade::pipeline::Pipeline::builder().total_timeout(Duration::from_secs(30)).build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn total_timeout(mut self, limit: Duration) -> Self {
        self.total_timeout = Some(Part::Configure(limit));
        self
    }

    /// Uses `timeout` (built elsewhere, with its own name and listeners) as the total timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = palisade::timeout::Timeout::builder().limit(Duration::from_secs(10)).build()?;
    /// let p = palisade::pipeline::Pipeline::builder().shared_total_timeout(t).build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn shared_total_timeout(mut self, timeout: Timeout) -> Self {
        self.total_timeout = Some(Part::Shared(timeout));
        self
    }

    /// Bounds each attempt by `limit` (the presets' `timeout`, the reference docs'
    /// `timeout_seconds`). A timed-out attempt is retried and counts as a breaker failure.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = palisade::pipeline::Pipeline::builder().timeout(Duration::from_secs(5)).build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.attempt_timeout = Some(Part::Configure(limit));
        self
    }

    /// Uses `timeout` (built elsewhere) as the per-attempt timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = palisade::timeout::Timeout::builder().limit(Duration::from_secs(1)).build()?;
    /// let p = palisade::pipeline::Pipeline::builder().shared_timeout(t).build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn shared_timeout(mut self, timeout: Timeout) -> Self {
        self.attempt_timeout = Some(Part::Shared(timeout));
        self
    }

    /// Adds retry configured by `configure` (applied to the preset's retry, if any; a shared
    /// retry is replaced by a fresh one).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = palisade::pipeline::Pipeline::builder()
    ///     .retry(|r| r.max_attempts(4).exponential(Duration::from_millis(50)))
    ///     .build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn retry(mut self, configure: impl FnOnce(RetryBuilder) -> RetryBuilder) -> Self {
        self.retry = Part::configure(self.retry.take(), Retry::builder, configure);
        self
    }

    /// Uses `retry` (built elsewhere: its own name, listeners, budget) as the pipeline's retry.
    ///
    /// ```
    /// let retry = palisade::retry::Retry::builder().max_attempts(2).build()?;
    /// let p = palisade::pipeline::Pipeline::builder().shared_retry(retry).build()?;
    /// assert_eq!(p.retry().map(|r| r.config().max_attempts), Some(2));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn shared_retry(mut self, retry: Retry) -> Self {
        self.retry = Some(Part::Shared(retry));
        self
    }

    /// Lets retry retry a rejection from a policy inside it (an open circuit), waiting at
    /// least the rejection's `retry_after`. Off by default: retrying into an open circuit
    /// only burns attempts.
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().retry(|r| r).retry_rejections(true).build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn retry_rejections(mut self, retry: bool) -> Self {
        self.retry_rejections = retry;
        self
    }

    /// Adds a circuit breaker configured by `configure` (applied to the preset's breaker, if
    /// any; a shared breaker is replaced by a fresh one — so are the shortcuts
    /// [`failure_threshold`](Self::failure_threshold) and
    /// [`recovery_timeout`](Self::recovery_timeout): configure a shared breaker where it is
    /// built).
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().circuit_breaker(|b| b.failure_threshold(3)).build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn circuit_breaker(
        mut self,
        configure: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder,
    ) -> Self {
        self.breaker = Part::configure(self.breaker.take(), CircuitBreaker::builder, configure);
        self
    }

    /// Uses `breaker` (shared: several pipelines calling one dependency should share its
    /// breaker).
    ///
    /// ```
    /// let breaker = palisade::circuit_breaker::CircuitBreaker::builder().name("db").build()?;
    /// let p = palisade::pipeline::Pipeline::builder().shared_circuit_breaker(breaker.clone()).build()?;
    /// breaker.force_open();
    /// assert!(p.call_blocking(|| Ok::<_, ()>(1)).unwrap_err().is_rejection());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn shared_circuit_breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = Some(Part::Shared(breaker));
        self
    }

    /// Adds hedging configured by `configure`, used by
    /// [`call_idempotent`](Pipeline::call_idempotent) only (a shared hedge is replaced by a
    /// fresh one).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = palisade::pipeline::Pipeline::builder().hedge(|h| h.delay(Duration::from_millis(50))).build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn hedge(mut self, configure: impl FnOnce(HedgeBuilder) -> HedgeBuilder) -> Self {
        self.hedge = Part::configure(self.hedge.take(), Hedge::builder, configure);
        self
    }

    /// Uses `hedge` (built elsewhere; its latency sample is shared) for
    /// [`call_idempotent`](Pipeline::call_idempotent).
    ///
    /// ```
    /// let hedge = palisade::hedge::Hedge::builder().build()?;
    /// let p = palisade::pipeline::Pipeline::builder().shared_hedge(hedge).build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn shared_hedge(mut self, hedge: Hedge) -> Self {
        self.hedge = Some(Part::Shared(hedge));
        self
    }

    /// Retry's maximum attempts (adds retry if absent) — the presets' `max_attempts`.
    ///
    /// ```
    /// let p = palisade::presets::Preset::Database.pipeline().max_attempts(5).build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_attempts(self, attempts: u32) -> Self {
        self.retry(|r| r.max_attempts(attempts))
    }

    /// Retry's base delay (adds retry if absent).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = palisade::pipeline::Pipeline::builder().base_delay(Duration::from_millis(200));
    /// # let _ = b;
    /// ```
    pub fn base_delay(self, delay: Duration) -> Self {
        self.retry(|r| r.base_delay(delay))
    }

    /// Retry's maximum delay (adds retry if absent).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = palisade::pipeline::Pipeline::builder().max_delay(Duration::from_secs(5));
    /// # let _ = b;
    /// ```
    pub fn max_delay(self, delay: Duration) -> Self {
        self.retry(|r| r.max_delay(delay))
    }

    /// The breaker's consecutive-failure threshold (adds a breaker if absent).
    ///
    /// ```
    /// let b = palisade::pipeline::Pipeline::builder().failure_threshold(3);
    /// # let _ = b;
    /// ```
    pub fn failure_threshold(self, failures: u32) -> Self {
        self.circuit_breaker(|b| b.failure_threshold(failures))
    }

    /// The breaker's recovery timeout (adds a breaker if absent).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = palisade::pipeline::Pipeline::builder().recovery_timeout(Duration::from_secs(45));
    /// # let _ = b;
    /// ```
    pub fn recovery_timeout(self, timeout: Duration) -> Self {
        self.circuit_breaker(|b| b.recovery_timeout(timeout))
    }

    /// Validates every policy and builds the pipeline. The error names the policy and field.
    ///
    /// ```
    /// use std::time::Duration;
    /// let err = palisade::pipeline::Pipeline::builder().timeout(Duration::ZERO).build().unwrap_err();
    /// assert_eq!((err.policy(), err.field(), err.value()), ("pipeline", "timeout", "0ns"));
    /// ```
    pub fn build(self) -> Result<Pipeline, ConfigError> {
        let name = self.name.unwrap_or_else(|| Arc::from(POLICY));
        let clock = self.clock.unwrap_or_default();
        let listeners = self.listeners;
        // Every part the pipeline configures gets its name, clock and listeners; shared parts
        // keep their own.
        let own = Own {
            name: &name,
            clock: &clock,
            listeners: &listeners,
        };
        // The two timeouts are one policy twice: an error names the pipeline setting.
        let timeout = |field: &'static str, limit: Duration| {
            own.build(Timeout::builder().limit(limit)).map_err(|error| {
                ConfigError::new(POLICY, field, error.value(), error.reason().to_owned())
            })
        };
        let rate_limiter = Part::resolve(self.rate_limit, |algorithm| {
            own.build(RateLimiter::builder(algorithm))
        })?;
        let bulkhead = Part::resolve(self.bulkhead, |b| own.build(b))?;
        let total_timeout =
            Part::resolve(self.total_timeout, |limit| timeout("total_timeout", limit))?;
        let retry = Part::resolve(self.retry, |b| own.build(b))?;
        let breaker = Part::resolve(self.breaker, |b| own.build(b))?;
        let hedge = Part::resolve(self.hedge, |b| own.build(b))?;
        let attempt_timeout =
            Part::resolve(self.attempt_timeout, |limit| timeout("timeout", limit))?;
        Ok(Pipeline {
            stack: Arc::new(Stack {
                name,
                clock,
                rate_limiter,
                rate_limit_max_wait: self.rate_limit_max_wait,
                bulkhead,
                total_timeout,
                retry,
                retry_rejections: self.retry_rejections,
                breaker,
                hedge,
                attempt_timeout,
                listeners: {
                    let mut own = Listeners::new();
                    for listener in &listeners {
                        own.push_arc(Arc::clone(listener));
                    }
                    own
                },
            }),
            retry_if: Always,
            failure_if: Always,
            retry_after: NoHint,
        })
    }
}

/// A listener registered once on the pipeline and shared by each policy it builds.
impl<R, B, H> Pipeline<R, B, H> {
    /// Retries only the operation errors `predicate` says yes to (per-attempt timeouts are
    /// always retried; rejections only with
    /// [`retry_rejections`](PipelineBuilder::retry_rejections)).
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().retry(|r| r.max_attempts(3)).build()?
    ///     .retry_if(|status: &u16| *status >= 500);
    /// let mut calls = 0;
    /// let _ = p.call_blocking(|| { calls += 1; Err::<(), u16>(404) });
    /// assert_eq!(calls, 1); // a client error is not retried
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn retry_if<R2>(self, predicate: R2) -> Pipeline<R2, B, H> {
        Pipeline {
            stack: self.stack,
            retry_if: predicate,
            failure_if: self.failure_if,
            retry_after: self.retry_after,
        }
    }

    /// Counts only the operation errors `predicate` says yes to as breaker failures (the
    /// others count as successes: the dependency answered). Per-attempt timeouts are always
    /// failures.
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().circuit_breaker(|b| b.failure_threshold(1)).build()?
    ///     .failure_if(|status: &u16| *status >= 500);
    /// let _ = p.call_blocking(|| Err::<(), u16>(404));
    /// assert!(p.call_blocking(|| Ok::<_, u16>(())).is_ok()); // 404 did not trip it
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn failure_if<B2>(self, predicate: B2) -> Pipeline<R, B2, H> {
        Pipeline {
            stack: self.stack,
            retry_if: self.retry_if,
            failure_if: predicate,
            retry_after: self.retry_after,
        }
    }

    /// Makes retry wait at least what an operation error asks for (a `Retry-After`), on top
    /// of the configured backoff: the delay is `max(backoff, hint)`.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use std::time::Duration;
    /// struct Busy(Duration);
    /// impl std::fmt::Debug for Busy { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("busy") } }
    /// let clock = ManualClock::new();
    /// let p = palisade::pipeline::Pipeline::builder()
    ///     .clock(clock.clone())
    ///     .retry(|r| r.max_attempts(2).fixed(Duration::from_millis(10)))
    ///     .build()?
    ///     .retry_after(|e: &Busy| Some(e.0));
    /// let _ = p.call_blocking(|| Err::<(), _>(Busy(Duration::from_secs(3))));
    /// assert_eq!(clock.now().as_nanos(), 3_000_000_000); // waited the hint, not 10 ms
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn retry_after<H2>(self, hint: H2) -> Pipeline<R, B, H2> {
        Pipeline {
            stack: self.stack,
            retry_if: self.retry_if,
            failure_if: self.failure_if,
            retry_after: hint,
        }
    }

    /// The same policies with the classification hooks replaced by `f(retry_if, failure_if,
    /// retry_after)` (the tower layer lifts them to its own error type).
    #[cfg(feature = "tower")]
    pub(crate) fn map_hooks<R2, B2, H2>(
        self,
        f: impl FnOnce(R, B, H) -> (R2, B2, H2),
    ) -> Pipeline<R2, B2, H2> {
        let (retry_if, failure_if, retry_after) =
            f(self.retry_if, self.failure_if, self.retry_after);
        Pipeline {
            stack: self.stack,
            retry_if,
            failure_if,
            retry_after,
        }
    }

    /// Whether `other` is this pipeline or a clone of it (same policies, same state).
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().build()?;
    /// assert!(p.shares_state_with(&p.clone()));
    /// assert!(!p.shares_state_with(&palisade::pipeline::Pipeline::builder().build()?));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn shares_state_with<R2, B2, H2>(&self, other: &Pipeline<R2, B2, H2>) -> bool {
        Arc::ptr_eq(&self.stack, &other.stack)
    }

    /// This (newly built) pipeline with the stateful parts of `old` wherever the settings are
    /// compatible: an equal breaker configuration keeps the old breaker, a rate limiter of the
    /// same kind keeps the old limiter under the new quota, an equal bulkhead or hedge
    /// configuration keeps the old one. Returns the parts kept.
    pub(crate) fn keeping_state_of<R2, B2, H2>(
        self,
        old: &Pipeline<R2, B2, H2>,
    ) -> (Pipeline<R, B, H>, Vec<&'static str>) {
        let new = &*self.stack;
        let old_stack = &*old.stack;
        let mut kept = Vec::new();
        let breaker = match (&new.breaker, &old_stack.breaker) {
            (Some(n), Some(o)) if n.config() == o.config() => {
                kept.push("circuit_breaker");
                Some(o.clone())
            }
            (n, _) => n.clone(),
        };
        let rate_limiter = match (&new.rate_limiter, &old_stack.rate_limiter) {
            (Some(n), Some(o)) if o.set_algorithm(n.algorithm()).is_ok() => {
                kept.push("rate_limit");
                Some(o.clone())
            }
            (n, _) => n.clone(),
        };
        let bulkhead = match (&new.bulkhead, &old_stack.bulkhead) {
            (Some(n), Some(o)) if n.config() == o.config() => {
                kept.push("bulkhead");
                Some(o.clone())
            }
            (n, _) => n.clone(),
        };
        let hedge = match (&new.hedge, &old_stack.hedge) {
            (Some(n), Some(o)) if n.config() == o.config() => {
                kept.push("hedge");
                Some(o.clone())
            }
            (n, _) => n.clone(),
        };
        let stack = Stack {
            name: Arc::clone(&new.name),
            clock: new.clock.clone(),
            rate_limiter,
            rate_limit_max_wait: new.rate_limit_max_wait,
            bulkhead,
            total_timeout: new.total_timeout.clone(),
            retry: new.retry.clone(),
            retry_rejections: new.retry_rejections,
            breaker,
            hedge,
            attempt_timeout: new.attempt_timeout.clone(),
            listeners: new.listeners.clone(),
        };
        (
            Pipeline {
                stack: Arc::new(stack),
                retry_if: self.retry_if,
                failure_if: self.failure_if,
                retry_after: self.retry_after,
            },
            kept,
        )
    }

    /// The pipeline's name.
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().name("cache").build()?;
    /// assert_eq!(p.name(), "cache");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.stack.name
    }

    /// The pipeline's circuit breaker, if it has one (for health checks and manual control).
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().circuit_breaker(|b| b).build()?;
    /// assert!(p.circuit_breaker().is_some());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn circuit_breaker(&self) -> Option<&CircuitBreaker> {
        self.stack.breaker.as_ref()
    }

    /// The pipeline's rate limiter, if it has one.
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().build()?;
    /// assert!(p.rate_limiter().is_none());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn rate_limiter(&self) -> Option<&RateLimiter> {
        self.stack.rate_limiter.as_ref()
    }

    /// The pipeline's bulkhead, if it has one.
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().bulkhead(|b| b.max_concurrent(2)).build()?;
    /// assert_eq!(p.bulkhead().map(|b| b.max_concurrent()), Some(2));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn bulkhead(&self) -> Option<&Bulkhead> {
        self.stack.bulkhead.as_ref()
    }

    /// The pipeline's retry policy, if it has one.
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().max_attempts(4).build()?;
    /// assert_eq!(p.retry().map(|r| r.config().max_attempts), Some(4));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn retry(&self) -> Option<&Retry> {
        self.stack.retry.as_ref()
    }
}

impl<R, B, H> Pipeline<R, B, H> {
    /// Runs `operation` through the pipeline (no hedging: see
    /// [`call_idempotent`](Self::call_idempotent)). `operation` makes one attempt each time it
    /// is called.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let p = palisade::presets::Preset::Cache.pipeline().build()?;
    /// let v = p.call(|| async { Ok::<_, std::io::Error>(7) }).await?;
    /// assert_eq!(v, 7);
    /// # Ok(()) }
    /// ```
    pub async fn call<T, E, F, Fut>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug,
        R: Predicate<E>,
        B: Predicate<E>,
        H: RetryAfter<E>,
    {
        self.traced(self.run(operation, false)).await
    }

    /// [`call`](Self::call) for an idempotent operation: with hedging configured, a slow
    /// attempt is raced by a second one and the first success wins. Declare only operations
    /// that are safe to run twice (reads, idempotent writes).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let p = palisade::pipeline::Pipeline::builder()
    ///     .hedge(|h| h.delay(Duration::from_millis(10)))
    ///     .build()?;
    /// let v = p.call_idempotent(|| async { Ok::<_, std::io::Error>("read") }).await?;
    /// assert_eq!(v, "read");
    /// # Ok(()) }
    /// ```
    pub async fn call_idempotent<T, E, F, Fut>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug,
        R: Predicate<E>,
        B: Predicate<E>,
        H: RetryAfter<E>,
    {
        self.traced(self.run(operation, true)).await
    }

    /// [`call`](Self::call) with `fallback` outermost: the errors it handles — an open
    /// circuit, exhausted retries, a timeout, whatever it was built for — become its answer.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use palisade::fallback::Fallback;
    /// let p = palisade::pipeline::Pipeline::builder().circuit_breaker(|b| b).build()?;
    /// p.circuit_breaker().unwrap().force_open();
    /// let cached = Fallback::on_rejections().value("cached profile");
    /// let v = p.call_with_fallback(|| async { Ok::<_, std::io::Error>("live profile") }, &cached).await?;
    /// assert_eq!(v, "cached profile");
    /// # Ok(()) }
    /// ```
    pub async fn call_with_fallback<T, E, F, Fut, P, A>(
        &self,
        operation: F,
        fallback: &Fallback<P, A>,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug,
        R: Predicate<E>,
        B: Predicate<E>,
        H: RetryAfter<E>,
        P: Predicate<Error<E>>,
        A: Action<T, E>,
    {
        fallback
            .recover(self.traced(self.run(operation, false)).await)
            .await
    }

    /// With the `tracing` feature, runs `call` in the `palisade.call` span; without, is `call`.
    fn traced<Fut: Future>(&self, call: Fut) -> impl Future<Output = Fut::Output> {
        #[cfg(feature = "tracing")]
        return ::tracing::Instrument::instrument(call, call_span(self.name()));
        #[cfg(not(feature = "tracing"))]
        call
    }

    async fn run<T, E, F, Fut>(&self, operation: F, idempotent: bool) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug,
        R: Predicate<E>,
        B: Predicate<E>,
        H: RetryAfter<E>,
    {
        let start = self.start();
        let result = self.run_policies(operation, idempotent).await;
        self.completed(start, &result);
        result
    }

    async fn run_policies<T, E, F, Fut>(
        &self,
        mut operation: F,
        idempotent: bool,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug,
        R: Predicate<E>,
        B: Predicate<E>,
        H: RetryAfter<E>,
    {
        let stack = &*self.stack;
        if let Some(limiter) = &stack.rate_limiter {
            match stack.rate_limit_max_wait {
                None => limiter.try_acquire().map(drop),
                Some(wait) => limiter.acquire_n(1, Some(wait)).await.map(drop),
            }
            .map_err(|denied| limiter.rejection(denied))?;
        }
        let _slot = match &stack.bulkhead {
            Some(bulkhead) => Some(bulkhead.acquire().await.map_err(Error::from)?),
            None => None,
        };
        match &stack.total_timeout {
            Some(timeout) => timeout.run(self.retried(&mut operation, idempotent)).await,
            None => self.retried(&mut operation, idempotent).await,
        }
    }

    async fn retried<T, E, F, Fut>(
        &self,
        operation: &mut F,
        idempotent: bool,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug,
        R: Predicate<E>,
        B: Predicate<E>,
        H: RetryAfter<E>,
    {
        let Some(retry) = &self.stack.retry else {
            return self.attempt(operation, idempotent).await;
        };
        let classify = Retryable {
            operation: &self.retry_if,
            rejections: self.stack.retry_rejections,
            breaker: self.stack.breaker.as_ref(),
        };
        let floor = Floor {
            hint: &self.retry_after,
        };
        let mut attempts = retry.begin();
        loop {
            let outcome = self.attempt(operation, idempotent).await;
            match attempts.record_or_veto(outcome, &classify, &Never, &floor, || classify.veto()) {
                Step::Done(result) => return result.map_err(Error::flatten),
                Step::Sleep(delay) => retry.clock().sleep(delay).await,
            }
        }
    }

    async fn attempt<T, E, F, Fut>(
        &self,
        operation: &mut F,
        idempotent: bool,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        B: Predicate<E>,
    {
        let stack = &*self.stack;
        let permit = match &stack.breaker {
            Some(breaker) => Some(breaker.try_acquire().map_err(Error::from)?),
            None => None,
        };
        let this = self;
        let result = match (&stack.hedge, idempotent) {
            (Some(hedge), true) => hedge.run(move || this.timed(operation())).await,
            _ => self.timed(operation()).await,
        };
        if let Some(permit) = permit {
            permit.record(self.verdict(&result));
        }
        result
    }

    /// One attempt under the per-attempt timeout (if any): a single pinned future, so the
    /// operation's future is stored once however the policies nest.
    fn timed<T, E, Fut>(&self, attempt: Fut) -> Timed<'_, Fut, OperationResult<T, E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let timeout = self.stack.attempt_timeout.as_ref();
        Timed::new(attempt, timeout, operation_result::<T, E>)
    }

    fn verdict<T, E>(&self, result: &Result<T, Error<E>>) -> Verdict
    where
        B: Predicate<E>,
    {
        match result {
            Ok(_) => Verdict::Success,
            Err(Error::Operation(error)) if self.failure_if.test(error) => Verdict::Failure,
            Err(Error::Operation(_)) => Verdict::Success,
            Err(Error::Timeout { .. }) => Verdict::Failure,
            Err(_) => Verdict::Ignored,
        }
    }

    /// Runs `operation` through the pipeline on the calling thread; see the
    /// [module docs](self#blocking-calls) for what the timeouts mean here.
    ///
    /// ```
    /// let p = palisade::presets::Preset::Database.pipeline().build()?;
    /// assert_eq!(p.call_blocking(|| Ok::<_, std::io::Error>(3)).unwrap(), 3);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn call_blocking<T, E, F>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Result<T, E>,
        E: fmt::Debug,
        R: Predicate<E>,
        B: Predicate<E>,
        H: RetryAfter<E>,
    {
        #[cfg(feature = "tracing")]
        let _span = call_span(self.name()).entered();
        let start = self.start();
        let result = self.run_policies_blocking(operation);
        self.completed(start, &result);
        result
    }

    /// When the call started, if anyone listens to the pipeline (no clock read otherwise).
    #[inline]
    fn start(&self) -> Option<crate::clock::Instant> {
        (!self.stack.listeners.is_empty()).then(|| self.stack.clock.now())
    }

    /// Publishes the call's [`PipelineEvent::Completed`], if anyone listens.
    #[inline]
    fn completed<T, E>(&self, start: Option<crate::clock::Instant>, result: &Result<T, Error<E>>) {
        if let Some(start) = start {
            let stack = &*self.stack;
            let outcome = match result {
                Ok(_) => CallOutcome::Succeeded,
                Err(error) if error.is_rejection() => CallOutcome::Rejected,
                Err(_) => CallOutcome::Failed,
            };
            let elapsed = stack.clock.now().saturating_duration_since(start);
            stack.listeners.emit(|| PipelineEvent::Completed {
                name: &stack.name,
                outcome,
                elapsed,
            });
        }
    }

    fn run_policies_blocking<T, E, F>(&self, mut operation: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Result<T, E>,
        E: fmt::Debug,
        R: Predicate<E>,
        B: Predicate<E>,
        H: RetryAfter<E>,
    {
        let stack = &*self.stack;
        if let Some(limiter) = &stack.rate_limiter {
            match stack.rate_limit_max_wait {
                None => limiter.try_acquire().map(drop),
                Some(wait) => limiter.acquire_n_blocking(1, Some(wait)).map(drop),
            }
            .map_err(|denied| limiter.rejection(denied))?;
        }
        let _slot = match &stack.bulkhead {
            Some(bulkhead) => Some(bulkhead.acquire_blocking().map_err(Error::from)?),
            None => None,
        };
        let total = stack
            .total_timeout
            .as_ref()
            .map(|t| (t, Deadline::start(stack.clock.clone(), t.limit())));
        // An attempt that overran the total limit ends the call (published as finished late).
        let past = |total: &Option<(&Timeout, Deadline)>| match total {
            Some((timeout, deadline)) if deadline.is_expired() => timeout.settle(
                Err(Error::Timeout {
                    limit: deadline.limit(),
                }),
                deadline.elapsed(),
            ),
            _ => Ok(()),
        };
        let Some(retry) = &stack.retry else {
            let result = self.attempt_blocking(&mut operation);
            past(&total)?;
            return result;
        };
        let classify = Retryable {
            operation: &self.retry_if,
            rejections: stack.retry_rejections,
            breaker: stack.breaker.as_ref(),
        };
        let floor = Floor {
            hint: &self.retry_after,
        };
        let mut attempts = retry.begin();
        loop {
            let outcome = self.attempt_blocking(&mut operation);
            past(&total)?;
            match attempts.record_or_veto(outcome, &classify, &Never, &floor, || classify.veto()) {
                Step::Done(result) => return result.map_err(Error::flatten),
                Step::Sleep(delay) => {
                    // No sleep runs into the total limit: give up now (published as timed out).
                    if let Some((timeout, deadline)) = &total
                        && delay >= deadline.remaining()
                    {
                        return Err(timeout.timed_out());
                    }
                    retry.clock().sleep_blocking(delay);
                }
            }
        }
    }

    /// [`call_blocking`](Self::call_blocking) with `fallback` outermost.
    ///
    /// ```
    /// use palisade::fallback::Fallback;
    /// let p = palisade::pipeline::Pipeline::builder().max_attempts(2).build()?;
    /// let v = p.call_blocking_with_fallback(|| Err::<u8, _>("down"), &Fallback::on_errors().value(0));
    /// assert_eq!(v, Ok(0));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn call_blocking_with_fallback<T, E, F, P, A>(
        &self,
        operation: F,
        fallback: &Fallback<P, A>,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Result<T, E>,
        E: fmt::Debug,
        R: Predicate<E>,
        B: Predicate<E>,
        H: RetryAfter<E>,
        P: Predicate<Error<E>>,
        A: BlockingAction<T, E>,
    {
        fallback.recover_blocking(self.call_blocking(operation))
    }

    fn attempt_blocking<T, E, F>(&self, operation: &mut F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Result<T, E>,
        B: Predicate<E>,
    {
        let stack = &*self.stack;
        let permit = match &stack.breaker {
            Some(breaker) => Some(breaker.try_acquire().map_err(Error::from)?),
            None => None,
        };
        let result = match &stack.attempt_timeout {
            None => operation().map_err(Error::Operation),
            // A late attempt becomes a timeout, published by the policy.
            Some(timeout) => timeout.run_blocking(|_| operation().map_err(Error::Operation)),
        };
        if let Some(permit) = permit {
            permit.record(self.verdict(&result));
        }
        result
    }
}

/// Retry's question inside a pipeline: the user's predicate for operation errors; per-attempt
/// timeouts always; rejections only when configured; never an exhausted inner retry or an
/// impossible request. When the attempt's failure has just opened the breaker and rejections
/// are not retried, retry is vetoed ([`StopReason::CircuitOpened`]): the next attempt could
/// only be refused, so retry stops at once with the attempt's own error instead of sleeping
/// into an open circuit.
/// How an attempt's own result becomes the pipeline's.
type OperationResult<T, E> = fn(Result<T, E>) -> Result<T, Error<E>>;

struct Retryable<'a, R> {
    operation: &'a R,
    rejections: bool,
    breaker: Option<&'a CircuitBreaker>,
}

impl<R> Retryable<'_, R> {
    fn veto(&self) -> Option<StopReason> {
        let refuses = !self.rejections
            && self.breaker.is_some_and(|breaker| {
                matches!(
                    breaker.state(),
                    CircuitState::Open | CircuitState::ForcedOpen
                )
            });
        refuses.then_some(StopReason::CircuitOpened)
    }
}

impl<E, R: Predicate<E>> Predicate<Error<E>> for Retryable<'_, R> {
    #[inline]
    fn test(&self, error: &Error<E>) -> bool {
        match error {
            Error::Operation(error) => self.operation.test(error),
            Error::Timeout { .. } => true,
            Error::CircuitOpen { .. } | Error::BulkheadFull { .. } | Error::RateLimited { .. } => {
                self.rejections
            }
            _ => false,
        }
    }
}

/// The configured backoff, but never shorter than what the error asks for: a rejection's
/// `retry_after` (an open circuit says when it will let a trial call through) or the
/// operation error's hint.
struct Floor<'a, H> {
    hint: &'a H,
}

impl<T, E, H: RetryAfter<E>> DelayFn<T, Error<E>> for Floor<'_, H> {
    #[inline]
    fn delay(&self, _: u32, _: Outcome<'_, T, Error<E>>) -> Option<Duration> {
        None
    }

    fn min_delay(&self, _: u32, outcome: Outcome<'_, T, Error<E>>) -> Option<Duration> {
        match outcome {
            Outcome::Err(Error::Operation(error)) => self.hint.retry_after(error),
            Outcome::Err(error) if error.is_rejection() => error.retry_after(),
            _ => None,
        }
    }
}

impl<R, B, H> fmt::Debug for Pipeline<R, B, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stack = &*self.stack;
        f.debug_struct("Pipeline")
            .field("name", &stack.name)
            .field("rate_limiter", &stack.rate_limiter)
            .field("bulkhead", &stack.bulkhead)
            .field("total_timeout", &stack.total_timeout)
            .field("retry", &stack.retry)
            .field("circuit_breaker", &stack.breaker)
            .field("hedge", &stack.hedge)
            .field("attempt_timeout", &stack.attempt_timeout)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("name", &self.name)
            .field("total_timeout", &self.total_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("retry_rejections", &self.retry_rejections)
            .finish_non_exhaustive()
    }
}

/// The span every pipeline call runs in: `palisade.call`, level `DEBUG`, field `name` (the
/// pipeline's name). `DEBUG` so that an `INFO` subscriber does not build a span per call.
#[cfg(feature = "tracing")]
fn call_span(name: &str) -> ::tracing::Span {
    ::tracing::debug_span!(target: "palisade::pipeline", "palisade.call", name)
}
