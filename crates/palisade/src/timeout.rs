//! Timeout: stop waiting for an operation after a time limit.
//!
//! # Why
//!
//! A call without a limit waits as long as its dependency makes it wait. When the dependency
//! hangs — a half-open TCP connection, a lock held by a stuck transaction, a GC pause — every
//! caller hangs with it, holding a connection, a task, a request slot, until the service runs
//! out of them. A timeout bounds the wait: after `limit` the caller gets [`Error::Timeout`] and
//! moves on (to a retry, a fallback, an error page), and whatever was held is released.
//!
//! ```
//! use palisade::Error;
//! use palisade::timeout::Timeout;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let timeout = Timeout::builder().name("search").limit(Duration::from_millis(300)).build()?;
//!
//! let fast = timeout.call(async { Ok::<_, std::io::Error>("hits") }).await?;
//! assert_eq!(fast, "hits");
//!
//! let hung = timeout.call(async {
//!     tokio::time::sleep(Duration::from_secs(60)).await; // a dependency that hangs
//!     Ok::<_, std::io::Error>("too late")
//! });
//! assert!(matches!(hung.await, Err(Error::Timeout { limit, .. }) if limit == Duration::from_millis(300)));
//! # Ok(()) }
//! ```
//!
//! # What a timeout can and cannot stop
//!
//! **Async code is cancelled.** [`call`](Timeout::call) races the future against tokio's timer;
//! when the limit fires the future is *dropped*, which in Rust is cancellation: it is never
//! polled again, its destructors run (a pooled connection goes back, a request is aborted), and
//! it stops at the `.await` where it was waiting. Nothing keeps running in the background. A
//! future that blocks its thread *inside* `poll` (a synchronous call in an `async fn`) cannot be
//! interrupted: the timer is only noticed when that poll returns.
//!
//! **Blocking code cannot be pre-empted.** Rust has no safe way to stop a running thread, so a
//! blocking operation either co-operates or is walked away from:
//!
//! - [`call_blocking`](Timeout::call_blocking) runs the closure on the caller's thread and hands
//!   it a [`Deadline`]: pass [`remaining`](Deadline::remaining) on as the I/O timeout of a
//!   socket or a database statement, or check [`is_expired`](Deadline::is_expired) between
//!   steps. If the closure returns after the limit anyway, the caller gets [`Error::Timeout`]
//!   *although the work was done*: the caller asked for an answer within the limit, and a late
//!   answer is a timeout to it (and to a retry or breaker around it).
//! - [`call_blocking_on_thread`](Timeout::call_blocking_on_thread) runs the closure on a helper
//!   thread and returns [`Error::Timeout`] when the limit passes, while the thread is **left to
//!   finish**: the work continues and its result is discarded. Use it for calls that offer no
//!   timeout of their own, and only if abandoned work is harmless (reads, idempotent writes);
//!   each call costs a thread spawn.
//!
//! Either way, [`Error::Timeout`] does not mean "nothing happened": the operation may have
//! taken effect. It is not a rejection ([`Error::is_rejection`] is false); retry a timed-out
//! write only if it is idempotent.
//!
//! # Compared with resilience4j and Polly
//!
//! resilience4j's `TimeLimiter` (default `timeoutDuration` 1 s) cancels the `Future` it timed
//! out when `cancelRunningFuture` is set — an interrupt a blocking Java call may ignore. Polly's
//! Timeout has two strategies: *optimistic*, where the delegate honours a cancellation token,
//! and *pessimistic*, where the caller walks away and the delegate keeps running. Here a
//! dropped future is the reliable form of the first (no token to forget to check), a
//! [`Deadline`] is the token for blocking code, and
//! [`call_blocking_on_thread`](Timeout::call_blocking_on_thread) is the pessimistic strategy,
//! opt-in and named for what it does.
//!
//! # Defaults and time
//!
//! The default limit is 5 seconds, the reference docs' `default_timeout` ("sane defaults: …
//! 5-second timeout"); their per-operation presets are 30 s (database), 60 s (API), 5 s
//! (cache), 10 s (file) and 300 s (ML). Async calls time out on tokio's timer, so tests run
//! on virtual time under `#[tokio::test(start_paused = true)]`; blocking calls measure their
//! [`Deadline`] on the policy's [`Clock`] (a [`ManualClock`](crate::clock::ManualClock) in tests).
//!
//! # Events
//!
//! [`TimeoutEvent::TimedOut`] when the limit fires, [`TimeoutEvent::FinishedLate`] when a
//! blocking call returned after its limit and its result was replaced.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::builder::{Base, builder_base};
use crate::clock::Sleeper;
use crate::clock::{Clock, Instant};
use crate::error::{ConfigError, Error};
use crate::listener::{Kind, Listeners};
use crate::validate;

