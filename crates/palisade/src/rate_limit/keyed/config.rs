//! [`KeyedRateLimiterBuilder`]: a keyed limiter's quota, memory bounds, and the shared base.

use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use super::super::RateLimiter;
use super::super::config::Algorithm;
use super::{KeyedRateLimiter, KeyedStateStore, KeyedStore, LocalKeyedState};
use crate::builder::{Base, builder_base};
use crate::error::ConfigError;

const POLICY: &str = "rate_limit";

/// Builds a [`KeyedRateLimiter`]; start with [`KeyedRateLimiter::builder`].
///
/// ```
/// use palisade::rate_limit::{Algorithm, KeyedRateLimiter};
/// use std::time::Duration;
/// let limiter: KeyedRateLimiter<u64> = KeyedRateLimiter::builder(Algorithm::FixedWindow {
///     max_requests: 100,
///     window: Duration::from_secs(60),
/// })
/// .max_keys(1_000)
/// .idle_ttl(Duration::from_secs(300))
/// .build()?;
/// # let _ = limiter;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct KeyedRateLimiterBuilder {
    algorithm: Algorithm,
    base: Base<RateLimiter>,
    max_keys: usize,
    idle_ttl: Duration,
}

impl KeyedRateLimiterBuilder {
    pub(super) fn new(algorithm: Algorithm) -> Self {
        KeyedRateLimiterBuilder {
            algorithm,
            base: Base::new(),
            max_keys: 100_000,
            idle_ttl: Duration::from_secs(60),
        }
    }

    /// The most keys held at once (default 100,000), across the whole table. At least 1.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let err = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).max_keys(0).build::<u8>().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("max_keys", "0"));
    /// ```
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// How often each shard drops keys that are fully rested (default 60 s). Greater than zero.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// use std::time::Duration;
    /// let l: KeyedRateLimiter<u8> = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 })
    ///     .idle_ttl(Duration::from_secs(10))
    ///     .build()?;
    /// # let _ = l;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = ttl;
        self
    }

    /// Validates the settings and builds the limiter, its quotas in this process.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let err = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 0 }).build::<u8>().unwrap_err();
    /// assert_eq!(err.field(), "burst");
    /// ```
    pub fn build<K>(self) -> Result<KeyedRateLimiter<K>, ConfigError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        let local = LocalKeyedState::new(self.algorithm, self.max_keys, self.idle_ttl)?;
        self.build_with_store(KeyedStore::from(local))
    }

    /// Builds the limiter over `store` — a fleet-wide store, or [`KeyedStore::custom`] of any
    /// [`KeyedStateStore`]. The quota is still validated here; `max_keys` and `idle_ttl` are
    /// the in-process store's and do not apply to another.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, KeyedRateLimiter, KeyedStore, LocalKeyedState, Rate};
    /// use std::time::Duration;
    /// let algorithm = Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 };
    /// let store = KeyedStore::custom(LocalKeyedState::<u8>::new(algorithm, 10, Duration::from_secs(1))?);
    /// let l = KeyedRateLimiter::builder(algorithm).build_with_store(store)?;
    /// assert!(l.try_acquire(&1).is_ok());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn build_with_store<K, S>(self, store: S) -> Result<KeyedRateLimiter<K, S>, ConfigError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        S: KeyedStateStore<K>,
    {
        self.algorithm.compile()?;
        Ok(KeyedRateLimiter::assemble(
            self.base.name_or(POLICY),
            self.base.clock,
            self.base.listeners,
            store,
        ))
    }
}

impl fmt::Debug for KeyedRateLimiterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiterBuilder")
            .field("algorithm", &self.algorithm)
            .field("base", &self.base)
            .field("max_keys", &self.max_keys)
            .field("idle_ttl", &self.idle_ttl)
            .finish()
    }
}

builder_base!(
    KeyedRateLimiterBuilder,
    kind = RateLimiter,
    make = "palisade::rate_limit::KeyedRateLimiter::builder(palisade::rate_limit::Algorithm::Gcra { rate: palisade::rate_limit::Rate::per_second(10), burst: 10 })",
    build = ".build::<u32>()"
);
