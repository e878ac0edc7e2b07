//! Fleet-wide rate limiter benchmark on a real Redis (`PALISADE_REDIS_URL`, default
//! `redis://127.0.0.1:6379`).
//!
//! `redis/limiter_decision`: 32 decisions in flight at once (32 tasks on a two-thread tokio
//! runtime, each awaiting its decisions one after another); the time is per decision, so
//! decisions per second = 1 s / time. Ids: `palisade_gcra` (a `RateLimiter` over the Redis
//! store: one `EVALSHA` of `scripts/gcra.lua` per decision, every decision granted) and
//! `baseline_incr` (a plain `INCR` through the same redis client, a `ConnectionManager`).
//! Goal: palisade_gcra ≥ 0.8× baseline_incr's throughput.
//!
//! Redis memory per limiter key: `cargo run --release -p palisade-bench --example
//! redis_limiter_memory`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use palisade::clock::Clock;
use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
use palisade_redis::{RedisBackend, RedisLimiterStore};
use redis::aio::ConnectionManager;

const IN_FLIGHT: u64 = 32;

fn url() -> String {
    std::env::var("PALISADE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Runs `iters` calls of `call` as 32 concurrent tasks; returns the elapsed time.
fn in_flight<F, Fut>(runtime: &tokio::runtime::Runtime, iters: u64, call: F) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let call = Arc::new(call);
    runtime.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..IN_FLIGHT)
            .map(|task| {
                let call = Arc::clone(&call);
                let share = iters / IN_FLIGHT + u64::from(task < iters % IN_FLIGHT);
                tokio::spawn(async move {
                    for _ in 0..share {
                        call().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap_or_else(|e| panic!("{e}"));
        }
        start.elapsed()
    })
}

fn decision(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let backend = runtime
        .block_on(
            RedisBackend::builder()
                .url(url())
                .key_prefix("palisade-bench")
                // Generous: a decision that fell back to the local state would flatter the
                // figure (checked below).
                .timeout(Duration::from_secs(1))
                .connect(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    // Never refuses at this load: every decision is a grant decided by Redis.
    let algorithm = Algorithm::Gcra {
        rate: Rate::per_second(1_000_000),
        burst: 1_000_000,
    };
    let store = backend
        .limiter_store("bench", algorithm, &Clock::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let limiter: RateLimiter<RedisLimiterStore> = RateLimiter::builder(algorithm)
        .build_with_store(store)
        .unwrap_or_else(|e| panic!("{e}"));
    let client = redis::Client::open(url()).unwrap_or_else(|e| panic!("{e}"));
    let manager = runtime
        .block_on(ConnectionManager::new(client))
        .unwrap_or_else(|e| panic!("{e}"));

    let mut group = c.benchmark_group("redis/limiter_decision");
    group.throughput(criterion::Throughput::Elements(1));
    group.bench_function("palisade_gcra", |b| {
        b.iter_custom(|iters| {
            let limiter = limiter.clone();
            in_flight(&runtime, iters, move || {
                let limiter = limiter.clone();
                async move {
                    if limiter.try_acquire_async(1).await.is_err() {
                        panic!("refused");
                    }
                }
            })
        })
    });
    group.bench_function("baseline_incr", |b| {
        b.iter_custom(|iters| {
            let manager = manager.clone();
            in_flight(&runtime, iters, move || {
                let mut conn = manager.clone();
                async move {
                    let _: i64 = redis::cmd("INCR")
                        .arg("palisade-bench:incr")
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            })
        })
    });
    group.finish();
    let status = backend.status();
    assert_eq!(status.failures, 0, "decisions fell back: {status:?}");
}

criterion_group!(benches, decision);
criterion_main!(benches);
