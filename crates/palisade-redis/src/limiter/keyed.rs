//! [`RedisKeyedLimiterStore`]: a keyed limiter's quotas in Redis, one entry per key.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Duration;

use palisade::ConfigError;
use palisade::clock::Instant;
use palisade::rate_limit::{Algorithm, Denied, KeyedStateStore, LocalKeyedState, RateLimitInfo};

use super::deny::DenyTable;
use super::quota::Quota;
use super::{Core, exceeds};
use crate::RedisBackend;
use crate::error::Error;
use crate::keys::Keys;

/// Keys the local fallback holds at most (as an in-process keyed limiter's default).
const LOCAL_MAX_KEYS: usize = 100_000;
/// How often the local fallback drops rested keys.
const LOCAL_IDLE_TTL: Duration = Duration::from_secs(60);

/// A keyed limiter's quotas (per user, IP, tenant) kept in Redis: each key has its own
/// entry under its own hash tag (`{<prefix>:<name>:<key>}`), so keys spread over a Redis
/// Cluster, and the key is written as its `Display` says. Failure modes and the deny cache
/// are the direct store's (see [`RedisLimiterStore`](crate::RedisLimiterStore)); the local fallback is an
/// in-process keyed limiter at 1/`fleet_size` of each quota, holding at most 100,000 keys.
///
/// ```no_run
/// use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
/// use palisade_redis::RedisBackend;
/// # fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let backend = RedisBackend::builder().url("redis://127.0.0.1:6379").build()?;
/// let per_user = Algorithm::Gcra { rate: Rate::per_second(5), burst: 10 };
/// let store = backend.keyed_limiter_store::<String>("api", per_user)?;
/// let limiter = KeyedRateLimiter::builder(per_user).name("api").build_with_store(store)?;
/// let _ = limiter.try_acquire(&"alice".to_string());
/// # Ok(()) }
/// ```
pub struct RedisKeyedLimiterStore<K> {
    core: Core,
    keys: Keys,
    name: String,
    quota: RwLock<Quota>,
    /// Keys given their own quota.
    own: Mutex<HashMap<K, Quota>>,
    local: LocalKeyedState<K>,
    deny: DenyTable<K>,
}

impl RedisBackend {
    /// The Redis store of the keyed limiter `name` running `algorithm` for every key without
    /// a quota of its own. Build the limiter over it with
    /// [`KeyedRateLimiterBuilder::build_with_store`](palisade::rate_limit::KeyedRateLimiterBuilder::build_with_store).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the field and value of a bad quota.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, Rate};
    /// let backend = palisade_redis::RedisBackend::builder().build()?;
    /// let bad = Algorithm::Gcra { rate: Rate::per_second(1), burst: 0 };
    /// let err = backend.keyed_limiter_store::<u64>("api", bad).unwrap_err();
    /// assert!(err.to_string().contains("burst = 0"), "{err}");
    /// # Ok::<(), palisade_redis::Error>(())
    /// ```
    pub fn keyed_limiter_store<K>(
        &self,
        name: &str,
        algorithm: Algorithm,
    ) -> Result<RedisKeyedLimiterStore<K>, Error>
    where
        K: fmt::Display + Hash + Eq + Clone + Send + Sync + 'static,
    {
        let quota = Quota::new(algorithm)?;
        let core = Core::new(self);
        let local =
            LocalKeyedState::new(quota.share(core.fleet_size), LOCAL_MAX_KEYS, LOCAL_IDLE_TTL)?;
        Ok(RedisKeyedLimiterStore {
            core,
            keys: self.shared.settings.keys.clone(),
            name: name.to_owned(),
            quota: RwLock::new(quota),
            own: Mutex::new(HashMap::new()),
            local,
            deny: DenyTable::new(),
        })
    }
}

/// Before asking Redis: a decision made here, or the key and quota to ask with.
enum Ask {
    Decided(Result<RateLimitInfo, Denied>),
    Redis(String, Quota),
}

