//! How a call reaches its breaker's store: one dispatch per call, not one per store method.
//!
//! A breaker's default store is the [`Store`] enum, so each of `acquire`, `complete` and
//! `release` would branch on where the state lives. The call paths instead ask once, with
//! [`seam`], and then talk to the in-process [`LocalState`] (or the custom store's trait
//! object) directly. Which arms exist is decided by the store's *type*, a comparison the
//! compiler folds: for `Store` two, for a `LocalState` one, for any other store one.
//!
//! An admitted call is an [`Admitted`] — the store, the core, the ticket — which records the
//! outcome or, dropped (a panic, a cancelled future), gives the admission back. A pipeline's
//! attempt holds one as an [`AttemptPermit`] across its await: references only, so nothing
//! needs dropping on the way out, and no second look at where the state lives.

use std::any::Any;
use std::mem::ManuallyDrop;

use super::core::Core;
use super::event::Verdict;
use super::local::LocalState;
use super::store::{DynStateStore, Rejected, StateStore, Store, Ticket};
use super::{CircuitBreaker, Inner};

/// Where a store keeps its state, as far as its type and (for `Store`) its variant say.
pub(super) enum Seam<'a, S: ?Sized> {
    /// In this process.
    Local(&'a LocalState),
    /// A custom store behind `Store::Custom`.
    Elsewhere(&'a dyn DynStateStore),
    /// Any other store type.
    Other(&'a S),
}

/// `store` seen through its [`Seam`]: a compile-time type test, then (for `Store`) one branch.
#[inline(always)]
pub(super) fn seam<S: StateStore>(store: &S) -> Seam<'_, S> {
    let any: &dyn Any = store;
    if let Some(store) = any.downcast_ref::<Store>() {
        return match store {
            Store::InProcess(local) => Seam::Local(local),
            Store::Custom(custom) => Seam::Elsewhere(&**custom),
        };
    }
    match any.downcast_ref::<LocalState>() {
        Some(local) => Seam::Local(local),
        None => Seam::Other(store),
    }
}

/// The in-process state `store` owns, if it is one: a `LocalState`, or `Store::InProcess`.
/// A breaker owning its state tells it whether anyone listens (see
/// [`LocalState::bind`]); a state shared behind an `Arc` is never bound.
pub(super) fn owned_local<S: StateStore>(store: &mut S) -> Option<&mut LocalState> {
    let any: &mut dyn Any = store;
    if any.is::<Store>() {
        return match any.downcast_mut::<Store>() {
            Some(Store::InProcess(local)) => Some(local),
            _ => None,
        };
    }
    any.downcast_mut::<LocalState>()
}

/// The three methods a call path uses, for stores and for a custom store's trait object.
pub(crate) trait Admit {
    fn admit(&self, core: &Core) -> Result<Ticket, Rejected>;
    fn record(&self, core: &Core, ticket: Ticket, verdict: Verdict);
    fn give_back(&self, core: &Core, ticket: Ticket);
}

impl<S: StateStore> Admit for S {
    #[inline(always)]
    fn admit(&self, core: &Core) -> Result<Ticket, Rejected> {
        self.acquire(core)
    }
    #[inline(always)]
    fn record(&self, core: &Core, ticket: Ticket, verdict: Verdict) {
        self.complete(core, ticket, verdict)
    }
    #[inline(always)]
    fn give_back(&self, core: &Core, ticket: Ticket) {
        self.release(core, ticket)
    }
}

impl Admit for dyn DynStateStore {
    #[inline(always)]
    fn admit(&self, core: &Core) -> Result<Ticket, Rejected> {
        self.dyn_acquire(core)
    }
    #[inline(always)]
    fn record(&self, core: &Core, ticket: Ticket, verdict: Verdict) {
        self.dyn_complete(core, ticket, verdict)
    }
    #[inline(always)]
    fn give_back(&self, core: &Core, ticket: Ticket) {
        self.dyn_release(core, ticket)
    }
}

/// An admitted call: [`record`](Self::record) its outcome; dropped unrecorded (the operation
/// panicked, the future was dropped) it gives the admission back. References and a `Copy`
/// ticket only, so forgetting it leaks nothing.
pub(crate) struct Admitted<'a, A: Admit + ?Sized> {
    pub(super) store: &'a A,
    pub(super) core: &'a Core,
    pub(super) ticket: Ticket,
}

impl<A: Admit + ?Sized> Admitted<'_, A> {
    /// Records the call's outcome.
    #[inline(always)]
    pub(crate) fn record(self, verdict: Verdict) {
        let this = ManuallyDrop::new(self);
        this.store.record(this.core, this.ticket, verdict);
    }
}

impl<A: Admit + ?Sized> Drop for Admitted<'_, A> {
    fn drop(&mut self) {
        self.store.give_back(self.core, self.ticket);
    }
}

/// One attempt's admission, as a pipeline holds it: straight to the in-process state, or to a
/// custom store's trait object — references and a ticket either way, no handle to drop.
pub(crate) enum AttemptPermit<'a> {
    /// Admitted by the in-process state.
    InProcess(Admitted<'a, LocalState>),
    /// Admitted by a store elsewhere.
    Elsewhere(Admitted<'a, dyn DynStateStore>),
}

impl AttemptPermit<'_> {
    /// Records the attempt's outcome.
    #[inline]
    pub(crate) fn record(self, verdict: Verdict) {
        match self {
            AttemptPermit::InProcess(admitted) => admitted.record(verdict),
            AttemptPermit::Elsewhere(admitted) => admitted.record(verdict),
        }
    }
}

/// Admission of a pipeline's attempts (its breaker has the default store type).
impl<F, I, R> CircuitBreaker<F, I, R, Store> {
    /// The admission of an in-process store, decided at once without a future; `None` for a
    /// store elsewhere.
    #[inline]
    pub(crate) fn acquire_in_process(&self) -> Option<Result<AttemptPermit<'_>, Rejected>> {
        let Inner { core, store } = &*self.inner;
        let Store::InProcess(local) = store else {
            return None;
        };
        Some(local.acquire(core).map(|ticket| {
            AttemptPermit::InProcess(Admitted {
                store: local,
                core,
                ticket,
            })
        }))
    }

    /// The admission of a store elsewhere, which may wait (a remote trial-call lease).
    pub(crate) async fn acquire_elsewhere(&self) -> Result<AttemptPermit<'_>, Rejected> {
        let Inner { core, store } = &*self.inner;
        let ticket = match store {
            Store::InProcess(local) => local.acquire(core)?,
            Store::Custom(custom) => custom.dyn_acquire_async(core).await?,
        };
        Ok(admitted(store, core, ticket))
    }

    /// [`acquire_elsewhere`](Self::acquire_elsewhere) for blocking callers (the store's
    /// synchronous admission).
    pub(crate) fn try_acquire_elsewhere(&self) -> Result<AttemptPermit<'_>, Rejected> {
        let Inner { core, store } = &*self.inner;
        let ticket = store.acquire(core)?;
        Ok(admitted(store, core, ticket))
    }
}

fn admitted<'a>(store: &'a Store, core: &'a Core, ticket: Ticket) -> AttemptPermit<'a> {
    match store {
        Store::InProcess(local) => AttemptPermit::InProcess(Admitted {
            store: local,
            core,
            ticket,
        }),
        Store::Custom(custom) => AttemptPermit::Elsewhere(Admitted {
            store: &**custom,
            core,
            ticket,
        }),
    }
}
