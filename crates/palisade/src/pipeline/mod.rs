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
//!   [`StopReason::CircuitOpened`](crate::retry::StopReason::CircuitOpened) and that attempt's error) rather than sleeping only to be
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

mod blocking;
mod builder;
mod classify;
mod run;
mod switch;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use crate::event::{CallOutcome, Disabled, PipelineEvent};
pub use builder::PipelineBuilder;
pub use classify::{
    FailureIf, FailureOnResult, IgnoreIf, NoHint, RetryAfter, RetryIf, RetryOnResult,
};

use crate::bulkhead::Bulkhead;
use crate::circuit_breaker::CircuitBreaker;
use crate::classify::{ByClass, ClassSet};
use crate::clock::Clock;
use crate::error::Error;
use crate::event::Listener;
use crate::hedge::Hedge;
use crate::listener::{Kind, Listen, Listeners};
use crate::predicate::Always;
use crate::rate_limit::RateLimiter;
use crate::retry::Retry;
use crate::timeout::Timeout;

const POLICY: &str = "pipeline";

/// Policies composed around a call; see the [module docs](self) for the order. Cheap to
/// clone: clones share every policy's state.
///
/// `R` decides which operation errors retry repeats ([`retry_if`](Self::retry_if), a
/// [`RetryIf`]), `B` which ones the breaker counts as failures
/// ([`failure_if`](Self::failure_if), a [`FailureIf`]); a pipeline built by hand retries and
/// counts every error until told otherwise, one from a preset, a configuration or
/// `#[resilient]` asks the error's class ([`Classified`], see [`crate::classify`]).
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

/// A pipeline that retries and counts errors by their [class](crate::classify): what presets,
/// configuration-built pipelines ([`Registry`](crate::registry::Registry)) and `#[resilient]`
/// hand out. A plain type to store in a struct:
///
/// ```
/// use palisade::pipeline::Classified;
/// use palisade::presets::Preset;
/// struct Users { db: Classified }
/// let users = Users { db: Preset::Database.pipeline().build()? };
/// let n = users.db.call_blocking(|| Ok::<_, std::io::Error>(1))?;
/// # assert_eq!(n, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type Classified<H = NoHint> = Pipeline<ByClass, ByClass, H>;

/// The builder of a [`Classified`] pipeline: a preset's, configuration's, or
/// [`PipelineBuilder::classified`].
///
/// ```
/// use palisade::pipeline::ClassifiedBuilder;
/// let builder: ClassifiedBuilder = palisade::presets::Preset::Api.pipeline();
/// # let _ = builder;
/// ```
pub type ClassifiedBuilder = PipelineBuilder<ByClass, ByClass>;

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
    /// Calls are declared idempotent: an attempt that may have reached the dependency (it
    /// timed out) may be repeated.
    pub(crate) idempotent: bool,
    /// The classes a classified pipeline retries / counts as failures, when told
    /// ([`PipelineBuilder::retry_on`], [`PipelineBuilder::failure_on`]).
    pub(crate) retry_on: Option<ClassSet>,
    pub(crate) failure_on: Option<ClassSet>,
    pub(crate) breaker: Option<CircuitBreaker>,
    pub(crate) hedge: Option<Hedge>,
    pub(crate) attempt_timeout: Option<Timeout>,
    /// Listeners of the pipeline itself: one [`PipelineEvent`] per call.
    pub(crate) listeners: Listeners<Pipeline>,
    /// Which policies read time as the pipeline's clock does (see [`Now`]).
    pub(crate) same_clock: SameClock,
    /// Which policies calls skip; shared with the stacks a registry rebuilds from this one.
    pub(crate) switch: switch::Switch,
}

/// Which of a stack's policies read time as its clock does, so that one reading serves them
/// all: those the pipeline builds get its clock; a shared policy may have its own.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SameClock {
    pub(crate) rate_limiter: bool,
    pub(crate) total_timeout: bool,
    pub(crate) attempt_timeout: bool,
}

impl Stack {
    /// The stack with [`same_clock`](Self::same_clock) worked out from its policies' clocks.
    fn with_same_clock(mut self) -> Stack {
        let clock = &self.clock;
        self.same_clock = SameClock {
            rate_limiter: self
                .rate_limiter
                .as_ref()
                .is_some_and(|l| l.clock().reads_like(clock)),
            total_timeout: self
                .total_timeout
                .as_ref()
                .is_some_and(|t| t.clock().reads_like(clock)),
            attempt_timeout: self
                .attempt_timeout
                .as_ref()
                .is_some_and(|t| t.clock().reads_like(clock)),
        };
        self
    }
}

