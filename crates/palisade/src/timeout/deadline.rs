//! Blocking timeouts: the [`Deadline`] handed to the closure, and the helper-thread handoff.

use std::any::Any;
use std::fmt;
use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::clock::{Clock, Instant};

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
    pub(super) clock: Clock,
    pub(super) start: Instant,
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
        let start = clock.now();
        Deadline::started(clock, start, limit)
    }

    /// A deadline `limit` after `start`, a reading of `clock`.
    #[inline]
    pub(crate) fn started(clock: Clock, start: Instant, limit: Duration) -> Deadline {
        Deadline {
            start,
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
    /// [`Error::Timeout`](crate::Error::Timeout), so the remaining work can be skipped.
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
/// [`call_blocking_on_thread`](super::Timeout::call_blocking_on_thread) share: the stage the
/// work is at, and the waker of a caller waiting for it.
pub(super) struct Handoff<F, T, E> {
    state: Mutex<(Stage<F, T, E>, Option<Waker>)>,
}

pub(super) enum Stage<F, T, E> {
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
    pub(super) fn new(operation: F) -> Self {
        Handoff {
            state: Mutex::new((Stage::Pending(operation), None)),
        }
    }

    /// The helper thread's side.
    pub(super) fn work(&self, deadline: Deadline) {
        let Stage::Pending(operation) = mem::replace(&mut lock(&self.state).0, Stage::Running)
        else {
            return; // abandoned before it started
        };
        let (clock, start) = (deadline.clock.clone(), deadline.start);
        let outcome = catch_unwind(AssertUnwindSafe(move || operation(deadline)));
        let elapsed = clock.now().saturating_duration_since(start);
        let mut state = lock(&self.state);
        if matches!(state.0, Stage::Abandoned) {
            drop(state);
            return; // nobody waits: the outcome (or panic payload) is dropped here
        }
        state.0 = match outcome {
            Ok(outcome) => Stage::Finished(outcome, elapsed),
            Err(payload) => Stage::Panicked(payload),
        };
        let waker = state.1.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The caller's side: ready with the finished (or panicked) stage, which it takes.
    pub(super) fn poll_finished(&self, cx: &mut Context<'_>) -> Poll<Stage<F, T, E>> {
        let mut state = lock(&self.state);
        if matches!(state.0, Stage::Finished(..) | Stage::Panicked(_)) {
            return Poll::Ready(mem::replace(&mut state.0, Stage::Abandoned));
        }
        state.1 = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The caller stopped waiting: the worker discards its result. Returns what was there (a
    /// closure not yet started), to be dropped after the lock is released.
    pub(super) fn abandon(&self) -> Stage<F, T, E> {
        mem::replace(&mut lock(&self.state).0, Stage::Abandoned)
    }
}

/// Locks, recovering from poisoning: every critical section here writes whole values.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
