//! Permits: the admission of one call, for code that cannot be wrapped in a closure.

use std::fmt;
use std::ops::Deref;

use super::event::Verdict;
use super::store::{StateStore, Ticket};

/// One admitted call. Record its outcome with one of the `record_*` methods; dropping the
/// permit without recording gives its slot back (a trial call's slot in HalfOpen) and records
/// nothing — so a cancelled future or a panic never leaves the breaker waiting.
///
/// `P` is `&S` for [`try_acquire`](super::CircuitBreaker::try_acquire) and `Arc<S>` for
/// [`try_acquire_owned`](super::CircuitBreaker::try_acquire_owned) (a permit that can move
/// into a task or a response callback).
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
/// let breaker = CircuitBreaker::builder().failure_threshold(1).build()?;
/// let permit = breaker.try_acquire()?;
/// permit.record_failure(); // one failure trips this breaker
/// assert!(breaker.try_acquire().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a permit records nothing unless one of its record_* methods is called"]
pub struct Permit<P>
where
    P: Deref,
    P::Target: StateStore,
{
    store: P,
    ticket: Option<Ticket>,
}

impl<P> Permit<P>
where
    P: Deref,
    P::Target: StateStore,
{
    #[inline]
    pub(super) fn new(store: P, ticket: Ticket) -> Self {
        Permit {
            store,
            ticket: Some(ticket),
        }
    }

    /// Records the call as a success.
    ///
    /// ```
    /// # let breaker = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// breaker.try_acquire()?.record_success();
    /// assert_eq!(breaker.stats().successful_calls, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn record_success(self) {
        self.record(Verdict::Success)
    }

    /// Records the call as a failure.
    ///
    /// ```
    /// # let breaker = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// breaker.try_acquire()?.record_failure();
    /// assert_eq!(breaker.stats().failed_calls, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn record_failure(self) {
        self.record(Verdict::Failure)
    }

    /// Records the call as neither success nor failure.
    ///
    /// ```
    /// # let breaker = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// breaker.try_acquire()?.record_ignored();
    /// assert_eq!(breaker.stats().ignored_calls, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn record_ignored(self) {
        self.record(Verdict::Ignored)
    }

    /// Records the call with the given verdict (see
    /// [`CircuitBreaker::classify`](super::CircuitBreaker::classify)).
    ///
    /// ```
    /// # use palisade::circuit_breaker::Verdict;
    /// # let breaker = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// let result: Result<(), &str> = Err("boom");
    /// breaker.try_acquire()?.record(breaker.classify(&result));
    /// assert_eq!(breaker.stats().failed_calls, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn record(mut self, verdict: Verdict) {
        if let Some(ticket) = self.ticket.take() {
            self.store.complete(ticket, verdict);
        }
    }

    /// The admission details.
    ///
    /// ```
    /// # use palisade::circuit_breaker::Role;
    /// # let breaker = palisade::circuit_breaker::CircuitBreaker::builder().build()?;
    /// let permit = breaker.try_acquire()?;
    /// assert_eq!(permit.ticket().map(|t| t.role()), Some(Role::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ticket(&self) -> Option<Ticket> {
        self.ticket
    }
}

impl<P> Drop for Permit<P>
where
    P: Deref,
    P::Target: StateStore,
{
    #[inline]
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.store.release(ticket);
        }
    }
}

impl<P> fmt::Debug for Permit<P>
where
    P: Deref,
    P::Target: StateStore,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.store.name())
            .field("ticket", &self.ticket)
            .finish()
    }
}
