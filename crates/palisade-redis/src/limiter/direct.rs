//! [`RedisLimiterStore`]: one limiter's quota in Redis.

use std::fmt;
use std::sync::{PoisonError, RwLock};

use palisade::ConfigError;
use palisade::clock::{Clock, Instant};
use palisade::rate_limit::{Algorithm, Denied, LocalState, RateLimitInfo, StateStore};

use super::deny::DenySlot;
use super::quota::Quota;
use super::{Core, exceeds};
use crate::RedisBackend;
use crate::error::Error;

/// A rate limiter's quota kept in Redis, shared by every instance using the same Redis, key
/// prefix and limiter name; see below for the algorithms, the
/// clock, the failure modes and the deny cache. Pipelines built with
/// `.backend(redis_backend)` get one for their limiter; to build a limiter by hand, use
/// [`RedisBackend::limiter_store`].
///
/// ```no_run
/// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
/// use palisade_redis::RedisBackend;
/// # fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let backend = RedisBackend::builder().url("redis://127.0.0.1:6379").build()?;
/// let quota = Algorithm::Gcra { rate: Rate::per_second(100), burst: 20 };
/// let store = backend.limiter_store("api", quota, &Default::default())?;
/// let limiter = RateLimiter::builder(quota).name("api").build_with_store(store)?;
/// let _ = limiter.try_acquire();
/// # Ok(()) }
/// ```
///
#[doc = include_str!("guide.md")]
pub struct RedisLimiterStore {
    core: Core,
    key: String,
    quota: RwLock<Quota>,
    /// This instance's share, deciding while Redis fails (`WhenDown::Local`).
    local: LocalState,
    deny: DenySlot,
}

impl RedisBackend {
    /// The Redis store of the limiter `name` running `algorithm`; `clock` is the limiter's
    /// (it times the local fallback, and the decisions under
    /// [`TimeSource::PolicyClock`](crate::TimeSource::PolicyClock)).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the field and value of a bad quota.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, Rate};
    /// let backend = palisade_redis::RedisBackend::builder().build()?;
    /// let bad = Algorithm::Gcra { rate: Rate::per_second(0), burst: 1 };
    /// let err = backend.limiter_store("api", bad, &Default::default()).unwrap_err();
    /// assert!(err.to_string().contains("rate = 0/1s"), "{err}");
    /// # Ok::<(), palisade_redis::Error>(())
    /// ```
    pub fn limiter_store(
        &self,
        name: &str,
        algorithm: Algorithm,
        clock: &Clock,
    ) -> Result<RedisLimiterStore, Error> {
        let quota = Quota::new(algorithm)?;
        let core = Core::new(self);
        let local = LocalState::new(quota.share(core.fleet_size), clock.now())?;
        Ok(RedisLimiterStore {
            key: self.shared.settings.keys.of(name, quota.kind.suffix()),
            core,
            quota: RwLock::new(quota),
            local,
            deny: DenySlot::default(),
        })
    }
}

/// Before asking Redis: a decision made here, or the quota to ask with.
enum Ask {
    Decided(Result<RateLimitInfo, Denied>),
    Redis(Quota),
}

impl RedisLimiterStore {
    fn quota(&self) -> Quota {
        *self.quota.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn ask(&self, now: Instant, n: u32) -> Ask {
        let quota = self.quota();
        if let Some(denied) = exceeds(&quota, n) {
            return Ask::Decided(Err(denied));
        }
        if n > 0
            && let Some(denied) = self.deny.check(now, n)
        {
            return Ask::Decided(Err(denied));
        }
        Ask::Redis(quota)
    }

    fn answer(
        &self,
        now: Instant,
        n: u32,
        quota: &Quota,
        asked: Result<Result<RateLimitInfo, Denied>, Error>,
    ) -> Result<RateLimitInfo, Denied> {
        match asked {
            Ok(decision) => {
                match &decision {
                    Err(denied) => self.deny.note(now, n, denied),
                    Ok(_) => self.deny.granted(),
                }
                decision
            }
            Err(_) => self
                .core
                .down(quota, n)
                .unwrap_or_else(|| self.local.try_acquire_n(now, n)),
        }
    }
}

impl StateStore for RedisLimiterStore {
    fn try_acquire_n(&self, now: Instant, n: u32) -> Result<RateLimitInfo, Denied> {
        match self.ask(now, n) {
            Ask::Decided(decision) => decision,
            Ask::Redis(quota) => {
                let asked = self.core.decide_blocking(&self.key, &quota, now, n);
                self.answer(now, n, &quota, asked)
            }
        }
    }

    async fn try_acquire_n_async(&self, now: Instant, n: u32) -> Result<RateLimitInfo, Denied> {
        match self.ask(now, n) {
            Ask::Decided(decision) => decision,
            Ask::Redis(quota) => {
                let asked = self.core.decide(&self.key, &quota, now, n).await;
                self.answer(now, n, &quota, asked)
            }
        }
    }

    fn info(&self, now: Instant) -> RateLimitInfo {
        let quota = self.quota();
        match self.core.decide_blocking(&self.key, &quota, now, 0) {
            Ok(Ok(info)) | Ok(Err(Denied::RateLimited { info, .. })) => info,
            _ => match self.core.down(&quota, 0) {
                Some(Ok(info)) | Some(Err(Denied::RateLimited { info, .. })) => info,
                _ => self.local.info(now),
            },
        }
    }

    fn set_algorithm(&self, now: Instant, algorithm: Algorithm) -> Result<(), ConfigError> {
        let mut quota = self.quota.write().unwrap_or_else(PoisonError::into_inner);
        let next = quota.replacing(algorithm)?;
        self.local
            .set_algorithm(now, next.share(self.core.fleet_size))?;
        *quota = next;
        self.deny.clear();
        Ok(())
    }

    fn algorithm(&self) -> Algorithm {
        self.quota().algorithm
    }
}

impl fmt::Debug for RedisLimiterStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiterStore")
            .field("key", &self.key)
            .field("algorithm", &self.quota().algorithm)
            .field("time_source", &self.core.timing.source)
            .field("when_down", &self.core.when_down)
            .finish_non_exhaustive()
    }
}
