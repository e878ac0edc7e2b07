//! How a pipeline classifies outcomes: which errors and results retry repeats, which ones
//! the breaker counts, how long retry waits at least.
//!
//! A pipeline holds two hooks: `R` answers retry's question ([`RetryIf`]), `B` the breaker's
//! ([`FailureIf`]). Any [`Predicate`] is both (it decides alone, whatever the call's
//! idempotency); [`ByClass`] asks the error's [`Classify`] impl; the wrappers
//! [`IgnoreIf`], [`RetryOnResult`] and [`FailureOnResult`] add the standalone policies' other
//! hooks. Each is a plain value with a nameable type, so a pipeline stored in a struct needs no
//! casts.

use std::marker::PhantomData;
use std::time::Duration;

use crate::circuit_breaker::{CircuitBreaker, State as CircuitState, Verdict};
use crate::classify::{
    ByClass, ClassSet, Classify, DependencyFailure, Retryable as ClassRetryable,
};
use crate::error::Error;
use crate::predicate::{Always, Never, Predicate};
use crate::retry::{DelayFn, Outcome, StopReason, Veto};

/// Retry's question inside a pipeline: is this operation error (or this `Ok` value) worth
/// another attempt? `idempotent` says whether the call may safely run twice (declared with
/// [`idempotent`](super::PipelineBuilder::idempotent) or
/// [`call_idempotent`](super::Pipeline::call_idempotent)).
///
/// Every closure or function over the error is one, as are [`Always`], [`Never`] and the
/// standalone [`classify`](crate::classify) predicates (they ignore `idempotent`: you said
/// what to retry); [`ByClass`] retries [`Unreached`](crate::classify::ErrorClass::Unreached) errors
/// always and [`Transient`](crate::classify::ErrorClass::Transient) ones only for idempotent
/// calls.
///
/// ```
/// use palisade::classify::ByClass;
/// use palisade::pipeline::RetryIf;
/// let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
/// assert!(RetryIf::<(), _>::retry_error(&ByClass, &reset, true));
/// assert!(!RetryIf::<(), _>::retry_error(&ByClass, &reset, false));
/// let every = |_: &std::io::Error| true;
/// assert!(RetryIf::<(), _>::retry_error(&every, &reset, false));
/// ```
pub trait RetryIf<T, E> {
    /// Whether `error` is worth another attempt.
    fn retry_error(&self, error: &E, idempotent: bool) -> bool;

    /// [`retry_error`](Self::retry_error), where the pipeline was told which classes to
    /// retry ([`PipelineBuilder::retry_on`](super::PipelineBuilder::retry_on)): only
    /// [`ByClass`] uses `classes`; other hooks decide alone.
    #[inline]
    fn retry_error_in(&self, error: &E, idempotent: bool, classes: Option<ClassSet>) -> bool {
        let _ = classes;
        self.retry_error(error, idempotent)
    }

    /// Whether a successful attempt's `value` asks for another attempt (an HTTP 503 carried
    /// as `Ok`). `false` unless wrapped by [`RetryOnResult`].
    #[inline(always)]
    fn retry_result(&self, _value: &T) -> bool {
        false
    }
}

/// A predicate hook decides alone: every closure or function over the error, [`Always`],
/// [`Never`] and the standalone classification predicates.
macro_rules! predicate_hooks {
    ($($hook:ty),*) => {$(
        impl<T, E> RetryIf<T, E> for $hook
        where
            $hook: Predicate<E>,
        {
            #[inline]
            fn retry_error(&self, error: &E, _: bool) -> bool {
                self.test(error)
            }
        }

        impl<T, E> FailureIf<T, E> for $hook
        where
            $hook: Predicate<E>,
        {
            #[inline]
            fn error_verdict(&self, error: &E) -> Verdict {
                verdict_of(self.test(error))
            }
        }
    )*};
}

predicate_hooks!(Always, Never, ClassRetryable, DependencyFailure);

impl<T, E, F: Fn(&E) -> bool> RetryIf<T, E> for F {
    #[inline]
    fn retry_error(&self, error: &E, _: bool) -> bool {
        self(error)
    }
}

/// A failure predicate's answer as a verdict: yes, a failure; no, a success.
#[inline(always)]
fn verdict_of(failure: bool) -> Verdict {
    if failure {
        Verdict::Failure
    } else {
        Verdict::Success
    }
}

impl<T, E: Classify> RetryIf<T, E> for ByClass {
    #[inline]
    fn retry_error(&self, error: &E, idempotent: bool) -> bool {
        error.class().is_retryable(idempotent)
    }

