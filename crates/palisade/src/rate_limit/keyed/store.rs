//! Where a keyed limiter's quotas live: the [`KeyedStateStore`] seam, and [`KeyedStore`],
//! the store a keyed limiter has unless told otherwise.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::super::config::Algorithm;
use super::super::store::DecisionFuture;
use super::super::{Denied, RateLimitInfo};
use super::local::LocalKeyedState;
use crate::clock::Instant;
use crate::error::ConfigError;

/// Storage and decisions of a keyed limiter's quotas, one per key. [`LocalKeyedState`] keeps
/// them in this process; a fleet-wide store (Redis: one remote entry per key) plugs in behind
/// the same [`KeyedRateLimiter`](super::KeyedRateLimiter) API. As with the direct limiter's
/// [`StateStore`](crate::rate_limit::StateStore), a store only decides: name, clock, events
/// and waiting belong to the limiter.
///
/// This seam is public so that integration crates can implement it; its shape may still
/// change before 1.0.
///
/// ```
/// use palisade::rate_limit::{Algorithm, KeyedRateLimiter, KeyedStateStore, Rate};
/// fn limit_of<S: KeyedStateStore<u64>>(l: &KeyedRateLimiter<u64, S>, key: u64) -> u64 {
///     l.info(&key).limit()
/// }
/// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 3 }).build()?;
/// assert_eq!(limit_of(&l, 1), 3);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub trait KeyedStateStore<K>: Send + Sync + 'static {
    /// Takes `n` permits for `key` at `now` if available — all or none.
    fn try_acquire_n(&self, now: Instant, key: &K, n: u32) -> Result<RateLimitInfo, Denied>;

    /// [`try_acquire_n`](Self::try_acquire_n) for async callers: a remote store makes its
    /// round trip here. The default answers at once with the synchronous decision.
    fn try_acquire_n_async<'a>(
        &'a self,
        now: Instant,
        key: &'a K,
        n: u32,
    ) -> impl Future<Output = Result<RateLimitInfo, Denied>> + Send + 'a {
        std::future::ready(self.try_acquire_n(now, key, n))
    }

    /// What `key` could take at `now`, without taking anything (and without adding the key).
    fn info(&self, now: Instant, key: &K) -> RateLimitInfo;

    /// Gives `key` its own quota (same kind of algorithm as the limiter's).
    fn set_quota_for(&self, now: Instant, key: K, algorithm: Algorithm) -> Result<(), ConfigError>;

    /// Returns `key` to the limiter's quota.
    fn clear_quota_for(&self, now: Instant, key: &K);

    /// Keys this process holds state for, if the store knows (a store elsewhere: `None`).
    fn keys_held(&self) -> Option<usize> {
        None
    }

    /// The most keys this process holds at once, if the store bounds it.
    fn max_keys(&self) -> Option<usize> {
        None
    }
}

/// A store shared by several keyed limiters (clones of one `Arc`) is a store too.
impl<K, S: KeyedStateStore<K>> KeyedStateStore<K> for Arc<S> {
    fn try_acquire_n(&self, now: Instant, key: &K, n: u32) -> Result<RateLimitInfo, Denied> {
        (**self).try_acquire_n(now, key, n)
    }
    fn try_acquire_n_async<'a>(
        &'a self,
        now: Instant,
        key: &'a K,
        n: u32,
    ) -> impl Future<Output = Result<RateLimitInfo, Denied>> + Send + 'a {
        (**self).try_acquire_n_async(now, key, n)
    }
    fn info(&self, now: Instant, key: &K) -> RateLimitInfo {
        (**self).info(now, key)
    }
    fn set_quota_for(&self, now: Instant, key: K, algorithm: Algorithm) -> Result<(), ConfigError> {
        (**self).set_quota_for(now, key, algorithm)
    }
    fn clear_quota_for(&self, now: Instant, key: &K) {
        (**self).clear_quota_for(now, key)
    }
    fn keys_held(&self) -> Option<usize> {
        (**self).keys_held()
    }
    fn max_keys(&self) -> Option<usize> {
        (**self).max_keys()
    }
}

