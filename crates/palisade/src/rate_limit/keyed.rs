//! The keyed limiter: one quota per key (user, IP, tenant), with bounded memory.
//!
//! # Memory
//!
//! Keys are attacker-controlled more often than not, so the table must stay bounded without a
//! sweeper the user has to remember. Three rules keep it so:
//!
//! - **A hard cap** (`max_keys`, default 100,000). A new key arriving at a full table first
//!   evicts keys whose state is fully rested — forgetting those loses nothing, since a new
//!   entry starts rested too. (One exception, in the safe direction: a token bucket whose
//!   `initial_tokens` is below its capacity restarts a forgotten key from `initial_tokens`, so
//!   eviction can take tokens from a key, never give it more.) If every key is still active, the new key is refused
//!   ([`Denied::RateLimited`]) rather than given a fresh quota: eviction never lets a key exceed
//!   its bound.
//! - **Idle eviction** without a sweeper thread: each shard drops its rested keys at most once
//!   per `idle_ttl` (default 60 s), on the next call that reaches it, and gives memory back.
//! - **Compact entries**: GCRA, token bucket and fixed window keep one `u64` per key. With
//!   `u64` keys that is 16 bytes per entry, about 36 bytes per key at a million keys including
//!   the hash table's slack (measured in `tests/rate_limit_keyed_memory.rs`). The sliding
//!   window counter keeps three numbers per key; the sliding window log keeps up to
//!   `max_requests` timestamps per key.
//!
//! # Concurrency
//!
//! Keys are spread over up to 64 shards by a seeded hash (foldhash: fast, with a per-limiter
//! random seed so crafted keys cannot be aimed at one bucket). A check locks its key's shard
//! for a few nanoseconds; different keys rarely share a shard.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::config::{Algorithm, Kind};
use super::gcra::Gcra;
use super::store::{denied, publish};
use super::window::{Counts, FixedWindow, SlidingCounter, SlidingLog};
use super::{Denied, RateLimitInfo, RateLimiter};
use crate::builder::{Base, builder_base};
use crate::clock::{Clock, duration_to_nanos};
use crate::error::ConfigError;
use crate::listener::Listeners;
use crate::sync::Mutex;

const POLICY: &str = "rate_limit";
const MAX_SHARDS: usize = 64;
/// At most one sweep per shard per this many nanoseconds when the table is full, so a flood
/// of new keys against a table of active ones cannot turn every call into a full scan.
const MIN_SWEEP_GAP: u64 = 1_000_000;

type Hasher = foldhash::fast::RandomState;

/// The per-key state of one algorithm.
trait Slot: Sized + Send {
    fn new(params: [u64; 2], now: u64, initial_tokens: Option<u64>) -> Self;
    fn decide(&mut self, params: [u64; 2], now: u64, n: u64) -> Result<RateLimitInfo, Denied>;
    fn info(&mut self, params: [u64; 2], now: u64) -> RateLimitInfo;
    /// Fully rested: recreating the key would not give it more than it has.
    fn is_rested(&mut self, params: [u64; 2], now: u64) -> bool;
    /// Re-expresses the state for new parameters, so permits taken keep counting.
    fn convert(&mut self, from: [u64; 2], to: [u64; 2], now: u64);
}

struct GcraSlot(u64);
struct FixedSlot(u64);
struct CounterSlot(Counts);
struct LogSlot(VecDeque<u64>);