/// One reading of a pipeline's clock, taken when a call first needs the time (or when it
/// starts, for the listeners) and reused by every decision made before anything could have
/// waited: the in-process rate limiter, the total timeout's deadline, retry's start, the
/// first attempt's deadline. Anything that may have taken time
/// (a wait, a store elsewhere, an attempt) calls [`waited`](Self::waited), and the next
/// decision reads the clock again. A policy on another clock reads its own.
#[derive(Clone, Copy)]
pub(super) struct Now<'a> {
    clock: &'a Clock,
    reading: Option<crate::clock::Instant>,
}

impl<'a> Now<'a> {
    /// `start`: the call's start, if it was read on `clock`.
    #[inline]
    pub(super) fn new(clock: &'a Clock, start: Option<crate::clock::Instant>) -> Self {
        Now {
            clock,
            reading: start,
        }
    }

    /// The time on `own`, a policy's clock: this call's reading if `same` (`own` reads like
    /// the pipeline's clock), else a reading of `own`.
    #[inline(always)]
    pub(super) fn on(&mut self, same: bool, own: &Clock) -> crate::clock::Instant {
        match self.reading {
            Some(reading) if same => reading,
            _ => self.read(same, own),
        }
    }

    /// A reading of `own`, kept if it is the pipeline's clock.
    #[inline]
    fn read(&mut self, same: bool, own: &Clock) -> crate::clock::Instant {
        if !same {
            return own.now();
        }
        *self.reading.insert(self.clock.now())
    }

    /// Time may have passed: the next decision reads the clock again.
    #[inline]
    pub(super) fn waited(&mut self) {
        self.reading = None;
    }
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
        PipelineBuilder::new()
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
            idempotent: false,
            retry_on: None,
            failure_on: None,
            breaker: None,
            hedge: None,
            attempt_timeout: None,
            listeners: Listeners::new(),
            same_clock: SameClock::default(),
            switch: switch::Switch::default(),
        };
        set(&mut stack);
        Pipeline {
            stack: Arc::new(stack.with_same_clock()),
            retry_if: Always,
            failure_if: Always,
            retry_after: NoHint,
        }
    }
}

impl<R, B, H> Pipeline<R, B, H> {
    /// Retries only the operation errors `predicate` says yes to, replacing the pipeline's
    /// retry hook (a [`Predicate`](crate::predicate::Predicate) decides alone, whatever the
    /// call's idempotency; any [`RetryIf`] is accepted). Per-attempt timeouts are retried only
    /// for idempotent calls, rejections only with
    /// [`retry_rejections`](PipelineBuilder::retry_rejections).
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
    /// others count as successes: the dependency answered), replacing the pipeline's breaker
    /// hook (any [`FailureIf`] is accepted). Per-attempt timeouts are always failures.
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

    /// Counts nothing — neither failure nor success — for the operation errors `predicate`
    /// says yes to (a cancelled request, a client that went away); the breaker hook decides
    /// the rest.
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder()
    ///     .circuit_breaker(|b| b.failure_threshold(1))
    ///     .build()?
    ///     .ignore_if(|status: &u16| *status == 499);
    /// let _ = p.call_blocking(|| Err::<(), u16>(499));
    /// assert!(p.call_blocking(|| Ok::<_, u16>(())).is_ok()); // 499 did not count
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn ignore_if<I>(self, predicate: I) -> Pipeline<R, IgnoreIf<B, I>, H> {
        Pipeline {
            stack: self.stack,
            retry_if: self.retry_if,
            failure_if: IgnoreIf::new(self.failure_if, predicate),
            retry_after: self.retry_after,
        }
    }