const POLICY: &str = "timeout";

/// The reference docs' `default_timeout`.
const DEFAULT_LIMIT: Duration = Duration::from_secs(5);

/// How often a helper-thread wait re-reads a [`ManualClock`](crate::clock::ManualClock), which
/// moves without notifying anyone.
const MANUAL_CLOCK_POLL: Duration = Duration::from_millis(1);

/// What a timeout policy did, published as [`Event::Timeout`](crate::event::Event::Timeout).
///
/// ```
/// use palisade::timeout::TimeoutEvent;
/// use std::time::Duration;
/// let e = TimeoutEvent::TimedOut { name: "search", limit: Duration::from_secs(1) };
/// assert_eq!(e.name(), "search");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum TimeoutEvent<'a> {
    /// The limit passed while the operation was running: an async operation was dropped
    /// (cancelled); a helper thread was abandoned (its work continues, its result is
    /// discarded). The caller got [`Error::Timeout`].
    TimedOut {
        /// The policy's name.
        name: &'a str,
        /// The limit that fired.
        limit: Duration,
    },
    /// A blocking operation returned after its limit: the work was done, but its result was
    /// replaced by [`Error::Timeout`].
    FinishedLate {
        /// The policy's name.
        name: &'a str,
        /// The limit that was exceeded.
        limit: Duration,
        /// How long the operation took.
        elapsed: Duration,
    },
}

impl<'a> TimeoutEvent<'a> {
    /// The name of the policy that published the event.
    ///
    /// ```
    /// # use palisade::timeout::TimeoutEvent;
    /// # use std::time::Duration;
    /// let e = TimeoutEvent::FinishedLate { name: "db", limit: Duration::from_secs(1), elapsed: Duration::from_secs(2) };
    /// assert_eq!(e.name(), "db");
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            TimeoutEvent::TimedOut { name, .. } | TimeoutEvent::FinishedLate { name, .. } => name,
        }
    }
}

/// The settings of a timeout policy, as plain data.
///
/// ```
/// use palisade::timeout::{Timeout, TimeoutConfig};
/// use std::time::Duration;
/// let timeout = Timeout::from_config(TimeoutConfig { limit: Duration::from_secs(30) })?;
/// assert_eq!(timeout.limit(), Duration::from_secs(30));
/// assert_eq!(TimeoutConfig::default().limit, Duration::from_secs(5));
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeoutConfig {
    /// How long a call may take. Greater than zero; 5 seconds by default (the reference
    /// docs' `default_timeout`).
    pub limit: Duration,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            limit: DEFAULT_LIMIT,
        }
    }
}

impl TimeoutConfig {
    /// Checks every field; the error names the bad field and its value.
    ///
    /// ```
    /// use palisade::timeout::TimeoutConfig;
    /// let err = TimeoutConfig { limit: std::time::Duration::ZERO }.validate().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("limit", "0ns"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::positive(POLICY, "limit", self.limit)?;
        Ok(())
    }
}

