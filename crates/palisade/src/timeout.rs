//! Timeout policy. (Skeleton: the event type the rest of the crate refers to; the policy lands
//! in this file.)

/// What a timeout policy did, published as [`Event::Timeout`](crate::event::Event::Timeout).
///
/// ```
/// use palisade::timeout::TimeoutEvent;
/// let e = TimeoutEvent::Placeholder { name: "x" };
/// assert_eq!(e.name(), "x");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum TimeoutEvent<'a> {
    /// Placeholder until the policy lands.
    Placeholder {
        /// The policy's name.
        name: &'a str,
    },
}

impl<'a> TimeoutEvent<'a> {
    /// The name of the policy that published the event.
    ///
    /// ```
    /// # use palisade::timeout::TimeoutEvent;
    /// assert_eq!(TimeoutEvent::Placeholder { name: "x" }.name(), "x");
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            TimeoutEvent::Placeholder { name } => name,
        }
    }
}