    /// Also retries a successful attempt whose value `predicate` says yes to (an HTTP 503
    /// returned as `Ok`). When retry gives up, the last value is returned as it is.
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().max_attempts(3).build()?
    ///     .retry_on_result(|status: &u16| *status == 503);
    /// let mut calls = 0;
    /// let status = p.call_blocking(|| { calls += 1; Ok::<u16, std::io::Error>(if calls < 3 { 503 } else { 200 }) })?;
    /// assert_eq!((status, calls), (200, 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retry_on_result<P>(self, predicate: P) -> Pipeline<RetryOnResult<R, P>, B, H> {
        Pipeline {
            stack: self.stack,
            retry_if: RetryOnResult::new(self.retry_if, predicate),
            failure_if: self.failure_if,
            retry_after: self.retry_after,
        }
    }

    /// Also counts a successful attempt whose value `predicate` says yes to as a breaker
    /// failure (an HTTP 500 returned as `Ok`).
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder()
    ///     .circuit_breaker(|b| b.failure_threshold(1))
    ///     .build()?
    ///     .failure_on_result(|status: &u16| *status >= 500);
    /// let _ = p.call_blocking(|| Ok::<u16, std::io::Error>(502));
    /// assert!(p.call_blocking(|| Ok::<u16, std::io::Error>(200)).is_err()); // the 502 opened it
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn failure_on_result<P>(self, predicate: P) -> Pipeline<R, FailureOnResult<B, P>, H> {
        Pipeline {
            stack: self.stack,
            retry_if: self.retry_if,
            failure_if: FailureOnResult::new(self.failure_if, predicate),
            retry_after: self.retry_after,
        }
    }

    /// Retries and counts errors by their [class](crate::classify) (both hooks become
    /// [`ByClass`]): what presets, configuration and `#[resilient]` do by default.
    ///
    /// ```
    /// let p = palisade::pipeline::Pipeline::builder().max_attempts(3).build()?.classified();
    /// let mut calls = 0;
    /// let _ = p.call_blocking(|| { calls += 1; Err::<(), _>(std::io::Error::from(std::io::ErrorKind::NotFound)) });
    /// assert_eq!(calls, 1); // an answer is not retried
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn classified(self) -> Pipeline<ByClass, ByClass, H> {
        self.retry_if(ByClass).failure_if(ByClass)
    }

    /// Retries and counts every operation error (both hooks become
    /// [`Always`]): for an error type that carries no class (a string, an opaque report),
    /// when you have decided that every error is worth retrying and is the dependency's fault.
    ///
    /// ```
    /// use palisade::presets::Preset;
    /// let p = Preset::Cache.pipeline().build()?.unclassified();
    /// assert_eq!(p.call_blocking(|| Ok::<_, &str>(1)), Ok(1));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn unclassified(self) -> Pipeline<Always, Always, H> {
        self.retry_if(Always).failure_if(Always)
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
    /// configuration keeps the old one; the switch is always the old one's, so `old`'s
    /// holders follow the new pipeline's [`Disabled`]. Returns the parts kept.
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
            idempotent: new.idempotent,
            retry_on: new.retry_on,
            failure_on: new.failure_on,
            breaker,
            hedge,
            attempt_timeout: new.attempt_timeout.clone(),
            listeners: new.listeners.clone(),
            same_clock: SameClock::default(),
            switch: old_stack.switch.clone(),
        }
        .with_same_clock();
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
    /// Whether a call may run its operation more than once: retry, or hedging for an
    /// idempotent call. (The tower layer keeps a request for replay only then.)
    #[cfg(feature = "tower")]
    pub(crate) fn repeats(&self, idempotent: bool) -> bool {
        self.stack.retry.is_some() || (idempotent && self.stack.hedge.is_some())
    }

    /// The per-attempt timeout, if there is one.
    #[cfg(feature = "tower")]
    pub(crate) fn attempt_timeout(&self) -> Option<&Timeout> {
        self.stack.attempt_timeout.as_ref()
    }
}

impl<R, B, H> Pipeline<R, B, H> {
    /// When the call started, if anyone listens to the pipeline (no clock read otherwise).
    #[inline]
    pub(super) fn start(&self) -> Option<crate::clock::Instant> {
        (!self.stack.listeners.is_empty()).then(|| self.stack.clock.now())
    }

    /// Publishes the call's [`PipelineEvent::Completed`], if anyone listens.
    #[inline]
    pub(super) fn completed<T, E>(
        &self,
        start: Option<crate::clock::Instant>,
        result: &Result<T, Error<E>>,
    ) {
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

/// The span every pipeline call runs in: `palisade.call`, level `DEBUG`, field `name` (the
/// pipeline's name). `DEBUG` so that an `INFO` subscriber does not build a span per call.
#[cfg(feature = "tracing")]
fn call_span(name: &str) -> ::tracing::Span {
    ::tracing::debug_span!(target: "palisade::pipeline", "palisade.call", name)
}