/// A timeout policy; see the [module docs](self). Cheap to clone (one `Arc`), shareable
/// across threads and tasks, and usable for calls of any result type.
///
/// ```
/// use palisade::timeout::Timeout;
/// use std::time::Duration;
/// let timeout = Timeout::builder().limit(Duration::from_secs(2)).build()?;
/// let shared = timeout.clone();
/// assert_eq!(shared.limit(), Duration::from_secs(2));
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Timeout {
    shared: Arc<Shared>,
}

struct Shared {
    name: Arc<str>,
    config: TimeoutConfig,
    clock: Clock,
    listeners: Listeners<Timeout>,
}

impl Kind for Timeout {
    type Event<'a> = TimeoutEvent<'a>;
}

impl Timeout {
    /// Starts building a timeout policy (limit 5 s unless set).
    ///
    /// ```
    /// use palisade::timeout::Timeout;
    /// let t = Timeout::builder().limit_secs(1.5).build()?;
    /// assert_eq!(t.limit().as_millis(), 1500);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn builder() -> TimeoutBuilder {
        TimeoutBuilder::new(TimeoutConfig::default())
    }

    /// A policy from plain settings, with the default name, clock and no listeners.
    ///
    /// ```
    /// use palisade::timeout::{Timeout, TimeoutConfig};
    /// let t = Timeout::from_config(TimeoutConfig::default())?;
    /// assert_eq!(t.name(), "timeout");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn from_config(config: TimeoutConfig) -> Result<Timeout, ConfigError> {
        TimeoutBuilder::new(config).build()
    }

    /// The time limit of every call.
    ///
    /// ```
    /// # use palisade::timeout::Timeout;
    /// assert_eq!(Timeout::builder().build()?.limit(), std::time::Duration::from_secs(5));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn limit(&self) -> Duration {
        self.shared.config.limit
    }

    /// The policy's settings.
    ///
    /// ```
    /// # use palisade::timeout::Timeout;
    /// let t = Timeout::builder().limit_secs(2.0).build()?;
    /// assert_eq!(t.config().limit.as_secs(), 2);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn config(&self) -> &TimeoutConfig {
        &self.shared.config
    }

    /// The policy's name (`"timeout"` unless set).
    ///
    /// ```
    /// # use palisade::timeout::Timeout;
    /// assert_eq!(Timeout::builder().name("db").build()?.name(), "db");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The clock that measures blocking calls' deadlines.
    ///
    /// ```
    /// # use palisade::timeout::Timeout;
    /// use palisade::clock::ManualClock;
    /// assert!(Timeout::builder().clock(ManualClock::new()).build()?.clock().is_manual());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Awaits `future` for at most the limit. If it finishes in time (a future ready at the
    /// same instant as the timer counts as in time), its value or error is returned unchanged
    /// (the error as [`Error::Operation`]); otherwise it is **dropped** — cancelled at the
    /// `.await` where it waits, its destructors run — and the call returns [`Error::Timeout`].
    ///
    /// Times out on tokio's timer, so it needs a tokio runtime with the time driver; on other
    /// runtimes use [`call_with_sleeper`](Self::call_with_sleeper). Allocates nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), palisade::ConfigError> {
    /// use palisade::{Error, timeout::Timeout};
    /// use std::time::Duration;
    /// let timeout = Timeout::builder().limit(Duration::from_secs(1)).build()?;
    /// let start = tokio::time::Instant::now();
    /// let slow = timeout.call(async {
    ///     tokio::time::sleep(Duration::from_secs(10)).await;
    ///     Ok::<_, std::io::Error>(())
    /// });
    /// assert!(matches!(slow.await, Err(Error::Timeout { .. })));
    /// assert_eq!(start.elapsed(), Duration::from_secs(1)); // not 10: the future was dropped
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tokio")]
    pub fn call<T, E, Fut>(&self, future: Fut) -> impl Future<Output = Result<T, Error<E>>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let limit = self.limit();
        Timed::new(
            future,
            Some((move || tokio::time::sleep(limit), self)),
            operation_result,
        )
    }

    /// [`call`](Self::call) for any runtime: the limit is measured by `sleeper` (any
    /// `Fn(Duration) -> impl Future<Output = ()>`, such as your runtime's sleep), see
    /// [`Sleeper`]. The same semantics: in time, the outcome unchanged; too late, the future
    /// is dropped and the call returns [`Error::Timeout`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), palisade::ConfigError> {
    /// use palisade::{Error, timeout::Timeout};
    /// use std::time::Duration;
    /// let timeout = Timeout::builder().limit(Duration::from_millis(50)).build()?;
    /// let never = std::future::pending::<Result<(), std::io::Error>>();
    /// let out = timeout.call_with_sleeper(never, tokio::time::sleep).await;
    /// assert!(matches!(out, Err(Error::Timeout { .. })));
    /// # Ok(()) }
    /// ```
    pub fn call_with_sleeper<T, E, Fut, S>(
        &self,
        future: Fut,
        sleeper: S,
    ) -> impl Future<Output = Result<T, Error<E>>>
    where
        Fut: Future<Output = Result<T, E>>,
        S: Sleeper,
    {
        let limit = self.limit();
        Timed::new(
            future,
            Some((move || sleeper.sleep(limit), self)),
            operation_result,
        )
    }

    /// The async timeout for a pipeline, whose inner steps already speak [`Error`] (an inner
    /// policy's rejection passes through unchanged). [`call`](Self::call) is this with the
    /// operation's error wrapped.
    #[cfg(feature = "tokio")]
    pub(crate) fn run<T, E, Fut>(&self, future: Fut) -> impl Future<Output = Result<T, Error<E>>>
    where
        Fut: Future<Output = Result<T, Error<E>>>,
    {
        let limit = self.limit();
        Timed::new(
            future,
            Some((move || tokio::time::sleep(limit), self)),
            std::convert::identity,
        )
    }

    /// Runs `operation` on this thread, handing it a [`Deadline`] to pass on to its I/O or
    /// check between steps. Nothing can stop the closure early (see the
    /// [module docs](self)); if it returns after the limit, its result — value or error — is
    /// replaced by [`Error::Timeout`]: the work was done, but the caller is told it was too
    /// late (and a [`TimeoutEvent::FinishedLate`] is published). Returning exactly at the limit
    /// is in time. The deadline is measured on the policy's [`clock`](TimeoutBuilder::clock).
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use palisade::{Error, timeout::Timeout};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let timeout = Timeout::builder().limit(Duration::from_secs(2)).clock(clock.clone()).build()?;
    ///
    /// // Co-operative: the closure gives its I/O the time that is left.
    /// let rows = timeout.call_blocking(|deadline| {
    ///     assert_eq!(deadline.remaining(), Duration::from_secs(2)); // e.g. a statement timeout
    ///     Ok::<_, &str>(3)
    /// });
    /// assert_eq!(rows, Ok(3));
    ///
    /// // Too late: the value is discarded.
    /// let late = timeout.call_blocking(|_| {
    ///     clock.advance(Duration::from_secs(3)); // the work took 3 s
    ///     Ok::<_, &str>(4)
    /// });
    /// assert!(matches!(late, Err(Error::Timeout { .. })));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn call_blocking<T, E, F>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnOnce(Deadline) -> Result<T, E>,
    {
        self.run_blocking(|deadline| operation(deadline).map_err(Error::Operation))
    }

    /// [`call_blocking`](Self::call_blocking) for a pipeline's inner steps, which already
    /// speak [`Error`].
    pub(crate) fn run_blocking<T, E, F>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnOnce(Deadline) -> Result<T, Error<E>>,
    {
        let deadline = self.deadline();
        let (clock, start) = (deadline.clock.clone(), deadline.start);
        let outcome = operation(deadline);
        self.settle(outcome, clock.now().saturating_duration_since(start))
    }

    /// Runs `operation` on a new helper thread and waits at most the limit for it. In time,
    /// its outcome is returned unchanged; otherwise the call returns [`Error::Timeout`] and
    /// **the thread is left to finish**: the work continues and its result is discarded (if
    /// the thread had not yet started the operation, it never does). This is the only way to
    /// bound the wait for blocking code that cannot co-operate, and it has a price: a thread
    /// spawn per call, and abandoned work that may still take effect — use it for reads and
    /// idempotent writes. The closure still gets a [`Deadline`], so it can stop early.
    ///
    /// A panic in the operation is resumed on the caller's thread if the caller is still
    /// waiting. If the operating system refuses a thread, the operation runs on the
    /// caller's thread as with [`call_blocking`](Self::call_blocking). The wait is measured on
    /// the policy's clock; on a [`ManualClock`](crate::clock::ManualClock) the caller re-reads
    /// it every millisecond.
    ///
    /// ```
    /// use palisade::{Error, timeout::Timeout};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let timeout = Timeout::builder().limit(Duration::from_millis(5)).build()?;
    /// let (release, stuck) = mpsc::channel::<()>();
    /// let out = timeout.call_blocking_on_thread(move |_deadline| {
    ///     let _ = stuck.recv(); // a call with no timeout of its own, hanging
    ///     Ok::<_, std::io::Error>("done")
    /// });
    /// assert!(matches!(out, Err(Error::Timeout { .. })));
    /// drop(release); // the abandoned thread finishes; its result goes nowhere
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn call_blocking_on_thread<T, E, F>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnOnce(Deadline) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let deadline = self.deadline();
        let handoff = Arc::new(Handoff {
            stage: Mutex::new(Stage::Pending(operation)),
            changed: Condvar::new(),
        });
        let worker = Arc::clone(&handoff);
        let worker_deadline = deadline.clone();
        let spawned = std::thread::Builder::new()
            .name("palisade-timeout".into())
            .spawn(move || worker.work(worker_deadline));
        if spawned.is_err() {
            // No thread to be had: the closure came back with the failed spawn's drop.
            let stage = mem::replace(&mut *lock(&handoff.stage), Stage::Abandoned);
            if let Stage::Pending(operation) = stage {
                return self.call_blocking(operation);
            }
        }
        // The thread is detached: it owns its half of the handoff and ends on its own.
        drop(spawned);
        self.wait_for_worker(&handoff, &deadline)
    }

    fn wait_for_worker<F, T, E>(
        &self,
        handoff: &Handoff<F, T, E>,
        deadline: &Deadline,
    ) -> Result<T, Error<E>> {
        let mut stage = lock(&handoff.stage);
        loop {
            if matches!(*stage, Stage::Finished(..) | Stage::Panicked(_)) {
                match mem::replace(&mut *stage, Stage::Abandoned) {
                    Stage::Finished(outcome, elapsed) => {
                        drop(stage);
                        return self.settle(outcome.map_err(Error::Operation), elapsed);
                    }
                    Stage::Panicked(payload) => {
                        drop(stage);
                        resume_unwind(payload)
                    }
                    _ => {}
                }
            }
            if deadline.is_expired() {
                // The worker sees `Abandoned` and discards its result; a closure it had not
                // started yet is dropped here, after the lock is released.
                let abandoned = mem::replace(&mut *stage, Stage::Abandoned);
                drop(stage);
                drop(abandoned);
                return Err(self.timed_out());
            }
            let wait = if deadline.clock.is_manual() {
                MANUAL_CLOCK_POLL
            } else {
                // One microsecond past the limit: at exactly the limit the call is in time.
                deadline
                    .remaining()
                    .saturating_add(Duration::from_micros(1))
            };
            stage = handoff
                .changed
                .wait_timeout(stage, wait)
                .map_or_else(|p| p.into_inner().0, |(guard, _)| guard);
        }
    }

    /// A late outcome becomes a timeout.
    pub(crate) fn settle<T, E>(
        &self,
        outcome: Result<T, Error<E>>,
        elapsed: Duration,
    ) -> Result<T, Error<E>> {
        let limit = self.limit();
        if elapsed <= limit {
            return outcome;
        }
        self.shared.listeners.emit(|| TimeoutEvent::FinishedLate {
            name: &self.shared.name,
            limit,
            elapsed,
        });
        Err(Error::Timeout { limit })
    }

    pub(crate) fn timed_out<E>(&self) -> Error<E> {
        let limit = self.limit();
        self.shared.listeners.emit(|| TimeoutEvent::TimedOut {
            name: &self.shared.name,
            limit,
        });
        Error::Timeout { limit }
    }

    fn deadline(&self) -> Deadline {
        Deadline::start(self.shared.clock.clone(), self.limit())
    }
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("name", &self.shared.name)
            .field("limit", &self.limit())
            .field("clock", &self.shared.clock)
            .field("listeners", &self.shared.listeners)
            .finish()
    }
}

