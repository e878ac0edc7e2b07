#![doc = include_str!("guide.md")]

mod deny;
mod direct;
mod keyed;
mod quota;
mod script;

use std::sync::Arc;
use std::time::Duration;

use palisade::clock::{Clock, Instant};
use palisade::rate_limit::{self, Algorithm, Denied, RateLimitInfo};

pub use direct::RedisLimiterStore;
pub use keyed::RedisKeyedLimiterStore;

use crate::RedisBackend;
use crate::backend::WhenDown;
use crate::error::Error;
use crate::link::Link;
use quota::Quota;
use script::{Reply, Timing};

/// Whose clock a Redis limiter decides on; see the [`RedisBackendBuilder::limiter_time_source`](crate::RedisBackendBuilder::limiter_time_source).
///
/// ```
/// use palisade_redis::{RedisBackend, TimeSource};
/// let backend = RedisBackend::builder()
///     .limiter_time_source(TimeSource::PolicyClock)
///     .build()?;
/// # let _ = backend;
/// # Ok::<(), palisade_redis::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TimeSource {
    /// Redis's `TIME`: one clock for the whole fleet. The default.
    #[default]
    RedisTime,
    /// The `now` the limiter passes (its [`Clock`]): for tests on a shared
    /// [`ManualClock`](palisade::clock::ManualClock), or clocks that share an origin.
    PolicyClock,
}

/// The Redis store of limiter `name`, for [`Backend::rate_limiter_store`](palisade::backend::Backend::rate_limiter_store).
/// An algorithm the store cannot keep leaves the limiter in process (its builder then
/// reports the bad setting).
pub(crate) fn store(
    backend: &RedisBackend,
    name: &str,
    algorithm: Algorithm,
    clock: &Clock,
) -> Option<rate_limit::Store> {
    backend
        .limiter_store(name, algorithm, clock)
        .ok()
        .map(rate_limit::Store::custom)
}

/// What every Redis limiter store of a backend shares: the link, the timing, and what to do
/// while Redis fails.
#[derive(Clone)]
pub(crate) struct Core {
    link: Arc<Link>,
    timing: Timing,
    when_down: WhenDown,
    fleet_size: u32,
    probe_interval: Duration,
}

impl Core {
    fn new(backend: &RedisBackend) -> Core {
        let shared = &backend.shared;
        let settings = &shared.settings;
        let margin_ms = match settings.limiter_time_source {
            TimeSource::RedisTime => 0,
            TimeSource::PolicyClock => {
                u64::try_from(settings.state_ttl.as_millis()).unwrap_or(u64::MAX)
            }
        };
        Core {
            link: Arc::clone(&shared.link),
            timing: Timing {
                source: settings.limiter_time_source,
                margin_ms,
                token: token(),
            },
            when_down: settings.limiter_when_down,
            fleet_size: settings.fleet_size,
            probe_interval: shared.link.probe_interval(),
        }
    }

    /// Asks Redis, from an async caller.
    async fn decide(
        &self,
        key: &str,
        quota: &Quota,
        now: Instant,
        n: u32,
    ) -> Result<Result<RateLimitInfo, Denied>, Error> {
        let call = script::invocation(key, quota, &self.timing, now, n);
        self.link
            .run(move |mut conn| async move { call.invoke_async::<Reply>(&mut conn).await })
            .await
            .map(script::decision)
    }

    /// Asks Redis, from a blocking caller.
    fn decide_blocking(
        &self,
        key: &str,
        quota: &Quota,
        now: Instant,
        n: u32,
    ) -> Result<Result<RateLimitInfo, Denied>, Error> {
        let call = script::invocation(key, quota, &self.timing, now, n);
        self.link
            .run_blocking(
                move |mut conn| async move { call.invoke_async::<Reply>(&mut conn).await },
            )
            .map(script::decision)
    }

    /// The decision while Redis fails, unless it is the local state's (`None`).
    fn down(&self, quota: &Quota, n: u32) -> Option<Result<RateLimitInfo, Denied>> {
        match self.when_down {
            WhenDown::Allow => Some(Ok(RateLimitInfo::new(
                quota.limit,
                quota.limit.saturating_sub(u64::from(n)),
                Duration::ZERO,
            ))),
            WhenDown::Reject => Some(Err(Denied::RateLimited {
                retry_after: self.probe_interval,
                info: RateLimitInfo::new(quota.limit, 0, self.probe_interval),
            })),
            WhenDown::Local => None,
        }
    }
}

/// Denied for asking more than the quota ever grants at once.
fn exceeds(quota: &Quota, n: u32) -> Option<Denied> {
    (u64::from(n) > quota.limit).then_some(Denied::ExceedsCapacity {
        requested: u64::from(n),
        capacity: quota.limit,
    })
}

/// A token unique to one store (process id, a process-wide count, a random word).
fn token() -> String {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static STORES: AtomicU64 = AtomicU64::new(0);
    let random = RandomState::new().hash_one(std::process::id());
    format!(
        "{:x}.{:x}.{:x}",
        std::process::id(),
        STORES.fetch_add(1, Ordering::Relaxed),
        random & 0xffff_ffff
    )
}
