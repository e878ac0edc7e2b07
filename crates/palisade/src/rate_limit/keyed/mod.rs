//! The keyed limiter: one quota per key (user, IP, tenant), with bounded memory.
//!
//! # Memory
//!
//! Keys are attacker-controlled more often than not, so the table must stay bounded without a
//! sweeper the user has to remember. Three rules keep it so:
//!
//! - **A hard cap** (`max_keys`, default 100,000), one count for the whole table: `max_keys(n)`
//!   holds `n` active keys however they hash. A new key arriving at a full table first evicts
//!   keys whose state is fully rested — forgetting those loses nothing, since a new entry
//!   starts rested too. (One exception, in the safe direction: a token bucket whose
//!   `initial_tokens` is below its capacity restarts a forgotten key from `initial_tokens`,
//!   so eviction can take tokens from a key, never give it more.) If every key is still
//!   active, the new key is refused ([`Denied::RateLimited`]) rather than given a fresh quota:
//!   eviction never lets a key exceed its bound.
//! - **Idle eviction** without a sweeper thread: each shard drops its rested keys at most once
//!   per `idle_ttl` (default 60 s), on the next call that reaches it, and gives memory back.
//! - **Compact entries**: GCRA, token bucket and fixed window keep one `u64` per key. With
//!   `u64` keys that is 16 bytes per entry, about 36 bytes per key at a million keys including
//!   the hash table's slack (measured in `tests/rate_limit_keyed_memory.rs`). The sliding
//!   window counter keeps three numbers per key; the sliding window log keeps up to
//!   `max_requests` timestamps per key.
//!
//! # Waiting for a key
//!
//! [`acquire_n`](KeyedRateLimiter::acquire_n) and
//! [`acquire_n_blocking`](KeyedRateLimiter::acquire_n_blocking) wait until a key's permits are
//! granted (governor's `until_key_ready`): waiters of one key are served in arrival order, a
//! dropped waiter leaves holding nothing, `max_wait` bounds the whole wait. Waiters of
//! different keys never wait for each other; a key's queue exists only while someone waits.
//!
//! # Concurrency
//!
//! Keys are spread over up to 64 shards by a seeded hash (foldhash: fast, with a per-limiter
//! random seed so crafted keys cannot be aimed at one bucket). A check locks its key's shard
//! for a few nanoseconds; different keys rarely share a shard.

mod config;
mod local;
mod slot;
mod store;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Duration;

pub use config::KeyedRateLimiterBuilder;
pub use local::LocalKeyedState;
pub use store::{DynKeyedStateStore, KeyedDecision, KeyedStateStore, KeyedStore};

use super::{Algorithm, Denied, RateLimitInfo, RateLimiter, publish};
use crate::clock::{self, Clock, Instant};
use crate::error::ConfigError;
use crate::future::first;
use crate::listener::Listeners;
use crate::sync::semaphore::{Entry, QueueFull, Semaphore};
use crate::sync::{Mutex, lock};
use local::Hasher;

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
pub struct KeyedRateLimiter<K, S = KeyedStore<K>> {
    shared: Arc<Shared<K, S>>,
}

struct Shared<K, S> {
    name: Arc<str>,
    clock: Clock,
    listeners: Listeners<RateLimiter>,
    store: S,
    /// Each waited-for key's turn: its waiters, one at a time, in arrival order.
    turns: Turns<K>,
}

/// The turns of the keys someone waits for, sharded like the keys themselves.
struct Turns<K> {
    shards: Box<[TurnShard<K>]>,
    hasher: Hasher,
}

/// The turns of the waited-for keys that hash to one shard.
type TurnShard<K> = Mutex<HashMap<K, Arc<Semaphore>, Hasher>>;

const TURN_SHARDS: usize = 16;

impl<K: Hash + Eq + Clone> Turns<K> {
    fn new() -> Self {
        let hasher = Hasher::default();
        Turns {
            shards: (0..TURN_SHARDS)
                .map(|_| Mutex::new(HashMap::with_hasher(hasher.clone())))
                .collect(),
            hasher,
        }
    }

    fn shard(&self, key: &K) -> &TurnShard<K> {
        &self.shards[(self.hasher.hash_one(key) as usize) & (TURN_SHARDS - 1)]
    }

    /// `key`'s turn, created for the first waiter.
    fn join(&self, key: &K) -> Arc<Semaphore> {
        let mut turns = lock(self.shard(key));
        match turns.get(key) {
            Some(turn) => Arc::clone(turn),
            None => {
                let turn = Arc::new(Semaphore::new(1));
                turns.insert(key.clone(), Arc::clone(&turn));
                turn
            }
        }
    }

