//! Events: one listener mechanism that every policy publishes through.
//!
//! # Why one mechanism
//!
//! Logging, metrics, tracing and the reference docs' `on_retry` / `on_success` / `on_failure`
//! callbacks all want the same thing: to be told what a policy just did. Rather than one
//! callback style per policy, every policy publishes an [`Event`] to its [`Listeners`], and a
//! listener is any `Fn(&Event<'_>)` (or a type implementing [`Listener`]). One listener can
//! serve every policy in a process — that is how metrics exporters attach.
//!
//! # Cost
//!
//! With no listener registered, publishing is a single `Option` check: the event is never
//! built, nothing is allocated, nothing is dispatched. With listeners, each event is built
//! once on the stack and passed by reference to each listener (one dynamic call each).
//! Listeners run on the caller's thread, inside the call: keep them fast, and hand slow work
//! (network export) to a channel.
//!
//! ```
//! use palisade::event::Event;
//! use palisade::retry::{Retry, RetryEvent};
//! use std::sync::{Arc, Mutex};
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = seen.clone();
//! let retry = Retry::builder()
//!     .name("fetch")
//!     .on_event(move |event: &Event<'_>| {
//!         if let Event::Retry(RetryEvent::Succeeded { attempts, .. }) = event {
//!             log.lock().unwrap().push(format!("{} ok after {attempts}", event.policy_name()));
//!         }
//!     })
//!     .build()?;
//! retry.call_blocking(|| Ok::<_, std::io::Error>(42))?;
//! assert_eq!(*seen.lock().unwrap(), ["fetch ok after 1"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;

use crate::bulkhead::BulkheadEvent;
use crate::circuit_breaker::CircuitBreakerEvent;
use crate::hedge::HedgeEvent;
use crate::pipeline::PipelineEvent;
use crate::rate_limit::RateLimitEvent;
use crate::retry::RetryEvent;
use crate::timeout::TimeoutEvent;

