//! `pipeline/happy_path`: an async call that succeeds, through a full resilience stack.
//!
//! ids: `palisade` (rate limit + bulkhead + timeout + retry + breaker in one [`Pipeline`]),
//! `palisade_metrics` (the same pipeline with a `MetricsListener` feeding a Prometheus
//! recorder installed globally), `tower_resilience` (the equivalent stack of tower-resilience
//! 0.13 layers), `baseline` (the plain async call). Goal: palisade ≤ 0.5× tower_resilience.
//!
//! # How the two stacks are configured, and where they differ
//!
//! Both run the same order, outermost first: rate limit → bulkhead → retry → circuit breaker
//! → per-attempt timeout → operation (the order a [`Pipeline`] fixes; the tower stack is
//! layered to match). Every setting is one that never rejects on the happy path, so both
//! sides do their full bookkeeping and the call always succeeds on the first attempt.
//!
//! | policy | palisade | tower-resilience 0.13 |
//! |---|---|---|
//! | rate limit | GCRA, `Rate::per_second(u32::MAX)` (1 ns per permit), burst 1,000,000; no `rate_limit_max_wait`, so a denied call is rejected at once; one CAS on an atomic | `RateLimiterLayer`: `limit_for_period(u32::MAX)` per 1 s with `burst_size(1_000_000)`, which selects its token bucket (the algorithm equivalent to GCRA), capacity limit + burst; `timeout_duration(ZERO)`: one try, then rejected, no waiting; rejection mode (not `backpressure`); state behind a `std::sync::Mutex`, `f64` arithmetic |
//! | bulkhead | 1024 concurrent, no queue: a full bulkhead rejects at once; the slot is held for the whole call, retries included | `BulkheadLayer`: `max_concurrent_calls(1024)`, `reject_when_full()` (`max_wait_duration(ZERO)`: `tokio::time::timeout(0, semaphore.acquire_owned())`), tokio `Semaphore`; also held for the whole call |
//! | timeout | `.timeout(1 s)`: per attempt, inside retry and breaker; the attempt races a `tokio::time::sleep` and is dropped on expiry | `TimeLimiterLayer`: `timeout_duration(1 s)`, `cancel_running_future` true (the default): `tokio::time::timeout` around the inner call, innermost layer, so per attempt — the same tokio timer |
//! | retry | `max_attempts(3)` (1 + 2 retries); default backoff: exponential from 1 s, ×2, capped at 30 s, full jitter (uniform in `[0, d]`); every operation error and every per-attempt timeout is retried, rejections (an open circuit) are not | `RetryLayer`: `max_attempts(3)`; `ExponentialRandomBackoff` from 1 s, ×2, capped at 30 s, randomization factor 1.0 (uniform in `[0, 2d]`: the closest it has to full jitter, not the same distribution); retries every error, an open-circuit rejection included |
//! | circuit breaker | defaults: opens after 5 consecutive failures, 30 s open, 3 half-open trial calls; every operation error and per-attempt timeout is a failure; success counted in a per-thread slot, no lock | `CircuitBreakerLayer`: `consecutive_failures(5)`, `wait_duration_in_open(30 s)`, `permitted_calls_in_half_open(3)`; default classifier (every `Err`, timeouts included, is a failure); still records each call in its default 100-call window; a `tokio::sync::Mutex` taken twice per call |
//!
//! Not equivalent, and why it does not matter here: the backoff distributions (no call
//! retries), the rate limiters' capacities (neither ever denies at 1 call per ns), and what
//! retry does with an open circuit (it never opens). Names and listeners: none registered on
//! either side; tower-resilience keeps its default names (`"<unnamed>"`, `"bulkhead"`), as a
//! user who does not name the layers gets.
//!
//! # What each iteration measures
//!
//! One current-thread tokio runtime (time driver enabled), built once, runs all three ids the
//! same way: criterion's `iter_custom` with one `block_on` per sample around a loop of `iters`
//! calls, so the runtime's entry cost is not in the per-call figure.
//!
//! - `palisade`: `pipeline.call(operation).await`, the pipeline built once.
//! - `palisade_metrics`: the same, with `on_event(prometheus.listener())` from
//!   `palisade::observe::Prometheus::new().install()` (the global recorder). Per call, six
//!   events (rate limit and bulkhead admissions, the breaker's success, retry's success, the
//!   bulkhead release, the pipeline's completion), two more clock reads (the call's end and
//!   retry's; its start is the reading the limiter uses anyway), and ten metric updates.
//!   The listener is bound to the recorder: it counts six counters (rate limit permitted,
//!   bulkhead permitted, breaker successes, retry calls and attempts, pipeline calls) and
//!   the bulkhead gauge's two moves in per-thread slots, and records two histogram samples
//!   (retry's success duration, the pipeline's duration) through handles it cached. An
//!   uncontended bulkhead records no wait sample, and a call that succeeds at its first
//!   attempt no attempts sample. `run_upkeep`, once per sample outside the timed loop, adds
//!   the counts to the recorder and drains the histogram samples, as a scrape would.
//!   `examples/pipeline_instructions.rs` runs the same calls for an instruction counter,
//!   `examples/pipeline_cpu_time.rs` times both ids in on-CPU time (for busy machines).
//! - `tower_resilience`: `stack.ready().await?.call(42).await` on one service stack, built
//!   once outside the measured loop. The service is not cloned per call: `ready` then `call`
//!   on the same `&mut` service is the tower contract. Each layer clones its inner service
//!   inside `call` (tower's `mem::replace` idiom, reference-count bumps) and returns a
//!   `BoxFuture`; measured with a counting allocator outside this bench, a call allocates 12
//!   times (about 1.4 KB): the five boxed futures and seven `String` clones of the layers'
//!   names for events built whether or not anyone listens (5 allocations with empty names).
//!   The pipeline allocates nothing (`crates/palisade/tests/pipeline_alloc.rs`).
//! - `baseline`: `operation().await`, the plain async call.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use palisade::observe::Prometheus;
use palisade::pipeline::Pipeline;
use palisade_bench::ATTEMPT_TIMEOUT;
use tokio::runtime::Runtime;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_resilience::bulkhead::BulkheadLayer;
use tower_resilience::circuitbreaker::CircuitBreakerLayer;
use tower_resilience::ratelimiter::RateLimiterLayer;
use tower_resilience::retry::{ExponentialRandomBackoff, RetryLayer};
use tower_resilience::timelimiter::TimeLimiterLayer;