impl Slot for GcraSlot {
    fn new([interval, burst]: [u64; 2], now: u64, initial_tokens: Option<u64>) -> Self {
        let missing = burst - initial_tokens.unwrap_or(burst).min(burst);
        GcraSlot(now.saturating_add(missing.saturating_mul(interval)))
    }
    #[inline]
    fn decide(
        &mut self,
        [interval, burst]: [u64; 2],
        now: u64,
        n: u64,
    ) -> Result<RateLimitInfo, Denied> {
        let (next, info) = Gcra { interval, burst }
            .decide(self.0, now, n)
            .map_err(denied)?;
        self.0 = next;
        Ok(info)
    }
    fn info(&mut self, [interval, burst]: [u64; 2], now: u64) -> RateLimitInfo {
        Gcra { interval, burst }.info(self.0, now)
    }
    fn is_rested(&mut self, _: [u64; 2], now: u64) -> bool {
        self.0 <= now
    }
    fn convert(&mut self, from: [u64; 2], to: [u64; 2], now: u64) {
        self.0 = Gcra::rescale(self.0, now, from[0], to[0]);
    }
}

impl Slot for FixedSlot {
    fn new(_: [u64; 2], _: u64, _: Option<u64>) -> Self {
        FixedSlot(0)
    }
    fn decide(
        &mut self,
        [window, max]: [u64; 2],
        now: u64,
        n: u64,
    ) -> Result<RateLimitInfo, Denied> {
        let (next, info) = FixedWindow { window, max }
            .decide(self.0, now, n)
            .map_err(denied)?;
        self.0 = next;
        Ok(info)
    }
    fn info(&mut self, [window, max]: [u64; 2], now: u64) -> RateLimitInfo {
        FixedWindow { window, max }.info(self.0, now)
    }
    fn is_rested(&mut self, [window, max]: [u64; 2], now: u64) -> bool {
        FixedWindow { window, max }.taken(self.0, now) == 0
    }
    fn convert(&mut self, [fw, fm]: [u64; 2], [tw, tm]: [u64; 2], now: u64) {
        let taken = FixedWindow {
            window: fw,
            max: fm,
        }
        .taken(self.0, now);
        self.0 = FixedWindow {
            window: tw,
            max: tm,
        }
        .carry(taken, now);
    }
}

impl Slot for CounterSlot {
    fn new([window, max]: [u64; 2], now: u64, _: Option<u64>) -> Self {
        CounterSlot(SlidingCounter { window, max }.initial(now))
    }
    fn decide(
        &mut self,
        [window, max]: [u64; 2],
        now: u64,
        n: u64,
    ) -> Result<RateLimitInfo, Denied> {
        SlidingCounter { window, max }
            .decide(&mut self.0, now, n)
            .map_err(denied)
    }
    fn info(&mut self, [window, max]: [u64; 2], now: u64) -> RateLimitInfo {
        SlidingCounter { window, max }.info(&self.0, now)
    }
    fn is_rested(&mut self, [window, max]: [u64; 2], now: u64) -> bool {
        SlidingCounter { window, max }.estimate(self.0, now) == 0
    }
    fn convert(&mut self, [fw, fm]: [u64; 2], [tw, tm]: [u64; 2], now: u64) {
        let taken = SlidingCounter {
            window: fw,
            max: fm,
        }
        .estimate(self.0, now);
        self.0 = SlidingCounter {
            window: tw,
            max: tm,
        }
        .carry(taken, now);
    }
}

impl Slot for LogSlot {
    fn new(_: [u64; 2], _: u64, _: Option<u64>) -> Self {
        LogSlot(VecDeque::new())
    }
    fn decide(
        &mut self,
        [window, max]: [u64; 2],
        now: u64,
        n: u64,
    ) -> Result<RateLimitInfo, Denied> {
        SlidingLog { window, max }
            .decide(&mut self.0, now, n)
            .map_err(denied)
    }
    fn info(&mut self, [window, max]: [u64; 2], now: u64) -> RateLimitInfo {
        SlidingLog { window, max }.info(&mut self.0, now)
    }
    fn is_rested(&mut self, [window, max]: [u64; 2], now: u64) -> bool {
        SlidingLog { window, max }.info(&mut self.0, now);
        self.0.is_empty()
    }
    fn convert(&mut self, _: [u64; 2], _: [u64; 2], _: u64) {
        // Timestamps are absolute: the log means the same under any window.
    }
}