/// Something a policy did. Each policy contributes one variant; later policies add more, so
/// matches need a wildcard arm.
///
/// Events borrow from the call that produced them (the error, the policy name); copy out what
/// you need to keep.
///
/// ```
/// use palisade::event::Event;
/// use palisade::retry::RetryEvent;
/// let event = Event::Retry(RetryEvent::Succeeded {
///     name: "db",
///     attempts: 1,
///     total_duration: std::time::Duration::ZERO,
/// });
/// assert_eq!(event.policy_name(), "db");
/// assert_eq!(event.policy_kind(), "retry");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A retry policy scheduled a retry, succeeded or gave up.
    Retry(RetryEvent<'a>),
    /// A circuit breaker changed state, rejected a call or recorded an outcome.
    CircuitBreaker(CircuitBreakerEvent<'a>),
    /// A rate limiter granted or refused permits.
    RateLimit(RateLimitEvent<'a>),
    /// A timeout fired.
    Timeout(TimeoutEvent<'a>),
    /// A bulkhead admitted, queued or rejected a call.
    Bulkhead(BulkheadEvent<'a>),
    /// A hedging policy started a hedged attempt or settled a call.
    Hedge(HedgeEvent<'a>),
    /// A pipeline finished a call (after all of its policies).
    Pipeline(PipelineEvent<'a>),
}

impl Event<'_> {
    /// The name of the policy instance that published the event.
    ///
    /// ```
    /// # use palisade::{event::Event, retry::RetryEvent};
    /// # let e = Event::Retry(RetryEvent::Succeeded { name: "db", attempts: 1, total_duration: Default::default() });
    /// assert_eq!(e.policy_name(), "db");
    /// ```
    pub fn policy_name(&self) -> &str {
        match self {
            Event::Retry(e) => e.name(),
            Event::CircuitBreaker(e) => e.name(),
            Event::RateLimit(e) => e.name(),
            Event::Timeout(e) => e.name(),
            Event::Bulkhead(e) => e.name(),
            Event::Hedge(e) => e.name(),
            Event::Pipeline(e) => e.name(),
        }
    }

    /// The kind of policy that published the event: `"retry"`, later `"circuit_breaker"`, …
    ///
    /// ```
    /// # use palisade::{event::Event, retry::RetryEvent};
    /// # let e = Event::Retry(RetryEvent::Succeeded { name: "db", attempts: 1, total_duration: Default::default() });
    /// assert_eq!(e.policy_kind(), "retry");
    /// ```
    pub fn policy_kind(&self) -> &'static str {
        match self {
            Event::Retry(_) => "retry",
            Event::CircuitBreaker(_) => "circuit_breaker",
            Event::RateLimit(_) => "rate_limit",
            Event::Timeout(_) => "timeout",
            Event::Bulkhead(_) => "bulkhead",
            Event::Hedge(_) => "hedge",
            Event::Pipeline(_) => "pipeline",
        }
    }
}

/// Receives events. Implemented for every `Fn(&Event<'_>) + Send + Sync + 'static`.
///
/// ```
/// use palisade::event::{Event, Listener};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// /// Counts every event it sees.
/// #[derive(Default)]
/// struct Counter(AtomicU64);
/// impl Listener for Counter {
///     fn on_event(&self, _event: &Event<'_>) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// let counter = Counter::default();
/// # use palisade::retry::RetryEvent;
/// counter.on_event(&Event::Retry(RetryEvent::Succeeded { name: "x", attempts: 1, total_duration: Default::default() }));
/// assert_eq!(counter.0.load(Ordering::Relaxed), 1);
/// ```
pub trait Listener: Send + Sync + 'static {
    /// Called once per event, on the thread that made the call, before the call returns.
    fn on_event(&self, event: &Event<'_>);
}

impl<F> Listener for F
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    #[inline]
    fn on_event(&self, event: &Event<'_>) {
        self(event)
    }
}

/// The listeners of one policy instance. Cheap to clone (one `Arc`); empty by default.
///
/// Policies build an event only when [`is_empty`](Listeners::is_empty) is false, so an
/// unobserved policy pays one branch.
///
/// ```
/// use palisade::event::{Event, Listeners};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let hits = Arc::new(AtomicU32::new(0));
/// let mut listeners = Listeners::new();
/// assert!(listeners.is_empty());
/// let h = hits.clone();
/// listeners.push(move |_: &Event<'_>| { h.fetch_add(1, Ordering::Relaxed); });
/// # use palisade::retry::RetryEvent;
/// listeners.emit(|| Event::Retry(RetryEvent::Succeeded { name: "x", attempts: 1, total_duration: Default::default() }));
/// assert_eq!(hits.load(Ordering::Relaxed), 1);
/// ```
#[derive(Clone, Default)]
pub struct Listeners {
    list: Option<Arc<[Arc<dyn Listener>]>>,
}

impl Listeners {
    /// No listeners.
    ///
    /// ```
    /// assert!(palisade::event::Listeners::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a listener. Done while building a policy, not on the call path.
    ///
    /// ```
    /// let mut l = palisade::event::Listeners::new();
    /// l.push(|_: &palisade::event::Event<'_>| {});
    /// assert_eq!(l.len(), 1);
    /// ```
    pub fn push(&mut self, listener: impl Listener) {
        self.push_arc(Arc::new(listener));
    }

    /// Adds a listener that is shared with other policies (one metrics listener for all).
    ///
    /// ```
    /// use palisade::event::{Event, Listener, Listeners};
    /// use std::sync::Arc;
    /// let shared: Arc<dyn Listener> = Arc::new(|_: &Event<'_>| {});
    /// let mut a = Listeners::new();
    /// let mut b = Listeners::new();
    /// a.push_arc(shared.clone());
    /// b.push_arc(shared);
    /// assert_eq!(a.len() + b.len(), 2);
    /// ```
    pub fn push_arc(&mut self, listener: Arc<dyn Listener>) {
        let mut all: Vec<Arc<dyn Listener>> =
            self.list.iter().flat_map(|l| l.iter().cloned()).collect();
        all.push(listener);
        self.list = Some(all.into());
    }

    /// Whether nobody listens.
    ///
    /// ```
    /// assert!(palisade::event::Listeners::default().is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.list.is_none()
    }

    /// How many listeners are registered.
    ///
    /// ```
    /// assert_eq!(palisade::event::Listeners::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.list.as_ref().map_or(0, |l| l.len())
    }

    /// Publishes the event built by `make` to every listener; `make` runs only if someone
    /// listens.
    ///
    /// ```
    /// # use palisade::{event::{Event, Listeners}, retry::RetryEvent};
    /// let listeners = Listeners::new();
    /// listeners.emit(|| unreachable!("not built when nobody listens"));
    /// ```
    #[inline]
    pub fn emit<'a>(&self, make: impl FnOnce() -> Event<'a>) {
        if let Some(list) = &self.list {
            let event = make();
            for listener in list.iter() {
                listener.on_event(&event);
            }
        }
    }
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("len", &self.len())
            .finish()
    }
}