/// An operation's error as the operation's [`Error`].
pub(crate) fn operation_result<T, E>(result: Result<T, E>) -> Result<T, Error<E>> {
    result.map_err(Error::Operation)
}

pin_project_lite::pin_project! {
    /// `work` raced against an optional timer: the one future behind [`Timeout::call`] and
    /// the pipeline's timeouts. A hand-written future rather than an `async fn`, so `work` is
    /// stored exactly once (an `async fn` taking a future by value keeps the argument and the
    /// pinned copy side by side, and nested timeouts multiplied the size of the caller's
    /// future). Polls `work` first, so a `work` ready at the same instant as the timer is in
    /// time. On timeout `work` is dropped in place before the event is published and the error
    /// returned. No allocation.
    ///
    /// The timer is made by `make` when `work` first has to wait, not when the call starts:
    /// creating and dropping a tokio timer costs a runtime lookup, a clock read and the time
    /// driver's lock, which a call that completes on its first poll never needs. The limit
    /// therefore counts from the first time the operation waits — the same instant for any
    /// future whose first poll only starts its I/O.
    pub(crate) struct Timed<'a, W, S, M, K> {
        #[pin]
        work: Option<W>,
        #[pin]
        timer: Option<S>,
        make: Option<K>,
        policy: Option<&'a Timeout>,
        map: M,
    }
}

