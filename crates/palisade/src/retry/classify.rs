//! What is retried and how long to wait: the typed hooks a [`Retry`](super::Retry) carries.
//!
//! The policy itself is untyped so one instance can serve calls with different result types.
//! The hooks are type parameters with zero-sized defaults, so a policy without them pays
//! nothing, and a policy with them calls them without dynamic dispatch.

use std::time::Duration;

/// Decides whether an error is worth another attempt. `false` makes the error permanent:
/// retry stops at once and returns it as [`Error::Operation`](crate::Error::Operation).
///
/// Implemented for every `Fn(&E) -> bool`.
///
/// ```
/// use palisade::retry::RetryIf;
/// let transient = |e: &std::io::Error| e.kind() == std::io::ErrorKind::TimedOut;
/// assert!(transient.should_retry(&std::io::Error::from(std::io::ErrorKind::TimedOut)));
/// assert!(!transient.should_retry(&std::io::Error::from(std::io::ErrorKind::NotFound)));
/// ```
pub trait RetryIf<E> {
    /// `true` to retry after `error`, `false` to stop and return it.
    fn should_retry(&self, error: &E) -> bool;
}

impl<E, F> RetryIf<E> for F
where
    F: Fn(&E) -> bool,
{
    #[inline]
    fn should_retry(&self, error: &E) -> bool {
        self(error)
    }
}

/// The default error predicate: every error is retried.
///
/// Rust has no common "transient error" trait, so Palisade does not guess; narrow it with
/// [`Retry::retry_if`](super::Retry::retry_if).
///
/// ```
/// use palisade::retry::{AnyError, RetryIf};
/// assert!(RetryIf::<&str>::should_retry(&AnyError, &"anything"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyError;

impl<E> RetryIf<E> for AnyError {
    #[inline(always)]
    fn should_retry(&self, _: &E) -> bool {
        true
    }
}

/// Decides whether a successful result should be retried anyway (an HTTP 503 that arrived as
/// `Ok(response)`, a job still "pending"). Implemented for every `Fn(&T) -> bool`.
///
/// When attempts run out on such a result, the last result is returned as `Ok`.
///
/// ```
/// use palisade::retry::RetryOnResult;
/// let unavailable = |status: &u16| *status == 503;
/// assert!(unavailable.should_retry(&503));
/// assert!(!unavailable.should_retry(&200));
/// ```
pub trait RetryOnResult<T> {
    /// `true` to retry after this successful result.
    fn should_retry(&self, value: &T) -> bool;
}

impl<T, F> RetryOnResult<T> for F
where
    F: Fn(&T) -> bool,
{
    #[inline]
    fn should_retry(&self, value: &T) -> bool {
        self(value)
    }
}

/// The default result predicate: every `Ok` is final.
///
/// ```
/// use palisade::retry::{AcceptAnyResult, RetryOnResult};
/// assert!(!RetryOnResult::<u16>::should_retry(&AcceptAnyResult, &503));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAnyResult;

impl<T> RetryOnResult<T> for AcceptAnyResult {
    #[inline(always)]
    fn should_retry(&self, _: &T) -> bool {
        false
    }
}

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
