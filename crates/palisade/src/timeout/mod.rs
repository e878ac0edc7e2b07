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
//! let fast = timeout.call(|| async { Ok::<_, std::io::Error>("hits") }).await?;
//! assert_eq!(fast, "hits");
//!
//! let hung = timeout.call(|| async {
//!     tokio::time::sleep(Duration::from_secs(60)).await; // a dependency that hangs
//!     Ok::<_, std::io::Error>("too late")
//! });
//! let err = hung.await.unwrap_err();
//! assert!(matches!(err, Error::Timeout { limit, .. } if limit == Duration::from_millis(300)));
//! assert_eq!(err.to_string(), "timeout 'search' fired after 300ms");
//! # Ok(()) }
//! ```
//!
//! # What a timeout can and cannot stop
//!
//! **Async code is cancelled.** [`call`](Timeout::call) races the future against its deadline
//! on the policy's clock; when the limit fires the future is *dropped*, which in Rust is
//! cancellation: it is never polled again, its destructors run (a pooled connection goes back,
//! a request is aborted), and it stops at the `.await` where it was waiting. Nothing keeps
//! running in the background. A future that blocks its thread *inside* `poll` (a synchronous
//! call in an `async fn`) cannot be interrupted: the timer is only noticed when that poll
//! returns.
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
//! The default limit is 5 seconds; the per-operation [presets](crate::presets) use 30 s
//! (database), 60 s (API), 5 s (cache), 10 s (file) and 300 s (ML). Every deadline is fixed when the call starts
//! (`now + limit`) and measured on the policy's [`Clock`], async and blocking alike, so a
//! [`ManualClock`](crate::clock::ManualClock) runs every timeout on virtual time.
//!
//! # Events
//!
//! [`TimeoutEvent::TimedOut`] when the limit fires, [`TimeoutEvent::FinishedLate`] when a
//! blocking call returned after its limit and its result was replaced. Both, and the
//! [`Error::Timeout`] the caller gets, carry the policy's name and a [`TimeoutScope`]:
//! [`Call`](TimeoutScope::Call) for this policy's own calls,
//! [`Attempt`](TimeoutScope::Attempt) or [`Total`](TimeoutScope::Total) where a pipeline uses
//! it.

mod config;
mod deadline;
mod event;
mod timed;

use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::resume_unwind;
use std::sync::Arc;
use std::time::Duration;

pub use crate::error::reason::TimeoutScope;
pub use config::{TimeoutBuilder, TimeoutConfig};
pub use deadline::Deadline;
pub use event::TimeoutEvent;
pub(crate) use timed::{AttemptScope, CallScope, Timed, TotalScope, operation_result};

use crate::clock::{self, Clock};
use crate::error::{ConfigError, Error};
use crate::listener::{Kind, Listeners};
use deadline::{Handoff, Stage};

