//! Fallback: when a call fails in a chosen way, answer with something else.
//!
//! # Why
//!
//! Some failures have a good-enough answer: a cached profile when the user service's circuit
//! is open, an empty recommendation list when the ranking model times out, basic data when
//! enrichment is unavailable — graceful degradation. A fallback turns
//! those failures into values, and leaves every other failure alone, so a bug still surfaces
//! as an error instead of being papered over.
//!
//! A fallback is two choices:
//!
//! - **which failures it handles**: every error ([`Fallback::on_errors`]), only policy
//!   rejections — circuit open, bulkhead full, rate limited ([`Fallback::on_rejections`]) —
//!   or any [`Predicate`] over [`Error`] ([`Fallback::on`]);
//! - **what it answers**: a fixed value ([`FallbackBuilder::value`]), a function of the error
//!   ([`FallbackBuilder::with`]) or an async function of it ([`FallbackBuilder::with_async`],
//!   for example to read a cache).
//!
//! In a [`Pipeline`](crate::pipeline::Pipeline) the fallback is the outermost policy, so it
//! sees everything the inner policies decide: an open circuit, an exhausted retry, a timeout.
//!
//! ```
//! use palisade::circuit_breaker::CircuitBreaker;
//! use palisade::fallback::Fallback;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), palisade::ConfigError> {
//! let breaker = CircuitBreaker::builder().name("profiles").build()?;
//! breaker.force_open(); // the profile service is down
//! // When the profile service is unavailable (any policy rejection), serve a default.
//! let fallback = Fallback::on_rejections().value("guest".to_string());
//! let profile = fallback.recover(breaker.call(|| async { Ok::<_, &str>("alice".to_string()) }).await).await;
//! assert_eq!(profile, Ok("guest".to_string()));
//! // An error of the operation itself is not a rejection: it passes through.
//! breaker.close();
//! let failed = fallback.recover(breaker.call(|| async { Err::<String, _>("bad request") }).await).await;
//! assert!(failed.is_err());
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;

use crate::error::Error;
use crate::predicate::{Always, Predicate};

/// Handles only policy rejections: the call was refused without running (circuit open,
/// bulkhead full, rate limited, insufficient capacity). See [`Error::is_rejection`]. A retry
/// that kept meeting a rejection (a pipeline with `retry_rejections`) and gave up counts by
/// its last error: the circuit is still open, so the fallback applies.
///
/// ```
/// use palisade::fallback::Rejections;
/// use palisade::predicate::Predicate;
/// use palisade::Error;
/// let failed: Error<()> = Error::Operation(());
/// assert!(!Rejections.test(&failed));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Rejections;

impl<E> Predicate<Error<E>> for Rejections {
    #[inline]
    fn test(&self, error: &Error<E>) -> bool {
        match error {
            Error::RetriesExhausted { last_error, .. } => self.test(last_error),
            other => other.is_rejection(),
        }
    }
}

/// A fallback: which failures it handles (`H`) and what it answers (`A`). Build one with
/// [`Fallback::on_errors`], [`Fallback::on_rejections`] or [`Fallback::on`]. Cheap to clone
/// when its parts are.
///
/// ```
/// use palisade::fallback::Fallback;
/// let fallback = Fallback::on_errors().with(|_error: palisade::Error<&str>| 0u32);
/// assert_eq!(fallback.call_blocking(|| Err("down")), Ok(0));
/// ```
#[derive(Clone, Copy)]
pub struct Fallback<H, A> {
    handles: H,
    action: A,
}

/// Chooses what a [`Fallback`] answers; start with [`Fallback::on_errors`],
/// [`Fallback::on_rejections`] or [`Fallback::on`].
///
/// ```
/// let builder = palisade::fallback::Fallback::on_rejections();
/// let fallback = builder.value(Vec::<u8>::new());
/// # let _ = fallback;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FallbackBuilder<H> {
    handles: H,
}

impl Fallback<(), ()> {
    /// A fallback for every error: the operation's own and every policy's.
    ///
    /// ```
    /// let f = palisade::fallback::Fallback::on_errors().value(1);
    /// assert_eq!(f.call_blocking(|| Err::<i32, _>("boom")), Ok(1));
    /// ```
    pub fn on_errors() -> FallbackBuilder<Always> {
        FallbackBuilder { handles: Always }
    }