/// [`KeyedStateStore`] as a trait object, for [`KeyedStore::custom`]: implemented for every
/// `KeyedStateStore` (its async decision boxed); methods prefixed `dyn_`.
///
/// ```
/// use palisade::rate_limit::{Algorithm, DynKeyedStateStore, LocalKeyedState, Rate};
/// use std::sync::Arc;
/// let local = LocalKeyedState::<u8>::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }, 10, std::time::Duration::from_secs(1))?;
/// let store: Arc<dyn DynKeyedStateStore<u8>> = Arc::new(local);
/// # let _ = store;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub trait DynKeyedStateStore<K>: Send + Sync + 'static {
    /// See [`KeyedStateStore::try_acquire_n`].
    fn dyn_try_acquire_n(&self, now: Instant, key: &K, n: u32) -> Result<RateLimitInfo, Denied>;
    /// See [`KeyedStateStore::try_acquire_n_async`].
    fn dyn_try_acquire_n_async<'a>(
        &'a self,
        now: Instant,
        key: &'a K,
        n: u32,
    ) -> DecisionFuture<'a>;
    /// See [`KeyedStateStore::info`].
    fn dyn_info(&self, now: Instant, key: &K) -> RateLimitInfo;
    /// See [`KeyedStateStore::set_quota_for`].
    fn dyn_set_quota_for(
        &self,
        now: Instant,
        key: K,
        algorithm: Algorithm,
    ) -> Result<(), ConfigError>;
    /// See [`KeyedStateStore::clear_quota_for`].
    fn dyn_clear_quota_for(&self, now: Instant, key: &K);
    /// See [`KeyedStateStore::keys_held`].
    fn dyn_keys_held(&self) -> Option<usize>;
    /// See [`KeyedStateStore::max_keys`].
    fn dyn_max_keys(&self) -> Option<usize>;
}

impl<K, S: KeyedStateStore<K>> DynKeyedStateStore<K> for S {
    fn dyn_try_acquire_n(&self, now: Instant, key: &K, n: u32) -> Result<RateLimitInfo, Denied> {
        self.try_acquire_n(now, key, n)
    }
    fn dyn_try_acquire_n_async<'a>(
        &'a self,
        now: Instant,
        key: &'a K,
        n: u32,
    ) -> DecisionFuture<'a> {
        Box::pin(self.try_acquire_n_async(now, key, n))
    }
    fn dyn_info(&self, now: Instant, key: &K) -> RateLimitInfo {
        self.info(now, key)
    }
    fn dyn_set_quota_for(
        &self,
        now: Instant,
        key: K,
        algorithm: Algorithm,
    ) -> Result<(), ConfigError> {
        self.set_quota_for(now, key, algorithm)
    }
    fn dyn_clear_quota_for(&self, now: Instant, key: &K) {
        self.clear_quota_for(now, key)
    }
    fn dyn_keys_held(&self) -> Option<usize> {
        self.keys_held()
    }
    fn dyn_max_keys(&self) -> Option<usize> {
        self.max_keys()
    }
}

/// The store a [`KeyedRateLimiter`](super::KeyedRateLimiter) has by default: the in-process
/// [`LocalKeyedState`], or any other store behind a trait object.
///
/// ```
/// use palisade::rate_limit::{Algorithm, KeyedStore, LocalKeyedState, Rate};
/// let local = LocalKeyedState::<u8>::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }, 10, std::time::Duration::from_secs(1))?;
/// assert!(KeyedStore::from(local).is_in_process());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub enum KeyedStore<K> {
    /// In this process.
    InProcess(LocalKeyedState<K>),
    /// Anywhere else.
    Custom(Arc<dyn DynKeyedStateStore<K>>),
}

