//! Permits: the admission of one call, for code that cannot be wrapped in a closure.

use std::fmt;
use std::sync::Arc;

use super::Inner;
use super::event::Verdict;
use super::store::{StateStore, Store, Ticket};

/// One admitted call. Record its outcome with one of the `record_*` methods; dropping it
/// unrecorded gives its admission back (a trial call's slot) and records nothing.
///
/// [`CircuitBreaker::try_acquire`](super::CircuitBreaker::try_acquire) lends one that
/// borrows the breaker; [`try_acquire_owned`](super::CircuitBreaker::try_acquire_owned) one
/// that owns a handle (`Permit<'static>`), to move into a task or a callback.
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
/// let b = CircuitBreaker::builder().build()?;
/// let permit = b.try_acquire()?;
/// permit.record_success();
/// assert_eq!(b.stats().successful_calls, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a permit records nothing unless one of its record_* methods is called"]
pub struct Permit<'a, S: StateStore = Store> {
    breaker: Handle<'a, S>,
    ticket: Option<Ticket>,
}

enum Handle<'a, S> {
    Borrowed(&'a Inner<S>),
    Owned(Arc<Inner<S>>),
}

impl<S> Handle<'_, S> {
    #[inline]
    fn inner(&self) -> &Inner<S> {
        match self {
            Handle::Borrowed(inner) => inner,
            Handle::Owned(inner) => inner,
        }
    }
}

impl<'a, S: StateStore> Permit<'a, S> {
    #[inline]
    pub(super) fn borrowed(inner: &'a Inner<S>, ticket: Ticket) -> Self {
        Permit {
            breaker: Handle::Borrowed(inner),
            ticket: Some(ticket),
        }
    }

    pub(super) fn owned(inner: Arc<Inner<S>>, ticket: Ticket) -> Permit<'static, S> {
        Permit {
            breaker: Handle::Owned(inner),
            ticket: Some(ticket),
        }
    }

    /// Records a success.
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// b.try_acquire()?.record_success();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn record_success(self) {
        self.record(Verdict::Success)
    }

    /// Records a failure.
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().failure_threshold(1).build()?;
    /// b.try_acquire()?.record_failure();
    /// assert!(b.try_acquire().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn record_failure(self) {
        self.record(Verdict::Failure)
    }

    /// Records an outcome that counts as neither success nor failure.
    ///
    /// ```
    /// let b = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// b.try_acquire()?.record_ignored();
    /// assert_eq!(b.stats().ignored_calls, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn record_ignored(self) {
        self.record(Verdict::Ignored)
    }

    /// Records an outcome classified as `verdict`.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, Verdict};
    /// let b = CircuitBreaker::builder().build()?;
    /// b.try_acquire()?.record(Verdict::Success);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn record(mut self, verdict: Verdict) {
        if let Some(ticket) = self.ticket.take() {
            let inner = self.breaker.inner();
            inner.store.complete(&inner.core, ticket, verdict);
        }
    }

    /// The admission this permit holds (`None` once recorded).
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, Role};
    /// let b = CircuitBreaker::builder().build()?;
    /// let permit = b.try_acquire()?;
    /// assert_eq!(permit.ticket().map(|t| t.role()), Some(Role::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ticket(&self) -> Option<Ticket> {
        self.ticket
    }
}

impl<S: StateStore> Drop for Permit<'_, S> {
    #[inline]
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            let inner = self.breaker.inner();
            inner.store.release(&inner.core, ticket);
        }
    }
}

impl<S: StateStore> fmt::Debug for Permit<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.inner().core.name())
            .field("ticket", &self.ticket)
            .finish()
    }
}
