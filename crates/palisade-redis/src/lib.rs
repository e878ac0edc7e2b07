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
//! its [`WhenDown`] fallback, and health says *degraded*.
//!
//! **Circuit breakers** ([`breaker`]): a pipeline given a `RedisBackend` gets a breaker whose
//! state the fleet shares. Closed calls stay local; outcomes go to Redis in batches, where a
//! script trips the breaker on the fleet's counts; every instance adopts the new state
//! through pub/sub within milliseconds. [`RedisBackend::circuit_breaker`] builds a standalone
//! one (the requirement documents' `DistributedCircuitBreaker`).

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
