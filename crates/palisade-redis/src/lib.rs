//! Fleet-wide state on Redis for Palisade's circuit breakers and rate limiters.
//!
//! One process keeps its breakers and limiters in memory. A fleet that must share them —
//! one view of a failing dependency, one quota for an API key across every replica — gives
//! its pipelines a [`RedisBackend`]: the same pipelines, presets, configuration and
//! `#[resilient]` functions, with their state in Redis.
//!
//! What this crate guarantees whatever Redis does: a call never waits for Redis longer than
//! the Redis timeout (5 ms by default), never panics, and never shows the Redis password
//! (in `Debug`, `Display`, errors or health). While Redis is unreachable each policy takes
//! its [`WhenDown`] fallback, and health says *degraded*. (An async caller on a tokio
//! runtime bounds the wait with its runtime's timer: that runtime needs tokio's time driver,
//! as `#[tokio::main]` and `enable_all()` give it. Blocking callers, and async callers
//! outside tokio, wait on the backend's own thread.)
//!
//! **Circuit breakers** ([`breaker`]): a pipeline given a `RedisBackend` gets a breaker whose
//! state the fleet shares. Closed calls stay local; outcomes go to Redis in batches, where a
//! script trips the breaker on the fleet's counts; every instance adopts the new state
//! through pub/sub within milliseconds. [`RedisBackend::circuit_breaker`] builds a standalone
//! one (the requirement documents' `DistributedCircuitBreaker`).
//!
//! **Rate limiters** ([`RedisLimiterStore`], [`RedisKeyedLimiterStore`]): every algorithm as
//! one Lua script, one round trip per decision, on Redis's clock; a local deny cache refuses
//! a key known to be over its limit without a round trip. **Retry budgets**
//! ([`RedisBackend::retry_budget`]): the ratio of retries to calls holds over the fleet.
//!
//! Two instances of a service (two processes; here two backends in one) share a breaker
//! and a quota:
//!
//! ```no_run
//! use palisade::pipeline::Pipeline;
//! use palisade::rate_limit::{Algorithm, Rate};
//! use palisade_redis::RedisBackend;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! async fn instance() -> Result<Pipeline, Box<dyn std::error::Error>> {
//!     let redis = RedisBackend::builder()
//!         .url("redis://127.0.0.1:6379") // default: PALISADE_REDIS_URL, else this
//!         .key_prefix("shop")
//!         .connect()
//!         .await?;
//!     Ok(Pipeline::builder()
//!         .name("payments")
//!         .rate_limit(Algorithm::Gcra { rate: Rate::per_second(100), burst: 10 })
//!         .circuit_breaker(|b| b.failure_threshold(5))
//!         .backend(redis)
//!         .build()?)
//! }
//! let (a, b) = (instance().await?, instance().await?);
//! // Five failures seen by `a` trip the breaker for `b` too (within milliseconds)…
//! for _ in 0..5 {
//!     let _ = a.call(|| async { Err::<(), _>(std::io::Error::other("reset")) }).await;
//! }
//! // …and the 100 permits per second are shared by both.
//! let _ = b.call(|| async { Ok::<_, std::io::Error>(()) }).await;
//! # Ok(()) }
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod backend;
pub mod breaker;
pub mod budget;
mod config;
mod error;
mod keys;
mod limiter;
mod link;
mod redact;
mod runtime;

pub use backend::{RedisBackend, RedisBackendBuilder, WhenDown};
pub use breaker::RedisBreakerStore;
pub use config::register;
pub use error::Error;
pub use limiter::{RedisKeyedLimiterStore, RedisLimiterStore, TimeSource};
pub use link::LinkStatus;
pub use redact::Redacted;
