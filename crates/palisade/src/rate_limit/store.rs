//! Where a limiter's quota state lives: the [`StateStore`] seam, and [`Store`], the store a
//! limiter has unless told otherwise (in process, or any other).
//!
//! # Why a seam
//!
//! A fleet that must share one quota (an API key's limit across every replica) keeps the
//! state somewhere all replicas reach — Redis, in `palisade-redis`. A store only decides:
//! given the time and a number of permits, granted or not. Everything else belongs to the
//! limiter — its name, its clock, its events, the FIFO queue of waiters — so a store never
//! owns a name, a clock or listeners, and every store publishes the same events.
//!
//! A remote store answers over the network, so the seam has an async decision,
//! [`StateStore::try_acquire_n_async`], which every async path of the limiter uses; the
//! in-process store answers it without waiting. How a remote store answers when its backend
//! is unreachable (admit, refuse, or fall back to a local limiter) is that store's
//! documented choice; the limiter's API stays the same.
//!
//! # The in-process hot path
//!
//! [`Store`] is an enum whose in-process arm is [`LocalState`]: one
//! predictable branch, then GCRA's one compare-and-swap, inlined into the caller.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::config::Algorithm;
use super::local::LocalState;
use super::{Denied, RateLimitInfo, Throttled};
use crate::clock::Instant;
use crate::error::ConfigError;

/// A limiter's quota state and the decisions made on it. [`LocalState`] keeps it in this
/// process; a fleet-wide store keeps it elsewhere. Times are the limiter's clock (a remote
/// store may decide on its own clock instead: Redis's `TIME`).
///
/// This seam is public so that integration crates can implement it; its shape may still
/// change before 1.0.
///
/// ```
/// use palisade::rate_limit::{Algorithm, Denied, LocalState, Rate, RateLimitInfo, RateLimiter, StateStore, Store};
/// use palisade::clock::Instant;
///
/// /// A store that refuses one tenant everything and asks the in-process one otherwise.
/// struct Blocked { inner: LocalState, blocked: bool }
///
/// impl StateStore for Blocked {
///     fn try_acquire_n(&self, now: Instant, n: u32) -> Result<RateLimitInfo, Denied> {
///         if self.blocked {
///             return Err(Denied::ExceedsCapacity { requested: u64::from(n), capacity: 0 });
///         }
///         self.inner.try_acquire_n(now, n)
///     }
///     fn info(&self, now: Instant) -> RateLimitInfo { self.inner.info(now) }
///     fn set_algorithm(&self, now: Instant, algorithm: Algorithm) -> Result<(), palisade::ConfigError> {
///         self.inner.set_algorithm(now, algorithm)
///     }
///     fn algorithm(&self) -> Algorithm { self.inner.algorithm() }
/// }
///
/// let algorithm = Algorithm::Gcra { rate: Rate::per_second(10), burst: 10 };
/// let inner = LocalState::new(algorithm, Instant::default())?;
/// let limiter = RateLimiter::builder(algorithm)
///     .store(Store::custom(Blocked { inner, blocked: true }))
///     .build()?;
/// assert!(limiter.try_acquire().is_err());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub trait StateStore: Send + Sync + 'static {
    /// Takes `n` permits at `now` if available — all or none. `n = 0` takes nothing and
    /// reports the state.
    fn try_acquire_n(&self, now: Instant, n: u32) -> Result<RateLimitInfo, Denied>;

    /// One permit (the default asks for `n = 1`).
    #[inline]
    fn try_acquire(&self, now: Instant) -> Result<RateLimitInfo, Denied> {
        self.try_acquire_n(now, 1)
    }

    /// One permit, reporting only whether it was granted (the default asks for `n = 1`).
    #[inline]
    fn check(&self, now: Instant) -> Result<(), Throttled> {
        throttled(self.try_acquire_n(now, 1))
    }

    /// [`try_acquire_n`](Self::try_acquire_n) for async callers: a remote store makes its
    /// round trip here. The default answers at once.
    fn try_acquire_n_async(
        &self,
        now: Instant,
        n: u32,
    ) -> impl Future<Output = Result<RateLimitInfo, Denied>> + Send + '_ {
        std::future::ready(self.try_acquire_n(now, n))
    }

    /// What could be taken at `now`, without taking anything.
    fn info(&self, now: Instant) -> RateLimitInfo;

    /// Changes the quota at `now` without losing state (permits taken keep counting); the
    /// kind of algorithm stays.
    fn set_algorithm(&self, now: Instant, algorithm: Algorithm) -> Result<(), ConfigError>;

    /// The current quota.
    fn algorithm(&self) -> Algorithm;
}

