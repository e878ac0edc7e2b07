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

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

mod config;
pub(crate) mod reason;

pub use config::ConfigError;
use reason::{State as CircuitState, StopReason};

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
    #[non_exhaustive]
    Timeout {
        /// The limit that fired.
        limit: Duration,
    },
    /// A bulkhead had no free slot (and its wait queue, if any, was full or timed out).
    #[non_exhaustive]
    BulkheadFull {
        /// The bulkhead's name.
        name: Arc<str>,
        /// Its maximum number of concurrent calls.
        max_concurrent: usize,
    },
    /// Retry stopped before the call succeeded.
    #[non_exhaustive]
    RetriesExhausted {
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
            Error::Timeout { limit } => Error::Timeout { limit },
            Error::BulkheadFull {
                name,
                max_concurrent,
            } => Error::BulkheadFull {
                name,
                max_concurrent,
            },
            Error::RetriesExhausted {
                attempts,
                reason,
                last_error,
            } => Error::RetriesExhausted {
                attempts,
                reason,
                last_error: Box::new(last_error.and_then_operation(f)),
            },
        }
    }

    pub(crate) fn retries_exhausted(attempts: u32, reason: StopReason, last: Error<E>) -> Self {
        Error::RetriesExhausted {
            attempts,
            reason,
            last_error: Box::new(last),
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

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Operation(e) => e.fmt(f),
            Error::CircuitOpen {
                name,
                state,
                retry_after,
            } => fmt_circuit_open(f, name, *state, *retry_after),
            Error::RateLimited { name, retry_after } => write!(
                f,
                "rate limiter '{name}' rejected the call: retry after {retry_after:?}"
            ),
            Error::InsufficientCapacity {
                name,
                requested,
                capacity,
            } => write!(
                f,
                "rate limiter '{name}' can grant at most {capacity} permits at once, \
                 {requested} were requested: split the request or raise the limit"
            ),
            Error::Timeout { limit } => {
                write!(f, "operation timed out after {limit:?}")
            }
            Error::BulkheadFull {
                name,
                max_concurrent,
            } => write!(
                f,
                "bulkhead '{name}' is full: all {max_concurrent} concurrent slots are busy"
            ),
            Error::RetriesExhausted {
                attempts,
                reason,
                last_error: _,
                // The last error is the `source()`, not part of this message: an error report
                // (anyhow's `{:#}`, tracing's error chains) prints each cause once.
            } => write!(
                f,
                "retry gave up after {attempts} attempt{s} ({reason})",
                s = if *attempts == 1 { "" } else { "s" }
            ),
        }
    }
}

/// The message of a circuit breaker's rejection, shared by [`Error::CircuitOpen`] and
/// [`Rejected`](crate::circuit_breaker::Rejected).
pub(crate) fn fmt_circuit_open(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    state: CircuitState,
    retry_after: Option<Duration>,
) -> fmt::Result {
    match (state, retry_after) {
        (CircuitState::ForcedOpen, _) => write!(
            f,
            "circuit breaker '{name}' is forced open by an operator: calls are rejected \
             until it is closed; serve a fallback"
        ),
        (CircuitState::HalfOpen, _) => write!(
            f,
            "circuit breaker '{name}' is half-open and all its trial calls are in flight: \
             retry shortly or serve a fallback"
        ),
        (_, Some(wait)) => write!(
            f,
            "circuit breaker '{name}' is open: calls are rejected for another {wait:?}; \
             retry after that or serve a fallback"
        ),
        (_, None) => write!(
            f,
            "circuit breaker '{name}' is open: calls are rejected; serve a fallback"
        ),
    }
}

impl<E> std::error::Error for Error<E>
where
    E: std::error::Error + 'static,
{
    /// Each cause once: [`Error::Operation`] is transparent (its message is the operation
    /// error's, its source that error's source); [`Error::RetriesExhausted`] names why retry
    /// stopped and has the last attempt's error as its source; the other variants are the
    /// policies' own and have none.
    ///
    /// ```
    /// use palisade::{clock::ManualClock, retry::Retry};
    /// let retry = Retry::builder().max_attempts(3).clock(ManualClock::new()).build()?;
    /// let err = retry
    ///     .call_blocking(|| Err::<(), _>(std::io::Error::other("connection reset")))
    ///     .unwrap_err();
    /// let mut chain = vec![err.to_string()];
    /// let mut cause = std::error::Error::source(&err);
    /// while let Some(c) = cause {
    ///     chain.push(c.to_string());
    ///     cause = c.source();
    /// }
    /// assert_eq!(chain, ["retry gave up after 3 attempts (max_attempts = 3 reached)", "connection reset"]);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Operation(e) => e.source(),
            Error::RetriesExhausted { last_error, .. } => Some(last_error.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_say_which_policy_and_how_long() {
        let err: Error<std::io::Error> = Error::CircuitOpen {
            name: "payments".into(),
            state: CircuitState::Open,
            retry_after: Some(Duration::from_secs(12)),
        };
        assert_eq!(
            err.to_string(),
            "circuit breaker 'payments' is open: calls are rejected for another 12s; \
             retry after that or serve a fallback"
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(12)));
        assert!(err.is_rejection() && err.is_transient());
        let forced: Error<String> = Error::CircuitOpen {
            name: "payments".into(),
            state: CircuitState::ForcedOpen,
            retry_after: None,
        };
        assert_eq!(forced.retry_after(), None);
        assert!(forced.to_string().contains("forced open by an operator"));

        let limited: Error<()> = Error::RateLimited {
            name: "api".into(),
            retry_after: Duration::from_millis(250),
        };
        assert_eq!(limited.retry_after(), Some(Duration::from_millis(250)));
        let timeout: Error<()> = Error::Timeout {
            limit: Duration::from_secs(5),
        };
        assert!(timeout.is_transient() && !timeout.is_rejection());
        let full: Error<()> = Error::BulkheadFull {
            name: "db".into(),
            max_concurrent: 10,
        };
        assert!(full.is_rejection());
    }

    #[test]
    fn exhausted_retries_expose_the_last_error_and_chain_sources() {
        let err: Error<std::io::Error> = Error::retries_exhausted(
            3,
            StopReason::MaxAttempts { max_attempts: 3 },
            Error::Operation(std::io::Error::other("connection refused")),
        );
        assert_eq!(
            err.to_string(),
            "retry gave up after 3 attempts (max_attempts = 3 reached)"
        );
        assert_eq!(
            err.operation_error().map(|e| e.to_string()),
            Some("connection refused".into())
        );
        let source = std::error::Error::source(&err).map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("connection refused"));
        assert!(!err.is_transient());
        let mapped = err.map_operation(|e| e.kind());
        assert_eq!(
            mapped.into_operation_error(),
            Some(std::io::ErrorKind::Other)
        );
    }
}
