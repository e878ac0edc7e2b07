//! Circuit breaker: stop calling a dependency that is failing, and find out when it is back.
//!
//! # Why
//!
//! When a dependency is down, every call to it waits for a timeout and fails anyway — holding
//! a connection, a thread, a request slot the whole time. Retrying makes it worse. A circuit
//! breaker watches outcomes and, once failures cross a threshold, **opens**: calls fail at once
//! with [`Error::CircuitOpen`] (saying for how long), the dependency gets room to recover, and
//! your service keeps its resources. After `recovery_timeout` the breaker goes **half-open** and
//! lets a few trial calls through: if they succeed it **closes**, if one fails it opens again.
//!
//! ```text
//!            trip condition                  recovery_timeout
//!   Closed ─────────────────▶ Open ─────────────────────────────▶ HalfOpen
//!     ▲                        ▲                                    │
//!     │                        └──── a trial call fails ────────────┤
//!     └──────────── success_threshold trial calls succeed ──────────┘
//! ```
//!
//! # What trips it
//!
//! Any configured condition: `failure_threshold` consecutive failures (default 5, when
//! no other condition is chosen); a failure rate over a [`SlidingWindow`] of the last N calls
//! or the last N seconds, once `minimum_calls` are in it; a slow-call rate, where a call taking
//! at least `slow_call_duration` is slow.
//!
//! # What counts as a failure
//!
//! By default every `Err` is a failure and every `Ok` a success. Narrow it with
//! [`failure_if`](CircuitBreaker::failure_if) (errors that count), [`ignore_if`](CircuitBreaker::ignore_if)
//! (errors that count as neither — a 404 is not the dependency's fault) and
//! [`failure_on_result`](CircuitBreaker::failure_on_result) (an `Ok` that is a failure, such as
//! an HTTP 503 response).
//!
//! ```
//! use palisade::circuit_breaker::CircuitBreaker;
//! use palisade::Error;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let breaker = CircuitBreaker::builder()
//!     .name("payments")
//!     .failure_threshold(3)
//!     .recovery_timeout(Duration::from_secs(30))
//!     .build()?
//!     .ignore_if(|e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound);
//!
//! for _ in 0..3 {
//!     let _ = breaker.call(|| async { Err::<(), _>(std::io::Error::other("connection reset")) }).await;
//! }
//! match breaker.call(|| async { Ok::<_, std::io::Error>("charged") }).await {
//!     Err(Error::CircuitOpen { name, retry_after, .. }) => {
//!         assert_eq!(&*name, "payments");
//!         assert!(retry_after.is_some_and(|d| d <= Duration::from_secs(30)));
//!     }
//!     other => panic!("expected an open circuit, got {other:?}"),
//! }
//! # Ok(()) }
//! ```
//!
//! # Three ways to call
//!
//! [`call`](CircuitBreaker::call) wraps a future, [`call_blocking`](CircuitBreaker::call_blocking)
//! a closure, and [`try_acquire`](CircuitBreaker::try_acquire) returns a [`Permit`] for code
//! that cannot be wrapped (record the outcome on it; dropping it unrecorded gives its slot
//! back). All three share one state machine.
//!
//! # Operator states
//!
//! [`force_open`](CircuitBreaker::force_open) rejects everything, [`disable`](CircuitBreaker::disable)
//! admits everything and records nothing, [`metrics_only`](CircuitBreaker::metrics_only) records
//! and publishes but never trips, [`close`](CircuitBreaker::close) and
//! [`reset`](CircuitBreaker::reset) return to Closed.
//!
//! # Cost
//!
//! A Closed call takes no lock, allocates nothing and reads no clock unless the configuration
//! needs one (a time window or slow-call detection).
//! See [`store`] for how.

mod config;
mod core;
mod event;
mod local;
pub mod machine;
mod permit;
mod seam;
mod stats;
pub mod store;
mod window;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