impl<'a, W, S, M, K: FnOnce() -> S> Timed<'a, W, S, M, K> {
    /// `work` bounded by a timer `make` creates (when `work` first waits) on behalf of
    /// `policy` (none: `work` alone), its output turned into the call's result by `map`.
    pub(crate) fn new(work: W, timer: Option<(K, &'a Timeout)>, map: M) -> Self {
        let (make, policy) = match timer {
            Some((make, policy)) => (Some(make), Some(policy)),
            None => (None, None),
        };
        Timed {
            work: Some(work),
            timer: None,
            make,
            policy,
            map,
        }
    }
}

impl<W, S, M, K, T, E> Future for Timed<'_, W, S, M, K>
where
    W: Future,
    S: Future<Output = ()>,
    M: Fn(W::Output) -> Result<T, Error<E>>,
    K: FnOnce() -> S,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(work) = this.work.as_mut().as_pin_mut() else {
            // Polled after completion: nothing more will come.
            return Poll::Pending;
        };
        if let Poll::Ready(output) = work.poll(cx) {
            this.work.set(None);
            this.timer.set(None);
            return Poll::Ready((this.map)(output));
        }
        if let Some(make) = this.make.take() {
            this.timer.set(Some(make()));
        }
        if let (Some(timer), Some(policy)) = (this.timer.as_mut().as_pin_mut(), *this.policy)
            && timer.poll(cx).is_ready()
        {
            // Cancel the operation (its destructors run now), then tell.
            this.work.set(None);
            this.timer.set(None);
            return Poll::Ready(Err(policy.timed_out()));
        }
        Poll::Pending
    }
}

