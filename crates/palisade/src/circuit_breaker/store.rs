//! Where a breaker's state lives: the [`StateStore`] seam, and [`Store`], the store a breaker
//! has unless told otherwise (in process, or any other).
//!
//! # What a store keeps, and what it does not
//!
//! A breaker splits in two. Its own part — name, configuration and the state machine that
//! decides ([`Machine`](super::Machine)), clock, listeners — is the [`Core`] it hands the store
//! with every call. The store keeps what is shared between calls, and between processes if it
//! is a fleet-wide store: the state and its generation, when Open ends, the window's counts,
//! the trial slots. [`LocalState`] keeps them in this process, in atomics.
//!
//! # Designed for a store elsewhere
//!
//! A fleet-wide store (Redis, in `palisade-redis`) must not put a round trip on every call.
//! The seam lets it keep the Closed hot path local and sync: wrap a `LocalState` for the
//! admissions and outcomes of this process, flush its counts in the background, and adopt a
//! state decided elsewhere with [`LocalState::impose`](super::LocalState::impose) — generation
//! numbers order such changes, so a late message cannot undo a newer decision. Admission has
//! an async form, [`StateStore::acquire_async`], which the async call paths use, so a store
//! may grant half-open trial calls remotely (one lease per trial, fleet-wide).
//!
//! Every method gets the breaker's [`Core`]; a store never owns a name, a clock or listeners.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::core::Core;
use super::event::Verdict;
use super::local::{CLOSED, LocalState, STATE_BITS, STATE_MASK, pack, unpack};
use super::stats::CircuitBreakerStats;
use crate::clock::Instant;
use crate::error::reason::State;

/// Storage of a breaker's shared state, and the admission and recording built on it. See the
/// [module docs](self). [`LocalState`] keeps it in this process.
///
/// The hot path — [`acquire`](Self::acquire) and [`complete`](Self::complete) in Closed —
/// must not wait: no lock held across calls, no I/O. This seam is public so integration
/// crates can implement it; its shape may still change before 1.0.
///
/// ```
/// use palisade::circuit_breaker::{
///     CircuitBreaker, CircuitBreakerStats, Core, LocalState, Rejected, State, StateStore, Ticket, Verdict,
/// };
///
/// /// A store that counts admissions around the in-process one.
/// struct Counted { inner: LocalState, admitted: std::sync::atomic::AtomicU64 }
///
/// impl StateStore for Counted {
///     fn acquire(&self, core: &Core) -> Result<Ticket, Rejected> {
///         let ticket = self.inner.acquire(core)?;
///         self.admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         Ok(ticket)
///     }
///     fn complete(&self, core: &Core, ticket: Ticket, verdict: Verdict) { self.inner.complete(core, ticket, verdict) }
///     fn release(&self, core: &Core, ticket: Ticket) { self.inner.release(core, ticket) }
///     fn state(&self, core: &Core) -> State { self.inner.state(core) }
///     fn transition_to(&self, core: &Core, target: State) { self.inner.transition_to(core, target) }
///     fn reset(&self, core: &Core) { self.inner.reset(core) }
///     fn stats(&self, core: &Core) -> CircuitBreakerStats { self.inner.stats(core) }
/// }
///
/// let config = Default::default();
/// let store = Counted { inner: LocalState::new(&config, palisade::clock::Instant::default()), admitted: Default::default() };
/// let breaker = CircuitBreaker::builder().store(palisade::circuit_breaker::Store::custom(store)).build()?;
/// assert_eq!(breaker.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub trait StateStore: Send + Sync + 'static {
    /// Admits a call or rejects it (a rejection is counted and published through `core`).
    fn acquire(&self, core: &Core) -> Result<Ticket, Rejected>;

    /// [`acquire`](Self::acquire) for async callers, which may wait (a remote grant of a
    /// half-open trial slot). The default answers at once.
    fn acquire_async<'a>(
        &'a self,
        core: &'a Core,
    ) -> impl Future<Output = Result<Ticket, Rejected>> + Send + 'a {
        std::future::ready(self.acquire(core))
    }

    /// Records the outcome of an admitted call.
    fn complete(&self, core: &Core, ticket: Ticket, verdict: Verdict);

    /// Gives back an admitted call's slot without an outcome (the call was dropped).
    fn release(&self, core: &Core, ticket: Ticket);

    /// The current state, applying any time-driven transition that is due.
    fn state(&self, core: &Core) -> State;

    /// Moves to `target` by operator action (`Closed` also clears the window); does nothing
    /// if the breaker is already in `target`.
    fn transition_to(&self, core: &Core, target: State);

    /// Clears all state and statistics: Closed, as if just built.
    fn reset(&self, core: &Core);

    /// A snapshot of state and statistics.
    fn stats(&self, core: &Core) -> CircuitBreakerStats;
}