/// A key's quota: the algorithm's two numbers and, for token buckets, the starting fill.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Quota {
    params: [u64; 2],
    initial_tokens: Option<u64>,
}

/// One shard: its keys, its per-key quota overrides, and when it last dropped rested keys.
struct Shard<K, S> {
    slots: HashMap<K, S, Hasher>,
    overrides: HashMap<K, Quota, Hasher>,
    last_sweep: u64,
}

struct Table<K, S> {
    shards: Box<[Mutex<Shard<K, S>>]>,
    hasher: Hasher,
    max_per_shard: usize,
}

enum Tables<K> {
    Gcra(Table<K, GcraSlot>),
    Fixed(Table<K, FixedSlot>),
    Counter(Table<K, CounterSlot>),
    Log(Table<K, LogSlot>),
}

impl<K> LocalKeyedState<K> {
    fn quota(&self) -> Quota {
        Quota {
            params: self.params,
            initial_tokens: self.initial_tokens,
        }
    }
}

/// The in-process keyed store: every key's state in this process's memory, sharded, bounded
/// (see the [`KeyedRateLimiter`] docs). Built by [`KeyedRateLimiter::builder`].
///
/// ```
/// use palisade::rate_limit::{Algorithm, KeyedRateLimiter, KeyedStateStore, Rate};
/// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 2 }).build::<u32>()?;
/// assert_eq!(l.store().info(&7).remaining(), 2);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct LocalKeyedState<K> {
    name: Arc<str>,
    algorithm: Algorithm,
    params: [u64; 2],
    initial_tokens: Option<u64>,
    clock: Clock,
    listeners: Listeners<RateLimiter>,
    idle_ttl: u64,
    tables: Tables<K>,
}

/// A rate limiter with one quota per key. See the [module docs](crate::rate_limit). Cheap to clone.
///
/// ```
/// use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
/// let per_user = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(5), burst: 1 })
///     .max_keys(10_000)
///     .build()?;
/// assert!(per_user.try_acquire(&"alice").is_ok());
/// assert!(per_user.try_acquire(&"alice").is_err()); // alice used her burst
/// assert!(per_user.try_acquire(&"bob").is_ok());    // bob has his own quota
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct KeyedRateLimiter<K, S = LocalKeyedState<K>> {
    store: Arc<S>,
    key: PhantomData<fn(&K)>,
}

impl<K, S> Clone for KeyedRateLimiter<K, S> {
    fn clone(&self) -> Self {
        KeyedRateLimiter {
            store: Arc::clone(&self.store),
            key: PhantomData,
        }
    }
}

/// Storage and decision logic of a keyed limiter's quotas. [`LocalKeyedState`] keeps them in
/// this process; a fleet-wide implementation (Redis: one remote entry per key) plugs in
/// behind the same [`KeyedRateLimiter`] API with [`KeyedRateLimiter::with_store`]. See
/// [`StateStore`](super::StateStore) for the direct limiter's seam and its async decision.
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
pub trait KeyedStateStore<K>: Send + Sync {
    /// Takes `n` permits for `key` if available now — all or none.
    fn try_acquire_n(&self, key: &K, n: u32) -> Result<RateLimitInfo, Denied>;

    /// [`try_acquire_n`](Self::try_acquire_n) for async callers: a remote store makes its
    /// round trip here. The default answers at once with the synchronous decision.
    fn try_acquire_n_async(
        &self,
        key: &K,
        n: u32,
    ) -> impl Future<Output = Result<RateLimitInfo, Denied>> + Send {
        std::future::ready(self.try_acquire_n(key, n))
    }

    /// What `key` could take right now, without taking anything.
    fn info(&self, key: &K) -> RateLimitInfo;

    /// Gives `key` its own quota (same kind of algorithm as the limiter's).
    fn set_quota_for(&self, key: K, algorithm: Algorithm) -> Result<(), ConfigError>;

