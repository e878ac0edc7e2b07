//! Hedge policy. (Skeleton: the event type the rest of the crate refers to; the policy lands
//! in this file.)

/// What a hedge policy did, published as [`Event::Hedge`](crate::event::Event::Hedge).
///
/// ```
/// use palisade::hedge::HedgeEvent;
/// let e = HedgeEvent::Placeholder { name: "x" };
/// assert_eq!(e.name(), "x");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum HedgeEvent<'a> {
    /// Placeholder until the policy lands.
    Placeholder {
        /// The policy's name.
        name: &'a str,
    },
}

impl<'a> HedgeEvent<'a> {
    /// The name of the policy that published the event.
    ///
    /// ```
    /// # use palisade::hedge::HedgeEvent;
    /// assert_eq!(HedgeEvent::Placeholder { name: "x" }.name(), "x");
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            HedgeEvent::Placeholder { name } => name,
        }
    }
}