/// A store shared by several breakers (clones of one `Arc`) is a store too: breakers in one
/// process sharing a state, or a fleet-wide store's client shared by its breakers.
impl<S: StateStore> StateStore for Arc<S> {
    #[inline]
    fn acquire(&self, core: &Core) -> Result<Ticket, Rejected> {
        (**self).acquire(core)
    }
    fn acquire_async<'a>(
        &'a self,
        core: &'a Core,
    ) -> impl Future<Output = Result<Ticket, Rejected>> + Send + 'a {
        (**self).acquire_async(core)
    }
    #[inline]
    fn complete(&self, core: &Core, ticket: Ticket, verdict: Verdict) {
        (**self).complete(core, ticket, verdict)
    }
    #[inline]
    fn release(&self, core: &Core, ticket: Ticket) {
        (**self).release(core, ticket)
    }
    fn state(&self, core: &Core) -> State {
        (**self).state(core)
    }
    fn transition_to(&self, core: &Core, target: State) {
        (**self).transition_to(core, target)
    }
    fn reset(&self, core: &Core) {
        (**self).reset(core)
    }
    fn stats(&self, core: &Core) -> CircuitBreakerStats {
        (**self).stats(core)
    }
}

/// A boxed future of an admission, as [`DynStateStore`] returns it.
pub type AcquireFuture<'a> = Pin<Box<dyn Future<Output = Result<Ticket, Rejected>> + Send + 'a>>;

/// [`StateStore`] as a trait object, for [`Store::custom`]: implemented for every
/// `StateStore` (its async admission boxed).
///
/// ```
/// use palisade::circuit_breaker::{DynStateStore, LocalState};
/// use std::sync::Arc;
/// let store: Arc<dyn DynStateStore> = Arc::new(LocalState::new(&Default::default(), Default::default()));
/// # let _ = store;
/// ```
pub trait DynStateStore: Send + Sync + 'static {
    /// See [`StateStore::acquire`].
    fn dyn_acquire(&self, core: &Core) -> Result<Ticket, Rejected>;
    /// See [`StateStore::acquire_async`].
    fn dyn_acquire_async<'a>(&'a self, core: &'a Core) -> AcquireFuture<'a>;
    /// See [`StateStore::complete`].
    fn dyn_complete(&self, core: &Core, ticket: Ticket, verdict: Verdict);
    /// See [`StateStore::release`].
    fn dyn_release(&self, core: &Core, ticket: Ticket);
    /// See [`StateStore::state`].
    fn dyn_state(&self, core: &Core) -> State;
    /// See [`StateStore::transition_to`].
    fn dyn_transition_to(&self, core: &Core, target: State);
    /// See [`StateStore::reset`].
    fn dyn_reset(&self, core: &Core);
    /// See [`StateStore::stats`].
    fn dyn_stats(&self, core: &Core) -> CircuitBreakerStats;
}

impl<S: StateStore> DynStateStore for S {
    fn dyn_acquire(&self, core: &Core) -> Result<Ticket, Rejected> {
        StateStore::acquire(self, core)
    }
    fn dyn_acquire_async<'a>(&'a self, core: &'a Core) -> AcquireFuture<'a> {
        Box::pin(StateStore::acquire_async(self, core))
    }
    fn dyn_complete(&self, core: &Core, ticket: Ticket, verdict: Verdict) {
        StateStore::complete(self, core, ticket, verdict)
    }
    fn dyn_release(&self, core: &Core, ticket: Ticket) {
        StateStore::release(self, core, ticket)
    }
    fn dyn_state(&self, core: &Core) -> State {
        StateStore::state(self, core)
    }
    fn dyn_transition_to(&self, core: &Core, target: State) {
        StateStore::transition_to(self, core, target)
    }
    fn dyn_reset(&self, core: &Core) {
        StateStore::reset(self, core)
    }
    fn dyn_stats(&self, core: &Core) -> CircuitBreakerStats {
        StateStore::stats(self, core)
    }
}

/// The store a [`CircuitBreaker`](super::CircuitBreaker) has by default: the in-process
/// [`LocalState`], or any other store behind a trait object — so pipelines, registries,
/// configuration and tower layers take a breaker whatever keeps its state. The in-process
/// case is one predictable branch away from using `LocalState` directly.
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreaker, LocalState, Store};
/// let local = Store::from(LocalState::new(&Default::default(), Default::default()));
/// assert!(local.is_in_process());
/// let breaker: CircuitBreaker = CircuitBreaker::builder().store(local).build()?;
/// # let _ = breaker;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
// The in-process store stays inline: no pointer to chase on the hot path, and a breaker has
// one store, inside its `Arc`.
#[allow(clippy::large_enum_variant)]
pub enum Store {
    /// In this process.
    InProcess(LocalState),
    /// Anywhere else.
    Custom(Arc<dyn DynStateStore>),
}

