//! The local deny cache: a limiter that Redis just refused is refused here, without a round
//! trip, until the refusal's `retry_after` has passed.
//!
//! # Why it is safe
//!
//! A refusal of `n` permits at `t` with `retry_after` `r` stays true for every request of `n`
//! permits before `t + r`: other instances only take permits, never give them back. (A
//! quota change is the exception: [`set_algorithm`] and `set_quota_for` clear the cache.)
//! A request for another number of permits asks Redis (its `retry_after` differs), and
//! replaces the cached refusal if refused too; a grant forgets it (the `retry_after` grew).
//! Permits other instances take meanwhile may make the true wait longer than the cached
//! `retry_after`: the cache never refuses what Redis would grant, but its `retry_after` is
//! then a lower bound. Times are the policy's clock; the refusal's
//! `retry_after` counts from Redis's reading, taken after the call's `now`, so the cache
//! lets go slightly *before* Redis would grant — it never refuses what Redis would grant.
//!
//! # Memory
//!
//! One entry for a direct limiter; for a keyed limiter at most [`KEYED_CAPACITY`] keys (one
//! key, its `n` and three numbers each). A full table first drops expired refusals; if none
//! expired, the new refusal is not cached (that key keeps asking Redis): the bound holds
//! whatever the keys.
//!
//! [`set_algorithm`]: palisade::rate_limit::StateStore::set_algorithm

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use palisade::clock::Instant;
use palisade::rate_limit::{Denied, RateLimitInfo};

/// The most refusals a keyed limiter's deny cache holds.
pub(crate) const KEYED_CAPACITY: usize = 10_000;

/// A cached refusal.
#[derive(Debug, Clone, Copy)]
struct Refusal {
    /// Until when (policy clock, ns).
    until: u64,
    /// The permits refused.
    n: u32,
    limit: u64,
    remaining: u64,
    /// When the limiter is fully rested (policy clock, ns).
    reset_at: u64,
}

impl Refusal {
    fn of(now: Instant, n: u32, denied: &Denied) -> Option<Refusal> {
        let Denied::RateLimited { retry_after, info } = denied else {
            return None;
        };
        if retry_after.is_zero() {
            return None;
        }
        Some(Refusal {
            until: now.saturating_add(*retry_after).as_nanos(),
            n,
            limit: info.limit(),
            remaining: info.remaining(),
            reset_at: now.saturating_add(info.reset_after()).as_nanos(),
        })
    }

    /// The refusal of `n` permits at `now`, if this one still covers it.
    fn covers(&self, now: Instant, n: u32) -> Option<Denied> {
        let now = now.as_nanos();
        (n == self.n && now < self.until).then(|| Denied::RateLimited {
            retry_after: Duration::from_nanos(self.until - now),
            info: RateLimitInfo::new(
                self.limit,
                self.remaining,
                Duration::from_nanos(self.reset_at.saturating_sub(now)),
            ),
        })
    }
}

/// The deny cache of a direct limiter: one refusal.
#[derive(Debug, Default)]
pub(crate) struct DenySlot {
    /// The cached refusal's `until` (0: none): checked without the lock.
    until: AtomicU64,
    refusal: Mutex<Option<Refusal>>,
}

impl DenySlot {
    /// The cached refusal of `n` permits at `now`, if any.
    pub(crate) fn check(&self, now: Instant, n: u32) -> Option<Denied> {
        if now.as_nanos() >= self.until.load(Ordering::Acquire) {
            return None;
        }
        let refusal = *self.refusal.lock().unwrap_or_else(PoisonError::into_inner);
        refusal.and_then(|r| r.covers(now, n))
    }

    /// Remembers Redis's refusal of `n` permits at `now`.
    pub(crate) fn note(&self, now: Instant, n: u32, denied: &Denied) {
        let Some(new) = Refusal::of(now, n, denied) else {
            return;
        };
        *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some(new);
        self.until.store(new.until, Ordering::Release);
    }

