//! How a pipeline classifies outcomes: which errors retry retries, how long it waits at
//! least, how an attempt's own result becomes the pipeline's.

use std::time::Duration;

use crate::circuit_breaker::{CircuitBreaker, State as CircuitState};
use crate::error::Error;
use crate::predicate::Predicate;
use crate::retry::{DelayFn, Outcome, StopReason, Veto};

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

/// Retry's question inside a pipeline: the user's predicate for operation errors; per-attempt
/// timeouts only for idempotent calls (a timed-out attempt may have done its work); rejections only when configured; never an exhausted inner retry or an
/// impossible request. When the attempt's failure has just opened the breaker and rejections
/// are not retried, retry is vetoed ([`StopReason::CircuitOpened`]): the next attempt could
/// only be refused, so retry stops at once with the attempt's own error instead of sleeping
/// into an open circuit. A rejection that is not retried stops retry as
/// [`StopReason::Rejected`], not as a permanent error.
pub(super) struct Retryable<'a, R> {
    pub(super) operation: &'a R,
    pub(super) rejections: bool,
    /// The call is idempotent: a timed-out attempt may be repeated.
    pub(super) timeouts: bool,
    pub(super) breaker: Option<&'a CircuitBreaker>,
}

impl<E, R> Veto<Error<E>> for Retryable<'_, R> {
    /// An inner policy's rejection that is not retried stops retry as
    /// [`StopReason::Rejected`]: the dependency did not fail, it was not called.
    fn permanent(&self, error: &Error<E>) -> StopReason {
        if error.is_rejection() {
            StopReason::Rejected
        } else {
            StopReason::NotRetryable
        }
    }

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
            Error::Timeout { .. } => self.timeouts,
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
pub(super) struct Floor<'a, H> {
    pub(super) hint: &'a H,
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
