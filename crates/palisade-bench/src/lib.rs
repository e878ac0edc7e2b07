//! Shared helpers for the Palisade benchmarks (the benches live in `benches/`).

pub mod simulation;

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs `op` `iters` times on each of two threads at once and returns the wall time, for
/// criterion's `iter_custom`: the figure is the time per operation per thread, so a lower
/// figure means more aggregate throughput.
pub fn two_threads(iters: u64, op: &(dyn Fn() + Sync)) -> Duration {
    let barrier = Barrier::new(2);
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            barrier.wait();
            for _ in 0..iters {
                op();
            }
        });
        barrier.wait();
        let start = Instant::now();
        for _ in 0..iters {
            op();
        }
        let _ = worker.join();
        start.elapsed()
    })
}

/// The per-attempt timeout of `pipeline/happy_path` (the same on both stacks).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// The pipeline of `pipeline/happy_path`: rate limit, bulkhead, per-attempt timeout, retry
/// and breaker, each set so that it never rejects (see `benches/pipeline.rs`). The bench and
/// the instruction-count examples build this one.
pub fn happy_path_pipeline() -> palisade::pipeline::PipelineBuilder {
    palisade::pipeline::Pipeline::builder()
        .rate_limit(admitting_quota())
        .bulkhead(|b| b.max_concurrent(1024))
        .timeout(ATTEMPT_TIMEOUT)
        .retry(|r| r.max_attempts(3))
        .circuit_breaker(|b| b)
}

/// A GCRA quota that admits every check: one permit per nanosecond, a burst of a million.
pub fn admitting_quota() -> palisade::rate_limit::Algorithm {
    palisade::rate_limit::Algorithm::Gcra {
        rate: palisade::rate_limit::Rate::per_second(u32::MAX),
        burst: 1_000_000,
    }
}

/// A rate limiter for `algorithm` on `clock`.
pub fn limiter(
    algorithm: palisade::rate_limit::Algorithm,
    clock: palisade::clock::Clock,
) -> palisade::rate_limit::RateLimiter {
    palisade::rate_limit::RateLimiter::builder(algorithm)
        .clock(clock)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A limiter of one permit per hour, already spent: every check is refused.
pub fn spent_limiter(clock: palisade::clock::Clock) -> palisade::rate_limit::RateLimiter {
    let limiter = limiter(
        palisade::rate_limit::Algorithm::Gcra {
            rate: palisade::rate_limit::Rate::new(1, Duration::from_secs(3600)),
            burst: 1,
        },
        clock,
    );
    let _ = limiter.check();
    limiter
}

/// A coarse clock with its upkeep running, refreshed every millisecond (palisade never
/// starts the thread on its own; the quanta release governor uses keeps its own upkeep).
pub fn coarse_clock() -> palisade::clock::Clock {
    palisade::clock::start_coarse_clock(Duration::from_millis(1)).unwrap_or_else(|e| panic!("{e}"));
    palisade::clock::Clock::coarse()
}
