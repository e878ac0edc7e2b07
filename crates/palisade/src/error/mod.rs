//! One error type for every policy, and the configuration error every `build()` returns.
//!
//! # Why one error type
//!
//! A protected call can fail in two very different ways: the operation itself failed (the
//! database said no), or a policy refused or stopped it (the circuit is open, the limiter said
//! "not yet", the timeout fired, retries ran out). Callers handle these differently — a
//! rejection usually means "back off and try later", an operation error means "look at what
//! the dependency said". [`Error<E>`] keeps them apart: [`Error::Operation`] carries your error
//! untouched, every other variant is a policy speaking, with the facts needed to act on it
//! (which breaker, for how long, which limit fired).
//!
//! ```
//! use palisade::Error;
//! use std::time::Duration;
//!
//! fn describe(err: &Error<std::io::Error>) -> String {
//!     match err {
//!         Error::Operation(io) => format!("the dependency failed: {io}"),
//!         other if other.is_rejection() => match other.retry_after() {
//!             Some(wait) => format!("rejected, try again in {wait:?}"),
//!             None => format!("rejected: {other}"),
//!         },
//!         other => format!("gave up: {other}"),
//!     }
//! }
//! let err: Error<std::io::Error> = Error::Operation(std::io::Error::other("connection reset"));
//! assert_eq!(describe(&err), "the dependency failed: connection reset");
//! ```

use std::sync::Arc;
use std::time::Duration;

mod config;
mod display;
pub(crate) mod human;
pub(crate) mod reason;

pub use config::ConfigError;
pub(crate) use display::{fmt_bulkhead_full, fmt_circuit_open};
use reason::{RejectReason, State as CircuitState, StopReason, TimeoutScope};

/// The error of a protected call: the operation's own error, or a policy's rejection.
///
/// Later policies add variants, so matches need a wildcard arm.
///
/// ```
/// use palisade::Error;
/// let err: Error<&str> = Error::Operation("boom");
/// assert_eq!(err.to_string(), "boom");
/// assert_eq!(err.into_operation_error(), Some("boom"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The operation ran and returned this error; no policy changed it.
    Operation(E),
    /// A circuit breaker rejected the call without running it: it is open, forced open, or
    /// half-open with every trial slot taken.
    #[non_exhaustive]
    CircuitOpen {
        /// The breaker's name.
        name: Arc<str>,
        /// The state that rejected the call.
        state: CircuitState,
        /// Time until the breaker will let a trial call through, when known (`None` when
        /// forced open, or half-open with its trial calls still running).
        retry_after: Option<Duration>,
    },
    /// A rate limiter rejected the call without running it.
    #[non_exhaustive]
    RateLimited {
        /// The limiter's name.
        name: Arc<str>,
        /// Time until a call would be permitted.
        retry_after: Duration,
    },
    /// A rate limiter was asked for more permits than it can ever grant at once: waiting
    /// would not help.
    #[non_exhaustive]
    InsufficientCapacity {
        /// The limiter's name.
        name: Arc<str>,
        /// Permits asked for.
        requested: u64,
        /// The most the limiter grants at once.
        capacity: u64,
    },
    /// The operation did not finish within its time limit. An async operation was cancelled
    /// (dropped); blocking work cannot be stopped, so it may have finished late or may still
    /// be running (see [`crate::timeout`]).
    ///
    /// ```
    /// use palisade::{Error, clock::ManualClock, pipeline::Pipeline, timeout::TimeoutScope};
    /// use std::time::Duration;
    /// let clock = ManualClock::new();
    /// let pipeline = Pipeline::builder()
    ///     .name("payments")
    ///     .timeout(Duration::from_secs(2))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let err = pipeline
    ///     .call_blocking(|| {
    ///         clock.advance(Duration::from_secs(3)); // an attempt that took 3 s
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .unwrap_err();
    /// let Error::Timeout { name, scope, limit, .. } = &err else { unreachable!() };
    /// assert_eq!((&**name, *scope, *limit), ("payments", TimeoutScope::Attempt, Duration::from_secs(2)));
    /// assert_eq!(err.to_string(), "timeout 'payments' (per attempt) fired after 2s");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[non_exhaustive]
    Timeout {
        /// The name of the timeout that fired: the [`Timeout`](crate::timeout::Timeout)
        /// policy's, or for a pipeline's own timeouts the pipeline's.
        name: Arc<str>,
        /// Which limit fired: a standalone timeout's, a pipeline's per-attempt or its total
        /// one.
        scope: TimeoutScope,
        /// The limit that fired, as configured (the time the call took is in the timeout's
        /// [events](crate::timeout::TimeoutEvent)).
        limit: Duration,
    },
    /// A bulkhead had no free slot: it could not wait, its wait queue was full, or the wait
    /// ran out (`reason` says which).
    ///
    /// ```
    /// use palisade::{Error, bulkhead::{Bulkhead, RejectReason}};
    /// let bulkhead = Bulkhead::builder().name("db").max_concurrent(1).build()?;
    /// let _busy = bulkhead.try_acquire()?;
    /// let err = bulkhead.call_blocking(|| Ok::<_, std::io::Error>(())).unwrap_err();
    /// assert!(matches!(err, Error::BulkheadFull { reason: RejectReason::Full, .. }));
    /// assert_eq!(err.to_string(), "bulkhead 'db' is full: all 1 concurrent slots are busy");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[non_exhaustive]
    BulkheadFull {
        /// The bulkhead's name.
        name: Arc<str>,
        /// Its maximum number of concurrent calls.
        max_concurrent: usize,
        /// Why the call could not have a slot: no queue (or the caller would not wait), the
        /// queue full, or `max_wait` ran out in it.
        reason: RejectReason,
    },
    /// Retry stopped before the call succeeded.
    ///
    /// ```
    /// use palisade::{Error, clock::ManualClock, retry::Retry};
    /// let retry = Retry::builder().name("profile").max_attempts(2).clock(ManualClock::new()).build()?;
    /// let err = retry.call_blocking(|| Err::<(), _>("connection reset")).unwrap_err();
    /// assert!(matches!(&err, Error::RetriesExhausted { name, attempts: 2, .. } if &**name == "profile"));
    /// assert_eq!(err.to_string(), "retry 'profile' gave up after 2 attempts (max_attempts = 2 reached)");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[non_exhaustive]
    RetriesExhausted {
        /// The retry policy's name (in a pipeline, the pipeline's).
        name: Arc<str>,
        /// Attempts made, the first one included.
        attempts: u32,
        /// Why retry stopped: max attempts reached or the elapsed budget would be exceeded.
        reason: StopReason,
        /// The error of the last attempt.
        last_error: Box<Error<E>>,
    },
}

