//! [`LocalKeyedState`]: every key's quota in this process, sharded, with a hard cap on keys.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use super::super::config::{Algorithm, Kind};
use super::super::{Denied, RateLimitInfo};
use super::slot::{CounterSlot, FixedSlot, GcraSlot, LogSlot, Slot};
use super::store::KeyedStateStore;
use crate::clock::{Instant, duration_to_nanos};
use crate::error::ConfigError;
use crate::sync::{AtomicU64, Mutex, MutexGuard, Ordering};

const POLICY: &str = "rate_limit";

/// The most shards a table is split into.
const MAX_SHARDS: usize = 64;

/// The least time between two sweeps of one shard made to find room for a new key: when the
/// table is full of active keys, new keys are refused without rescanning it each time.
const MIN_SWEEP_GAP: u64 = 1_000_000;

pub(super) type Hasher = foldhash::fast::RandomState;

/// A key's own quota, or the limiter's.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Quota {
    params: [u64; 2],
    initial_tokens: Option<u64>,
}

struct Shard<K, S> {
    slots: HashMap<K, S, Hasher>,
    overrides: HashMap<K, Quota, Hasher>,
    last_sweep: u64,
}

struct Table<K, S> {
    shards: Box<[Mutex<Shard<K, S>>]>,
    hasher: Hasher,
}

enum Tables<K> {
    Gcra(Table<K, GcraSlot>),
    Fixed(Table<K, FixedSlot>),
    Counter(Table<K, CounterSlot>),
    Log(Table<K, LogSlot>),
}

/// Runs `$body` with `$t` bound to whichever table the limiter's algorithm uses.
macro_rules! with_table {
    ($tables:expr, $t:ident => $body:expr) => {
        match $tables {
            Tables::Gcra($t) => $body,
            Tables::Fixed($t) => $body,
            Tables::Counter($t) => $body,
            Tables::Log($t) => $body,
        }
    };
}

/// Every key's quota in this process: the keyed limiter's default store. See the
/// [module docs](crate::rate_limit) for its memory rules.
///
/// Keys are spread over up to 64 shards by a seeded hash (foldhash, with a per-limiter random
/// seed so crafted keys cannot be aimed at one shard); a check locks its key's shard for a
/// few nanoseconds. The cap on keys is one count for the whole table, so `max_keys(n)` holds
/// `n` active keys however they hash.
///
/// ```
/// use palisade::rate_limit::{Algorithm, KeyedStateStore, LocalKeyedState, Rate};
/// use palisade::clock::Instant;
/// let state: LocalKeyedState<u64> =
///     LocalKeyedState::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 2 }, 1_000, std::time::Duration::from_secs(60))?;
/// let now = Instant::default();
/// assert!(state.try_acquire_n(now, &7, 2).is_ok());
/// assert!(state.try_acquire_n(now, &7, 1).is_err());
/// assert_eq!(state.len(), 1);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct LocalKeyedState<K> {
    algorithm: Algorithm,
    quota: Quota,
    idle_ttl: u64,
    max_keys: usize,
    /// Keys held, across every shard: changed only under a shard's lock, as keys come and go.
    keys: AtomicU64,
    tables: Tables<K>,
}