    /// Returns `key` to the limiter's quota.
    fn clear_quota_for(&self, key: &K);

    /// The limiter's name.
    fn name(&self) -> &Arc<str>;

    /// The limiter's clock.
    fn clock(&self) -> &Clock;
}

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

// Not generic, so `KeyedRateLimiter::builder(..)` needs no turbofish: the key type is chosen by
// `build()` (or inferred from use).
impl KeyedRateLimiter<()> {
    /// Starts building a keyed limiter giving each key `algorithm`'s quota.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l: KeyedRateLimiter<String> = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// # let _ = l;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn builder(algorithm: Algorithm) -> KeyedRateLimiterBuilder {
        KeyedRateLimiterBuilder {
            algorithm,
            base: Base::new(),
            max_keys: 100_000,
            idle_ttl: Duration::from_secs(60),
        }
    }
}

impl<K, S: KeyedStateStore<K>> KeyedRateLimiter<K, S> {
    /// A keyed limiter over `store` (shared: limiters over one store share its state): the
    /// same API, whatever keeps the state.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// use std::sync::Arc;
    /// let local = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build::<u8>()?;
    /// let again: KeyedRateLimiter<u8, _> = KeyedRateLimiter::with_store(Arc::clone(local.store()));
    /// assert!(again.try_acquire(&1).is_ok());
    /// assert!(local.try_acquire(&1).is_err()); // one shared state
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn with_store(store: Arc<S>) -> Self {
        KeyedRateLimiter {
            store,
            key: PhantomData,
        }
    }

    /// The store that keeps this limiter's state.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, KeyedRateLimiter, KeyedStateStore, Rate};
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).name("ip").build::<u8>()?;
    /// assert_eq!(&**l.store().name(), "ip");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// Takes one permit for `key` if available now.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 2 }).build()?;
    /// assert_eq!(l.try_acquire(&7u64).map(|i| i.remaining()), Ok(1));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self, key: &K) -> Result<RateLimitInfo, Denied> {
        self.try_acquire_n(key, 1)
    }

    /// Takes `n` permits for `key` at once if available now — all or none.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate, Denied};
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 2 }).build()?;
    /// assert!(matches!(l.try_acquire_n(&1u64, 3), Err(Denied::ExceedsCapacity { .. })));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn try_acquire_n(&self, key: &K, n: u32) -> Result<RateLimitInfo, Denied> {
        self.store.try_acquire_n(key, n)
    }

    /// What `key` could take right now, without taking anything (and without adding the key).
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 4 }).build()?;
    /// assert_eq!(l.info(&"new").remaining(), 4);
    /// assert_eq!(l.len(), 0);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn info(&self, key: &K) -> RateLimitInfo {
        self.store.info(key)
    }

    /// Gives `key` its own quota (same kind of algorithm), for example a higher limit for a
    /// paying tenant. Kept while the limiter lives, even when the key's state is evicted.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// l.set_quota_for("vip", Algorithm::Gcra { rate: Rate::per_second(100), burst: 10 })?;
    /// assert_eq!(l.info(&"vip").limit(), 10);
    /// assert_eq!(l.info(&"anyone").limit(), 1);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn set_quota_for(&self, key: K, algorithm: Algorithm) -> Result<(), ConfigError> {
        self.store.set_quota_for(key, algorithm)
    }

    /// Returns `key` to the limiter's quota.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// l.set_quota_for("vip", Algorithm::Gcra { rate: Rate::per_second(1), burst: 5 })?;
    /// l.clear_quota_for(&"vip");
    /// assert_eq!(l.info(&"vip").limit(), 1);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn clear_quota_for(&self, key: &K) {
        self.store.clear_quota_for(key)
    }

    /// Takes `n` permits for `key`, asking the store asynchronously (a remote store's round
    /// trip); the in-process store answers at once.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), palisade::ConfigError> {
    /// use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 2 }).build::<u8>()?;
    /// assert_eq!(l.try_acquire_n_async(&1, 2).await.map(|i| i.remaining()), Ok(0));
    /// # Ok(()) }
    /// ```
    pub async fn try_acquire_n_async(&self, key: &K, n: u32) -> Result<RateLimitInfo, Denied> {
        self.store.try_acquire_n_async(key, n).await
    }

    /// The limiter's name.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l: KeyedRateLimiter<u8> = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).name("per-ip").build()?;
    /// assert_eq!(l.name(), "per-ip");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        self.store.name()
    }

    /// The limiter's clock.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 })
    ///     .clock(ManualClock::new())
    ///     .build::<u32>()?;
    /// assert!(l.clock().is_manual());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn clock(&self) -> &Clock {
        self.store.clock()
    }
}