impl<E> Error<E> {
    /// Time after which the call may succeed, when the policy knows it: an open circuit and a
    /// rate limiter carry one; retries exhausted forwards its last error's.
    ///
    /// ```
    /// use palisade::Error;
    /// let err: Error<()> = Error::Operation(());
    /// assert_eq!(err.retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::CircuitOpen { retry_after, .. } => *retry_after,
            Error::RateLimited { retry_after, .. } => Some(*retry_after),
            Error::RetriesExhausted { last_error, .. } => last_error.retry_after(),
            _ => None,
        }
    }

    /// Whether a policy refused to run the call (circuit open, rate limited, insufficient
    /// capacity, bulkhead full). The operation did not run, so trying again later is safe
    /// even if it is not idempotent.
    ///
    /// ```
    /// use palisade::Error;
    /// assert!(!Error::Operation(()).is_rejection());
    /// ```
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Error::CircuitOpen { .. }
                | Error::RateLimited { .. }
                | Error::InsufficientCapacity { .. }
                | Error::BulkheadFull { .. }
        )
    }

    /// Whether the failure is expected to clear with time: a rejection (except insufficient
    /// capacity, which never clears) or a timeout.
    ///
    /// Palisade cannot know whether your own error is transient, so [`Error::Operation`]
    /// returns `false`; classify those with a retry predicate. Exhausted retries return
    /// `false`: retrying already happened.
    ///
    /// ```
    /// use palisade::Error;
    /// assert!(!Error::Operation("disk full").is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        (self.is_rejection() && !matches!(self, Error::InsufficientCapacity { .. }))
            || matches!(self, Error::Timeout { .. })
    }

    /// The operation's own error, if this is one or wraps one (retries exhausted).
    ///
    /// ```
    /// use palisade::Error;
    /// let err: Error<&str> = Error::Operation("boom");
    /// assert_eq!(err.operation_error(), Some(&"boom"));
    /// ```
    pub fn operation_error(&self) -> Option<&E> {
        match self {
            Error::Operation(e) => Some(e),
            Error::RetriesExhausted { last_error, .. } => last_error.operation_error(),
            _ => None,
        }
    }

    /// Consumes the error and returns the operation's own error, if any (see
    /// [`operation_error`](Error::operation_error)).
    ///
    /// ```
    /// use palisade::Error;
    /// let err: Error<String> = Error::Operation("boom".to_string());
    /// assert_eq!(err.into_operation_error().as_deref(), Some("boom"));
    /// ```
    pub fn into_operation_error(self) -> Option<E> {
        match self {
            Error::Operation(e) => Some(e),
            Error::RetriesExhausted { last_error, .. } => last_error.into_operation_error(),
            _ => None,
        }
    }

    /// Maps the operation error type, keeping policy rejections as they are.
    ///
    /// ```
    /// use palisade::Error;
    /// let err: Error<i32> = Error::Operation(4);
    /// assert_eq!(err.map_operation(|n| n * 2), Error::Operation(8));
    /// ```
    pub fn map_operation<F, E2>(self, f: F) -> Error<E2>
    where
        F: FnOnce(E) -> E2,
    {
        self.and_then_operation(|e| Error::Operation(f(e)))
    }

    /// Replaces the operation error with `f(error)` — which may be any `Error` — keeping
    /// policy rejections as they are (and inside `RetriesExhausted`, its last error).
    pub(crate) fn and_then_operation<F, E2>(self, f: F) -> Error<E2>
    where
        F: FnOnce(E) -> Error<E2>,
    {
        match self {
            Error::Operation(e) => f(e),
            Error::CircuitOpen {
                name,
                state,
                retry_after,
            } => Error::CircuitOpen {
                name,
                state,
                retry_after,
            },
            Error::RateLimited { name, retry_after } => Error::RateLimited { name, retry_after },
            Error::InsufficientCapacity {
                name,
                requested,
                capacity,
            } => Error::InsufficientCapacity {
                name,
                requested,
                capacity,
            },
            Error::Timeout { name, scope, limit } => Error::Timeout { name, scope, limit },
            Error::BulkheadFull {
                name,
                max_concurrent,
                reason,
            } => Error::BulkheadFull {
                name,
                max_concurrent,
                reason,
            },
            Error::RetriesExhausted {
                name,
                attempts,
                reason,
                last_error,
            } => Error::RetriesExhausted {
                name,
                attempts,
                reason,
                last_error: Box::new(last_error.and_then_operation(f)),
            },
        }
    }

    /// [`Error::Timeout`], for code outside palisade that reports a limit in its terms (a
    /// store, an integration, a test of your fallback).
    ///
    /// ```
    /// use palisade::{Error, timeout::TimeoutScope};
    /// use std::time::Duration;
    /// let err: Error<std::io::Error> = Error::timeout("search", TimeoutScope::Call, Duration::from_millis(300));
    /// assert_eq!(err.to_string(), "timeout 'search' fired after 300ms");
    /// assert!(err.is_transient() && !err.is_rejection());
    /// ```
    pub fn timeout(name: impl Into<Arc<str>>, scope: TimeoutScope, limit: Duration) -> Self {
        Error::Timeout {
            name: name.into(),
            scope,
            limit,
        }
    }

    /// [`Error::BulkheadFull`], for code outside palisade (a store, an integration, a test).
    ///
    /// ```
    /// use palisade::{Error, bulkhead::RejectReason};
    /// let err: Error<std::io::Error> = Error::bulkhead_full("db", 10, RejectReason::QueueFull { max_queue: 4 });
    /// assert_eq!(
    ///     err.to_string(),
    ///     "bulkhead 'db' is full: all 10 concurrent slots are busy and 4 calls are already waiting"
    /// );
    /// assert!(err.is_rejection());
    /// ```
    pub fn bulkhead_full(
        name: impl Into<Arc<str>>,
        max_concurrent: usize,
        reason: RejectReason,
    ) -> Self {
        Error::BulkheadFull {
            name: name.into(),
            max_concurrent,
            reason,
        }
    }

    /// [`Error::RetriesExhausted`] with `last_error` as the last attempt's error, for code
    /// outside palisade (a store, an integration, a test).
    ///
    /// ```
    /// use palisade::{Error, retry::StopReason};
    /// let err = Error::retries_exhausted(
    ///     "profile",
    ///     3,
    ///     StopReason::MaxAttempts { max_attempts: 3 },
    ///     Error::Operation("connection reset"),
    /// );
    /// assert_eq!(err.to_string(), "retry 'profile' gave up after 3 attempts (max_attempts = 3 reached)");
    /// assert_eq!(err.operation_error(), Some(&"connection reset"));
    /// ```
    pub fn retries_exhausted(
        name: impl Into<Arc<str>>,
        attempts: u32,
        reason: StopReason,
        last_error: Error<E>,
    ) -> Self {
        Error::RetriesExhausted {
            name: name.into(),
            attempts,
            reason,
            last_error: Box::new(last_error),
        }
    }
}

impl<E> Error<Error<E>> {
    /// One level of policy errors: an inner pipeline's error that an outer policy reported
    /// as its operation's error becomes the outer error itself.
    pub(crate) fn flatten(self) -> Error<E> {
        self.and_then_operation(|inner| inner)
    }
}
