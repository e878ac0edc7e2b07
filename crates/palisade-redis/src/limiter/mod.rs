//! Fleet-wide rate limiters: every instance that uses the same Redis and key prefix shares
//! one quota per limiter name (and per key, for keyed limiters).
//!
//! # Why one script per decision
//!
//! A quota shared by a fleet is only a quota if no two instances can both take its last
//! permit. Each decision is one Lua script (`scripts/*.lua`, one per algorithm, each the
//! in-process algorithm of `palisade::rate_limit` written again in microseconds): it reads
//! the state, decides and writes in one atomic step on the server, in one round trip. The
//! script answers granted or not, `limit`, `remaining`, `reset_after` and `retry_after`,
//! which become the same [`RateLimitInfo`](palisade::rate_limit::RateLimitInfo) and
//! [`Denied`](palisade::rate_limit::Denied) an in-process limiter gives. A request for more
//! permits than the quota ever grants at once is refused here
//! (`Denied::ExceedsCapacity`), without asking Redis.
//!
//! # Whose clock
//!
//! By default a script reads Redis's clock (`TIME`): instances whose clocks disagree still
//! agree on one time, and Redis expires keys on that same clock. [`TimeSource::PolicyClock`]
//! decides on the `now` the limiter passes instead — what tests on a shared
//! [`ManualClock`](palisade::clock::ManualClock) need, or a fleet whose clocks share an
//! origin. (A monotonic clock's origin is its process's start: do not use it across
//! processes.) Times are whole microseconds; a GCRA interval is rounded up to one, so rates
//! above a million per second per key are held to a million. Lua computes in doubles, so
//! exactness holds while `limit × interval` (or `max × window`) stays below 2^53 µs (285
//! years).
//!
//! # Keys and memory
//!
//! A limiter `api` keeps one key, `{<prefix>:api}:<kind>` (`gcra` for GCRA and the token
//! bucket, `fw`, `swc`, `swl`); a keyed limiter keeps one per key, `{<prefix>:api:<key>}:<kind>`
//! (the key as `Display` writes it), so keys spread over a Redis Cluster. A key expires as
//! soon as its state equals a fresh one (fully rested; the end of its window) — plus the
//! backend's `state_ttl` on the policy's clock, since Redis expires keys on real time. GCRA
//! and fixed window keep 12 bytes per key (a time and a number, packed); the sliding window
//! counter 24; the sliding window log one sorted-set member per permit of the window.
//!
//! # A quota that changes
//!
//! [`set_algorithm`](palisade::rate_limit::StateStore::set_algorithm) changes this
//! instance's quota (same kind of algorithm). The shared state is converted by the next
//! decision that sees a different interval or window (it stores the one it was written
//! with), so permits already taken keep counting, however many instances change — and
//! during a rollout each decision converts to its own instance's quota.
//!
//! # When Redis fails
//!
//! A decision never waits beyond the backend's Redis timeout and never panics. When the link
//! is down, the call times out, or Redis answers an error, the limiter follows the backend's
//! [`limiter_when_down`](crate::RedisBackendBuilder::limiter_when_down):
//!
//! | `WhenDown` | decision |
//! |---|---|
//! | `Local` (default) | an in-process limiter with 1/`fleet_size` of the rate and of the burst or max (at least one permit), so the fleet stays near its quota |
//! | `Allow` | granted (`remaining` = limit − n, `reset_after` 0) |
//! | `Reject` | refused, `retry_after` = the backend's probe interval: the link is checked that often, so that is when asking again can succeed |
//!
//! Shared decisions resume with the first decision after the link's probe finds Redis
//! again (within one probe interval). The local state is not merged back: it is a
//! stand-in, not a cache.
//!
//! # The deny cache
//!
//! A limiter (or key) Redis refused is refused in process until the refusal's
//! `retry_after`, without a round trip; see the memory bound in `deny.rs`
//! ([`KEYED_CAPACITY`](deny::KEYED_CAPACITY) keys for a keyed limiter).
//!
//! # Not built
//!
//! Batch leases (an instance reserving N permits to spend locally) are not built: every
//! granted permit is one script call.

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
