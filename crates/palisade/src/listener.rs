//! The listener machinery every policy publishes through, generic over the kind of policy.
//!
//! # Why generic
//!
//! Each policy has its own event type ([`RetryEvent`](crate::retry::RetryEvent),
//! [`BulkheadEvent`](crate::bulkhead::BulkheadEvent), …) and publishes only that. The one enum
//! that gathers them, [`Event`](crate::event::Event), belongs to the composition layer above the
//! policies: a policy that named it would depend on every other policy. So a policy keeps
//! [`Listeners<K>`], where `K` is the policy type itself (its [`Kind`] names its event type),
//! and anything that implements [`Listen<K>`] can listen. Every
//! [`Listener`](crate::event::Listener) of the composition layer — a closure over `&Event`,
//! the metrics and tracing listeners — implements `Listen<K>` for every policy, so users
//! never see this seam: `builder.on_event(|e: &Event<'_>| …)` works on every builder.
//!
//! # Cost
//!
//! With no listener registered, publishing is a single `Option` check: the event is never
//! built. With listeners, the event is built once on the stack and passed by reference to
//! each (one dynamic call each), on the caller's thread.
//!
//! ```
//! use palisade::event::Event;
//! use palisade::listener::Listeners;
//! use palisade::retry::{Retry, RetryEvent};
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//!
//! let seen = Arc::new(AtomicU32::new(0));
//! let count = seen.clone();
//! let mut listeners: Listeners<Retry> = Listeners::new();
//! listeners.push(move |_: &Event<'_>| { count.fetch_add(1, Ordering::Relaxed); });
//! listeners.emit(|| RetryEvent::Succeeded { name: "db", attempts: 1, total_duration: Default::default() });
//! assert_eq!(seen.load(Ordering::Relaxed), 1);
//! ```

use std::fmt;
use std::sync::Arc;

/// A kind of policy: names the event type it publishes. Implemented by each policy type
/// (`Retry`, `CircuitBreaker`, …) for [`Listeners`] and [`Listen`].
///
/// ```
/// use palisade::listener::Kind;
/// use palisade::timeout::{Timeout, TimeoutEvent, TimeoutScope};
/// fn event_of<K: Kind>(e: K::Event<'_>) -> K::Event<'_> { e }
/// let timed_out = TimeoutEvent::TimedOut { name: "t", scope: TimeoutScope::Call, limit: Default::default() };
/// let e: TimeoutEvent<'_> = event_of::<Timeout>(timed_out);
/// assert_eq!(e.name(), "t");
/// ```
pub trait Kind: 'static {
    /// The event this kind of policy publishes; it borrows from the call that made it.
    type Event<'a>: Copy + fmt::Debug;
}

/// Receives the events of policies of kind `K`.
///
/// Every [`Listener`](crate::event::Listener) implements it for every policy kind, so a
/// closure over `&Event` or a metrics listener serves them all; implement it directly for a
/// listener that only understands one kind.
///
/// ```
/// use palisade::listener::Listen;
/// use palisade::bulkhead::{Bulkhead, BulkheadEvent};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// /// Counts a bulkhead's rejections, nothing else.
/// #[derive(Default)]
/// struct Rejections(AtomicU64);
/// impl Listen<Bulkhead> for Rejections {
///     fn notify(&self, event: &BulkheadEvent<'_>) {
///         if matches!(event, BulkheadEvent::Rejected { .. }) {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
/// let bulkhead = Bulkhead::builder().max_concurrent(1).on_event(Rejections::default()).build()?;
/// # let _ = bulkhead;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub trait Listen<K: Kind>: Send + Sync + 'static {
    /// Called once per event, on the thread that made the call, before the call returns.
    fn notify(&self, event: &K::Event<'_>);
}

/// The listeners of one policy instance. Cheap to clone (one `Arc`); empty by default.
///
/// ```
/// use palisade::listener::Listeners;
/// use palisade::timeout::Timeout;
/// let listeners: Listeners<Timeout> = Listeners::new();
/// assert!(listeners.is_empty());
/// ```
pub struct Listeners<K: Kind> {
    list: Option<Arc<[Arc<dyn Listen<K>>]>>,
}

impl<K: Kind> Listeners<K> {
    /// No listeners.
    ///
    /// ```
    /// let l: palisade::listener::Listeners<palisade::retry::Retry> = palisade::listener::Listeners::new();
    /// assert_eq!(l.len(), 0);
    /// ```
    pub fn new() -> Self {
        Listeners { list: None }
    }