    /// A waiter is done with `key`'s turn; the last one removes it.
    fn leave(&self, key: &K, turn: Arc<Semaphore>) {
        let mut turns = lock(self.shard(key));
        // The map's reference and this one: nobody else waits or is about to.
        if Arc::strong_count(&turn) == 2 {
            turns.remove(key);
        }
        drop(turns);
        drop(turn);
    }
}

/// A waiter's place in a key's turn: holds the turn once granted, leaves it when dropped.
struct KeyTurn<'a, K: Hash + Eq + Clone> {
    turns: &'a Turns<K>,
    key: &'a K,
    turn: Option<Arc<Semaphore>>,
    held: bool,
}

impl<K: Hash + Eq + Clone> Drop for KeyTurn<'_, K> {
    fn drop(&mut self) {
        if let Some(turn) = self.turn.take() {
            if self.held {
                turn.release();
            }
            self.turns.leave(self.key, turn);
        }
    }
}

impl<K, S> Clone for KeyedRateLimiter<K, S> {
    fn clone(&self) -> Self {
        KeyedRateLimiter {
            shared: Arc::clone(&self.shared),
        }
    }
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
        KeyedRateLimiterBuilder::new(algorithm)
    }
}

impl<K, S> KeyedRateLimiter<K, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: KeyedStateStore<K>,
{
    pub(crate) fn assemble(
        name: Arc<str>,
        clock: Clock,
        listeners: Listeners<RateLimiter>,
        store: S,
    ) -> Self {
        KeyedRateLimiter {
            shared: Arc::new(Shared {
                name,
                clock,
                listeners,
                store,
                turns: Turns::new(),
            }),
        }
    }

