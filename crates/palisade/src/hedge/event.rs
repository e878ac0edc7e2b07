//! The events a hedge policy publishes.

use std::time::Duration;

/// What a hedge policy did, published as [`Event::Hedge`](crate::event::Event::Hedge).
///
/// Per call, the order is: zero or more `HedgeStarted`, then exactly one `Settled` (unless the
/// caller drops the call first).
///
/// ```
/// use palisade::hedge::{HedgeEvent, HedgeTrigger};
/// use std::time::Duration;
/// let e = HedgeEvent::HedgeStarted {
///     name: "search",
///     attempt: 2,
///     trigger: HedgeTrigger::Delay { delay: Duration::from_millis(50) },
/// };
/// assert_eq!(e.name(), "search");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HedgeEvent<'a> {
    /// Attempt `attempt` (2 for the first hedge) started while the call had no success yet.
    HedgeStarted {
        /// The policy's name.
        name: &'a str,
        /// The number of the attempt that started, counting the first one as 1.
        attempt: u32,
        /// What started it.
        trigger: HedgeTrigger,
    },
    /// The call ended: an attempt succeeded, or every attempt failed.
    Settled {
        /// The policy's name.
        name: &'a str,
        /// The attempt whose success was returned; `None` if every attempt failed (the call
        /// returned the last error).
        winner: Option<u32>,
        /// Attempts started, the first one included.
        attempts: u32,
    },
}

impl<'a> HedgeEvent<'a> {
    /// The name of the policy that published the event.
    ///
    /// ```
    /// # use palisade::hedge::HedgeEvent;
    /// let e = HedgeEvent::Settled { name: "search", winner: Some(1), attempts: 1 };
    /// assert_eq!(e.name(), "search");
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            HedgeEvent::HedgeStarted { name, .. } | HedgeEvent::Settled { name, .. } => name,
        }
    }
}

/// Why a hedged attempt started.
///
/// ```
/// use palisade::hedge::HedgeTrigger;
/// assert_ne!(HedgeTrigger::Failure, HedgeTrigger::Delay { delay: Default::default() });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HedgeTrigger {
    /// The latest attempt ran for `delay` without the call succeeding.
    Delay {
        /// The hedge delay this call used (fixed, or the percentile when the call started).
        delay: Duration,
    },
    /// An attempt failed while hedges remained: the next one starts at once.
    Failure,
}
