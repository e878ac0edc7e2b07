//! Retry: run an operation again after a failure, with backoff and jitter, within limits.
//!
//! # Why retry needs limits and randomness
//!
//! Most failures of a remote call are transient — a dropped connection, a failover, a
//! momentary overload — and the second attempt succeeds. But a naive retry loop turns a
//! struggling dependency into a dead one: every client retries at once, immediately, forever.
//! So a retry policy here always has
//!
//! - **a stop condition**: `max_attempts`, and optionally a `max_elapsed` budget for the whole
//!   call (whichever comes first; retry never sleeps into or past the budget — it gives up and
//!   says why, see [`StopReason`]);
//! - **backoff**: delays that grow ([`Strategy`]: fixed, linear, exponential), capped by
//!   `max_delay`;
//! - **jitter**: randomised delays ([`Jitter`]) so clients spread out instead of retrying in
//!   waves;
//! - optionally **a budget** shared by many policies ([`RetryBudget`]): retries stay a
//!   share of recent calls across the whole service, so an outage, when every call fails,
//!   cannot turn into a retry storm (see the [`budget`] module);
//! - **classification**: only errors you call transient are retried
//!   ([`retry_if`](Retry::retry_if)); a `false` makes an error permanent and stops at once.
//!   Results can be retried too ([`retry_on_result`](Retry::retry_on_result)), and the delay
//!   can come from the outcome ([`delay_fn`](Retry::delay_fn)) to honour a `Retry-After`,
//!   or be kept but raised to one ([`DelayFn::min_delay`]).
//!
//! # The common case
//!
//! ```
//! use palisade::retry::Retry;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let retry = Retry::builder()
//!     .max_attempts(4)
//!     .exponential(Duration::from_millis(100))
//!     .build()?
//!     .retry_if(|e: &std::io::Error| e.kind() != std::io::ErrorKind::PermissionDenied);
//!
//! let mut calls = 0;
//! let value = retry
//!     .call(|| {
//!         calls += 1;
//!         let n = calls;
//!         async move { if n < 3 { Err(std::io::Error::other("reset")) } else { Ok(n) } }
//!     })
//!     .await?;
//! assert_eq!(value, 3);
//! # Ok(()) }
//! ```
//!
//! The blocking form is the same policy with [`call_blocking`](Retry::call_blocking); both
//! share one state machine, so they make identical decisions and publish identical events.
//!
//! # Sharing and typing
//!
//! A `Retry` is cheap to clone (one `Arc`) and can serve calls with any result type. The
//! hooks are type parameters with zero-cost defaults ([`Always`], [`Never`]): `Retry`
//! retries every error and accepts every `Ok`; `.retry_if(f)` turns it into `Retry<F>`. To
//! store a customised policy in a struct, use function pointers: `Retry<fn(&MyError) -> bool>`.
//!
//! # Events
//!
//! Retry publishes [`RetryEvent`]s through [`crate::event`]: `RetryScheduled` before each
//! delay, then one `Succeeded` or `GaveUp`. The builder's [`on_retry`](RetryBuilder::on_retry),
//! [`on_success`](RetryBuilder::on_success) and [`on_failure`](RetryBuilder::on_failure) are
//! the same events as callbacks. Errors reach listeners through `Debug`, which is why the
//! call methods require `E: Debug + 'static` (an error type without borrowed data).

mod attempts;
pub mod budget;
mod classify;
mod config;
mod event;
mod peers;
mod report;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use budget::{RetryBudget, RetryBudgetBuilder, RetryBudgetConfig, RetryBudgetStats};
pub use classify::{ConfiguredBackoff, DelayFn, Outcome};
pub use config::{Jitter, RetryBuilder, RetryConfig, Strategy};
pub use event::{Cause, ErrorValue, RetryEvent, StopReason};
pub use peers::BudgetPeers;
pub use report::RetryReport;

use crate::clock::{Clock, Instant};
use crate::error::{ConfigError, Error};
use crate::listener::{Kind, Listeners};
use crate::predicate::{Always, Never, Predicate};
pub(crate) use attempts::{Attempts, NoVeto, Step, Veto};

