//! Helpers of the limiter tests: backends on a test's own Redis, limiters on a shared
//! `ManualClock`, and the quotas every algorithm test runs.

#![allow(dead_code)]

use std::time::Duration;

use palisade::clock::{Clock, ManualClock};
use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
use palisade_redis::{RedisBackend, RedisBackendBuilder, RedisLimiterStore, TimeSource};

/// A backend on `url` deciding on the policy's clock, with a Redis timeout generous enough
/// that a busy test machine never falls back by accident (the failure tests set their own).
pub fn backend(url: &str) -> RedisBackendBuilder {
    RedisBackend::builder()
        .url(url)
        .probe_interval(Duration::from_millis(20))
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_millis(500))
        .limiter_time_source(TimeSource::PolicyClock)
}

/// A limiter `name` over `backend`'s Redis store, on `clock`.
pub fn limiter(
    backend: &RedisBackend,
    name: &str,
    algorithm: Algorithm,
    clock: &ManualClock,
) -> RateLimiter<RedisLimiterStore> {
    let store = backend
        .limiter_store(name, algorithm, &Clock::from(clock.clone()))
        .unwrap();
    RateLimiter::builder(algorithm)
        .name(name)
        .clock(clock.clone())
        .build_with_store(store)
        .unwrap()
}

/// A clock that moves only when the test moves it.
pub fn manual_clock() -> ManualClock {
    let clock = ManualClock::new();
    clock.set_auto_advance(false);
    // Start away from zero: a window index of 0 is not a special case.
    clock.advance(Duration::from_secs(1_000));
    clock
}

/// One quota of every algorithm, with intervals and windows in whole microseconds.
pub fn every_algorithm() -> Vec<Algorithm> {
    vec![
        Algorithm::Gcra {
            rate: Rate::per_second(50),
            burst: 5,
        },
        Algorithm::TokenBucket {
            rate: Rate::per_second(20),
            capacity: 4,
            initial_tokens: Some(2),
        },
        Algorithm::FixedWindow {
            max_requests: 5,
            window: Duration::from_millis(100),
        },
        Algorithm::SlidingWindowCounter {
            max_requests: 6,
            window: Duration::from_millis(200),
        },
        Algorithm::SlidingWindowLog {
            max_requests: 4,
            window: Duration::from_millis(150),
        },
    ]
}

/// The most any algorithm of [`every_algorithm`] grants at once.
pub fn capacity(algorithm: &Algorithm) -> u32 {
    match *algorithm {
        Algorithm::Gcra { burst, .. } => burst,
        Algorithm::TokenBucket { capacity, .. } => capacity,
        Algorithm::FixedWindow { max_requests, .. }
        | Algorithm::SlidingWindowCounter { max_requests, .. }
        | Algorithm::SlidingWindowLog { max_requests, .. } => max_requests,
        _ => unreachable!(),
    }
}

/// A small deterministic generator (no dependency for a test sequence).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}
