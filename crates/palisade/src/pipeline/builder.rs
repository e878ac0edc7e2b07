//! [`PipelineBuilder`]: which policies, configured here or shared, with what name and clock.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{NoHint, POLICY, Pipeline, SameClock, Stack};
use crate::backend::Backend;
use crate::builder::PolicyBuilder;
use crate::bulkhead::{Bulkhead, BulkheadBuilder};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerBuilder};
use crate::classify::{ByClass, ClassSet, ErrorClass};
use crate::clock::Clock;
use crate::error::ConfigError;
use crate::event::Listener;
use crate::hedge::{Hedge, HedgeBuilder};
use crate::listener::{Listen, Listeners};
use crate::predicate::Always;
use crate::rate_limit::{Algorithm, RateLimiter};
use crate::retry::{Retry, RetryBuilder};
use crate::timeout::Timeout;

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
///
/// `R` and `B` are the hooks the pipeline will start with: [`Always`] for a builder from
/// [`Pipeline::builder`] (every error retried and counted), [`ByClass`] for a preset's or
/// after [`classified`](Self::classified) (see [`crate::classify`]).
pub struct PipelineBuilder<R = Always, B = Always> {
    retry_if: R,
    failure_if: B,
    name: Option<Arc<str>>,
    clock: Option<Clock>,
    listeners: Vec<Arc<dyn Listener>>,
    seed: Option<u64>,
    backend: Option<Arc<dyn Backend>>,
    rate_limit: Option<Part<Algorithm, RateLimiter>>,
    rate_limit_max_wait: Option<Duration>,
    bulkhead: Option<Part<BulkheadBuilder, Bulkhead>>,
    total_timeout: Option<Part<Duration, Timeout>>,
    retry: Option<Part<RetryBuilder, Retry>>,
    retry_rejections: bool,
    idempotent: bool,
    retry_on: Option<ClassSet>,
    failure_on: Option<ClassSet>,
    breaker: Option<Part<CircuitBreakerBuilder, CircuitBreaker>>,
    hedge: Option<Part<HedgeBuilder, Hedge>>,
    attempt_timeout: Option<Part<Duration, Timeout>>,
}

impl PipelineBuilder {
    pub(super) fn new() -> Self {
        PipelineBuilder {
            retry_if: Always,
            failure_if: Always,
            name: None,
            clock: None,
            listeners: Vec::new(),
            seed: None,
            backend: None,
            rate_limit: None,
            rate_limit_max_wait: None,
            bulkhead: None,
            total_timeout: None,
            retry: None,
            retry_rejections: false,
            idempotent: false,
            retry_on: None,
            failure_on: None,
            breaker: None,
            hedge: None,
            attempt_timeout: None,
        }
    }
}

impl<R, B> PipelineBuilder<R, B> {
    /// The pipeline will retry and count errors by their [class](crate::classify): both
    /// hooks become [`ByClass`] (a preset's builder already does).
    ///
    /// ```
    /// use palisade::pipeline::{Classified, Pipeline};
    /// let p: Classified = Pipeline::builder().max_attempts(3).classified().build()?;
    /// let mut calls = 0;
    /// let _ = p.call_blocking(|| { calls += 1; Err::<(), _>(std::io::Error::from(std::io::ErrorKind::AlreadyExists)) });
    /// assert_eq!(calls, 1); // a conflict is an answer: not retried
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn classified(self) -> PipelineBuilder<ByClass, ByClass> {
        self.with_hooks(ByClass, ByClass)
    }