    /// Forgets the refusal after a grant: its `retry_after` no longer holds (cheap while
    /// nothing is cached).
    pub(crate) fn granted(&self) {
        if self.until.load(Ordering::Acquire) != 0 {
            self.clear();
        }
    }

    /// Forgets the refusal (the quota changed).
    pub(crate) fn clear(&self) {
        *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.until.store(0, Ordering::Release);
    }
}

/// The deny cache of a keyed limiter: refusals by key, at most [`KEYED_CAPACITY`].
#[derive(Debug)]
pub(crate) struct DenyTable<K> {
    /// Entries held: lets a call skip the lock while nothing is cached.
    len: AtomicUsize,
    refusals: Mutex<HashMap<K, Refusal>>,
}

impl<K: Hash + Eq + Clone> DenyTable<K> {
    pub(crate) fn new() -> Self {
        DenyTable {
            len: AtomicUsize::new(0),
            refusals: Mutex::new(HashMap::new()),
        }
    }

    /// The cached refusal of `n` permits for `key` at `now`, if any.
    pub(crate) fn check(&self, now: Instant, key: &K, n: u32) -> Option<Denied> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        refusals.get(key).and_then(|r| r.covers(now, n))
    }

    /// Remembers Redis's refusal of `n` permits for `key` at `now`.
    pub(crate) fn note(&self, now: Instant, key: &K, n: u32, denied: &Denied) {
        let Some(new) = Refusal::of(now, n, denied) else {
            return;
        };
        let mut refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        if refusals.len() >= KEYED_CAPACITY && !refusals.contains_key(key) {
            let now = now.as_nanos();
            refusals.retain(|_, r| r.until > now);
            if refusals.len() >= KEYED_CAPACITY {
                self.len.store(refusals.len(), Ordering::Release);
                return;
            }
        }
        refusals.insert(key.clone(), new);
        self.len.store(refusals.len(), Ordering::Release);
    }

    /// Forgets `key`'s refusal after a grant (cheap while nothing is cached).
    pub(crate) fn granted(&self, key: &K) {
        if self.len.load(Ordering::Acquire) != 0 {
            self.clear(Some(key));
        }
    }

    /// Forgets `key`'s refusal, or every refusal.
    pub(crate) fn clear(&self, key: Option<&K>) {
        let mut refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        match key {
            Some(key) => drop(refusals.remove(key)),
            None => refusals.clear(),
        }
        self.len.store(refusals.len(), Ordering::Release);
    }

    /// Refusals held.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(retry_ms: u64) -> Denied {
        Denied::RateLimited {
            retry_after: Duration::from_millis(retry_ms),
            info: RateLimitInfo::new(10, 0, Duration::from_millis(retry_ms)),
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn a_refusal_covers_the_same_request_until_retry_after() {
        let slot = DenySlot::default();
        slot.note(at(0), 2, &refused(100));
        assert!(slot.check(at(50), 1).is_none(), "fewer permits ask Redis");
        assert!(slot.check(at(50), 3).is_none(), "more permits ask Redis");
        let cached = slot.check(at(50), 2).unwrap();
        assert_eq!(cached.retry_after(), Some(Duration::from_millis(50)));
        assert!(slot.check(at(100), 2).is_none(), "expired at retry_after");
        slot.note(at(100), 1, &refused(10));
        slot.clear();
        assert!(slot.check(at(101), 1).is_none());
    }

    #[test]
    fn the_keyed_table_never_holds_more_than_its_capacity() {
        let table = DenyTable::new();
        for key in 0..KEYED_CAPACITY + 50 {
            table.note(at(0), &key, 1, &refused(1_000));
        }
        assert_eq!(table.held(), KEYED_CAPACITY);
        assert!(table.check(at(1), &(KEYED_CAPACITY + 10), 1).is_none());
        assert!(table.check(at(1), &0, 1).is_some());
        // Once the refusals expired, new ones take their place.
        table.note(at(2_000), &usize::MAX, 1, &refused(1_000));
        assert_eq!(table.held(), 1);
    }
}