/// The protected operation: an async call that succeeds with an opaque value.
async fn operation() -> Result<u64, std::io::Error> {
    Ok(black_box(42))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
}

fn palisade_pipeline() -> Pipeline {
    palisade_builder()
        .build()
        .unwrap_or_else(|e| panic!("pipeline config must build: {e}"))
}

fn palisade_builder() -> palisade::pipeline::PipelineBuilder {
    palisade_bench::happy_path_pipeline()
}

fn happy_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline/happy_path");
    let rt = runtime();

    let pipeline = palisade_pipeline();
    group.bench_function("palisade", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(pipeline.call(operation).await.ok());
                }
                start.elapsed()
            })
        })
    });

    let prometheus = Prometheus::new()
        .install()
        .unwrap_or_else(|e| panic!("the bench's only recorder: {e}"));
    let observed = palisade_builder()
        .on_event(prometheus.listener())
        .build()
        .unwrap_or_else(|e| panic!("pipeline config must build: {e}"));
    group.bench_function("palisade_metrics", |b| {
        b.iter_custom(|iters| {
            prometheus.run_upkeep();
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(observed.call(operation).await.ok());
                }
                start.elapsed()
            })
        })
    });

    let rate_limit = RateLimiterLayer::builder()
        .limit_for_period(u32::MAX as usize)
        .refresh_period(Duration::from_secs(1))
        .burst_size(1_000_000)
        .timeout_duration(Duration::ZERO)
        .build()
        .unwrap_or_else(|e| panic!("rate limiter config: {e}"));
    let bulkhead = BulkheadLayer::builder()
        .max_concurrent_calls(1024)
        .reject_when_full()
        .build()
        .unwrap_or_else(|e| panic!("bulkhead config: {e}"));
    let backoff = ExponentialRandomBackoff::new(Duration::from_secs(1), 1.0)
        .and_then(|b| b.multiplier(2.0))
        .unwrap_or_else(|e| panic!("backoff config: {e}"))
        .max_interval(Duration::from_secs(30));
    let retry = RetryLayer::builder()
        .max_attempts(3)
        .backoff(backoff)
        .build();
    let breaker = CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .wait_duration_in_open(Duration::from_secs(30))
        .permitted_calls_in_half_open(3)
        .build()
        .unwrap_or_else(|e| panic!("breaker config: {e}"));
    let time_limit = TimeLimiterLayer::builder()
        .timeout_duration(ATTEMPT_TIMEOUT)
        .build();
    let mut stack = ServiceBuilder::new()
        .layer(rate_limit)
        .layer(bulkhead)
        .layer(retry)
        .layer(breaker)
        .layer(time_limit)
        .service(service_fn(|req: u64| async move {
            Ok::<_, std::io::Error>(black_box(req))
        }));
    group.bench_function("tower_resilience", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let svc = match stack.ready().await {
                        Ok(svc) => svc,
                        Err(e) => panic!("not ready: {e}"),
                    };
                    black_box(svc.call(black_box(42)).await.ok());
                }
                start.elapsed()
            })
        })
    });

    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(operation().await.ok());
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, happy_path);
criterion_main!(benches);