    /// The pipeline will retry and count every error: both hooks become [`Always`] (for an
    /// error type that carries no class; see [`Pipeline::unclassified`]).
    ///
    /// ```
    /// use palisade::presets::Preset;
    /// let p = Preset::Cache.pipeline().unclassified().build()?;
    /// assert_eq!(p.call_blocking(|| Ok::<_, String>(1)), Ok(1));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn unclassified(self) -> PipelineBuilder {
        self.with_hooks(Always, Always)
    }

    /// A classified pipeline retries exactly the errors of these classes, whatever the
    /// call's idempotency (the default: *unreached* always, *transient* when idempotent).
    /// Configuration's `retry_on`. Only the class-based hook ([`ByClass`]) reads it.
    ///
    /// ```
    /// use palisade::classify::ErrorClass;
    /// let p = palisade::presets::Preset::Database.pipeline()
    ///     .retry_on(&[ErrorClass::Unreached, ErrorClass::Transient]) // resets too, although not idempotent
    ///     .base_delay(std::time::Duration::from_millis(1)).max_delay(std::time::Duration::from_millis(1))
    ///     .clock(palisade::clock::ManualClock::new())
    ///     .build()?;
    /// let mut calls = 0;
    /// let _ = p.call_blocking(|| { calls += 1; Err::<(), _>(std::io::Error::from(std::io::ErrorKind::ConnectionReset)) });
    /// assert_eq!(calls, 3);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn retry_on(mut self, classes: &[ErrorClass]) -> Self {
        self.retry_on = Some(ClassSet::of(classes));
        self
    }

    /// A classified pipeline's breaker counts exactly the errors of these classes as
    /// failures (the others as successes; the default: every class but *answer*).
    /// Configuration's `failure_on`. Only the class-based hook ([`ByClass`]) reads it.
    ///
    /// ```
    /// use palisade::classify::ErrorClass;
    /// let p = palisade::presets::Preset::Cache.pipeline()
    ///     .failure_on(&[ErrorClass::Unreached]) // only an unreachable cache trips it
    ///     .build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn failure_on(mut self, classes: &[ErrorClass]) -> Self {
        self.failure_on = Some(ClassSet::of(classes));
        self
    }

    fn with_hooks<R2, B2>(self, retry_if: R2, failure_if: B2) -> PipelineBuilder<R2, B2> {
        PipelineBuilder {
            retry_if,
            failure_if,
            name: self.name,
            clock: self.clock,
            listeners: self.listeners,
            seed: self.seed,
            backend: self.backend,
            rate_limit: self.rate_limit,
            rate_limit_max_wait: self.rate_limit_max_wait,
            bulkhead: self.bulkhead,
            total_timeout: self.total_timeout,
            retry: self.retry,
            retry_rejections: self.retry_rejections,
            idempotent: self.idempotent,
            retry_on: self.retry_on,
            failure_on: self.failure_on,
            breaker: self.breaker,
            hedge: self.hedge,
            attempt_timeout: self.attempt_timeout,
        }
    }

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

    /// Registers a listener shared with other pipelines and policies (one metrics listener
    /// for all of them) on every policy the pipeline builds.
    ///
    /// ```
    /// use palisade::event::{Event, Listener};
    /// use std::sync::Arc;
    /// let shared: Arc<dyn Listener> = Arc::new(|_: &Event<'_>| {});
    /// let a = palisade::pipeline::Pipeline::builder().on_event_arc(shared.clone()).build()?;
    /// let b = palisade::pipeline::Pipeline::builder().on_event_arc(shared).build()?;
    /// # let _ = (a, b);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn on_event_arc(mut self, listener: Arc<dyn Listener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Seeds the randomness of every policy the pipeline builds (retry's jitter), so two
    /// runs with the same seed on the same clock make the same decisions — what a simulation
    /// needs. A retry configured with its own seed keeps it. Unseeded, jitter is random.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use std::time::Duration;
    /// let waited = |seed| {
    ///     let clock = ManualClock::new();
    ///     let p = palisade::pipeline::Pipeline::builder()
    ///         .clock(clock.clone())
    ///         .seed(seed)
    ///         .retry(|r| r.max_attempts(4).exponential(Duration::from_secs(1)))
    ///         .build()
    ///         .unwrap();
    ///     let _ = p.call_blocking(|| Err::<(), _>("down"));
    ///     clock.now()
    /// };
    /// assert_eq!(waited(7), waited(7));
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Keeps the state of the breaker and rate limiter the pipeline builds where `backend`
    /// says — fleet-wide, say — instead of in this process (the default,
    /// [`InProcess`](crate::backend::InProcess)). Shared parts keep their own stores. See
    /// [`crate::backend`].
    ///
    /// ```
    /// use palisade::backend::InProcess;
    /// let p = palisade::pipeline::Pipeline::builder()
    ///     .circuit_breaker(|b| b)
    ///     .backend(InProcess)
    ///     .build()?;
    /// # let _ = p;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn backend(mut self, backend: impl Backend) -> Self {
        self.backend = Some(Arc::new(backend));
        self
    }

    /// Limits the call rate with `algorithm`; a call beyond the quota is rejected with
    /// [`Error::RateLimited`](crate::Error::RateLimited) (or waits, with
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

    /// Bounds each attempt by `limit` (the presets' `timeout`). A timed-out attempt is retried and counts as a breaker failure.
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

    /// Declares the calls through this pipeline idempotent: safe to run twice. Only then is
    /// an attempt that timed out — which may have reached the dependency and done its work,
    /// an INSERT that committed but answered late — attempted again. Off by default: a
    /// timed-out attempt ends the call with [`Error::Timeout`](crate::Error::Timeout) (it
    /// still counts as a failure for the breaker). Per call,
    /// [`call_idempotent`](Pipeline::call_idempotent) declares the same for one call.
    /// Errors your operation returns are retried as `retry_if` says, idempotent or not: only
    /// your error type knows whether it came before or after the request was sent.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    /// let build = |idempotent| palisade::pipeline::Pipeline::builder()
    ///     .timeout(Duration::from_millis(100))
    ///     .retry(|r| r.max_attempts(3))
    ///     .idempotent(idempotent)
    ///     .build();
    /// for (idempotent, expected) in [(false, 1), (true, 3)] {
    ///     let started = AtomicU32::new(0);
    ///     let out = build(idempotent)?
    ///         .call(|| async {
    ///             started.fetch_add(1, Ordering::SeqCst);
    ///             tokio::time::sleep(Duration::from_secs(1)).await; // answers too late
    ///             Ok::<_, std::io::Error>(())
    ///         })
    ///         .await;
    ///     assert!(out.is_err());
    ///     assert_eq!(started.load(Ordering::SeqCst), expected);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
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
    pub fn build(self) -> Result<Pipeline<R, B>, ConfigError> {
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
        let backend = self.backend.as_deref();
        let rate_limiter = Part::resolve(self.rate_limit, |algorithm| {
            let builder = RateLimiter::builder(algorithm);
            own.build(
                match backend.and_then(|b| b.rate_limiter_store(&name, algorithm, &clock)) {
                    Some(store) => builder.store(store),
                    None => builder,
                },
            )
        })?;
        let bulkhead = Part::resolve(self.bulkhead, |b| own.build(b))?;
        let total_timeout =
            Part::resolve(self.total_timeout, |limit| timeout("total_timeout", limit))?;
        let seed = self.seed;
        let retry = Part::resolve(self.retry, |b| own.build(b.seed_unless_set(seed)))?;
        let breaker = Part::resolve(self.breaker, |b| {
            own.build(
                match backend
                    .and_then(|backend| backend.circuit_breaker_store(&name, b.config(), &clock))
                {
                    Some(store) => b.store(store),
                    None => b,
                },
            )
        })?;
        let hedge = Part::resolve(self.hedge, |b| own.build(b))?;
        let attempt_timeout =
            Part::resolve(self.attempt_timeout, |limit| timeout("timeout", limit))?;
        Ok(Pipeline {
            stack: Arc::new(
                Stack {
                    name,
                    clock,
                    rate_limiter,
                    rate_limit_max_wait: self.rate_limit_max_wait,
                    bulkhead,
                    total_timeout,
                    retry,
                    retry_rejections: self.retry_rejections,
                    idempotent: self.idempotent,
                    retry_on: self.retry_on,
                    failure_on: self.failure_on,
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
                    same_clock: SameClock::default(),
                    switch: Default::default(),
                }
                .with_same_clock(),
            ),
            retry_if: self.retry_if,
            failure_if: self.failure_if,
            retry_after: NoHint,
        })
    }
}

impl<R, B> fmt::Debug for PipelineBuilder<R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("name", &self.name)
            .field("total_timeout", &self.total_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("retry_rejections", &self.retry_rejections)
            .field("idempotent", &self.idempotent)
            .finish_non_exhaustive()
    }
}
