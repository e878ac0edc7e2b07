//! The fleet-wide circuit breaker's Closed path against the in-process one.
//!
//! `redis/breaker_closed_call`, ids `palisade_redis` (a breaker whose state is shared
//! through Redis: admission and the outcome stay local, outcomes go to Redis in batches from
//! the backend's thread) and `palisade_local` (the same configuration in process), both
//! synchronous successful calls, 5 consecutive failures to trip. Goal: `palisade_redis`
//! ≤ 1.3× `palisade_local` — no round trip on the hot path. `palisade_redis_strict` is the
//! strict mode (`strict_breaker(true)`: the shared state read on every call), for its cost;
//! `palisade_local_custom` the in-process state behind `Store::custom`, the trait object a
//! pipeline holds a backend's store behind, and `palisade_redis_custom` the Redis store
//! there: what the seam's trait object costs, apart from anything Redis.
//! `palisade_redis` is the breaker `RedisBackend::circuit_breaker` makes (the store held by
//! type, as `palisade_local`'s is).
//!
//! Needs a Redis at `PALISADE_REDIS_URL` (default `redis://127.0.0.1:6379`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade::backend::Backend;
use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, LocalState, Store};
use palisade::clock::Clock;
use palisade::predicate::{Always, Never};
use palisade_redis::{RedisBackend, RedisBreakerStore};

#[inline]
fn operation() -> Result<u64, std::io::Error> {
    Ok(black_box(42))
}

fn config() -> CircuitBreakerConfig {
    CircuitBreakerConfig {
        failure_threshold: Some(5),
        ..CircuitBreakerConfig::default()
    }
}

fn redis(strict: bool) -> RedisBackend {
    let url =
        std::env::var("PALISADE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime
        .block_on(
            RedisBackend::builder()
                .url(url)
                .key_prefix(format!("palisade-bench-{}", std::process::id()))
                .timeout(Duration::from_millis(50))
                .strict_breaker(strict)
                .connect(),
        )
        .unwrap_or_else(|e| panic!("redis_breaker needs a Redis: {e}"))
}

/// The fleet-wide breaker as `RedisBackend::circuit_breaker` makes it (its store held by
/// type, as `palisade_local`'s is).
fn on_redis(backend: &RedisBackend) -> CircuitBreaker<Always, Never, Never, RedisBreakerStore> {
    backend
        .circuit_breaker("bench", config())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The same store as a pipeline given the backend holds it: behind `Store::custom`.
fn on_redis_seam(backend: &RedisBackend) -> CircuitBreaker {
    let clock = Clock::default();
    let store = backend
        .circuit_breaker_store("bench", &config(), &clock)
        .unwrap_or_else(|| panic!("a Redis backend keeps breakers in Redis"));
    CircuitBreaker::builder_from(config())
        .name("bench")
        .clock(clock)
        .store(store)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn closed_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("redis/breaker_closed_call");
    let backend = redis(false);
    let breaker = on_redis(&backend);
    group.bench_function("palisade_redis", |b| {
        b.iter(|| black_box(breaker.call_blocking(operation)))
    });
    let behind_seam = on_redis_seam(&backend);
    group.bench_function("palisade_redis_custom", |b| {
        b.iter(|| black_box(behind_seam.call_blocking(operation)))
    });
    let local = CircuitBreaker::builder_from(config())
        .name("bench")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    group.bench_function("palisade_local", |b| {
        b.iter(|| black_box(local.call_blocking(operation)))
    });
    // The in-process state behind the store seam's trait object, as the Redis store is:
    // what the seam itself costs, apart from anything Redis.
    let custom = CircuitBreaker::builder_from(config())
        .name("bench")
        .store(Store::custom(LocalState::new(
            &config(),
            Clock::default().now(),
        )))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    group.bench_function("palisade_local_custom", |b| {
        b.iter(|| black_box(custom.call_blocking(operation)))
    });
    let strict_backend = redis(true);
    let strict = on_redis(&strict_backend);
    group.bench_function("palisade_redis_strict", |b| {
        b.iter(|| black_box(strict.call_blocking(operation)))
    });
    group.finish();
}

criterion_group!(benches, closed_call);
criterion_main!(benches);
