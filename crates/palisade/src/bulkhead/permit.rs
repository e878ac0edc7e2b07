//! [`BulkheadPermit`]: an owned slot, given back when dropped.

use std::fmt;
use std::sync::Arc;

use super::Shared;

/// One slot of a [`Bulkhead`](super::Bulkhead), held until dropped: owned, `'static` and `Send`, so it can move
/// into a spawned task, a thread or a response body. Dropping it — normally, by a panic's
/// unwinding or with a cancelled future — gives the slot back (to the first waiter, if any).
///
/// ```
/// use palisade::bulkhead::Bulkhead;
/// let b = Bulkhead::builder().max_concurrent(1).build()?;
/// let permit = b.try_acquire()?;
/// std::thread::spawn(move || drop(permit)).join().unwrap();
/// assert_eq!(b.available(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the slot is given back as soon as the permit is dropped"]
pub struct BulkheadPermit {
    pub(super) shared: Arc<Shared>,
}

impl BulkheadPermit {
    /// The name of the bulkhead this permit belongs to.
    ///
    /// ```
    /// let b = palisade::bulkhead::Bulkhead::builder().name("db").build()?;
    /// assert_eq!(b.try_acquire()?.bulkhead_name(), "db");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bulkhead_name(&self) -> &str {
        &self.shared.name
    }
}

impl Drop for BulkheadPermit {
    fn drop(&mut self) {
        self.shared.released();
    }
}

impl fmt::Debug for BulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("bulkhead", &self.shared.name)
            .finish()
    }
}

/// A slot borrowed for the length of a [`call`](Bulkhead::call): no reference count to touch.
pub(super) struct Slot<'a>(pub(super) &'a Shared);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.released();
    }
}