impl<K: Hash + Eq + Clone + Send> KeyedRateLimiter<K, LocalKeyedState<K>> {
    /// Keys currently tracked.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// let _ = l.try_acquire(&1u8);
    /// assert_eq!(l.len(), 1);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn len(&self) -> usize {
        match &self.store.tables {
            Tables::Gcra(t) => t.len(),
            Tables::Fixed(t) => t.len(),
            Tables::Counter(t) => t.len(),
            Tables::Log(t) => t.len(),
        }
    }

    /// Whether no key is tracked.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l: KeyedRateLimiter<u8> = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// assert!(l.is_empty());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys tracked at once (rounded up to a multiple of the shard count).
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l: KeyedRateLimiter<u8> = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).max_keys(100).build()?;
    /// assert!(l.max_keys() >= 100);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_keys(&self) -> usize {
        match &self.store.tables {
            Tables::Gcra(t) => t.capacity(),
            Tables::Fixed(t) => t.capacity(),
            Tables::Counter(t) => t.capacity(),
            Tables::Log(t) => t.capacity(),
        }
    }
}

impl<K: Hash + Eq + Clone + Send> KeyedStateStore<K> for LocalKeyedState<K> {
    fn try_acquire_n(&self, key: &K, n: u32) -> Result<RateLimitInfo, Denied> {
        let now = self.clock.now().as_nanos();
        let n = u64::from(n);
        let outcome = match &self.tables {
            Tables::Gcra(t) => t.acquire(self, key, now, n),
            Tables::Fixed(t) => t.acquire(self, key, now, n),
            Tables::Counter(t) => t.acquire(self, key, now, n),
            Tables::Log(t) => t.acquire(self, key, now, n),
        };
        if n > 0 && !self.listeners.is_empty() {
            publish(&self.listeners, &self.name, n, &outcome);
        }
        outcome
    }

    fn info(&self, key: &K) -> RateLimitInfo {
        let now = self.clock.now().as_nanos();
        match &self.tables {
            Tables::Gcra(t) => t.info(self, key, now),
            Tables::Fixed(t) => t.info(self, key, now),
            Tables::Counter(t) => t.info(self, key, now),
            Tables::Log(t) => t.info(self, key, now),
        }
    }

    fn set_quota_for(&self, key: K, algorithm: Algorithm) -> Result<(), ConfigError> {
        let (kind, params, initial_tokens) = algorithm.compile()?;
        if kind != self.kind() {
            return Err(ConfigError::new(
                POLICY,
                "algorithm",
                format_args!("{algorithm:?}"),
                "a per-key quota must use the same kind of algorithm as the limiter",
            ));
        }
        let quota = Quota {
            params,
            initial_tokens,
        };

        let now = self.clock.now().as_nanos();
        match &self.tables {
            Tables::Gcra(t) => t.set_override(self, key, Some(quota), now),
            Tables::Fixed(t) => t.set_override(self, key, Some(quota), now),
            Tables::Counter(t) => t.set_override(self, key, Some(quota), now),
            Tables::Log(t) => t.set_override(self, key, Some(quota), now),
        }
        Ok(())
    }

