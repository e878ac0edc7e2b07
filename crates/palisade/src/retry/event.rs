//! The events retry publishes, and why it stops.

use std::any::Any;
use std::fmt;
use std::time::Duration;

pub use crate::error::reason::StopReason;

/// What a retry policy did, published through [`crate::event`] as
/// [`Event::Retry`](crate::event::Event::Retry).
///
/// Per call, the order is: zero or more `RetryScheduled`, then exactly one of `Succeeded` or
/// `GaveUp`.
///
/// ```
/// use palisade::retry::{Cause, RetryEvent};
/// use std::time::Duration;
/// let e = RetryEvent::RetryScheduled { name: "db", attempt: 1, delay: Duration::from_secs(1), cause: Cause::Result };
/// assert_eq!(e.name(), "db");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RetryEvent<'a> {
    /// Attempt `attempt` (1-based) failed; the next one starts after `delay`.
    RetryScheduled {
        /// The policy's name.
        name: &'a str,
        /// The number of the attempt that just failed.
        attempt: u32,
        /// The delay before the next attempt.
        delay: Duration,
        /// What the failed attempt returned.
        cause: Cause<'a>,
    },
    /// The call succeeded on attempt `attempts`.
    Succeeded {
        /// The policy's name.
        name: &'a str,
        /// Attempts made, the successful one included.
        attempts: u32,
        /// From the start of the first attempt to the end of the last.
        total_duration: Duration,
    },
    /// Retry stopped without success.
    GaveUp {
        /// The policy's name.
        name: &'a str,
        /// Attempts made.
        attempts: u32,
        /// Why it stopped.
        reason: StopReason,
        /// What the last attempt returned.
        cause: Cause<'a>,
    },
}

impl<'a> RetryEvent<'a> {
    /// The name of the policy that published the event.
    ///
    /// ```
    /// # use palisade::retry::RetryEvent;
    /// let e = RetryEvent::Succeeded { name: "cache", attempts: 1, total_duration: Default::default() };
    /// assert_eq!(e.name(), "cache");
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            RetryEvent::RetryScheduled { name, .. }
            | RetryEvent::Succeeded { name, .. }
            | RetryEvent::GaveUp { name, .. } => name,
        }
    }
}

/// What an attempt returned that made retry act: an error or a result the result predicate
/// rejected. The error is shown through `Debug` (so a listener can log any error type) and
/// can be had back as its own type with [`error`](Cause::error) or
/// [`downcast`](Cause::downcast).
///
/// ```
/// use palisade::retry::Cause;
/// let err = std::io::Error::other("reset");
/// let cause = Cause::Error(&err);
/// assert!(format!("{cause:?}").contains("reset"));
/// assert_eq!(cause.error::<std::io::Error>().map(|e| e.kind()), Some(std::io::ErrorKind::Other));
/// ```
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Cause<'a> {
    /// The attempt returned this error.
    Error(&'a dyn ErrorValue),
    /// The attempt returned `Ok`, but the result predicate asked for a retry.
    Result,
}

/// An error retry can report: any `Debug + 'static` type (every error type without borrowed
/// data). Implemented for all of them; it lets a [`Cause`] hand the error back typed.
///
/// ```
/// use palisade::retry::ErrorValue;
/// fn takes(_: &dyn ErrorValue) {}
/// takes(&std::io::Error::other("x"));
/// ```
pub trait ErrorValue: fmt::Debug + Any {}

impl<T: fmt::Debug + Any> ErrorValue for T {}

impl<'a> Cause<'a> {
    /// The attempt's error as the operation's own error type `E`: the error itself if it is
    /// an `E`, or the operation error inside a pipeline's [`Error<E>`](crate::Error). `None`
    /// for a rejected result, another type, or a policy's error (a timeout).
    ///
    /// ```
    /// use palisade::retry::Cause;
    /// #[derive(Debug, PartialEq)]
    /// enum DbError { Busy }
    /// let err: palisade::Error<DbError> = palisade::Error::Operation(DbError::Busy);
    /// assert_eq!(Cause::Error(&err).error::<DbError>(), Some(&DbError::Busy));
    /// assert_eq!(Cause::Result.error::<DbError>(), None);
    /// ```
    pub fn error<E: 'static>(&self) -> Option<&'a E> {
        self.downcast::<E>().or_else(|| {
            self.downcast::<crate::Error<E>>()
                .and_then(crate::Error::operation_error)
        })
    }

    /// The attempt's error if it is exactly a `T` (in a pipeline, a [`crate::Error<E>`]).
    ///
    /// ```
    /// use palisade::retry::Cause;
    /// let err: palisade::Error<std::io::Error> = palisade::Error::Operation(std::io::Error::other("x"));
    /// assert!(Cause::Error(&err).downcast::<palisade::Error<std::io::Error>>().is_some());
    /// ```
    pub fn downcast<T: 'static>(&self) -> Option<&'a T> {
        match *self {
            Cause::Error(error) => (error as &dyn Any).downcast_ref::<T>(),
            Cause::Result => None,
        }
    }
}

impl fmt::Debug for Cause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Error(e) => f.debug_tuple("Error").field(e).finish(),
            Cause::Result => f.write_str("Result"),
        }
    }
}
