//! Bulkhead policy. (Skeleton: the event type the rest of the crate refers to; the policy lands
//! in this file.)

/// What a bulkhead policy did, published as [`Event::Bulkhead`](crate::event::Event::Bulkhead).
///
/// ```
/// use palisade::bulkhead::BulkheadEvent;
/// let e = BulkheadEvent::Placeholder { name: "x" };
/// assert_eq!(e.name(), "x");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum BulkheadEvent<'a> {
    /// Placeholder until the policy lands.
    Placeholder {
        /// The policy's name.
        name: &'a str,
    },
}

impl<'a> BulkheadEvent<'a> {
    /// The name of the policy that published the event.
    ///
    /// ```
    /// # use palisade::bulkhead::BulkheadEvent;
    /// assert_eq!(BulkheadEvent::Placeholder { name: "x" }.name(), "x");
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            BulkheadEvent::Placeholder { name } => name,
        }
    }
}