impl Store {
    /// Any store, behind a trait object.
    ///
    /// ```
    /// use palisade::circuit_breaker::{LocalState, Store};
    /// let store = Store::custom(LocalState::new(&Default::default(), Default::default()));
    /// assert!(!store.is_in_process());
    /// ```
    pub fn custom(store: impl StateStore) -> Store {
        Store::Custom(Arc::new(store))
    }

    /// Whether this is the in-process store.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{LocalState, Store};
    /// assert!(Store::from(LocalState::new(&Default::default(), Default::default())).is_in_process());
    /// ```
    pub fn is_in_process(&self) -> bool {
        matches!(self, Store::InProcess(_))
    }
}

impl From<LocalState> for Store {
    fn from(local: LocalState) -> Self {
        Store::InProcess(local)
    }
}

impl From<Arc<dyn DynStateStore>> for Store {
    fn from(store: Arc<dyn DynStateStore>) -> Self {
        Store::Custom(store)
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Store::InProcess(local) => local.fmt(f),
            Store::Custom(_) => f.write_str("Store::Custom"),
        }
    }
}

/// [`Store::acquire_async`]'s future: ready at once in process, the custom store's otherwise.
pub enum StoreAcquire<'a> {
    /// The in-process answer.
    Ready(Option<Result<Ticket, Rejected>>),
    /// A custom store's.
    Custom(AcquireFuture<'a>),
}

impl Future for StoreAcquire<'_> {
    type Output = Result<Ticket, Rejected>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            StoreAcquire::Ready(answer) => match answer.take() {
                Some(answer) => Poll::Ready(answer),
                None => Poll::Pending,
            },
            StoreAcquire::Custom(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for StoreAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreAcquire")
    }
}

impl StateStore for Store {
    #[inline]
    fn acquire(&self, core: &Core) -> Result<Ticket, Rejected> {
        match self {
            Store::InProcess(local) => StateStore::acquire(local, core),
            Store::Custom(store) => store.dyn_acquire(core),
        }
    }

    #[inline]
    fn acquire_async<'a>(
        &'a self,
        core: &'a Core,
    ) -> impl Future<Output = Result<Ticket, Rejected>> + Send + 'a {
        match self {
            Store::InProcess(local) => StoreAcquire::Ready(Some(StateStore::acquire(local, core))),
            Store::Custom(store) => StoreAcquire::Custom(store.dyn_acquire_async(core)),
        }
    }

    #[inline]
    fn complete(&self, core: &Core, ticket: Ticket, verdict: Verdict) {
        match self {
            Store::InProcess(local) => StateStore::complete(local, core, ticket, verdict),
            Store::Custom(store) => store.dyn_complete(core, ticket, verdict),
        }
    }

    #[inline]
    fn release(&self, core: &Core, ticket: Ticket) {
        match self {
            Store::InProcess(local) => StateStore::release(local, core, ticket),
            Store::Custom(store) => store.dyn_release(core, ticket),
        }
    }

    fn state(&self, core: &Core) -> State {
        match self {
            Store::InProcess(local) => StateStore::state(local, core),
            Store::Custom(store) => store.dyn_state(core),
        }
    }

    fn transition_to(&self, core: &Core, target: State) {
        match self {
            Store::InProcess(local) => StateStore::transition_to(local, core, target),
            Store::Custom(store) => store.dyn_transition_to(core, target),
        }
    }

    fn reset(&self, core: &Core) {
        match self {
            Store::InProcess(local) => StateStore::reset(local, core),
            Store::Custom(store) => store.dyn_reset(core),
        }
    }

    fn stats(&self, core: &Core) -> CircuitBreakerStats {
        match self {
            Store::InProcess(local) => StateStore::stats(local, core),
            Store::Custom(store) => store.dyn_stats(core),
        }
    }
}

/// Why a call was admitted: it decides what its outcome does.
///
/// ```
/// use palisade::circuit_breaker::Role;
/// assert_ne!(Role::Closed, Role::TrialCall);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Admitted in Closed: recorded in the window, may trip the breaker.
    Closed,
    /// A HalfOpen trial call holding one of the `half_open_requests` slots.
    TrialCall,
    /// Admitted in Disabled: nothing is recorded.
    Disabled,
    /// Admitted in MetricsOnly: recorded, never trips.
    MetricsOnly,
}