impl<K> RedisKeyedLimiterStore<K>
where
    K: fmt::Display + Hash + Eq + Clone + Send + Sync + 'static,
{
    fn quota_of(&self, key: &K) -> Quota {
        let own = self.own.lock().unwrap_or_else(PoisonError::into_inner);
        match own.get(key) {
            Some(quota) => *quota,
            None => *self.quota.read().unwrap_or_else(PoisonError::into_inner),
        }
    }

    fn redis_key(&self, key: &K, quota: &Quota) -> String {
        format!(
            "{}:{}",
            self.keys.keyed(&self.name, &key.to_string()),
            quota.kind.suffix()
        )
    }

    fn ask(&self, now: Instant, key: &K, n: u32) -> Ask {
        let quota = self.quota_of(key);
        if let Some(denied) = exceeds(&quota, n) {
            return Ask::Decided(Err(denied));
        }
        if n > 0
            && let Some(denied) = self.deny.check(now, key, n)
        {
            return Ask::Decided(Err(denied));
        }
        Ask::Redis(self.redis_key(key, &quota), quota)
    }

    fn answer(
        &self,
        now: Instant,
        key: &K,
        n: u32,
        quota: &Quota,
        asked: Result<Result<RateLimitInfo, Denied>, Error>,
    ) -> Result<RateLimitInfo, Denied> {
        match asked {
            Ok(decision) => {
                match &decision {
                    Err(denied) => self.deny.note(now, key, n, denied),
                    Ok(_) => self.deny.granted(key),
                }
                decision
            }
            Err(_) => self
                .core
                .down(quota, n)
                .unwrap_or_else(|| self.local.try_acquire_n(now, key, n)),
        }
    }
}

impl<K> KeyedStateStore<K> for RedisKeyedLimiterStore<K>
where
    K: fmt::Display + Hash + Eq + Clone + Send + Sync + 'static,
{
    fn try_acquire_n(&self, now: Instant, key: &K, n: u32) -> Result<RateLimitInfo, Denied> {
        match self.ask(now, key, n) {
            Ask::Decided(decision) => decision,
            Ask::Redis(redis_key, quota) => {
                let asked = self.core.decide_blocking(&redis_key, &quota, now, n);
                self.answer(now, key, n, &quota, asked)
            }
        }
    }

    async fn try_acquire_n_async(
        &self,
        now: Instant,
        key: &K,
        n: u32,
    ) -> Result<RateLimitInfo, Denied> {
        match self.ask(now, key, n) {
            Ask::Decided(decision) => decision,
            Ask::Redis(redis_key, quota) => {
                let asked = self.core.decide(&redis_key, &quota, now, n).await;
                self.answer(now, key, n, &quota, asked)
            }
        }
    }

    fn info(&self, now: Instant, key: &K) -> RateLimitInfo {
        let quota = self.quota_of(key);
        let redis_key = self.redis_key(key, &quota);
        match self.core.decide_blocking(&redis_key, &quota, now, 0) {
            Ok(Ok(info)) | Ok(Err(Denied::RateLimited { info, .. })) => info,
            _ => match self.core.down(&quota, 0) {
                Some(Ok(info)) | Some(Err(Denied::RateLimited { info, .. })) => info,
                _ => self.local.info(now, key),
            },
        }
    }

    fn set_quota_for(&self, now: Instant, key: K, algorithm: Algorithm) -> Result<(), ConfigError> {
        let base = *self.quota.read().unwrap_or_else(PoisonError::into_inner);
        let quota = base.replacing(algorithm)?;
        self.local
            .set_quota_for(now, key.clone(), quota.share(self.core.fleet_size))?;
        self.deny.clear(Some(&key));
        self.own
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, quota);
        Ok(())
    }

    fn clear_quota_for(&self, now: Instant, key: &K) {
        self.local.clear_quota_for(now, key);
        self.deny.clear(Some(key));
        self.own
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

impl<K> fmt::Debug for RedisKeyedLimiterStore<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisKeyedLimiterStore")
            .field("name", &self.name)
            .field(
                "algorithm",
                &self
                    .quota
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .algorithm,
            )
            .field("time_source", &self.core.timing.source)
            .field("when_down", &self.core.when_down)
            .finish_non_exhaustive()
    }
}