    /// A fallback for policy rejections only (circuit open, bulkhead full, rate limited):
    /// "the circuit breaker is open, use the cache".
    ///
    /// ```
    /// let f = palisade::fallback::Fallback::on_rejections().value(1);
    /// // The operation's own error is not a rejection.
    /// assert!(f.call_blocking(|| Err::<i32, _>("boom")).is_err());
    /// ```
    pub fn on_rejections() -> FallbackBuilder<Rejections> {
        FallbackBuilder {
            handles: Rejections,
        }
    }

    /// A fallback for the errors `handles` says yes to.
    ///
    /// ```
    /// use palisade::Error;
    /// let f = palisade::fallback::Fallback::on(|e: &Error<u16>| matches!(e, Error::Operation(503)))
    ///     .value("cached");
    /// assert_eq!(f.call_blocking(|| Err(503)), Ok("cached"));
    /// assert!(f.call_blocking(|| Err(400)).is_err());
    /// ```
    pub fn on<H>(handles: H) -> FallbackBuilder<H> {
        FallbackBuilder { handles }
    }
}

impl<H> FallbackBuilder<H> {
    /// Answers with a clone of `value`.
    ///
    /// ```
    /// let f = palisade::fallback::Fallback::on_errors().value(String::from("n/a"));
    /// assert_eq!(f.call_blocking(|| Err::<String, _>(())), Ok("n/a".to_string()));
    /// ```
    pub fn value<T: Clone>(self, value: T) -> Fallback<H, Value<T>> {
        Fallback {
            handles: self.handles,
            action: Value(value),
        }
    }

    /// Answers with `f(error)`.
    ///
    /// ```
    /// use palisade::Error;
    /// let f = palisade::fallback::Fallback::on_errors()
    ///     .with(|e: Error<&str>| format!("degraded: {e}"));
    /// assert_eq!(f.call_blocking(|| Err("down")), Ok("degraded: down".to_string()));
    /// ```
    pub fn with<F>(self, f: F) -> Fallback<H, With<F>> {
        Fallback {
            handles: self.handles,
            action: With(f),
        }
    }

    /// Answers with `f(error).await` — for a fallback that reads a cache or a replica.
    /// Async calls only.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use palisade::Error;
    /// let f = palisade::fallback::Fallback::on_errors()
    ///     .with_async(|_e: Error<&str>| async { "from cache" });
    /// assert_eq!(f.call(|| async { Err("down") }).await, Ok("from cache"));
    /// # }
    /// ```
    pub fn with_async<F>(self, f: F) -> Fallback<H, WithAsync<F>> {
        Fallback {
            handles: self.handles,
            action: WithAsync(f),
        }
    }
}

/// A fixed fallback value (cloned for each use). See [`FallbackBuilder::value`].
///
/// ```
/// let f = palisade::fallback::Fallback::on_errors().value(3);
/// # let _ = f;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Value<T>(T);

/// A fallback computed from the error. See [`FallbackBuilder::with`].
///
/// ```
/// let f = palisade::fallback::Fallback::on_errors().with(|_: palisade::Error<()>| 3);
/// # let _ = f;
/// ```
#[derive(Clone, Copy)]
pub struct With<F>(F);

/// A fallback computed asynchronously from the error. See [`FallbackBuilder::with_async`].
///
/// ```
/// let f = palisade::fallback::Fallback::on_errors().with_async(|_: palisade::Error<()>| async { 3 });
/// # let _ = f;
/// ```
#[derive(Clone, Copy)]
pub struct WithAsync<F>(F);

/// What a fallback answers, given the error it handles. Implemented by [`Value`], [`With`]
/// and [`WithAsync`]; sealed.
///
/// ```
/// use palisade::fallback::{Fallback, Action};
/// fn takes<A: Action<u8, ()>>(_: &Fallback<palisade::predicate::Always, A>) {}
/// takes(&Fallback::on_errors().value(1u8));
/// ```
pub trait Action<T, E>: sealed::Sealed {
    /// The answer, computed asynchronously.
    fn answer(&self, error: Error<E>) -> impl Future<Output = T>;
}

/// An [`Action`] that can answer without awaiting: [`Value`] and [`With`].
///
/// ```
/// use palisade::fallback::{BlockingAction, Fallback};
/// fn takes<A: BlockingAction<u8, ()>>(_: &Fallback<palisade::predicate::Always, A>) {}
/// takes(&Fallback::on_errors().with(|_| 1u8));
/// ```
pub trait BlockingAction<T, E>: Action<T, E> {
    /// The answer.
    fn answer_blocking(&self, error: Error<E>) -> T;
}