pub use crate::error::reason::State;
pub use config::{CircuitBreakerBuilder, CircuitBreakerConfig, RecoveryBackoff, SlidingWindow};
pub use core::Core;
pub use event::{CircuitBreakerEvent, TransitionReason, Verdict};
pub use local::LocalState;
pub use machine::{Admission, Machine, TrialStep, WindowCounts};
pub use permit::Permit;
pub use stats::CircuitBreakerStats;
pub use store::{DynStateStore, Rejected, Role, StateStore, Store, Ticket};

use crate::clock::Clock;
use crate::error::{ConfigError, Error};
use crate::listener::{Kind, Listeners};
use crate::predicate::{Always, Never, Predicate};
use seam::{Admit, Admitted, Seam, owned_local, seam};

/// A circuit breaker; see the [module docs](self). Cheap to clone (one `Arc`), shareable
/// across threads and tasks: clones share one state.
///
/// The type parameters are the classification hooks — `F` which errors are failures, `I`
/// which errors are ignored, `R` which `Ok` values are failures (all [`Predicate`]s) — and `S`,
/// where the state lives: by default a [`Store`] (in this process, or any other store).
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreaker, State};
/// let breaker = CircuitBreaker::builder().failure_threshold(2).build()?;
/// let _ = breaker.call_blocking(|| Err::<(), _>("down"));
/// let _ = breaker.call_blocking(|| Err::<(), _>("down"));
/// assert_eq!(breaker.state(), State::Open);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct CircuitBreaker<F = Always, I = Never, R = Never, S = Store> {
    inner: Arc<Inner<S>>,
    failure_if: F,
    ignore_if: I,
    failure_on_result: R,
}

/// What clones of a breaker share: its own part and its store.
pub(crate) struct Inner<S> {
    core: Core,
    store: S,
}

impl Kind for CircuitBreaker {
    type Event<'a> = CircuitBreakerEvent<'a>;
}

impl CircuitBreaker {
    /// Starts building a breaker from the defaults of [`CircuitBreakerConfig`].
    ///
    /// ```
    /// let breaker = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// assert_eq!(breaker.config().failure_threshold, Some(5));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::with_defaults()
    }

    /// Starts building from an existing configuration (for example one loaded from a file).
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
    /// let b = CircuitBreaker::builder_from(CircuitBreakerConfig { failure_threshold: Some(9), ..Default::default() })
    ///     .name("loaded")
    ///     .build()?;
    /// assert_eq!(b.config().failure_threshold, Some(9));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn builder_from(config: CircuitBreakerConfig) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new(config)
    }

    /// Validates `config` and builds a breaker with default name and clock, no listeners.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
    /// let err = CircuitBreaker::from_config(CircuitBreakerConfig { minimum_calls: 0, ..Default::default() }).unwrap_err();
    /// assert_eq!(err.field(), "minimum_calls");
    /// ```
    pub fn from_config(config: CircuitBreakerConfig) -> Result<CircuitBreaker, ConfigError> {
        Self::builder_from(config).build()
    }
}

impl<S: StateStore> CircuitBreaker<Always, Never, Never, S> {
    /// A breaker made of its own part and a store, however the store is typed.
    pub(crate) fn assemble(
        name: Arc<str>,
        config: CircuitBreakerConfig,
        clock: Clock,
        listeners: Listeners<CircuitBreaker>,
        mut store: S,
    ) -> Self {
        let core = Core::with_listeners(name, config, clock, listeners);
        if let Some(local) = owned_local(&mut store) {
            local.bind(&core);
        }
        CircuitBreaker {
            inner: Arc::new(Inner { core, store }),
            failure_if: Always,
            ignore_if: Never,
            failure_on_result: Never,
        }
    }
}

