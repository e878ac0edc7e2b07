//! Fleet-wide circuit breakers: one breaker state for every instance that shares a Redis and
//! a key prefix (the requirement documents' `DistributedCircuitBreaker`: `key_prefix` and
//! `ttl_seconds` are [`RedisBackendBuilder::key_prefix`](crate::RedisBackendBuilder::key_prefix)
//! and [`state_ttl`](crate::RedisBackendBuilder::state_ttl)).
//!
//! # Why not ask Redis on every call
//!
//! A breaker exists to keep a failing dependency from slowing the application down; a round
//! trip to Redis on every call would put another dependency on that path. So admission in
//! Closed is as local as the in-process breaker's (one load of a word): each instance keeps a
//! local view of the shared state ([`LocalState`](palisade::circuit_breaker::LocalState)),
//! sums its Closed outcomes, and sends them every
//! [`flush_interval`](crate::RedisBackendBuilder::flush_interval) (sooner after 256 calls, or
//! at once when this instance alone saw `failure_threshold` failures in a row). The *trip* is
//! decided atomically by a Lua script on the fleet's sums, by the breaker's own conditions:
//!
//! - **consecutive failures, fleet-wide**: the run of failures with no success in between,
//!   in the order batches reach Redis, each instance's own order kept within its batch.
//!   Failures on three instances add up to one run; a success anywhere ends it. (So a
//!   fleet of `n` busy instances reaches a threshold `n` times sooner than one instance
//!   would: set it for the fleet, as the requirement documents' "higher for distributed".)
//! - **failure rate** and **slow-call rate** over the fleet's window, once it holds
//!   `minimum_calls` calls. A time window's buckets are on Redis's clock; a count window is
//!   the last `size` calls in batches, the oldest batch pro-rated.
//!
//! The new state, with a generation number, reaches every instance through pub/sub, with a
//! read of the state every [`poll_interval`](crate::RedisBackendBuilder::poll_interval) as
//! the fallback, and is adopted at the instance's next call.
//!
//! **Propagation bound.** A trip decided by a flush is heard by the other instances within
//! a round trip and a pub/sub delivery: about 2 ms measured on a loopback, to another
//! backend, to another OS process and across a Redis Cluster (the tests assert at most
//! 150 ms). The flush itself goes at once when one instance saw the run, else within
//! `flush_interval`; so the bound is `flush_interval` + a round trip (about 100 ms by
//! default), and `flush_interval + poll_interval` (1.1 s) while the subscription is lost.
//! Each breaker keeps one pub/sub connection per instance.
//!
//! # Time
//!
//! Each instance counts Open down on its breaker's own clock (real, tokio's or a
//! `ManualClock`): Redis keeps when Open ends on *its* clock and tells instances the time
//! *remaining*, never a wall-clock time to compare with theirs. An instance goes half-open
//! when that time has passed on its clock, and asks Redis for a **trial lease**: at most
//! `half_open_requests` leases exist fleet-wide (each expiring after `max_wait_in_half_open`,
//! so a crashed instance gives its lease back). Trial outcomes are sent to Redis: a failure
//! re-opens the breaker for the fleet, `success_threshold` successes close it. No lock is
//! held across your call: a lease is a counted slot with an expiry.
//!
//! # Joining
//!
//! A breaker built while Redis answers reads the shared state first (bounded by the Redis
//! timeout) and adopts it at its first call: a new instance joining an open breaker stays
//! open. It never writes the state to join, so it can never reset it.
//!
//! # When Redis fails
//!
//! Whatever Redis does, no call waits for it longer than the Redis timeout (5 ms by default)
//! — and in Closed no call waits at all — and nothing panics. While the link is down, per
//! [`breaker_when_down`](crate::RedisBackendBuilder::breaker_when_down):
//!
//! | `WhenDown` | admission | outcomes | half-open trials |
//! |---|---|---|---|
//! | `Local` (default) | the local view, as it was | counted locally: the instance may trip on its own counts | local slots, no lease |
//! | `Allow` | every call admitted, even if the last state was Open | not counted: nothing trips | admitted |
//! | `Reject` | every call rejected (`CircuitOpen`) | — | rejected |
//!
//! Outcomes not sent before the outage are dropped, not sent late: they must not trip the
//! fleet after the fact. When Redis answers again (the link's probe notices within
//! `probe_interval`, 250 ms), the next exchange adopts the fleet's state whatever its
//! generation — within `probe_interval + flush_interval`, well under a second.
//!
//! # Strict mode
//!
//! [`strict_breaker`](crate::RedisBackendBuilder::strict_breaker) makes every admission read
//! the shared state first and sends every outcome at once: no call is admitted on a view
//! older than one round trip. Its cost is that round trip on every call, bounded by the
//! Redis timeout — 0.1 to 0.4 ms per call on a loopback here, against about 10 ns in the
//! default mode (the bench `redis/breaker_closed_call/palisade_redis_strict`) — plus a
//! script run on Redis per outcome. Use it where admitting a call on a view 100 ms old is
//! worse than that.
//!
//! # Keys
//!
//! `{<prefix>:<name>}:breaker:state` (a hash: epoch, state, generation, end of Open, trips,
//! the fleet's run, trial successes), `…:breaker:window`, `…:breaker:trials` (the leases),
//! and the channel `…:breaker:events`. Every script run — a flush, a lease, an instance's
//! poll — renews their TTL ([`state_ttl`](crate::RedisBackendBuilder::state_ttl), one hour
//! by default): a breaker no instance uses any more expires, and starts again Closed in a
//! new *epoch*, whose generations instances adopt from 0 again. (A Redis restarted empty
//! is the same: nothing is adopted until an instance writes the state again, and instances
//! keep their local view meanwhile.)
//!
//! # Known limits
//!
//! - Trip reasons: instances adopt a fleet decision as
//!   [`TransitionReason::Imposed`](palisade::circuit_breaker::TransitionReason::Imposed),
//!   the instance whose batch tripped it included; the counts behind it are in
//!   [`stats`](palisade::circuit_breaker::CircuitBreaker::stats).
//! - An instance still counting down one Open period when the fleet re-opens (a trial call
//!   failed elsewhere) keeps its own end of Open; it may ask for a trial lease earlier than
//!   the others, within the difference of their clocks.

