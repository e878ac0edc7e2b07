//! Events: one enum for what every policy does, and one listener for all of them.
//!
//! # Why one enum
//!
//! Logging, metrics, tracing and `on_retry` / `on_success` / `on_failure` callbacks all want the same thing: to be told what a policy just did. Each policy publishes
//! its own event type through its [`Listeners`](crate::listener::Listeners); this module
//! gathers them into [`Event`], one variant per policy, so that a [`Listener`] — any
//! `Fn(&Event<'_>)`, or a type implementing the trait — serves every policy in a process.
//! That is how metrics exporters attach. (The enum lives above the policies, in the
//! composition layer, so no policy depends on another: see [`crate::listener`].)
//!
//! # Cost
//!
//! With no listener registered, publishing is a single `Option` check: the event is never
//! built, nothing is allocated, nothing is dispatched. With listeners, each event is built
//! once on the stack and passed by reference to each listener. Listeners run on the caller's
//! thread, inside the call: keep them fast, and hand slow work (network export) to a channel.
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
use std::ops::BitOr;
use std::sync::Arc;
use std::time::Duration;

use crate::bulkhead::{Bulkhead, BulkheadEvent};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerEvent};
use crate::hedge::{Hedge, HedgeEvent};
use crate::listener::{Kind, Listen};
use crate::rate_limit::{RateLimitEvent, RateLimiter};
use crate::retry::{Retry, RetryEvent};
use crate::timeout::{Timeout, TimeoutEvent};

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

/// What a pipeline did with a call, published as
/// [`Event::Pipeline`]: one event per call, after every policy had its say. With no listener
/// the pipeline reads no clock for it. Also which of its policies calls skip, whenever that
/// is set.
///
/// ```
/// use palisade::pipeline::{CallOutcome, PipelineEvent};
/// let e = PipelineEvent::Completed { name: "db", outcome: CallOutcome::Succeeded, elapsed: Default::default() };
/// assert_eq!(e.name(), "db");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum PipelineEvent<'a> {
    /// A call finished.
    Completed {
        /// The pipeline's name.
        name: &'a str,
        /// How it ended.
        outcome: CallOutcome,
        /// From the call's start to its end, every attempt and sleep included.
        elapsed: Duration,
    },
    /// Which policies calls skip was set
    /// ([`Pipeline::set_disabled`](crate::pipeline::Pipeline::set_disabled)): by a registry
    /// when it creates the pipeline and at every reload, so the value may be unchanged.
    Switched {
        /// The pipeline's name.
        name: &'a str,
        /// What calls skip from now on; [`Disabled::NONE`](crate::pipeline::Disabled::NONE)
        /// when every policy applies.
        disabled: Disabled,
    },
}

impl<'a> PipelineEvent<'a> {
    /// The pipeline's name.
    ///
    /// ```
    /// use palisade::pipeline::{CallOutcome, PipelineEvent};
    /// let e = PipelineEvent::Completed { name: "x", outcome: CallOutcome::Failed, elapsed: Default::default() };
    /// assert_eq!(e.name(), "x");
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            PipelineEvent::Completed { name, .. } | PipelineEvent::Switched { name, .. } => name,
        }
    }
}

/// Which of a pipeline's policies calls skip: [`NONE`](Self::NONE), some of them, or
/// [`ALL`](Self::ALL) — the pipeline passes every call straight through (the operation runs
/// once, its error comes back as [`Error::Operation`](crate::Error::Operation)). Combine with
/// `|`.
///
/// Timeouts are skipped only with `ALL`; fallbacks are the caller's and always apply.
///
/// ```
/// use palisade::pipeline::Disabled;
/// let off = Disabled::RETRY | Disabled::HEDGE;
/// assert!(off.contains(Disabled::RETRY) && !off.contains(Disabled::CIRCUIT_BREAKER));
/// assert!(!off.passes_through());
/// assert!(Disabled::ALL.passes_through() && Disabled::ALL.contains(off));
/// assert_eq!(off.policies().collect::<Vec<_>>(), ["retry", "hedge"]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Disabled(u8);

/// Every bit but the whole-pipeline one names a policy, in pipeline order.
pub(crate) const POLICIES: [(Disabled, &str); 5] = [
    (Disabled::RATE_LIMIT, "rate_limit"),
    (Disabled::BULKHEAD, "bulkhead"),
    (Disabled::RETRY, "retry"),
    (Disabled::CIRCUIT_BREAKER, "circuit_breaker"),
    (Disabled::HEDGE, "hedge"),
];

/// The bit of the whole pipeline (timeouts included), set only by [`Disabled::ALL`].
const PASS_THROUGH: u8 = 1 << 5;

