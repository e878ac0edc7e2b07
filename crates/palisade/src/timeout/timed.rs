//! [`Timed`]: an async operation raced against its deadline on the policy's clock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Timeout, TimeoutScope};
use crate::clock::{Instant, Sleep};
use crate::error::Error;

/// Which limit a [`Timed`] enforces, as a type: the scope its error and event carry costs the
/// future no byte.
pub(crate) trait Scope {
    const SCOPE: TimeoutScope;
}

/// A standalone [`Timeout`]'s limit on the call it wraps.
pub(crate) struct CallScope;
/// A pipeline's per-attempt limit.
pub(crate) struct AttemptScope;
/// A pipeline's total limit.
pub(crate) struct TotalScope;

impl Scope for CallScope {
    const SCOPE: TimeoutScope = TimeoutScope::Call;
}
impl Scope for AttemptScope {
    const SCOPE: TimeoutScope = TimeoutScope::Attempt;
}
impl Scope for TotalScope {
    const SCOPE: TimeoutScope = TimeoutScope::Total;
}

/// An operation's error as the operation's [`Error`].
pub(crate) fn operation_result<T, E>(result: Result<T, E>) -> Result<T, Error<E>> {
    result.map_err(Error::Operation)
}

pin_project_lite::pin_project! {
    /// `work` raced against an optional timeout: the one future behind [`Timeout::call`] and
    /// the pipeline's timeouts. A hand-written future rather than an `async fn`, so `work` is
    /// stored exactly once (an `async fn` taking a future by value keeps the argument and the
    /// pinned copy side by side, and nested timeouts multiplied the size of the caller's
    /// future). Polls `work` first, so a `work` ready at the same instant as the timer is in
    /// time. On timeout `work` is dropped in place before the event is published and the error
    /// returned. No allocation.
    ///
    /// The deadline is fixed when the call starts (`now + limit` on the policy's clock); the
    /// timer that waits for it is created only when `work` first has to wait — a call that
    /// completes on its first poll never touches a timer.
    pub(crate) struct Timed<'a, W, M, S> {
        #[pin]
        work: Option<W>,
        #[pin]
        timer: Option<Sleep>,
        limit: Option<(&'a Timeout, Instant)>,
        map: M,
        scope: S,
    }
}

impl<'a, W, M, S> Timed<'a, W, M, S> {
    /// `work` bounded by `policy`'s limit from now (none: `work` alone), its output turned into
    /// the call's result by `map`; a timeout reports `scope`.
    #[inline]
    pub(crate) fn new(work: W, policy: Option<&'a Timeout>, map: M, scope: S) -> Self {
        Self::started(work, policy.map(|p| (p, p.clock().now())), map, scope)
    }

    /// [`new`](Self::new) for a call that started at `start`, a reading of the policy's
    /// clock taken by the caller (a pipeline reads its clock once for every decision made
    /// before anything waited).
    #[inline]
    pub(crate) fn started(
        work: W,
        policy: Option<(&'a Timeout, Instant)>,
        map: M,
        scope: S,
    ) -> Self {
        Timed {
            work: Some(work),
            timer: None,
            limit: policy.map(|(p, start)| (p, start.saturating_add(p.limit()))),
            map,
            scope,
        }
    }
}

impl<W, M, S, T, E> Future for Timed<'_, W, M, S>
where
    W: Future,
    M: Fn(W::Output) -> Result<T, Error<E>>,
    S: Scope,
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
        let Some((policy, deadline)) = *this.limit else {
            return Poll::Pending;
        };
        if this.timer.is_none() {
            this.timer.set(Some(policy.clock().sleep_until(deadline)));
        }
        if let Some(timer) = this.timer.as_mut().as_pin_mut()
            && timer.poll(cx).is_ready()
        {
            // Cancel the operation (its destructors run now), then tell.
            this.work.set(None);
            this.timer.set(None);
            return Poll::Ready(Err(policy.timed_out(S::SCOPE)));
        }
        Poll::Pending
    }
}