impl<K: Hash + Eq + Clone + Send> LocalKeyedState<K> {
    /// Every key `algorithm`'s quota, at most `max_keys` keys held at once, rested keys
    /// dropped at most every `idle_ttl`. Errors name the bad field and value.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, LocalKeyedState, Rate};
    /// use std::time::Duration;
    /// let err = LocalKeyedState::<u8>::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }, 0, Duration::from_secs(1))
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "max_keys");
    /// ```
    pub fn new(
        algorithm: Algorithm,
        max_keys: usize,
        idle_ttl: Duration,
    ) -> Result<LocalKeyedState<K>, ConfigError> {
        let (kind, params, initial_tokens) = algorithm.compile()?;
        if max_keys == 0 {
            return Err(ConfigError::new(
                POLICY,
                "max_keys",
                0,
                "must be at least 1",
            ));
        }
        crate::validate::positive(POLICY, "idle_ttl", idle_ttl)?;
        let tables = match kind {
            Kind::Gcra => Tables::Gcra(Table::new(max_keys)),
            Kind::FixedWindow => Tables::Fixed(Table::new(max_keys)),
            Kind::SlidingCounter => Tables::Counter(Table::new(max_keys)),
            Kind::SlidingLog => Tables::Log(Table::new(max_keys)),
        };
        Ok(LocalKeyedState {
            algorithm,
            quota: Quota {
                params,
                initial_tokens,
            },
            idle_ttl: duration_to_nanos(idle_ttl),
            max_keys,
            keys: AtomicU64::new(0),
            tables,
        })
    }

    /// Keys currently held.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, LocalKeyedState, Rate};
    /// let state = LocalKeyedState::<u8>::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }, 10, std::time::Duration::from_secs(1))?;
    /// assert_eq!(state.len(), 0);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn len(&self) -> usize {
        usize::try_from(self.keys.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    /// Whether no key is held.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, LocalKeyedState, Rate};
    /// let state = LocalKeyedState::<u8>::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }, 10, std::time::Duration::from_secs(1))?;
    /// assert!(state.is_empty());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys held at once.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, LocalKeyedState, Rate};
    /// let state = LocalKeyedState::<u8>::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }, 10, std::time::Duration::from_secs(1))?;
    /// assert_eq!(state.max_keys(), 10);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    fn kind(&self) -> Kind {
        match &self.tables {
            Tables::Gcra(_) => Kind::Gcra,
            Tables::Fixed(_) => Kind::FixedWindow,
            Tables::Counter(_) => Kind::SlidingCounter,
            Tables::Log(_) => Kind::SlidingLog,
        }
    }

    /// Counts a new key in, unless the table is full.
    fn reserve(&self) -> bool {
        let max = u64::try_from(self.max_keys).unwrap_or(u64::MAX);
        self.keys
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < max).then_some(held + 1)
            })
            .is_ok()
    }

    fn forget(&self, keys: usize) {
        if keys > 0 {
            self.keys.fetch_sub(keys as u64, Ordering::AcqRel);
        }
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> KeyedStateStore<K> for LocalKeyedState<K> {
    fn try_acquire_n(&self, now: Instant, key: &K, n: u32) -> Result<RateLimitInfo, Denied> {
        let (now, n) = (now.as_nanos(), u64::from(n));
        with_table!(&self.tables, t => t.acquire(self, key, now, n))
    }

    fn info(&self, now: Instant, key: &K) -> RateLimitInfo {
        let now = now.as_nanos();
        with_table!(&self.tables, t => t.info(self, key, now))
    }

    fn set_quota_for(&self, now: Instant, key: K, algorithm: Algorithm) -> Result<(), ConfigError> {
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
        let now = now.as_nanos();
        with_table!(&self.tables, t => t.set_override(self, key, Some(quota), now));
        Ok(())
    }

    fn clear_quota_for(&self, now: Instant, key: &K) {
        let now = now.as_nanos();
        with_table!(&self.tables, t => t.set_override(self, key.clone(), None, now));
    }

    fn keys_held(&self) -> Option<usize> {
        Some(self.len())
    }

    fn max_keys(&self) -> Option<usize> {
        Some(self.max_keys)
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
            hasher,
        }
    }

    #[inline]
    fn shard(&self, key: &K) -> MutexGuard<'_, Shard<K, S>> {
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
            inner.quota
        } else {
            shard.overrides.get(key).copied().unwrap_or(inner.quota)
        };
        let params = quota.params;
        if n > params[1] {
            return Err(Denied::ExceedsCapacity {
                requested: n,
                capacity: params[1],
            });
        }
        if now.saturating_sub(shard.last_sweep) >= inner.idle_ttl {
            inner.forget(sweep(&mut shard, inner, now));
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
        // Cloned before the key is counted in: a key type whose `clone` panics leaves the
        // count as it was.
        let owned = key.clone();
        if !inner.reserve() {
            // Full: make room by forgetting rested keys — this shard's first, then anyone's —
            // never active ones.
            if now.saturating_sub(shard.last_sweep) >= MIN_SWEEP_GAP {
                inner.forget(sweep(&mut shard, inner, now));
            }
            if !inner.reserve() {
                drop(shard);
                self.sweep_all(inner, now);
                shard = self.shard(key);
                if let Some(slot) = shard.slots.get_mut(key) {
                    return slot.decide(params, now, n); // added meanwhile
                }
                if !inner.reserve() {
                    return Err(Denied::RateLimited {
                        retry_after: Duration::from_nanos(params[0].max(1)),
                        info: slot.info(params, now),
                    });
                }
            }
        }
        let decision = slot.decide(params, now, n);
        shard.slots.insert(owned, slot);
        decision
    }

    /// Sweeps every shard not swept within [`MIN_SWEEP_GAP`], one lock at a time.
    #[cold]
    fn sweep_all(&self, inner: &LocalKeyedState<K>, now: u64) {
        for shard in self.shards.iter() {
            let mut shard = crate::sync::lock(shard);
            if now.saturating_sub(shard.last_sweep) >= MIN_SWEEP_GAP {
                inner.forget(sweep(&mut shard, inner, now));
            }
        }
    }

    fn info(&self, inner: &LocalKeyedState<K>, key: &K, now: u64) -> RateLimitInfo {
        let mut shard = self.shard(key);
        let quota = shard.overrides.get(key).copied().unwrap_or(inner.quota);
        match shard.slots.get_mut(key) {
            Some(slot) => slot.info(quota.params, now),
            None => S::new(quota.params, now, quota.initial_tokens).info(quota.params, now),
        }
    }

    fn set_override(&self, inner: &LocalKeyedState<K>, key: K, quota: Option<Quota>, now: u64) {
        let mut shard = self.shard(&key);
        let Shard {
            slots, overrides, ..
        } = &mut *shard;
        let from = overrides.get(&key).copied().unwrap_or(inner.quota);
        let to = quota.unwrap_or(inner.quota);
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
}

/// Drops a shard's rested keys (and gives memory back when most of it is slack); returns how
/// many it dropped.
fn sweep<K: Hash + Eq, S: Slot>(
    shard: &mut Shard<K, S>,
    inner: &LocalKeyedState<K>,
    now: u64,
) -> usize {
    let Shard {
        slots, overrides, ..
    } = shard;
    let before = slots.len();
    slots.retain(|key, slot| {
        let params = overrides.get(key).map_or(inner.quota.params, |q| q.params);
        !slot.is_rested(params, now)
    });
    let dropped = before - slots.len();
    if slots.capacity() > 64 && slots.len() < slots.capacity() / 4 {
        slots.shrink_to_fit();
    }
    shard.last_sweep = now;
    dropped
}

impl<K> fmt::Debug for LocalKeyedState<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKeyedState")
            .field("algorithm", &self.algorithm)
            .field("max_keys", &self.max_keys)
            .field("keys", &self.keys.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
