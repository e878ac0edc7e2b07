//! How long to wait: the delay hook a [`Retry`](super::Retry) carries. What is retried is
//! decided by shared [`Predicate`](crate::predicate::Predicate)s.
//!
//! The policy itself is untyped so one instance can serve calls with different result types.
//! The hooks are type parameters with zero-sized defaults, so a policy without them pays
//! nothing, and a policy with them calls them without dynamic dispatch.

use std::time::Duration;

/// The outcome of an attempt that is about to be retried, as seen by a [`DelayFn`].
///
/// ```
/// use palisade::retry::Outcome;
/// let result: Result<u16, &str> = Err("busy");
/// let outcome = Outcome::from(&result);
/// assert!(matches!(outcome, Outcome::Err(&"busy")));
/// ```
#[derive(Debug)]
pub enum Outcome<'a, T, E> {
    /// The attempt returned `Ok`, and the result predicate asked for a retry.
    Ok(&'a T),
    /// The attempt returned this retryable error.
    Err(&'a E),
}

impl<T, E> Clone for Outcome<'_, T, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, E> Copy for Outcome<'_, T, E> {}

impl<'a, T, E> From<&'a Result<T, E>> for Outcome<'a, T, E> {
    fn from(result: &'a Result<T, E>) -> Self {
        match result {
            Ok(v) => Outcome::Ok(v),
            Err(e) => Outcome::Err(e),
        }
    }
}

/// Chooses the next delay from the failed attempt's number (1-based) and its outcome —
/// typically to honour a `Retry-After` the error carries. `None` falls back to the configured
/// backoff. Implemented for every `Fn(u32, Outcome<'_, T, E>) -> Option<Duration>`.
///
/// A chosen delay is used as given: no jitter, no `max_delay` cap (the server asked for it),
/// but it still counts against `max_elapsed`, so a huge `Retry-After` makes retry give up
/// rather than sleep past the budget.
///
/// Two questions, two methods: [`delay`](Self::delay) *replaces* the backoff, and
/// [`min_delay`](Self::min_delay) (optional, `None` by default) puts a *floor* under
/// whichever delay was chosen. The policy computes
/// `delay = max(delay or backoff, min_delay)` and only then checks `max_elapsed`.
///
/// ```
/// use palisade::retry::{DelayFn, Outcome};
/// use std::time::Duration;
/// struct Throttled { retry_after: Duration }
/// let honour = |_attempt: u32, outcome: Outcome<'_, (), Throttled>| match outcome {
///     Outcome::Err(e) => Some(e.retry_after),
///     Outcome::Ok(_) => None,
/// };
/// let err = Throttled { retry_after: Duration::from_secs(3) };
/// assert_eq!(honour.delay(1, Outcome::Err(&err)), Some(Duration::from_secs(3)));
/// ```
pub trait DelayFn<T, E> {
    /// The delay before the next attempt, or `None` for the configured backoff.
    fn delay(&self, attempt: u32, outcome: Outcome<'_, T, E>) -> Option<Duration>;

    /// The least the next delay may be, or `None` (the default) for no floor. Applied after
    /// [`delay`](Self::delay) or the configured backoff (jitter included) and before the
    /// `max_elapsed` check, which therefore sees the raised delay.
    ///
    /// Use it when the backoff is right in general but some outcomes say "not before": an
    /// open circuit breaker or a rate limiter rejects with a `retry_after`, and retrying
    /// sooner only collects the same rejection. Keep the backoff (`delay` → `None`) and raise
    /// it to the rejection's `retry_after`:
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use palisade::retry::{DelayFn, Jitter, Outcome, Retry};
    /// use std::time::Duration;
    ///
    /// #[derive(Debug)]
    /// enum CallError { Rejected { retry_after: Duration }, Failed }
    ///
    /// impl CallError {
    ///     fn retry_after(&self) -> Option<Duration> {
    ///         match self {
    ///             CallError::Rejected { retry_after } => Some(*retry_after),
    ///             CallError::Failed => None,
    ///         }
    ///     }
    /// }
    ///
    /// /// The configured backoff, but never sooner than a rejection allows.
    /// #[derive(Clone, Copy)]
    /// struct AtLeastRetryAfter;
    ///
    /// impl<T> DelayFn<T, CallError> for AtLeastRetryAfter {
    ///     fn delay(&self, _: u32, _: Outcome<'_, T, CallError>) -> Option<Duration> {
    ///         None // the configured backoff
    ///     }
    ///     fn min_delay(&self, _: u32, outcome: Outcome<'_, T, CallError>) -> Option<Duration> {
    ///         match outcome {
    ///             Outcome::Err(e) => e.retry_after(),
    ///             Outcome::Ok(_) => None,
    ///         }
    ///     }
    /// }
    ///
    /// let clock = ManualClock::new();
    /// let retry = Retry::builder()
    ///     .fixed(Duration::from_millis(100))
    ///     .jitter(Jitter::None)
    ///     .max_attempts(3)
    ///     .clock(clock.clone())
    ///     .build()?
    ///     .delay_fn(AtLeastRetryAfter);
    ///
    /// let mut errors = vec![CallError::Failed, CallError::Rejected { retry_after: Duration::from_secs(2) }];
    /// let out = retry.call_blocking(|| match errors.pop() { Some(e) => Err(e), None => Ok(()) });
    /// assert!(out.is_ok());
    /// // 2 s for the rejection (above the backoff), then the 100 ms backoff for the failure.
    /// assert_eq!(clock.now().as_nanos(), 2_100_000_000);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    fn min_delay(&self, attempt: u32, outcome: Outcome<'_, T, E>) -> Option<Duration> {
        let _ = (attempt, outcome);
        None
    }
}

impl<T, E, F> DelayFn<T, E> for F
where
    F: Fn(u32, Outcome<'_, T, E>) -> Option<Duration>,
{
    #[inline]
    fn delay(&self, attempt: u32, outcome: Outcome<'_, T, E>) -> Option<Duration> {
        self(attempt, outcome)
    }
}

/// The default delay function: always the configured backoff.
///
/// ```
/// use palisade::retry::{ConfiguredBackoff, DelayFn, Outcome};
/// assert_eq!(DelayFn::<(), ()>::delay(&ConfiguredBackoff, 1, Outcome::Err(&())), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfiguredBackoff;

impl<T, E> DelayFn<T, E> for ConfiguredBackoff {
    #[inline(always)]
    fn delay(&self, _: u32, _: Outcome<'_, T, E>) -> Option<Duration> {
        None
    }
}