    /// The store that keeps this limiter's state.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, KeyedRateLimiter, KeyedStateStore, Rate};
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build::<u8>()?;
    /// assert_eq!(l.store().keys_held(), Some(0));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn store(&self) -> &S {
        &self.shared.store
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
        let shared = &*self.shared;
        let outcome = shared.store.try_acquire_n(shared.clock.now(), key, n);
        self.observed(outcome, n)
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
        let shared = &*self.shared;
        let outcome = shared
            .store
            .try_acquire_n_async(shared.clock.now(), key, n)
            .await;
        self.observed(outcome, n)
    }

    #[inline]
    fn observed(
        &self,
        outcome: Result<RateLimitInfo, Denied>,
        n: u32,
    ) -> Result<RateLimitInfo, Denied> {
        let shared = &*self.shared;
        if n > 0 && !shared.listeners.is_empty() {
            publish(&shared.listeners, &shared.name, u64::from(n), &outcome);
        }
        outcome
    }

    /// Waits until `n` permits for `key` are granted, then takes them (governor's
    /// `until_key_ready`). Waiters of one key are served in arrival order; a dropped waiter
    /// leaves the queue holding nothing; `max_wait` bounds the whole wait, time queued behind
    /// the key's other waiters included — a request that would wait past it fails as soon as
    /// that is known. More than the key can ever be granted fails at once with
    /// [`Denied::ExceedsCapacity`]. Waits are on the limiter's clock.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use palisade::clock::Clock;
    /// use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// use std::time::Duration;
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 1 })
    ///     .clock(Clock::tokio())
    ///     .build()?;
    /// let start = tokio::time::Instant::now();
    /// l.acquire_n(&"alice", 1, None).await?;
    /// l.acquire_n(&"alice", 1, None).await?; // waits one interval
    /// l.acquire_n(&"bob", 1, None).await?;   // bob's quota is his own: no wait
    /// assert_eq!(start.elapsed(), Duration::from_millis(100));
    /// assert!(l.acquire_n(&"alice", 1, Some(Duration::from_millis(10))).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn acquire_n(
        &self,
        key: &K,
        n: u32,
        max_wait: Option<Duration>,
    ) -> Result<RateLimitInfo, Denied> {
        let clock = &self.shared.clock;
        let deadline = max_wait.map(|wait| clock.now().saturating_add(wait));
        let mut turn = self.join(key);
        let granted = match turn.turn.as_deref().map(|t| t.enqueue(usize::MAX)) {
            Some(Ok(Entry::Acquired)) => true,
            Some(Ok(Entry::Queued(waiting))) => match deadline {
                None => {
                    waiting.await;
                    true
                }
                Some(deadline) => first(waiting, clock.sleep_until(deadline)).await.is_some(),
            },
            Some(Err(QueueFull)) | None => false,
        };
        if !granted {
            return Err(self.gave_up_queued(key));
        }
        turn.held = true;
        loop {
            let outcome = self.try_acquire_n_async(key, n).await;
            match self.wait_for(outcome, deadline)? {
                Ok(info) => return Ok(info),
                Err(wait) => clock.sleep(wait).await,
            }
        }
    }

    /// [`acquire_n`](Self::acquire_n) for blocking code: the same queue per key, the same
    /// bound, the thread parked while it waits.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let clock = ManualClock::new();
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 1 })
    ///     .clock(clock.clone())
    ///     .build()?;
    /// l.acquire_n_blocking(&1u32, 1, None)?;
    /// l.acquire_n_blocking(&1u32, 1, None)?; // waits one interval of virtual time
    /// assert_eq!(clock.now().as_nanos(), 100_000_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_n_blocking(
        &self,
        key: &K,
        n: u32,
        max_wait: Option<Duration>,
    ) -> Result<RateLimitInfo, Denied> {
        let clock = &self.shared.clock;
        let deadline = max_wait.map(|wait| clock.now().saturating_add(wait));
        let mut turn = self.join(key);
        let granted = match turn.turn.as_deref().map(|t| t.enqueue(usize::MAX)) {
            Some(Ok(Entry::Acquired)) => true,
            Some(Ok(Entry::Queued(waiting))) => {
                clock::wait_until(clock, waiting, deadline).is_some()
            }
            Some(Err(QueueFull)) | None => false,
        };
        if !granted {
            return Err(self.gave_up_queued(key));
        }
        turn.held = true;
        loop {
            match self.wait_for(self.try_acquire_n(key, n), deadline)? {
                Ok(info) => return Ok(info),
                Err(wait) => clock.sleep_blocking(wait),
            }
        }
    }

    fn join<'a>(&'a self, key: &'a K) -> KeyTurn<'a, K> {
        let turns = &self.shared.turns;
        KeyTurn {
            turns,
            key,
            turn: Some(turns.join(key)),
            held: false,
        }
    }

    /// One step of a waiting acquisition: granted (`Ok(Ok)`), sleep this long (`Ok(Err)`), or
    /// give up (`Err`: never satisfiable, or the wait would pass the deadline).
    fn wait_for(
        &self,
        outcome: Result<RateLimitInfo, Denied>,
        deadline: Option<Instant>,
    ) -> Result<Result<RateLimitInfo, Duration>, Denied> {
        match outcome {
            Ok(info) => Ok(Ok(info)),
            Err(Denied::RateLimited { retry_after, info }) => {
                let now = self.shared.clock.now();
                if deadline.is_some_and(|d| now.saturating_add(retry_after) > d) {
                    return Err(Denied::RateLimited { retry_after, info });
                }
                Ok(Err(retry_after))
            }
            Err(never) => Err(never),
        }
    }

    /// The rejection of a waiter whose `max_wait` ran out in `key`'s queue: come back once
    /// the key has refilled (waiters ahead may take what refills before).
    #[cold]
    fn gave_up_queued(&self, key: &K) -> Denied {
        let info = self.info(key);
        Denied::RateLimited {
            retry_after: info.reset_after(),
            info,
        }
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
        self.shared.store.info(self.shared.clock.now(), key)
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
        self.shared
            .store
            .set_quota_for(self.shared.clock.now(), key, algorithm)
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
        self.shared
            .store
            .clear_quota_for(self.shared.clock.now(), key)
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
        &self.shared.name
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
        &self.shared.clock
    }

    /// Keys this process holds state for (zero for a store elsewhere).
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// let _ = l.try_acquire(&1u8);
    /// assert_eq!(l.len(), 1);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.shared.store.keys_held().unwrap_or(0)
    }

    /// Whether this process holds no key.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build::<u8>()?;
    /// assert!(l.is_empty());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys this process holds at once (`usize::MAX` for a store that does not
    /// bound them here).
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
    /// let l = KeyedRateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).max_keys(500).build::<u8>()?;
    /// assert_eq!(l.max_keys(), 500);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_keys(&self) -> usize {
        self.shared.store.max_keys().unwrap_or(usize::MAX)
    }
}

impl<K, S> fmt::Debug for KeyedRateLimiter<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}