impl<K: 'static> KeyedStore<K> {
    /// Any store, behind a trait object.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, KeyedStore, LocalKeyedState, Rate};
    /// let local = LocalKeyedState::<u8>::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }, 10, std::time::Duration::from_secs(1))?;
    /// assert!(!KeyedStore::custom(local).is_in_process());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn custom(store: impl KeyedStateStore<K>) -> KeyedStore<K> {
        KeyedStore::Custom(Arc::new(store))
    }

    /// Whether this is the in-process store.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, KeyedStore, LocalKeyedState, Rate};
    /// let local = LocalKeyedState::<u8>::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }, 10, std::time::Duration::from_secs(1))?;
    /// assert!(KeyedStore::from(local).is_in_process());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn is_in_process(&self) -> bool {
        matches!(self, KeyedStore::InProcess(_))
    }
}

impl<K> From<LocalKeyedState<K>> for KeyedStore<K> {
    fn from(local: LocalKeyedState<K>) -> Self {
        KeyedStore::InProcess(local)
    }
}

impl<K> fmt::Debug for KeyedStore<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyedStore::InProcess(local) => local.fmt(f),
            KeyedStore::Custom(_) => f.write_str("KeyedStore::Custom"),
        }
    }
}

/// [`KeyedStore`]'s async decision: ready at once in process, the custom store's otherwise.
pub enum KeyedDecision<'a> {
    /// The in-process answer.
    Ready(Option<Result<RateLimitInfo, Denied>>),
    /// A custom store's.
    Custom(DecisionFuture<'a>),
}

impl Future for KeyedDecision<'_> {
    type Output = Result<RateLimitInfo, Denied>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            KeyedDecision::Ready(answer) => match answer.take() {
                Some(answer) => Poll::Ready(answer),
                None => Poll::Pending,
            },
            KeyedDecision::Custom(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for KeyedDecision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyedDecision")
    }
}

impl<K> KeyedStateStore<K> for KeyedStore<K>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    #[inline]
    fn try_acquire_n(&self, now: Instant, key: &K, n: u32) -> Result<RateLimitInfo, Denied> {
        match self {
            KeyedStore::InProcess(local) => local.try_acquire_n(now, key, n),
            KeyedStore::Custom(store) => store.dyn_try_acquire_n(now, key, n),
        }
    }

    fn try_acquire_n_async<'a>(
        &'a self,
        now: Instant,
        key: &'a K,
        n: u32,
    ) -> impl Future<Output = Result<RateLimitInfo, Denied>> + Send + 'a {
        match self {
            KeyedStore::InProcess(local) => {
                KeyedDecision::Ready(Some(local.try_acquire_n(now, key, n)))
            }
            KeyedStore::Custom(store) => {
                KeyedDecision::Custom(store.dyn_try_acquire_n_async(now, key, n))
            }
        }
    }

    fn info(&self, now: Instant, key: &K) -> RateLimitInfo {
        match self {
            KeyedStore::InProcess(local) => local.info(now, key),
            KeyedStore::Custom(store) => store.dyn_info(now, key),
        }
    }

    fn set_quota_for(&self, now: Instant, key: K, algorithm: Algorithm) -> Result<(), ConfigError> {
        match self {
            KeyedStore::InProcess(local) => local.set_quota_for(now, key, algorithm),
            KeyedStore::Custom(store) => store.dyn_set_quota_for(now, key, algorithm),
        }
    }

    fn clear_quota_for(&self, now: Instant, key: &K) {
        match self {
            KeyedStore::InProcess(local) => local.clear_quota_for(now, key),
            KeyedStore::Custom(store) => store.dyn_clear_quota_for(now, key),
        }
    }

    fn keys_held(&self) -> Option<usize> {
        match self {
            KeyedStore::InProcess(local) => local.keys_held(),
            KeyedStore::Custom(store) => store.dyn_keys_held(),
        }
    }

    fn max_keys(&self) -> Option<usize> {
        match self {
            KeyedStore::InProcess(local) => KeyedStateStore::max_keys(local),
            KeyedStore::Custom(store) => store.dyn_max_keys(),
        }
    }
}