const POLICY: &str = "timeout";

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

    /// Runs the future `operation` makes for at most the limit. If it finishes in time (a
    /// future ready at the same instant as the timer counts as in time), its value or error is
    /// returned unchanged (the error as [`Error::Operation`]); otherwise it is **dropped** —
    /// cancelled at the `.await` where it waits, its destructors run — and the call returns
    /// [`Error::Timeout`].
    ///
    /// The deadline is fixed when the call starts and waited for on the policy's
    /// [`Clock`] (see [`crate::clock`] for which timer serves it). Allocates nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), palisade::ConfigError> {
    /// use palisade::{Error, clock::Clock, timeout::Timeout};
    /// use std::time::Duration;
    /// let timeout = Timeout::builder().limit(Duration::from_secs(1)).clock(Clock::tokio()).build()?;
    /// let start = tokio::time::Instant::now();
    /// let slow = timeout.call(|| async {
    ///     tokio::time::sleep(Duration::from_secs(10)).await;
    ///     Ok::<_, std::io::Error>(())
    /// });
    /// assert!(matches!(slow.await, Err(Error::Timeout { .. })));
    /// assert_eq!(start.elapsed(), Duration::from_secs(1)); // not 10: the future was dropped
    /// # Ok(()) }
    /// ```
    pub fn call<T, E, F, Fut>(&self, operation: F) -> impl Future<Output = Result<T, Error<E>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        Timed::new(operation(), Some(self), operation_result, CallScope)
    }

    /// The pipeline's async total timeout, whose inner steps already speak [`Error`] (an
    /// inner policy's rejection passes through unchanged), for a call that started at `start`
    /// (a reading of this policy's clock).
    pub(crate) fn run_started<T, E, Fut>(
        &self,
        start: crate::clock::Instant,
        future: Fut,
    ) -> impl Future<Output = Result<T, Error<E>>>
    where
        Fut: Future<Output = Result<T, Error<E>>>,
    {
        Timed::started(
            future,
            Some((self, start)),
            std::convert::identity,
            TotalScope,
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
        let start = self.shared.clock.now();
        self.run_blocking_started(start, TimeoutScope::Call, |deadline| {
            operation(deadline).map_err(Error::Operation)
        })
    }

    /// [`call_blocking`](Self::call_blocking) for a call that started at `start` (a reading
    /// of this policy's clock), whose steps already speak [`Error`] (a pipeline's), its
    /// timeout reporting `scope`.
    #[inline]
    pub(crate) fn run_blocking_started<T, E, F>(
        &self,
        start: crate::clock::Instant,
        scope: TimeoutScope,
        operation: F,
    ) -> Result<T, Error<E>>
    where
        F: FnOnce(Deadline) -> Result<T, Error<E>>,
    {
        let deadline = Deadline::started(self.shared.clock.clone(), start, self.limit());
        let (clock, start) = (deadline.clock.clone(), deadline.start);
        let outcome = operation(deadline);
        self.settle(outcome, clock.now().saturating_duration_since(start), scope)
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
    /// the policy's clock. (On an auto-advancing [`ManualClock`](crate::clock::ManualClock) the
    /// waiting caller counts as idle and moves time to the limit at once, whatever the helper
    /// thread does: turn auto-advance off to test this on virtual time.)
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
        let handoff = Arc::new(Handoff::new(operation));
        let worker = Arc::clone(&handoff);
        let worker_deadline = deadline.clone();
        let spawned = std::thread::Builder::new()
            .name("palisade-timeout".into())
            .spawn(move || worker.work(worker_deadline));
        if spawned.is_err() {
            // No thread to be had: the closure came back with the failed spawn's drop.
            if let Stage::Pending(operation) = handoff.abandon() {
                return self.call_blocking(operation);
            }
        }
        // The thread is detached: it owns its half of the handoff and ends on its own.
        drop(spawned);
        // Expired means past the limit: the wait ends one nanosecond after it.
        let give_up = deadline
            .start
            .saturating_add(self.limit())
            .saturating_add(Duration::from_nanos(1));
        let finished = clock::wait_until(
            &self.shared.clock,
            poll_fn(|cx| handoff.poll_finished(cx)),
            Some(give_up),
        );
        match finished {
            Some(Stage::Finished(outcome, elapsed)) => self.settle(
                outcome.map_err(Error::Operation),
                elapsed,
                TimeoutScope::Call,
            ),
            Some(Stage::Panicked(payload)) => resume_unwind(payload),
            _ => {
                // The worker sees `Abandoned` and discards its result; a closure it had not
                // started yet is dropped here.
                drop(handoff.abandon());
                Err(self.timed_out(TimeoutScope::Call))
            }
        }
    }

    /// A late outcome becomes a timeout of `scope`.
    pub(crate) fn settle<T, E>(
        &self,
        outcome: Result<T, Error<E>>,
        elapsed: Duration,
        scope: TimeoutScope,
    ) -> Result<T, Error<E>> {
        let limit = self.limit();
        if elapsed <= limit {
            return outcome;
        }
        self.shared.listeners.emit(|| TimeoutEvent::FinishedLate {
            name: &self.shared.name,
            scope,
            limit,
            elapsed,
        });
        Err(self.error(scope))
    }

    /// The limit fired: publishes it and returns the error of `scope`.
    pub(crate) fn timed_out<E>(&self, scope: TimeoutScope) -> Error<E> {
        self.shared.listeners.emit(|| TimeoutEvent::TimedOut {
            name: &self.shared.name,
            scope,
            limit: self.limit(),
        });
        self.error(scope)
    }

    /// This policy's [`Error::Timeout`] for `scope`, published by nobody.
    pub(crate) fn error<E>(&self, scope: TimeoutScope) -> Error<E> {
        Error::Timeout {
            name: Arc::clone(&self.shared.name),
            scope,
            limit: self.limit(),
        }
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