/// The time budget of one blocking call, measured on the policy's clock: hand
/// [`remaining`](Deadline::remaining) to your I/O as its timeout, or check
/// [`is_expired`](Deadline::is_expired) between steps.
///
/// Expired means *past* the limit: at exactly the limit, `remaining()` is zero but the call is
/// still in time.
///
/// ```
/// use palisade::clock::ManualClock;
/// use palisade::timeout::Deadline;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let deadline = Deadline::start(clock.clone(), Duration::from_secs(10));
/// clock.advance(Duration::from_secs(4));
/// assert_eq!(deadline.elapsed(), Duration::from_secs(4));
/// assert_eq!(deadline.remaining(), Duration::from_secs(6));
/// clock.advance(Duration::from_secs(6));
/// assert!(!deadline.is_expired()); // exactly at the limit: still in time
/// clock.advance(Duration::from_nanos(1));
/// assert!(deadline.is_expired());
/// ```
#[derive(Clone)]
pub struct Deadline {
    clock: Clock,
    start: Instant,
    limit: Duration,
}

impl Deadline {
    /// A deadline `limit` from now on `clock`. Policies make these for you; this is for
    /// testing code that takes a deadline.
    ///
    /// ```
    /// use palisade::clock::Clock;
    /// use palisade::timeout::Deadline;
    /// let d = Deadline::start(Clock::monotonic(), std::time::Duration::from_secs(1));
    /// assert!(!d.is_expired());
    /// ```
    pub fn start(clock: impl Into<Clock>, limit: Duration) -> Deadline {
        let clock = clock.into();
        Deadline {
            start: clock.now(),
            clock,
            limit,
        }
    }