    /// Adds a listener. Done while building a policy, not on the call path.
    ///
    /// ```
    /// use palisade::event::Event;
    /// let mut l: palisade::listener::Listeners<palisade::retry::Retry> = Default::default();
    /// l.push(|_: &Event<'_>| {});
    /// assert_eq!(l.len(), 1);
    /// ```
    pub fn push(&mut self, listener: impl Listen<K>) {
        self.push_arc(Arc::new(listener));
    }

    /// Adds a listener shared with other policies (one metrics listener for all of them).
    ///
    /// ```
    /// use palisade::event::{Event, Listener};
    /// use palisade::listener::Listeners;
    /// use std::sync::Arc;
    /// let shared: Arc<dyn Listener> = Arc::new(|_: &Event<'_>| {});
    /// let mut a: Listeners<palisade::retry::Retry> = Listeners::new();
    /// let mut b: Listeners<palisade::bulkhead::Bulkhead> = Listeners::new();
    /// a.push_arc(shared.clone());
    /// b.push_arc(shared);
    /// assert_eq!(a.len() + b.len(), 2);
    /// ```
    pub fn push_arc<L: Listen<K> + ?Sized>(&mut self, listener: Arc<L>) {
        let listener: Arc<dyn Listen<K>> = Arc::new(Shared(listener));
        let mut all: Vec<Arc<dyn Listen<K>>> =
            self.list.iter().flat_map(|l| l.iter().cloned()).collect();
        all.push(listener);
        self.list = Some(all.into());
    }

    /// Whether nobody listens.
    ///
    /// ```
    /// let l: palisade::listener::Listeners<palisade::retry::Retry> = Default::default();
    /// assert!(l.is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.list.is_none()
    }

    /// How many listeners are registered.
    ///
    /// ```
    /// let l: palisade::listener::Listeners<palisade::retry::Retry> = Default::default();
    /// assert_eq!(l.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.list.as_ref().map_or(0, |l| l.len())
    }

    /// Publishes the event `make` builds to every listener; `make` runs only if someone
    /// listens.
    ///
    /// ```
    /// let l: palisade::listener::Listeners<palisade::retry::Retry> = Default::default();
    /// l.emit(|| unreachable!("not built when nobody listens"));
    /// ```
    #[inline]
    pub fn emit<'a>(&self, make: impl FnOnce() -> K::Event<'a>) {
        if let Some(list) = &self.list {
            let event = make();
            for listener in list.iter() {
                listener.notify(&event);
            }
        }
    }
}

impl<K: Kind> Default for Listeners<K> {
    fn default() -> Self {
        Listeners::new()
    }
}

impl<K: Kind> Clone for Listeners<K> {
    fn clone(&self) -> Self {
        Listeners {
            list: self.list.clone(),
        }
    }
}

impl<K: Kind> fmt::Debug for Listeners<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("len", &self.len())
            .finish()
    }
}

/// A closure over one policy kind's own events, as a [`Listen`] of that kind: for a listener
/// that wants, say, [`BulkheadEvent`](crate::bulkhead::BulkheadEvent)s without matching
/// [`Event`](crate::event::Event).
///
/// ```
/// use palisade::bulkhead::{Bulkhead, BulkheadEvent};
/// use palisade::listener::Callback;
/// let bulkhead = Bulkhead::builder()
///     .on_event(Callback(|e: &BulkheadEvent<'_>| if let BulkheadEvent::Rejected { name, .. } = e {
///         eprintln!("{name} is full");
///     }))
///     .build()?;
/// # let _ = bulkhead;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Copy)]
pub struct Callback<F>(pub F);

impl<K: Kind, F> Listen<K> for Callback<F>
where
    F: Fn(&K::Event<'_>) + Send + Sync + 'static,
{
    #[inline]
    fn notify(&self, event: &K::Event<'_>) {
        (self.0)(event)
    }
}

impl<F> fmt::Debug for Callback<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Callback")
    }
}

/// A listener held through an `Arc` someone else also holds.
struct Shared<L: ?Sized>(Arc<L>);

impl<K: Kind, L: Listen<K> + ?Sized> Listen<K> for Shared<L> {
    #[inline]
    fn notify(&self, event: &K::Event<'_>) {
        self.0.notify(event);
    }
}