/// A retry policy; see the [module docs](self). Cheap to clone, shareable across threads.
///
/// The type parameters are the hooks: `W` decides which errors are retried and `R` which
/// results (both [`Predicate`]s; by default every error and no result), `D` the delay
/// ([`DelayFn`]).
///
/// ```
/// use palisade::retry::Retry;
/// let retry = Retry::builder().max_attempts(2).build()?;
/// let mut n = 0;
/// let out = retry.call_blocking(|| { n += 1; if n == 1 { Err("once") } else { Ok(n) } });
/// assert_eq!(out, Ok(2));
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct Retry<W = Always, R = Never, D = ConfiguredBackoff> {
    shared: Arc<Shared>,
    retry_if: W,
    retry_on_result: R,
    delay_fn: D,
}

/// The untyped part of a policy, shared by its clones.
pub(crate) struct Shared {
    name: Arc<str>,
    config: RetryConfig,
    clock: Clock,
    listeners: Listeners<Retry>,
    seed: Option<u64>,
    /// Counts seeded calls so each draws its own deterministic jitter stream.
    seeded_calls: AtomicU64,
    /// Whether every call must read the clock at its start (`max_elapsed` or listeners).
    needs_clock: bool,
    /// Whether a call's start has nothing to do: no budget to deposit into, no clock to read,
    /// no seeded call to count (so the happy path can inline).
    bare_start: bool,
    /// The retry budget shared with other policies, if any: deposited into at every call's
    /// start, withdrawn from before every retry.
    budget: Option<RetryBudget>,
}

impl Shared {
    /// The index of a new call of a seeded policy (`None` if unseeded): call `k` of the policy
    /// draws jitter stream `k`, whether or not earlier calls retried.
    #[inline]
    fn next_seeded_call(&self) -> Option<u64> {
        self.seed
            .map(|_| self.seeded_calls.fetch_add(1, Ordering::Relaxed))
    }

    fn new_rng(&self, seeded_call: Option<u64>) -> fastrand::Rng {
        match (self.seed, seeded_call) {
            (Some(seed), Some(call)) => {
                fastrand::Rng::with_seed(splitmix64(seed ^ splitmix64(call)))
            }
            _ => fastrand::Rng::new(),
        }
    }
}

/// SplitMix64's finaliser: spreads nearby seeds (call 0, 1, 2…) into unrelated streams.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Kind for Retry {
    type Event<'a> = RetryEvent<'a>;
}

impl Retry {
    /// Starts building a policy from the defaults of [`RetryConfig`].
    ///
    /// ```
    /// let retry = palisade::retry::Retry::builder().build()?;
    /// assert_eq!(retry.config().max_attempts, 3);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn builder() -> RetryBuilder {
        RetryBuilder::new(RetryConfig::default())
    }

    /// Starts building from an existing configuration (for example one loaded from a file).
    ///
    /// ```
    /// use palisade::retry::{Retry, RetryConfig};
    /// let retry = Retry::builder_from(RetryConfig { max_attempts: 7, ..Default::default() })
    ///     .name("loaded")
    ///     .build()?;
    /// assert_eq!(retry.config().max_attempts, 7);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn builder_from(config: RetryConfig) -> RetryBuilder {
        RetryBuilder::new(config)
    }

    /// Validates `config` and builds a policy with default name, clock and no listeners.
    ///
    /// ```
    /// use palisade::retry::{Retry, RetryConfig};
    /// let err = Retry::from_config(RetryConfig { max_attempts: 0, ..Default::default() }).unwrap_err();
    /// assert_eq!(err.field(), "max_attempts");
    /// ```
    pub fn from_config(config: RetryConfig) -> Result<Retry, ConfigError> {
        Retry::builder_from(config).build()
    }

    pub(crate) fn assemble(
        name: Arc<str>,
        config: RetryConfig,
        clock: Clock,
        listeners: Listeners<Retry>,
        seed: Option<u64>,
        budget: Option<RetryBudget>,
    ) -> Retry {
        let needs_clock = config.max_elapsed.is_some() || !listeners.is_empty();
        let bare_start = !needs_clock && budget.is_none() && seed.is_none();
        Retry {
            shared: Arc::new(Shared {
                name,
                config,
                clock,
                listeners,
                seed,
                seeded_calls: AtomicU64::new(0),
                needs_clock,
                bare_start,
                budget,
            }),
            retry_if: Always,
            retry_on_result: Never,
            delay_fn: ConfiguredBackoff,
        }
    }
}