    /// The limit this deadline was started with.
    ///
    /// ```
    /// # use palisade::{clock::Clock, timeout::Deadline};
    /// # use std::time::Duration;
    /// assert_eq!(Deadline::start(Clock::monotonic(), Duration::from_secs(3)).limit(), Duration::from_secs(3));
    /// ```
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Time since the call started.
    ///
    /// ```
    /// # use palisade::{clock::ManualClock, timeout::Deadline};
    /// # use std::time::Duration;
    /// let clock = ManualClock::new();
    /// let d = Deadline::start(clock.clone(), Duration::from_secs(3));
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(d.elapsed(), Duration::from_secs(1));
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.clock.now().saturating_duration_since(self.start)
    }

    /// Time left before the limit; zero at and after it.
    ///
    /// ```
    /// # use palisade::{clock::ManualClock, timeout::Deadline};
    /// # use std::time::Duration;
    /// let clock = ManualClock::new();
    /// let d = Deadline::start(clock.clone(), Duration::from_secs(3));
    /// clock.advance(Duration::from_secs(5));
    /// assert_eq!(d.remaining(), Duration::ZERO);
    /// ```
    pub fn remaining(&self) -> Duration {
        self.limit.saturating_sub(self.elapsed())
    }

    /// Whether the limit has passed: the call's result will be replaced by
    /// [`Error::Timeout`], so the remaining work can be skipped.
    ///
    /// ```
    /// # use palisade::{clock::ManualClock, timeout::Deadline};
    /// # use std::time::Duration;
    /// let clock = ManualClock::new();
    /// let d = Deadline::start(clock.clone(), Duration::from_secs(3));
    /// assert!(!d.is_expired());
    /// clock.advance(Duration::from_secs(4));
    /// assert!(d.is_expired());
    /// ```
    pub fn is_expired(&self) -> bool {
        self.elapsed() > self.limit
    }
}

impl fmt::Debug for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deadline")
            .field("limit", &self.limit)
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

/// What the caller and the helper thread of
/// [`call_blocking_on_thread`](Timeout::call_blocking_on_thread) share.
struct Handoff<F, T, E> {
    stage: Mutex<Stage<F, T, E>>,
    changed: Condvar,
}

enum Stage<F, T, E> {
    /// The operation, not yet taken by the worker.
    Pending(F),
    Running,
    /// The outcome and how long the operation took.
    Finished(Result<T, E>, Duration),
    Panicked(Box<dyn Any + Send>),
    /// The caller stopped waiting (or took its outcome): the worker discards what it has.
    Abandoned,
}