    #[inline]
    fn retry_error_in(&self, error: &E, idempotent: bool, classes: Option<ClassSet>) -> bool {
        match classes {
            Some(classes) => classes.contains(error.class()),
            None => error.class().is_retryable(idempotent),
        }
    }
}

/// The breaker's question inside a pipeline: what does this operation error (or `Ok` value)
/// count as — a failure, a success, or nothing ([`Verdict`])?
///
/// Every closure or function over the error is one, as are [`Always`], [`Never`] and the
/// standalone [`classify`](crate::classify) predicates (yes: a failure, no: a success — the
/// dependency answered); [`ByClass`] counts every class but
/// [`Answer`](crate::classify::ErrorClass::Answer) as a failure.
///
/// ```
/// use palisade::circuit_breaker::Verdict;
/// use palisade::classify::ByClass;
/// use palisade::pipeline::FailureIf;
/// let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
/// assert_eq!(FailureIf::<(), _>::error_verdict(&ByClass, &missing), Verdict::Success);
/// ```
pub trait FailureIf<T, E> {
    /// What `error` counts as.
    fn error_verdict(&self, error: &E) -> Verdict;

    /// [`error_verdict`](Self::error_verdict), where the pipeline was told which classes
    /// count as failures ([`PipelineBuilder::failure_on`](super::PipelineBuilder::failure_on)):
    /// only [`ByClass`] uses `classes`.
    #[inline]
    fn error_verdict_in(&self, error: &E, classes: Option<ClassSet>) -> Verdict {
        let _ = classes;
        self.error_verdict(error)
    }

    /// Whether a successful attempt's `value` counts as a failure. `false` unless wrapped by
    /// [`FailureOnResult`].
    #[inline(always)]
    fn result_is_failure(&self, _value: &T) -> bool {
        false
    }
}

impl<T, E, F: Fn(&E) -> bool> FailureIf<T, E> for F {
    #[inline]
    fn error_verdict(&self, error: &E) -> Verdict {
        verdict_of(self(error))
    }
}

impl<T, E: Classify> FailureIf<T, E> for ByClass {
    #[inline]
    fn error_verdict(&self, error: &E) -> Verdict {
        verdict_of(error.class().is_dependency_failure())
    }

    #[inline]
    fn error_verdict_in(&self, error: &E, classes: Option<ClassSet>) -> Verdict {
        match classes {
            Some(classes) => verdict_of(classes.contains(error.class())),
            None => FailureIf::<T, E>::error_verdict(self, error),
        }
    }
}

/// A breaker hook that counts nothing — neither failure nor success — for the errors `ignore`
/// says yes to, and asks `inner` about the rest; made by
/// [`Pipeline::ignore_if`](super::Pipeline::ignore_if).
///
/// ```
/// use palisade::circuit_breaker::Verdict;
/// use palisade::pipeline::{FailureIf, IgnoreIf};
/// let hook = IgnoreIf::new(|_: &u16| true, |status: &u16| *status == 499);
/// assert_eq!(FailureIf::<(), _>::error_verdict(&hook, &499), Verdict::Ignored);
/// assert_eq!(FailureIf::<(), _>::error_verdict(&hook, &500), Verdict::Failure);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct IgnoreIf<B, I> {
    inner: B,
    ignore: I,
}

impl<B, I> IgnoreIf<B, I> {
    /// `inner`, except that the errors `ignore` says yes to count as nothing.
    ///
    /// ```
    /// let _hook = palisade::pipeline::IgnoreIf::new(palisade::classify::ByClass, |_: &std::io::Error| false);
    /// ```
    pub fn new(inner: B, ignore: I) -> Self {
        IgnoreIf { inner, ignore }
    }
}

impl<T, E, B: FailureIf<T, E>, I: Predicate<E>> FailureIf<T, E> for IgnoreIf<B, I> {
    #[inline]
    fn error_verdict(&self, error: &E) -> Verdict {
        self.error_verdict_in(error, None)
    }

    #[inline]
    fn error_verdict_in(&self, error: &E, classes: Option<ClassSet>) -> Verdict {
        if self.ignore.test(error) {
            Verdict::Ignored
        } else {
            self.inner.error_verdict_in(error, classes)
        }
    }

    #[inline]
    fn result_is_failure(&self, value: &T) -> bool {
        self.inner.result_is_failure(value)
    }
}

/// A retry hook that also retries the `Ok` values `result` says yes to; made by
/// [`Pipeline::retry_on_result`](super::Pipeline::retry_on_result).
///
/// ```
/// use palisade::pipeline::{RetryIf, RetryOnResult};
/// let hook = RetryOnResult::new(|_: &std::io::Error| true, |status: &u16| *status == 503);
/// assert!(RetryIf::<u16, std::io::Error>::retry_result(&hook, &503));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RetryOnResult<R, P> {
    inner: R,
    result: P,
}