    fn clear_quota_for(&self, key: &K) {
        let now = self.clock.now().as_nanos();
        match &self.tables {
            Tables::Gcra(t) => t.set_override(self, key.clone(), None, now),
            Tables::Fixed(t) => t.set_override(self, key.clone(), None, now),
            Tables::Counter(t) => t.set_override(self, key.clone(), None, now),
            Tables::Log(t) => t.set_override(self, key.clone(), None, now),
        }
    }

    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn clock(&self) -> &Clock {
        &self.clock
    }
}

impl<K> LocalKeyedState<K> {
    fn kind(&self) -> Kind {
        match &self.tables {
            Tables::Gcra(_) => Kind::Gcra,
            Tables::Fixed(_) => Kind::FixedWindow,
            Tables::Counter(_) => Kind::SlidingCounter,
            Tables::Log(_) => Kind::SlidingLog,
        }
    }
}

impl<K: Hash + Eq + Clone + Send, S: Slot> Table<K, S> {
    fn new(max_keys: usize) -> Self {
        // Enough shards to spread contention, not so many that a small table is all slack.
        let shards = (max_keys / 1024)
            .clamp(1, MAX_SHARDS)
            .next_power_of_two()
            .min(MAX_SHARDS);
        let hasher = Hasher::default();
        Table {
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        slots: HashMap::with_hasher(hasher.clone()),
                        overrides: HashMap::with_hasher(hasher.clone()),
                        last_sweep: 0,
                    })
                })
                .collect(),
            max_per_shard: max_keys.div_ceil(shards).max(1),
            hasher,
        }
    }

    #[inline]
    fn shard(&self, key: &K) -> crate::sync::MutexGuard<'_, Shard<K, S>> {
        let index = (self.hasher.hash_one(key) as usize) & (self.shards.len() - 1);
        crate::sync::lock(&self.shards[index])
    }

    fn acquire(
        &self,
        inner: &LocalKeyedState<K>,
        key: &K,
        now: u64,
        n: u64,
    ) -> Result<RateLimitInfo, Denied> {
        let mut shard = self.shard(key);
        let quota = if shard.overrides.is_empty() {
            inner.quota()
        } else {
            shard.overrides.get(key).copied().unwrap_or(inner.quota())
        };
        let params = quota.params;
        if n > params[1] {
            return Err(Denied::ExceedsCapacity {
                requested: n,
                capacity: params[1],
            });
        }
        if now.saturating_sub(shard.last_sweep) >= inner.idle_ttl {
            sweep(&mut shard, inner, now);
        }
        if let Some(slot) = shard.slots.get_mut(key) {
            if n == 0 {
                return Ok(slot.info(params, now));
            }
            return slot.decide(params, now, n);
        }
        let mut slot = S::new(params, now, quota.initial_tokens);
        if n == 0 {
            return Ok(slot.info(params, now));
        }
        if shard.slots.len() >= self.max_per_shard {
            // Full: make room by forgetting rested keys, never active ones.
            if now.saturating_sub(shard.last_sweep) >= MIN_SWEEP_GAP {
                sweep(&mut shard, inner, now);
            }
            if shard.slots.len() >= self.max_per_shard {
                return Err(Denied::RateLimited {
                    retry_after: Duration::from_nanos(params[0].max(1)),
                    info: slot.info(params, now),
                });
            }
        }
        let decision = slot.decide(params, now, n);
        shard.slots.insert(key.clone(), slot);
        decision
    }

    fn info(&self, inner: &LocalKeyedState<K>, key: &K, now: u64) -> RateLimitInfo {
        let mut shard = self.shard(key);
        let quota = shard.overrides.get(key).copied().unwrap_or(inner.quota());
        match shard.slots.get_mut(key) {
            Some(slot) => slot.info(quota.params, now),
            None => S::new(quota.params, now, quota.initial_tokens).info(quota.params, now),
        }
    }

    /// Installs (or with `None` removes) `key`'s own quota, converting any state the key has
    /// so permits already taken keep counting under the new quota.
    fn set_override(&self, inner: &LocalKeyedState<K>, key: K, quota: Option<Quota>, now: u64) {
        let mut shard = self.shard(&key);
        let Shard {
            slots, overrides, ..
        } = &mut *shard;
        let from = overrides.get(&key).copied().unwrap_or(inner.quota());
        let to = quota.unwrap_or(inner.quota());
        if let Some(slot) = slots.get_mut(&key) {
            slot.convert(from.params, to.params, now);
        }
        match quota {
            Some(q) => {
                overrides.insert(key, q);
            }
            None => {
                overrides.remove(&key);
            }
        }
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| crate::sync::lock(s).slots.len())
            .sum()
    }

    fn capacity(&self) -> usize {
        self.max_per_shard.saturating_mul(self.shards.len())
    }
}

