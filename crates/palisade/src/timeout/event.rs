//! The events a timeout publishes.

use std::time::Duration;

use super::TimeoutScope;

/// What a timeout policy did, published as [`Event::Timeout`](crate::event::Event::Timeout).
///
/// ```
/// use palisade::timeout::TimeoutEvent;
/// use std::time::Duration;
/// use palisade::timeout::TimeoutScope;
/// let e = TimeoutEvent::TimedOut { name: "search", scope: TimeoutScope::Call, limit: Duration::from_secs(1) };
/// assert_eq!((e.name(), e.scope()), ("search", TimeoutScope::Call));
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
        /// Which limit fired: a standalone timeout's, a pipeline's per-attempt or total one.
        scope: TimeoutScope,
        /// The limit that fired.
        limit: Duration,
    },
    /// A blocking operation returned after its limit: the work was done, but its result was
    /// replaced by [`Error::Timeout`](crate::Error::Timeout).
    FinishedLate {
        /// The policy's name.
        name: &'a str,
        /// Which limit was exceeded: a standalone timeout's, a pipeline's per-attempt or
        /// total one.
        scope: TimeoutScope,
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
    /// # use palisade::timeout::TimeoutScope;
    /// let e = TimeoutEvent::FinishedLate {
    ///     name: "db",
    ///     scope: TimeoutScope::Attempt,
    ///     limit: Duration::from_secs(1),
    ///     elapsed: Duration::from_secs(2),
    /// };
    /// assert_eq!(e.name(), "db");
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            TimeoutEvent::TimedOut { name, .. } | TimeoutEvent::FinishedLate { name, .. } => name,
        }
    }

    /// Which limit the event is about: a standalone timeout's, a pipeline's per-attempt or
    /// total one.
    ///
    /// ```
    /// # use palisade::timeout::{TimeoutEvent, TimeoutScope};
    /// # use std::time::Duration;
    /// let e = TimeoutEvent::TimedOut { name: "db", scope: TimeoutScope::Total, limit: Duration::from_secs(9) };
    /// assert_eq!(e.scope(), TimeoutScope::Total);
    /// ```
    pub fn scope(&self) -> TimeoutScope {
        match self {
            TimeoutEvent::TimedOut { scope, .. } | TimeoutEvent::FinishedLate { scope, .. } => {
                *scope
            }
        }
    }
}