/// A store shared by several limiters (clones of one `Arc`) is a store too.
impl<S: StateStore> StateStore for Arc<S> {
    #[inline]
    fn try_acquire_n(&self, now: Instant, n: u32) -> Result<RateLimitInfo, Denied> {
        (**self).try_acquire_n(now, n)
    }
    #[inline]
    fn try_acquire(&self, now: Instant) -> Result<RateLimitInfo, Denied> {
        (**self).try_acquire(now)
    }
    #[inline]
    fn check(&self, now: Instant) -> Result<(), Throttled> {
        (**self).check(now)
    }
    fn try_acquire_n_async(
        &self,
        now: Instant,
        n: u32,
    ) -> impl Future<Output = Result<RateLimitInfo, Denied>> + Send + '_ {
        (**self).try_acquire_n_async(now, n)
    }
    fn info(&self, now: Instant) -> RateLimitInfo {
        (**self).info(now)
    }
    fn set_algorithm(&self, now: Instant, algorithm: Algorithm) -> Result<(), ConfigError> {
        (**self).set_algorithm(now, algorithm)
    }
    fn algorithm(&self) -> Algorithm {
        (**self).algorithm()
    }
}

/// A boxed future of a decision, as [`DynStateStore`] returns it.
pub type DecisionFuture<'a> =
    Pin<Box<dyn Future<Output = Result<RateLimitInfo, Denied>> + Send + 'a>>;

/// [`StateStore`] as a trait object, for [`Store::custom`]: implemented for every
/// `StateStore` (its async decision boxed). Its methods are prefixed `dyn_` so that they
/// never shadow the generic ones.
///
/// ```
/// use palisade::rate_limit::{Algorithm, DynStateStore, LocalState, Rate};
/// use std::sync::Arc;
/// let local = LocalState::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }, Default::default())?;
/// let store: Arc<dyn DynStateStore> = Arc::new(local);
/// # let _ = store;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub trait DynStateStore: Send + Sync + 'static {
    /// See [`StateStore::try_acquire_n`].
    fn dyn_try_acquire_n(&self, now: Instant, n: u32) -> Result<RateLimitInfo, Denied>;
    /// See [`StateStore::check`].
    fn dyn_check(&self, now: Instant) -> Result<(), Throttled>;
    /// See [`StateStore::try_acquire_n_async`].
    fn dyn_try_acquire_n_async(&self, now: Instant, n: u32) -> DecisionFuture<'_>;
    /// See [`StateStore::info`].
    fn dyn_info(&self, now: Instant) -> RateLimitInfo;
    /// See [`StateStore::set_algorithm`].
    fn dyn_set_algorithm(&self, now: Instant, algorithm: Algorithm) -> Result<(), ConfigError>;
    /// See [`StateStore::algorithm`].
    fn dyn_algorithm(&self) -> Algorithm;
}

impl<S: StateStore> DynStateStore for S {
    fn dyn_try_acquire_n(&self, now: Instant, n: u32) -> Result<RateLimitInfo, Denied> {
        self.try_acquire_n(now, n)
    }
    fn dyn_check(&self, now: Instant) -> Result<(), Throttled> {
        self.check(now)
    }
    fn dyn_try_acquire_n_async(&self, now: Instant, n: u32) -> DecisionFuture<'_> {
        Box::pin(self.try_acquire_n_async(now, n))
    }
    fn dyn_info(&self, now: Instant) -> RateLimitInfo {
        self.info(now)
    }
    fn dyn_set_algorithm(&self, now: Instant, algorithm: Algorithm) -> Result<(), ConfigError> {
        self.set_algorithm(now, algorithm)
    }
    fn dyn_algorithm(&self) -> Algorithm {
        self.algorithm()
    }
}