/// Proof that a call was admitted, handed back with its outcome.
///
/// It carries the breaker's state word at admission (state and generation), so completing a
/// call checks "is this still the period that admitted it?" with one comparison.
///
/// ```
/// use palisade::circuit_breaker::{Role, Ticket};
/// let t = Ticket::new(7, Role::Closed, None);
/// assert_eq!((t.generation(), t.role(), t.started()), (7, Role::Closed, None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub(super) word: u64,
    /// Start time in clock nanoseconds, or `NOT_TIMED`: two plain words keep a ticket in
    /// registers on the hot path.
    started: u64,
}

/// `Ticket::started` of a call that is not being timed.
const NOT_TIMED: u64 = u64::MAX;

impl Ticket {
    /// A ticket for a call admitted in `generation` with `role`, started at `started` (only
    /// needed for slow-call detection).
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Role, Ticket};
    /// let t = Ticket::new(1, Role::TrialCall, None);
    /// assert_eq!(t.role(), Role::TrialCall);
    /// ```
    pub fn new(generation: u64, role: Role, started: Option<Instant>) -> Self {
        let state = match role {
            Role::Closed => State::Closed,
            Role::TrialCall => State::HalfOpen,
            Role::Disabled => State::Disabled,
            Role::MetricsOnly => State::MetricsOnly,
        };
        Ticket::from_word(pack(generation, state), started)
    }

    #[inline]
    pub(super) fn from_word(word: u64, started: Option<Instant>) -> Self {
        Ticket {
            word,
            started: started.map_or(NOT_TIMED, Instant::as_nanos),
        }
    }

    /// The generation the call was admitted in.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Role, Ticket};
    /// assert_eq!(Ticket::new(3, Role::Closed, None).generation(), 3);
    /// ```
    pub fn generation(&self) -> u64 {
        self.word >> STATE_BITS
    }

    /// Why the call was admitted.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Role, Ticket};
    /// assert_eq!(Ticket::new(3, Role::Disabled, None).role(), Role::Disabled);
    /// ```
    pub fn role(&self) -> Role {
        match unpack(self.word).0 {
            State::HalfOpen => Role::TrialCall,
            State::Disabled => Role::Disabled,
            State::MetricsOnly => Role::MetricsOnly,
            _ => Role::Closed,
        }
    }

    /// When the call started, if it is being timed.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Role, Ticket};
    /// assert_eq!(Ticket::new(3, Role::Closed, None).started(), None);
    /// ```
    pub fn started(&self) -> Option<Instant> {
        (self.started != NOT_TIMED).then_some(Instant::from_nanos(self.started))
    }

    #[inline]
    pub(super) fn is_closed(&self) -> bool {
        self.word & STATE_MASK == CLOSED
    }
}

/// A call a breaker refused to run. Converts into [`Error::CircuitOpen`](crate::Error::CircuitOpen).
///
/// ```
/// use palisade::circuit_breaker::{Rejected, State};
/// use std::time::Duration;
/// let r = Rejected::new("db".into(), State::Open, Some(Duration::from_secs(3)));
/// let err: palisade::Error<std::io::Error> = r.into();
/// assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    name: Arc<str>,
    state: State,
    retry_after: Option<Duration>,
}

impl Rejected {
    /// A rejection by breaker `name` in `state`, with the time until it may admit calls.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Rejected, State};
    /// let r = Rejected::new("x".into(), State::ForcedOpen, None);
    /// assert_eq!(r.state(), State::ForcedOpen);
    /// ```
    pub fn new(name: Arc<str>, state: State, retry_after: Option<Duration>) -> Self {
        Rejected {
            name,
            state,
            retry_after,
        }
    }

    /// The breaker's name.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Rejected, State};
    /// assert_eq!(Rejected::new("x".into(), State::Open, None).name(), "x");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The state that rejected the call.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Rejected, State};
    /// assert_eq!(Rejected::new("x".into(), State::Open, None).state(), State::Open);
    /// ```
    pub fn state(&self) -> State {
        self.state
    }

    /// Time until the breaker may admit calls: the rest of the recovery timeout when Open;
    /// `None` when unknown (HalfOpen with every trial slot busy, ForcedOpen).
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Rejected, State};
    /// assert_eq!(Rejected::new("x".into(), State::HalfOpen, None).retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::error::fmt_circuit_open(f, &self.name, self.state, self.retry_after)
    }
}

impl std::error::Error for Rejected {}

impl<E> From<Rejected> for crate::Error<E> {
    fn from(r: Rejected) -> Self {
        crate::Error::CircuitOpen {
            name: r.name,
            state: r.state,
            retry_after: r.retry_after,
        }
    }
}