impl<W, R, D> Retry<W, R, D> {
    /// Retries only errors for which `predicate` returns `true`; others are permanent and
    /// returned at once as [`Error::Operation`]. The default retries every error.
    ///
    /// ```
    /// use palisade::{Error, retry::Retry};
    /// let retry = Retry::builder().build()?.retry_if(|e: &&str| *e != "fatal");
    /// let mut calls = 0;
    /// let out = retry.call_blocking(|| { calls += 1; Err::<(), _>("fatal") });
    /// assert_eq!((out, calls), (Err(Error::Operation("fatal")), 1));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn retry_if<W2>(self, predicate: W2) -> Retry<W2, R, D> {
        Retry {
            shared: self.shared,
            retry_if: predicate,
            retry_on_result: self.retry_on_result,
            delay_fn: self.delay_fn,
        }
    }

    /// Retries successful results for which `predicate` returns `true` (e.g. HTTP 503). When
    /// attempts run out, the last such result is returned as `Ok`.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use palisade::retry::Retry;
    /// let retry = Retry::builder().clock(ManualClock::new()).build()?
    ///     .retry_on_result(|status: &u16| *status == 503);
    /// let mut statuses = vec![200, 503, 503].into_iter().rev();
    /// let out = retry.call_blocking(|| Ok::<_, ()>(statuses.next().unwrap_or(500)));
    /// assert_eq!(out, Ok(200));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn retry_on_result<R2>(self, predicate: R2) -> Retry<W, R2, D> {
        Retry {
            shared: self.shared,
            retry_if: self.retry_if,
            retry_on_result: predicate,
            delay_fn: self.delay_fn,
        }
    }

    /// Chooses delays from the outcome (see [`DelayFn`]); `None` uses the configured backoff.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use palisade::retry::{Outcome, Retry};
    /// use std::time::Duration;
    ///
    /// #[derive(Debug)]
    /// struct Throttled { retry_after: Duration }
    ///
    /// let clock = ManualClock::new();
    /// let retry = Retry::builder().clock(clock.clone()).build()?
    ///     .delay_fn(|_, outcome: Outcome<'_, (), Throttled>| match outcome {
    ///         Outcome::Err(t) => Some(t.retry_after),
    ///         Outcome::Ok(_) => None,
    ///     });
    /// let mut first = true;
    /// let out = retry.call_blocking(|| {
    ///     if std::mem::take(&mut first) { Err(Throttled { retry_after: Duration::from_secs(7) }) } else { Ok(()) }
    /// });
    /// assert!(out.is_ok());
    /// assert_eq!(clock.now().as_nanos(), 7_000_000_000); // slept exactly the Retry-After
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn delay_fn<D2>(self, delay_fn: D2) -> Retry<W, R, D2> {
        Retry {
            shared: self.shared,
            retry_if: self.retry_if,
            retry_on_result: self.retry_on_result,
            delay_fn,
        }
    }

    /// The policy's name.
    ///
    /// ```
    /// assert_eq!(palisade::retry::Retry::builder().build()?.name(), "retry");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The validated configuration.
    ///
    /// ```
    /// let r = palisade::retry::Retry::builder().build()?;
    /// assert_eq!(r.config(), &palisade::retry::RetryConfig::default());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn config(&self) -> &RetryConfig {
        &self.shared.config
    }

    /// The policy's clock.
    ///
    /// ```
    /// assert!(!palisade::retry::Retry::builder().build()?.clock().is_manual());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The retry budget this policy shares, if it has one.
    ///
    /// ```
    /// use palisade::retry::{Retry, RetryBudget};
    /// let budget = RetryBudget::builder().build()?;
    /// let retry = Retry::builder().budget(budget).build()?;
    /// assert_eq!(retry.budget().map(|b| b.config().ratio), Some(0.2));
    /// assert!(Retry::builder().build()?.budget().is_none());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.shared.budget.as_ref()
    }

    /// Runs `operation` until it succeeds or retry stops, sleeping the thread between
    /// attempts on the policy's clock (on a [`ManualClock`](crate::clock::ManualClock), virtual
    /// time moves instead).
    ///
    /// Returns the value, the permanent error as [`Error::Operation`], or
    /// [`Error::RetriesExhausted`] with the last error.
    ///
    /// ```
    /// use palisade::{Error, clock::ManualClock, retry::{Retry, StopReason}};
    /// let retry = Retry::builder().max_attempts(3).clock(ManualClock::new()).build()?;
    /// let err = retry.call_blocking(|| Err::<(), _>("down")).unwrap_err();
    /// assert!(matches!(
    ///     err,
    ///     Error::RetriesExhausted { attempts: 3, reason: StopReason::MaxAttempts { max_attempts: 3 }, .. }
    /// ));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn call_blocking<T, E, F>(&self, mut operation: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Result<T, E>,
        E: fmt::Debug + 'static,
        W: Predicate<E>,
        R: Predicate<T>,
        D: DelayFn<T, E>,
    {
        // The first attempt inline: a call whose first attempt succeeds costs the call start,
        // the operation and a check or two; everything a failure needs is out of line.
        let mut attempts = Attempts::start(&self.shared, false);
        match attempts.accept(operation(), &self.retry_on_result) {
            Ok(value) => Ok(value),
            Err(rejected) => self.retry_blocking(operation, attempts, rejected),
        }
    }

    /// [`call_blocking`](Self::call_blocking), returning a [`RetryReport`] with attempts,
    /// total delay and elapsed time.
    ///
    /// ```
    /// let r = palisade::retry::Retry::builder().build()?;
    /// let report = r.call_blocking_with_report(|| Ok::<_, ()>("hi"));
    /// assert_eq!(report.attempts, 1);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn call_blocking_with_report<T, E, F>(&self, mut operation: F) -> RetryReport<T, E>
    where
        F: FnMut() -> Result<T, E>,
        E: fmt::Debug + 'static,
        W: Predicate<E>,
        R: Predicate<T>,
        D: DelayFn<T, E>,
    {
        let mut attempts = Attempts::start(&self.shared, true);
        let step = attempts.record(
            operation(),
            &self.retry_if,
            &self.retry_on_result,
            &self.delay_fn,
        );
        let result = self.blocking_loop(&mut operation, &mut attempts, step);
        report(result, &attempts)
    }

    /// The rest of a blocking call after an attempt [`accept`](Attempts::accept) rejected,
    /// out of line so that [`call_blocking`](Self::call_blocking) inlines to its first attempt.
    #[cold]
    #[inline(never)]
    fn retry_blocking<T, E, F>(
        &self,
        mut operation: F,
        mut attempts: Attempts<'_>,
        rejected: Result<T, E>,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Result<T, E>,
        E: fmt::Debug + 'static,
        W: Predicate<E>,
        R: Predicate<T>,
        D: DelayFn<T, E>,
    {
        let step = attempts.record_rejected(rejected, &self.retry_if, &self.delay_fn, &NoVeto);
        self.blocking_loop(&mut operation, &mut attempts, step)
    }

    /// Sleeps and runs attempts until `step` says the call is done.
    #[inline]
    fn blocking_loop<T, E, F>(
        &self,
        operation: &mut F,
        attempts: &mut Attempts<'_>,
        mut step: Step<T, E>,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Result<T, E>,
        E: fmt::Debug + 'static,
        W: Predicate<E>,
        R: Predicate<T>,
        D: DelayFn<T, E>,
    {
        loop {
            match step {
                Step::Done(result) => return result,
                Step::Sleep(delay) => self.shared.clock.sleep_blocking(delay),
            }
            step = attempts.record(
                operation(),
                &self.retry_if,
                &self.retry_on_result,
                &self.delay_fn,
            );
        }
    }

    /// Runs the async `operation` until it succeeds or retry stops, waiting between attempts
    /// on the policy's clock (see [`crate::clock`] for which timer serves it; on a
    /// [`ManualClock`](crate::clock::ManualClock), virtual time).
    ///
    /// Dropping the returned future cancels the call: no further attempt starts.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let retry = palisade::retry::Retry::builder().build()?;
    /// let value = retry.call(|| async { Ok::<_, std::io::Error>(5) }).await?;
    /// assert_eq!(value, 5);
    /// # Ok(()) }
    /// ```
    pub async fn call<T, E, F, Fut>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug + 'static,
        W: Predicate<E>,
        R: Predicate<T>,
        D: DelayFn<T, E>,
    {
        self.run_async(operation, false).await.0
    }

    /// [`call`](Self::call), returning a [`RetryReport`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let retry = palisade::retry::Retry::builder().max_attempts(2).build()?;
    /// let report = retry.call_with_report(|| async { Err::<(), _>("down") }).await;
    /// assert_eq!(report.attempts, 2);
    /// assert!(!report.is_success());
    /// # Ok(()) }
    /// ```
    pub async fn call_with_report<T, E, F, Fut>(&self, operation: F) -> RetryReport<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug + 'static,
        W: Predicate<E>,
        R: Predicate<T>,
        D: DelayFn<T, E>,
    {
        let (result, attempts) = self.run_async(operation, true).await;
        report(result, &attempts)
    }

    /// Starts one call's attempts for a caller that runs its own loop around this policy's
    /// state machine (the pipeline, whose attempts go through other policies). `now` is the
    /// time on this policy's clock, asked only if the call needs its start time: the
    /// pipeline passes the reading it already has.
    pub(crate) fn begin(&self, now: impl FnOnce() -> Instant) -> Attempts<'_> {
        Attempts::start_at(&self.shared, false, now)
    }

    async fn run_async<T, E, F, Fut>(
        &self,
        mut operation: F,
        measure: bool,
    ) -> (Result<T, Error<E>>, Attempts<'_>)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug + 'static,
        W: Predicate<E>,
        R: Predicate<T>,
        D: DelayFn<T, E>,
    {
        let mut attempts = Attempts::start(&self.shared, measure);
        loop {
            let outcome = operation().await;
            match attempts.record(
                outcome,
                &self.retry_if,
                &self.retry_on_result,
                &self.delay_fn,
            ) {
                Step::Done(result) => return (result, attempts),
                Step::Sleep(delay) => self.shared.clock.sleep(delay).await,
            }
        }
    }
}

fn report<T, E>(result: Result<T, Error<E>>, attempts: &Attempts<'_>) -> RetryReport<T, E> {
    RetryReport {
        result,
        attempts: attempts.attempts,
        total_delay: attempts.total_delay,
        elapsed: attempts.elapsed().unwrap_or_default(),
    }
}

impl<W: Clone, R: Clone, D: Clone> Clone for Retry<W, R, D> {
    fn clone(&self) -> Self {
        Retry {
            shared: Arc::clone(&self.shared),
            retry_if: self.retry_if.clone(),
            retry_on_result: self.retry_on_result.clone(),
            delay_fn: self.delay_fn.clone(),
        }
    }
}

impl<W, R, D> fmt::Debug for Retry<W, R, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("name", &self.shared.name)
            .field("config", &self.shared.config)
            .field("clock", &self.shared.clock)
            .field("listeners", &self.shared.listeners)
            .field("seeded", &self.shared.seed.is_some())
            .field("budget", &self.shared.budget)
            .finish_non_exhaustive()
    }
}
