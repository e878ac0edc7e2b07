//! What a bulkhead publishes and how it refuses: [`BulkheadEvent`], [`Rejected`], [`RejectReason`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
pub use crate::error::reason::RejectReason;

/// A call a bulkhead turned away without running it. Converts into
/// [`Error::BulkheadFull`].
///
/// ```
/// use palisade::bulkhead::{Bulkhead, RejectReason};
/// let bulkhead = Bulkhead::builder().name("db").max_concurrent(1).build()?;
/// let _held = bulkhead.try_acquire()?;
/// let rejected = bulkhead.try_acquire().unwrap_err();
/// assert_eq!((rejected.name(), rejected.max_concurrent()), ("db", 1));
/// assert_eq!(rejected.reason(), RejectReason::Full);
/// let err: palisade::Error<std::io::Error> = rejected.into();
/// assert!(err.is_rejection());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub(super) name: Arc<str>,
    pub(super) max_concurrent: usize,
    pub(super) reason: RejectReason,
}

impl Rejected {
    /// The bulkhead's name.
    ///
    /// ```
    /// # let b = palisade::bulkhead::Bulkhead::builder().name("x").max_concurrent(1).build()?;
    /// # let _held = b.try_acquire()?;
    /// assert_eq!(b.try_acquire().unwrap_err().name(), "x");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bulkhead's maximum number of concurrent calls.
    ///
    /// ```
    /// # let b = palisade::bulkhead::Bulkhead::builder().max_concurrent(1).build()?;
    /// # let _held = b.try_acquire()?;
    /// assert_eq!(b.try_acquire().unwrap_err().max_concurrent(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// Why the call was turned away.
    ///
    /// ```
    /// # use palisade::bulkhead::RejectReason;
    /// # let b = palisade::bulkhead::Bulkhead::builder().max_concurrent(1).build()?;
    /// # let _held = b.try_acquire()?;
    /// assert_eq!(b.try_acquire().unwrap_err().reason(), RejectReason::Full);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reason(&self) -> RejectReason {
        self.reason
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::fmt_bulkhead_full(f, &self.name, self.max_concurrent, self.reason)
    }
}

impl std::error::Error for Rejected {}

impl<E> From<Rejected> for Error<E> {
    fn from(rejected: Rejected) -> Self {
        Error::BulkheadFull {
            name: rejected.name,
            max_concurrent: rejected.max_concurrent,
            reason: rejected.reason,
        }
    }
}

/// What a bulkhead did, published as [`Event::Bulkhead`](crate::event::Event::Bulkhead).
///
/// ```
/// use palisade::bulkhead::BulkheadEvent;
/// let e = BulkheadEvent::Released { name: "db" };
/// assert_eq!(e.name(), "db");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum BulkheadEvent<'a> {
    /// A call got a slot, at once (`waited` zero) or after waiting in the queue.
    Permitted {
        /// The bulkhead's name.
        name: &'a str,
        /// Time spent in the queue, on the policy's clock.
        waited: Duration,
    },
    /// A call was turned away.
    Rejected {
        /// The bulkhead's name.
        name: &'a str,
        /// Why.
        reason: RejectReason,
    },
    /// A call gave its slot back (it finished, panicked or was dropped).
    Released {
        /// The bulkhead's name.
        name: &'a str,
    },
}

impl<'a> BulkheadEvent<'a> {
    /// The name of the policy that published the event.
    ///
    /// ```
    /// # use palisade::bulkhead::{BulkheadEvent, RejectReason};
    /// let e = BulkheadEvent::Rejected { name: "x", reason: RejectReason::Full };
    /// assert_eq!(e.name(), "x");
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            BulkheadEvent::Permitted { name, .. }
            | BulkheadEvent::Rejected { name, .. }
            | BulkheadEvent::Released { name } => name,
        }
    }
}
