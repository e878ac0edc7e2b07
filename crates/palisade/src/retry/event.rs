//! The events retry publishes, and why it stops.

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

/// What an attempt returned that made retry act: an error (shown through `Debug`, so a
/// listener can log any error type) or a result the result predicate rejected.
///
/// ```
/// use palisade::retry::Cause;
/// let err = std::io::Error::other("reset");
/// let cause = Cause::Error(&err);
/// assert!(format!("{cause:?}").contains("reset"));
/// ```
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Cause<'a> {
    /// The attempt returned this error.
    Error(&'a dyn fmt::Debug),
    /// The attempt returned `Ok`, but the result predicate asked for a retry.
    Result,
}

impl fmt::Debug for Cause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Error(e) => f.debug_tuple("Error").field(e).finish(),
            Cause::Result => f.write_str("Result"),
        }
    }
}