mod batch;
mod scripts;
mod store;
mod sync;

pub use store::RedisBreakerStore;

use std::hash::{BuildHasher, RandomState};

use palisade::ConfigError;
use palisade::circuit_breaker::{self, CircuitBreaker, CircuitBreakerConfig};
use palisade::clock::Clock;
use palisade::predicate::{Always, Never};

use crate::RedisBackend;

/// The Redis store of breaker `name`.
pub(crate) fn store(
    backend: &RedisBackend,
    name: &str,
    config: &CircuitBreakerConfig,
    clock: &Clock,
) -> Option<circuit_breaker::Store> {
    Some(circuit_breaker::Store::custom(
        store::RedisBreakerStore::new(backend, name, config, clock),
    ))
}

/// An id unlikely to be another instance's: an epoch for a state created now, a lease owner.
fn unique_id() -> String {
    let seed = (std::process::id(), std::time::SystemTime::now());
    format!("{:016x}", RandomState::new().hash_one(seed))
}

impl RedisBackend {
    /// A standalone circuit breaker named `name` whose state is shared through Redis (the
    /// requirement documents' `DistributedCircuitBreaker`): used like any breaker, on the
    /// default clock. Pipelines, registries and `#[resilient]` get one with
    /// `.backend(redis_backend)` instead.
    ///
    /// # Errors
    ///
    /// The configuration's first invalid field, named with its value.
    ///
    /// ```no_run
    /// use palisade::circuit_breaker::CircuitBreakerConfig;
    /// use palisade_redis::RedisBackend;
    /// use std::time::Duration;
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let redis = RedisBackend::builder()
    ///     .url("redis://127.0.0.1:6379")
    ///     .key_prefix("obskit:cb:")
    ///     .state_ttl(Duration::from_secs(3600))
    ///     .connect()
    ///     .await?;
    /// let breaker = redis.circuit_breaker(
    ///     "payment_api",
    ///     CircuitBreakerConfig {
    ///         failure_threshold: Some(10),
    ///         recovery_timeout: Duration::from_secs(60),
    ///         half_open_requests: 3,
    ///         ..Default::default()
    ///     },
    /// )?;
    /// let charged = breaker.call(|| async { Ok::<_, std::io::Error>("charged") }).await?;
    /// # let _ = charged; Ok(()) }
    /// ```
    #[doc(alias = "DistributedCircuitBreaker")]
    pub fn circuit_breaker(
        &self,
        name: &str,
        config: CircuitBreakerConfig,
    ) -> Result<CircuitBreaker<Always, Never, Never, RedisBreakerStore>, ConfigError> {
        config.validate()?;
        let clock = Clock::default();
        let store = store::RedisBreakerStore::new(self, name, &config, &clock);
        // Held by type, not behind `Store::custom`: the Closed path inlines.
        CircuitBreaker::builder_from(config)
            .name(name)
            .clock(clock)
            .build_with_store(store)
    }
}