mod sealed {
    pub trait Sealed {}
    impl<T> Sealed for super::Value<T> {}
    impl<F> Sealed for super::With<F> {}
    impl<F> Sealed for super::WithAsync<F> {}
}

impl<T: Clone, E> Action<T, E> for Value<T> {
    fn answer(&self, _: Error<E>) -> impl Future<Output = T> {
        std::future::ready(self.0.clone())
    }
}

impl<T: Clone, E> BlockingAction<T, E> for Value<T> {
    fn answer_blocking(&self, _: Error<E>) -> T {
        self.0.clone()
    }
}

impl<T, E, F: Fn(Error<E>) -> T> Action<T, E> for With<F> {
    fn answer(&self, error: Error<E>) -> impl Future<Output = T> {
        std::future::ready((self.0)(error))
    }
}

impl<T, E, F: Fn(Error<E>) -> T> BlockingAction<T, E> for With<F> {
    fn answer_blocking(&self, error: Error<E>) -> T {
        (self.0)(error)
    }
}

impl<T, E, F, Fut> Action<T, E> for WithAsync<F>
where
    F: Fn(Error<E>) -> Fut,
    Fut: Future<Output = T>,
{
    fn answer(&self, error: Error<E>) -> impl Future<Output = T> {
        (self.0)(error)
    }
}

impl<H, A> Fallback<H, A> {
    /// Replaces a handled error in `result` with the fallback's answer; anything else
    /// passes through unchanged. This is how a [`Pipeline`](crate::pipeline::Pipeline)
    /// applies its fallback.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use palisade::Error;
    /// let f = palisade::fallback::Fallback::on_errors().value(0);
    /// assert_eq!(f.recover(Err::<i32, Error<()>>(Error::Operation(()))).await, Ok(0));
    /// assert_eq!(f.recover(Ok::<i32, Error<()>>(5)).await, Ok(5));
    /// # }
    /// ```
    pub async fn recover<T, E>(&self, result: Result<T, Error<E>>) -> Result<T, Error<E>>
    where
        H: Predicate<Error<E>>,
        A: Action<T, E>,
    {
        match result {
            Err(error) if self.handles.test(&error) => Ok(self.action.answer(error).await),
            other => other,
        }
    }

    /// [`recover`](Self::recover) for blocking code (fixed values and plain functions).
    ///
    /// ```
    /// use palisade::Error;
    /// let f = palisade::fallback::Fallback::on_errors().value(0);
    /// assert_eq!(f.recover_blocking(Err::<i32, Error<()>>(Error::Operation(()))), Ok(0));
    /// ```
    pub fn recover_blocking<T, E>(&self, result: Result<T, Error<E>>) -> Result<T, Error<E>>
    where
        H: Predicate<Error<E>>,
        A: BlockingAction<T, E>,
    {
        match result {
            Err(error) if self.handles.test(&error) => Ok(self.action.answer_blocking(error)),
            other => other,
        }
    }

    /// Runs the future `operation` makes; if it fails in a handled way (its error becomes
    /// [`Error::Operation`]), answers with the fallback instead.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let f = palisade::fallback::Fallback::on_errors().value(vec![]);
    /// let recommendations = f.call(|| async { Err::<Vec<u32>, _>("model down") }).await;
    /// assert_eq!(recommendations, Ok(vec![]));
    /// # }
    /// ```
    pub async fn call<T, E, F, Fut>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        H: Predicate<Error<E>>,
        A: Action<T, E>,
    {
        self.recover(operation().await.map_err(Error::Operation))
            .await
    }

    /// Runs `operation`; if it fails in a handled way, answers with the fallback instead.
    ///
    /// ```
    /// let f = palisade::fallback::Fallback::on_errors().value(-1);
    /// assert_eq!(f.call_blocking(|| "x".parse::<i32>()), Ok(-1));
    /// ```
    pub fn call_blocking<T, E, F>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
        H: Predicate<Error<E>>,
        A: BlockingAction<T, E>,
    {
        self.recover_blocking(operation().map_err(Error::Operation))
    }
}

impl<H, A> fmt::Debug for Fallback<H, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("handles", &std::any::type_name::<H>())
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Debug for With<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("With(..)")
    }
}

impl<F> fmt::Debug for WithAsync<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WithAsync(..)")
    }
}