/// Drops the shard's rested keys and gives memory back when the table has shrunk a lot.
fn sweep<K: Hash + Eq, S: Slot>(shard: &mut Shard<K, S>, inner: &LocalKeyedState<K>, now: u64) {
    let Shard {
        slots, overrides, ..
    } = shard;
    slots.retain(|key, slot| {
        let params = overrides.get(key).map_or(inner.params, |q| q.params);
        !slot.is_rested(params, now)
    });
    if slots.capacity() > 64 && slots.len() < slots.capacity() / 4 {
        slots.shrink_to_fit();
    }
    shard.last_sweep = now;
}

impl KeyedRateLimiterBuilder {
    /// The most keys tracked at once (default 100,000). At least 1.
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

    /// Validates the settings and builds the limiter.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let err = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 0 }).build::<u8>().unwrap_err();
    /// assert_eq!(err.field(), "burst");
    /// ```
    pub fn build<K: Hash + Eq + Clone + Send>(self) -> Result<KeyedRateLimiter<K>, ConfigError> {
        let (kind, params, initial_tokens) = self.algorithm.compile()?;
        if self.max_keys == 0 {
            return Err(ConfigError::new(
                POLICY,
                "max_keys",
                0,
                "must be at least 1",
            ));
        }
        crate::validate::positive(POLICY, "idle_ttl", self.idle_ttl)?;
        let tables = match kind {
            Kind::Gcra => Tables::Gcra(Table::new(self.max_keys)),
            Kind::FixedWindow => Tables::Fixed(Table::new(self.max_keys)),
            Kind::SlidingCounter => Tables::Counter(Table::new(self.max_keys)),
            Kind::SlidingLog => Tables::Log(Table::new(self.max_keys)),
        };
        Ok(KeyedRateLimiter {
            key: PhantomData,
            store: Arc::new(LocalKeyedState {
                name: self.base.name_or(POLICY),
                algorithm: self.algorithm,
                params,
                initial_tokens,
                clock: self.base.clock,
                listeners: self.base.listeners,
                idle_ttl: duration_to_nanos(self.idle_ttl),
                tables,
            }),
        })
    }
}

impl fmt::Debug for KeyedRateLimiterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiterBuilder")
            .field("algorithm", &self.algorithm)
            .field("base", &self.base)
            .field("max_keys", &self.max_keys)
            .field("idle_ttl", &self.idle_ttl)
            .finish_non_exhaustive()
    }
}

impl<K, S: KeyedStateStore<K>> fmt::Debug for KeyedRateLimiter<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("name", self.store.name())
            .finish_non_exhaustive()
    }
}

impl<K> fmt::Debug for LocalKeyedState<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKeyedState")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

builder_base!(
    KeyedRateLimiterBuilder,
    kind = RateLimiter,
    make = "palisade::rate_limit::KeyedRateLimiter::builder(palisade::rate_limit::Algorithm::Gcra { rate: palisade::rate_limit::Rate::per_second(10), burst: 10 })",
    build = ".build::<u32>()"
);