impl<F, T, E> Handoff<F, T, E>
where
    F: FnOnce(Deadline) -> Result<T, E>,
{
    /// The helper thread's side.
    fn work(&self, deadline: Deadline) {
        let Stage::Pending(operation) = mem::replace(&mut *lock(&self.stage), Stage::Running)
        else {
            return; // abandoned before it started
        };
        let (clock, start) = (deadline.clock.clone(), deadline.start);
        let outcome = catch_unwind(AssertUnwindSafe(move || operation(deadline)));
        let elapsed = clock.now().saturating_duration_since(start);
        let mut stage = lock(&self.stage);
        if matches!(*stage, Stage::Abandoned) {
            drop(stage);
            return; // nobody waits: the outcome (or panic payload) is dropped here
        }
        *stage = match outcome {
            Ok(outcome) => Stage::Finished(outcome, elapsed),
            Err(payload) => Stage::Panicked(payload),
        };
        drop(stage);
        self.changed.notify_one();
    }
}

/// Locks, recovering from poisoning: every critical section here writes whole values.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Builds a [`Timeout`]; start with [`Timeout::builder`].
///
/// Every setter accepts any value; [`build`](TimeoutBuilder::build) checks them and names the
/// first bad field and its value.
///
/// ```
/// use palisade::timeout::Timeout;
/// use std::time::Duration;
/// let timeout = Timeout::builder()
///     .name("db")
///     .limit(Duration::from_secs(30)) // the reference docs' database preset
///     .build()?;
/// assert_eq!(timeout.name(), "db");
///
/// let err = Timeout::builder().limit(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.to_string(), "invalid timeout configuration: limit = 0ns: must be greater than zero");
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct TimeoutBuilder {
    config: TimeoutConfig,
    base: Base<Timeout>,
    /// The first bad value given to a `*_secs` setter, reported by `build()`.
    error: validate::DeferredError,
}

impl TimeoutBuilder {
    fn new(config: TimeoutConfig) -> Self {
        TimeoutBuilder {
            config,
            base: Base::new(),
            error: validate::DeferredError::default(),
        }
    }

    /// How long a call may take. Greater than zero; defaults to 5 seconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = palisade::timeout::Timeout::builder().limit(Duration::from_millis(250)).build()?;
    /// assert_eq!(t.limit(), Duration::from_millis(250));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn limit(mut self, limit: Duration) -> Self {
        self.config.limit = limit;
        self.error.clear("limit");
        self
    }

    /// [`limit`](Self::limit) in seconds, as the reference docs' `timeout_seconds`; NaN,
    /// negative and zero are reported by `build()`.
    ///
    /// ```
    /// let t = palisade::timeout::Timeout::builder().limit_secs(0.5).build()?;
    /// assert_eq!(t.limit().as_millis(), 500);
    /// let err = palisade::timeout::Timeout::builder().limit_secs(-1.0).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("limit", "-1s"));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn limit_secs(mut self, secs: f64) -> Self {
        if let Some(limit) = self.error.secs(POLICY, "limit", secs) {
            self.config.limit = limit;
        }
        self
    }

    /// Validates the settings and builds the policy.
    ///
    /// ```
    /// let err = palisade::timeout::Timeout::builder().limit_secs(f64::NAN).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("limit", "NaN"));
    /// ```
    pub fn build(self) -> Result<Timeout, ConfigError> {
        self.error.check()?;
        self.config.validate()?;
        Ok(Timeout {
            shared: Arc::new(Shared {
                name: self.base.name_or(POLICY),
                config: self.config,
                clock: self.base.clock,
                listeners: self.base.listeners,
            }),
        })
    }
}

impl fmt::Debug for TimeoutBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutBuilder")
            .field("config", &self.config)
            .field("base", &self.base)
            .field("error", &self.error)
            .finish()
    }
}

builder_base!(
    TimeoutBuilder,
    kind = Timeout,
    policy = Timeout,
    make = "palisade::timeout::Timeout::builder()",
    build = ".build()"
);