impl<F, I, R, S: StateStore> CircuitBreaker<F, I, R, S> {
    /// Counts only errors for which `predicate` is true as failures; other errors count as
    /// successes (the dependency answered). The default counts every error.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, Verdict};
    /// let b = CircuitBreaker::builder().build()?.failure_if(|status: &u16| *status >= 500);
    /// assert_eq!(b.classify(&Err::<(), _>(503)), Verdict::Failure);
    /// assert_eq!(b.classify(&Err::<(), _>(404)), Verdict::Success);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn failure_if<F2>(self, predicate: F2) -> CircuitBreaker<F2, I, R, S> {
        CircuitBreaker {
            inner: self.inner,
            failure_if: predicate,
            ignore_if: self.ignore_if,
            failure_on_result: self.failure_on_result,
        }
    }

    /// Ignores errors for which `predicate` is true: they count as neither success nor failure.
    /// Checked before [`failure_if`](Self::failure_if).
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, Verdict};
    /// let b = CircuitBreaker::builder().build()?.ignore_if(|e: &&str| *e == "cancelled");
    /// assert_eq!(b.classify(&Err::<(), _>("cancelled")), Verdict::Ignored);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn ignore_if<I2>(self, predicate: I2) -> CircuitBreaker<F, I2, R, S> {
        CircuitBreaker {
            inner: self.inner,
            failure_if: self.failure_if,
            ignore_if: predicate,
            failure_on_result: self.failure_on_result,
        }
    }

    /// Counts `Ok` values for which `predicate` is true as failures (an HTTP 5xx response).
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, Verdict};
    /// let b = CircuitBreaker::builder().build()?.failure_on_result(|status: &u16| *status >= 500);
    /// assert_eq!(b.classify(&Ok::<_, ()>(502)), Verdict::Failure);
    /// assert_eq!(b.classify(&Ok::<_, ()>(200)), Verdict::Success);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn failure_on_result<R2>(self, predicate: R2) -> CircuitBreaker<F, I, R2, S> {
        CircuitBreaker {
            inner: self.inner,
            failure_if: self.failure_if,
            ignore_if: self.ignore_if,
            failure_on_result: predicate,
        }
    }

    /// How this breaker classifies `outcome`.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, Verdict};
    /// let b = CircuitBreaker::builder().build()?;
    /// assert_eq!(b.classify(&Ok::<_, ()>(1)), Verdict::Success);
    /// assert_eq!(b.classify(&Err::<(), _>(())), Verdict::Failure);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn classify<T, E>(&self, outcome: &Result<T, E>) -> Verdict
    where
        F: Predicate<E>,
        I: Predicate<E>,
        R: Predicate<T>,
    {
        match outcome {
            Ok(value) if self.failure_on_result.test(value) => Verdict::Failure,
            Ok(_) => Verdict::Success,
            Err(error) if self.ignore_if.test(error) => Verdict::Ignored,
            Err(error) if self.failure_if.test(error) => Verdict::Failure,
            Err(_) => Verdict::Success,
        }
    }

    /// Runs `operation` if the breaker admits it and records the outcome.
    ///
    /// Returns [`Error::CircuitOpen`] without running it when rejected, otherwise the
    /// operation's result (its error as [`Error::Operation`]). If `operation` panics, the
    /// admission is given back and nothing is recorded.
    ///
    /// ```
    /// use palisade::{Error, circuit_breaker::CircuitBreaker};
    /// let b = CircuitBreaker::builder().build()?;
    /// assert_eq!(b.call_blocking(|| Ok::<_, &str>(1)), Ok(1));
    /// assert_eq!(b.call_blocking(|| Err::<(), _>("no")), Err(Error::Operation("no")));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn call_blocking<T, E, Op>(&self, operation: Op) -> Result<T, Error<E>>
    where
        Op: FnOnce() -> Result<T, E>,
        F: Predicate<E>,
        I: Predicate<E>,
        R: Predicate<T>,
    {
        let inner = &*self.inner;
        // One dispatch on where the state lives, then the store's own methods.
        match seam(&inner.store) {
            Seam::Local(local) => self.call_blocking_on(local, &inner.core, operation),
            Seam::Elsewhere(store) => self.call_blocking_on(store, &inner.core, operation),
            Seam::Other(store) => self.call_blocking_on(store, &inner.core, operation),
        }
    }

    #[inline(always)]
    fn call_blocking_on<A, T, E, Op>(
        &self,
        store: &A,
        core: &Core,
        operation: Op,
    ) -> Result<T, Error<E>>
    where
        A: Admit + ?Sized,
        Op: FnOnce() -> Result<T, E>,
        F: Predicate<E>,
        I: Predicate<E>,
        R: Predicate<T>,
    {
        let ticket = store.admit(core)?;
        // If `operation` panics, dropping `admitted` gives the admission back while unwinding.
        let admitted = Admitted {
            store,
            core,
            ticket,
        };
        let outcome = operation();
        admitted.record(self.classify(&outcome));
        outcome.map_err(Error::Operation)
    }

    /// Runs the future `operation` makes if the breaker admits the call, and records the
    /// outcome. A rejected call never makes its future. Dropping the returned future while the
    /// operation runs gives the admission back (a trial call's slot) and records nothing.
    /// Needs no particular runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// let v = b.call(|| async { Ok::<_, std::io::Error>(7) }).await?;
    /// assert_eq!(v, 7);
    /// # Ok(()) }
    /// ```
    pub async fn call<T, E, Op, Fut>(&self, operation: Op) -> Result<T, Error<E>>
    where
        Op: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        F: Predicate<E>,
        I: Predicate<E>,
        R: Predicate<T>,
    {
        let Inner { core, store } = &*self.inner;
        // One dispatch on where the state lives; the in-process store answers without a future.
        match seam(store) {
            Seam::Local(local) => {
                let ticket = StateStore::acquire(local, core)?;
                self.run_admitted(local, core, ticket, operation).await
            }
            Seam::Elsewhere(store) => {
                let ticket = store.dyn_acquire_async(core).await?;
                self.run_admitted(store, core, ticket, operation).await
            }
            Seam::Other(store) => {
                let ticket = store.acquire_async(core).await?;
                self.run_admitted(store, core, ticket, operation).await
            }
        }
    }

    async fn run_admitted<A, T, E, Op, Fut>(
        &self,
        store: &A,
        core: &Core,
        ticket: Ticket,
        operation: Op,
    ) -> Result<T, Error<E>>
    where
        A: Admit + ?Sized,
        Op: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        F: Predicate<E>,
        I: Predicate<E>,
        R: Predicate<T>,
    {
        // If this future is dropped while the operation runs, dropping `admitted` gives the
        // admission back.
        let admitted = Admitted {
            store,
            core,
            ticket,
        };
        let outcome = operation().await;
        admitted.record(self.classify(&outcome));
        outcome.map_err(Error::Operation)
    }

    /// Asks to run one call. Record its outcome on the [`Permit`]; dropping it unrecorded
    /// gives the admission back.
    ///
    /// ```
    /// use palisade::circuit_breaker::CircuitBreaker;
    /// let b = CircuitBreaker::builder().build()?;
    /// match b.try_acquire() {
    ///     Ok(permit) => permit.record_success(),
    ///     Err(rejected) => println!("not now: retry after {:?}", rejected.retry_after()),
    /// }
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_, S>, Rejected> {
        let inner = &*self.inner;
        let ticket = inner.store.acquire(&inner.core)?;
        Ok(Permit::borrowed(inner, ticket))
    }

    /// [`try_acquire`](Self::try_acquire) for async callers: a store that grants trial calls
    /// remotely may wait for its answer (the in-process store answers at once).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// b.acquire().await?.record_success();
    /// # Ok(()) }
    /// ```
    pub async fn acquire(&self) -> Result<Permit<'_, S>, Rejected> {
        let inner = &*self.inner;
        let ticket = inner.store.acquire_async(&inner.core).await?;
        Ok(Permit::borrowed(inner, ticket))
    }

    /// [`try_acquire`](Self::try_acquire), returning a permit that owns a handle to the
    /// breaker, so it can move into a task or a callback.
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// let permit = b.try_acquire_owned()?;
    /// std::thread::spawn(move || permit.record_success()).join().unwrap();
    /// assert_eq!(b.stats().successful_calls, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_acquire_owned(&self) -> Result<Permit<'static, S>, Rejected> {
        let inner = &*self.inner;
        let ticket = inner.store.acquire(&inner.core)?;
        Ok(Permit::owned(Arc::clone(&self.inner), ticket))
    }

    /// Whether `other` is this breaker or a clone of it (one state).
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// assert!(b.shares_state_with(&b.clone()));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn shares_state_with<F2, I2, R2>(&self, other: &CircuitBreaker<F2, I2, R2, S>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The current state; an Open breaker whose recovery timeout has elapsed reports (and
    /// becomes) HalfOpen.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, State};
    /// assert_eq!(CircuitBreaker::builder().build()?.state(), State::Closed);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn state(&self) -> State {
        self.inner.store.state(&self.inner.core)
    }

    /// A snapshot of state and statistics.
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// assert_eq!(b.stats().not_permitted_calls, 0);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn stats(&self) -> CircuitBreakerStats {
        self.inner.store.stats(&self.inner.core)
    }

    /// Rejects every call until another manual transition.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, State};
    /// let b = CircuitBreaker::builder().build()?;
    /// b.force_open();
    /// assert_eq!(b.state(), State::ForcedOpen);
    /// assert!(b.try_acquire().is_err());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn force_open(&self) {
        self.inner
            .store
            .transition_to(&self.inner.core, State::ForcedOpen)
    }

    /// Closes the breaker: calls pass, the window starts empty. Does nothing if it is already
    /// Closed (use [`reset`](Self::reset) to start over).
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, State};
    /// let b = CircuitBreaker::builder().build()?;
    /// b.force_open();
    /// b.close();
    /// assert_eq!(b.state(), State::Closed);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn close(&self) {
        self.inner
            .store
            .transition_to(&self.inner.core, State::Closed)
    }

    /// Admits every call and records nothing until another manual transition.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, State};
    /// let b = CircuitBreaker::builder().failure_threshold(1).build()?;
    /// b.disable();
    /// let _ = b.call_blocking(|| Err::<(), _>("ignored while disabled"));
    /// assert_eq!(b.state(), State::Disabled);
    /// assert_eq!(b.stats().failed_calls, 0);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn disable(&self) {
        self.inner
            .store
            .transition_to(&self.inner.core, State::Disabled)
    }

    /// Admits every call, records and publishes outcomes, never trips — to try a
    /// configuration on live traffic.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, State};
    /// let b = CircuitBreaker::builder().failure_threshold(1).build()?;
    /// b.metrics_only();
    /// let _ = b.call_blocking(|| Err::<(), _>("recorded, does not trip"));
    /// assert_eq!(b.state(), State::MetricsOnly);
    /// assert_eq!(b.stats().failed_calls, 1);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn metrics_only(&self) {
        self.inner
            .store
            .transition_to(&self.inner.core, State::MetricsOnly)
    }

    /// Back to a fresh Closed breaker: window, counters and recovery backoff cleared.
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// let _ = b.call_blocking(|| Err::<(), _>(()));
    /// b.reset();
    /// assert_eq!(b.stats().failed_calls, 0);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn reset(&self) {
        self.inner.store.reset(&self.inner.core)
    }

    /// The breaker's name.
    ///
    /// ```
    /// assert_eq!(palisade::circuit_breaker::CircuitBreaker::builder().build()?.name(), "circuit_breaker");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        self.inner.core.name()
    }

    /// The validated configuration.
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// assert_eq!(b.config().half_open_requests, 3);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn config(&self) -> &CircuitBreakerConfig {
        self.inner.core.config()
    }

    /// The breaker's clock.
    ///
    /// ```
    /// assert!(!palisade::circuit_breaker::CircuitBreaker::builder().build()?.clock().is_manual());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn clock(&self) -> &Clock {
        self.inner.core.clock()
    }
}

impl<F: Clone, I: Clone, R: Clone, S> Clone for CircuitBreaker<F, I, R, S> {
    fn clone(&self) -> Self {
        CircuitBreaker {
            inner: Arc::clone(&self.inner),
            failure_if: self.failure_if.clone(),
            ignore_if: self.ignore_if.clone(),
            failure_on_result: self.failure_on_result.clone(),
        }
    }
}

impl<F, I, R, S: StateStore> fmt::Debug for CircuitBreaker<F, I, R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.inner.core.name())
            .field("state", &self.state())
            .field("config", self.config())
            .finish_non_exhaustive()
    }
}
