//! The events a timeout publishes.

use std::time::Duration;

/// What a timeout policy did, published as [`Event::Timeout`](crate::event::Event::Timeout).
///
/// ```
/// use palisade::timeout::TimeoutEvent;
/// use std::time::Duration;
/// let e = TimeoutEvent::TimedOut { name: "search", limit: Duration::from_secs(1) };
/// assert_eq!(e.name(), "search");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum TimeoutEvent<'a> {
    /// The limit passed while the operation was running: an async operation was dropped
    /// (cancelled); a helper thread was abandoned (its work continues, its result is
    /// discarded). The caller got [`Error::Timeout`](crate::Error::Timeout).
    TimedOut {
        /// The policy's name.
        name: &'a str,
        /// The limit that fired.
        limit: Duration,
    },
    /// A blocking operation returned after its limit: the work was done, but its result was
    /// replaced by [`Error::Timeout`](crate::Error::Timeout).
    FinishedLate {
        /// The policy's name.
        name: &'a str,
        /// The limit that was exceeded.
        limit: Duration,
        /// How long the operation took.
        elapsed: Duration,
    },
}

impl<'a> TimeoutEvent<'a> {
    /// The name of the policy that published the event.
    ///
    /// ```
    /// # use palisade::timeout::TimeoutEvent;
    /// # use std::time::Duration;
    /// let e = TimeoutEvent::FinishedLate { name: "db", limit: Duration::from_secs(1), elapsed: Duration::from_secs(2) };
    /// assert_eq!(e.name(), "db");
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            TimeoutEvent::TimedOut { name, .. } | TimeoutEvent::FinishedLate { name, .. } => name,
        }
    }
}