impl Disabled {
    /// Every policy applies.
    pub const NONE: Disabled = Disabled(0);
    /// The rate limiter is skipped.
    pub const RATE_LIMIT: Disabled = Disabled(1);
    /// The bulkhead is skipped.
    pub const BULKHEAD: Disabled = Disabled(1 << 1);
    /// Retry is skipped: one attempt.
    pub const RETRY: Disabled = Disabled(1 << 2);
    /// The circuit breaker is skipped: it neither refuses nor records calls.
    pub const CIRCUIT_BREAKER: Disabled = Disabled(1 << 3);
    /// Hedging is skipped.
    pub const HEDGE: Disabled = Disabled(1 << 4);
    /// The whole pipeline: every policy and both timeouts are skipped.
    pub const ALL: Disabled = Disabled(PASS_THROUGH | 0b1_1111);

    /// Whether every policy in `other` is skipped.
    ///
    /// ```
    /// use palisade::pipeline::Disabled;
    /// assert!(Disabled::ALL.contains(Disabled::BULKHEAD));
    /// assert!(!Disabled::NONE.contains(Disabled::BULKHEAD));
    /// ```
    pub const fn contains(self, other: Disabled) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether nothing is skipped.
    ///
    /// ```
    /// assert!(palisade::pipeline::Disabled::NONE.is_empty());
    /// ```
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the pipeline passes calls straight through ([`ALL`](Self::ALL)).
    ///
    /// ```
    /// assert!(!palisade::pipeline::Disabled::RETRY.passes_through());
    /// ```
    pub const fn passes_through(self) -> bool {
        self.0 & PASS_THROUGH != 0
    }

    /// The names of the skipped policies, as configuration spells their sections, in
    /// pipeline order (all five for [`ALL`](Self::ALL)).
    ///
    /// ```
    /// use palisade::pipeline::Disabled;
    /// let names: Vec<_> = (Disabled::CIRCUIT_BREAKER | Disabled::RATE_LIMIT).policies().collect();
    /// assert_eq!(names, ["rate_limit", "circuit_breaker"]);
    /// ```
    pub fn policies(self) -> impl Iterator<Item = &'static str> {
        POLICIES
            .into_iter()
            .filter(move |(bit, _)| self.contains(*bit))
            .map(|(_, name)| name)
    }

    pub(crate) const fn from_bits(bits: u8) -> Disabled {
        Disabled(bits)
    }

    pub(crate) const fn bits(self) -> u8 {
        self.0
    }

    /// `policy` unless it is skipped.
    #[inline(always)]
    pub(crate) fn keep<P>(self, skip: Disabled, policy: &Option<P>) -> Option<&P> {
        match policy {
            Some(policy) if self.0 & skip.0 == 0 => Some(policy),
            _ => None,
        }
    }
}

impl BitOr for Disabled {
    type Output = Disabled;

    fn bitor(self, other: Disabled) -> Disabled {
        Disabled(self.0 | other.0)
    }
}

impl fmt::Debug for Disabled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.passes_through() {
            return f.write_str("Disabled(ALL)");
        }
        f.write_str("Disabled(")?;
        for (i, name) in self.policies().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            f.write_str(name)?;
        }
        f.write_str(")")
    }
}

/// How a pipeline call ended.
///
/// ```
/// use palisade::pipeline::CallOutcome;
/// assert_ne!(CallOutcome::Rejected, CallOutcome::Failed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallOutcome {
    /// The call returned a value (possibly after retries or from a hedge).
    Succeeded,
    /// The operation ran and the call failed (its error, a timeout, exhausted retries).
    Failed,
    /// A policy refused the call without running it (rate limit, bulkhead, open circuit).
    Rejected,
}

/// Receives every policy's events. Implemented for every `Fn(&Event<'_>) + Send + Sync +
/// 'static`; every listener is also a [`Listen`] of each policy kind, so it can be given to
/// any builder's `on_event`.
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

/// Every [`Listener`] hears each policy kind: its event wrapped in that kind's variant.
macro_rules! route {
    ($($policy:ty => $variant:ident),* $(,)?) => {$(
        impl<L: Listener + ?Sized> Listen<$policy> for L {
            #[inline]
            fn notify(&self, event: &<$policy as Kind>::Event<'_>) {
                self.on_event(&Event::$variant(*event));
            }
        }
    )*};
}

route! {
    Retry => Retry,
    CircuitBreaker => CircuitBreaker,
    RateLimiter => RateLimit,
    Timeout => Timeout,
    Bulkhead => Bulkhead,
    Hedge => Hedge,
}

/// A listener shared by several owners, as the pipeline hands its listeners to each policy.
impl<L: Listener + ?Sized> Listener for Arc<L> {
    #[inline]
    fn on_event(&self, event: &Event<'_>) {
        (**self).on_event(event)
    }
}