/// The store a [`RateLimiter`](super::RateLimiter) has by default: the in-process
/// [`LocalState`], or any other store behind a trait object — so pipelines, registries,
/// configuration and tower layers take a limiter whatever keeps its state.
///
/// ```
/// use palisade::rate_limit::{Algorithm, LocalState, Rate, Store};
/// let local = LocalState::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }, Default::default())?;
/// assert!(Store::from(local).is_in_process());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
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
    /// use palisade::rate_limit::{Algorithm, LocalState, Rate, Store};
    /// let local = LocalState::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }, Default::default())?;
    /// assert!(!Store::custom(local).is_in_process());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn custom(store: impl StateStore) -> Store {
        Store::Custom(Arc::new(store))
    }

    /// Whether this is the in-process store.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, LocalState, Rate, Store};
    /// let local = LocalState::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }, Default::default())?;
    /// assert!(Store::from(local).is_in_process());
    /// # Ok::<(), palisade::ConfigError>(())
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

/// [`Store`]'s async decision: ready at once in process, the custom store's otherwise.
pub enum StoreDecision<'a> {
    /// The in-process answer.
    Ready(Option<Result<RateLimitInfo, Denied>>),
    /// A custom store's.
    Custom(DecisionFuture<'a>),
}

impl Future for StoreDecision<'_> {
    type Output = Result<RateLimitInfo, Denied>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            StoreDecision::Ready(answer) => match answer.take() {
                Some(answer) => Poll::Ready(answer),
                None => Poll::Pending,
            },
            StoreDecision::Custom(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for StoreDecision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreDecision")
    }
}

impl StateStore for Store {
    #[inline]
    fn try_acquire_n(&self, now: Instant, n: u32) -> Result<RateLimitInfo, Denied> {
        match self {
            Store::InProcess(local) => local.try_acquire_n(now, n),
            Store::Custom(store) => store.dyn_try_acquire_n(now, n),
        }
    }

    #[inline]
    fn try_acquire(&self, now: Instant) -> Result<RateLimitInfo, Denied> {
        match self {
            Store::InProcess(local) => local.try_acquire(now),
            Store::Custom(store) => store.dyn_try_acquire_n(now, 1),
        }
    }

    #[inline]
    fn check(&self, now: Instant) -> Result<(), Throttled> {
        match self {
            Store::InProcess(local) => local.check(now),
            Store::Custom(store) => store.dyn_check(now),
        }
    }

    #[inline]
    fn try_acquire_n_async(
        &self,
        now: Instant,
        n: u32,
    ) -> impl Future<Output = Result<RateLimitInfo, Denied>> + Send + '_ {
        match self {
            Store::InProcess(local) => StoreDecision::Ready(Some(local.try_acquire_n(now, n))),
            Store::Custom(store) => StoreDecision::Custom(store.dyn_try_acquire_n_async(now, n)),
        }
    }

    fn info(&self, now: Instant) -> RateLimitInfo {
        match self {
            Store::InProcess(local) => local.info(now),
            Store::Custom(store) => store.dyn_info(now),
        }
    }

    fn set_algorithm(&self, now: Instant, algorithm: Algorithm) -> Result<(), ConfigError> {
        match self {
            Store::InProcess(local) => local.set_algorithm(now, algorithm),
            Store::Custom(store) => store.dyn_set_algorithm(now, algorithm),
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            Store::InProcess(local) => local.algorithm(),
            Store::Custom(store) => store.dyn_algorithm(),
        }
    }
}

/// A decision about one permit as [`check`](StateStore::check)'s answer.
#[cold]
#[inline(never)]
pub(super) fn throttled(outcome: Result<RateLimitInfo, Denied>) -> Result<(), Throttled> {
    match outcome {
        Ok(_) => Ok(()),
        Err(Denied::RateLimited { retry_after, .. }) => Err(Throttled::new(retry_after)),
        // One permit always fits (burst and max are at least 1); should that ever change,
        // "never" is the honest answer.
        Err(Denied::ExceedsCapacity { .. }) => Err(Throttled::new(std::time::Duration::MAX)),
    }
}