impl<R, P> RetryOnResult<R, P> {
    /// `inner`, and the `Ok` values `result` says yes to are retried too.
    ///
    /// ```
    /// let _hook = palisade::pipeline::RetryOnResult::new(palisade::classify::ByClass, |v: &u16| *v == 503);
    /// ```
    pub fn new(inner: R, result: P) -> Self {
        RetryOnResult { inner, result }
    }
}

impl<T, E, R: RetryIf<T, E>, P: Predicate<T>> RetryIf<T, E> for RetryOnResult<R, P> {
    #[inline]
    fn retry_error(&self, error: &E, idempotent: bool) -> bool {
        self.inner.retry_error(error, idempotent)
    }

    #[inline]
    fn retry_error_in(&self, error: &E, idempotent: bool, classes: Option<ClassSet>) -> bool {
        self.inner.retry_error_in(error, idempotent, classes)
    }

    #[inline]
    fn retry_result(&self, value: &T) -> bool {
        self.result.test(value)
    }
}

/// A breaker hook that also counts the `Ok` values `result` says yes to as failures; made by
/// [`Pipeline::failure_on_result`](super::Pipeline::failure_on_result).
///
/// ```
/// use palisade::pipeline::{FailureIf, FailureOnResult};
/// let hook = FailureOnResult::new(|_: &std::io::Error| true, |status: &u16| *status >= 500);
/// assert!(FailureIf::<u16, std::io::Error>::result_is_failure(&hook, &502));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FailureOnResult<B, P> {
    inner: B,
    result: P,
}

impl<B, P> FailureOnResult<B, P> {
    /// `inner`, and the `Ok` values `result` says yes to count as failures too.
    ///
    /// ```
    /// let _hook = palisade::pipeline::FailureOnResult::new(palisade::classify::ByClass, |v: &u16| *v >= 500);
    /// ```
    pub fn new(inner: B, result: P) -> Self {
        FailureOnResult { inner, result }
    }
}

impl<T, E, B: FailureIf<T, E>, P: Predicate<T>> FailureIf<T, E> for FailureOnResult<B, P> {
    #[inline]
    fn error_verdict(&self, error: &E) -> Verdict {
        self.inner.error_verdict(error)
    }

    #[inline]
    fn error_verdict_in(&self, error: &E, classes: Option<ClassSet>) -> Verdict {
        self.inner.error_verdict_in(error, classes)
    }

    #[inline]
    fn result_is_failure(&self, value: &T) -> bool {
        self.result.test(value)
    }
}

/// The retry hook's result question as a [`Predicate`] over `T`, for retry's engine.
pub(super) struct RetryResult<'a, R, E>(pub(super) &'a R, pub(super) PhantomData<fn(&E)>);

impl<T, E, R: RetryIf<T, E>> Predicate<T> for RetryResult<'_, R, E> {
    #[inline]
    fn test(&self, value: &T) -> bool {
        self.0.retry_result(value)
    }
}

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

/// Retry's question inside a pipeline: the user's hook for operation errors; per-attempt
/// timeouts only for idempotent calls (a timed-out attempt may have done its work); rejections
/// only when configured; never an exhausted inner retry or an
/// impossible request. When the attempt's failure has just opened the breaker and rejections
/// are not retried, retry is vetoed ([`StopReason::CircuitOpened`]): the next attempt could
/// only be refused, so retry stops at once with the attempt's own error instead of sleeping
/// into an open circuit. A rejection that is not retried stops retry as
/// [`StopReason::Rejected`], not as a permanent error.
pub(super) struct Retryable<'a, R, T> {
    pub(super) operation: &'a R,
    pub(super) rejections: bool,
    /// The call is idempotent: a timed-out attempt may be repeated, and the hook is told.
    pub(super) idempotent: bool,
    pub(super) breaker: Option<&'a CircuitBreaker>,
    /// The classes to retry, when the pipeline was told ([`ByClass`] only).
    pub(super) classes: Option<ClassSet>,
    pub(super) result: PhantomData<fn(&T)>,
}

impl<E, R, T> Veto<Error<E>> for Retryable<'_, R, T> {
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

impl<T, E, R: RetryIf<T, E>> Predicate<Error<E>> for Retryable<'_, R, T> {
    #[inline]
    fn test(&self, error: &Error<E>) -> bool {
        match error {
            Error::Operation(error) => {
                self.operation
                    .retry_error_in(error, self.idempotent, self.classes)
            }
            Error::Timeout { .. } => self.idempotent,
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
