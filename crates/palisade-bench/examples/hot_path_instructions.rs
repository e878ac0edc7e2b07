//! The rate limiter's direct checks and the pipeline's happy path for an instruction counter:
//! runs one id's routine `n` times.
//!
//! `cargo build --profile bench -p palisade-bench --example hot_path_instructions`, then run it
//! under `valgrind --tool=callgrind` with `n` and `2n`: the difference of the two totals over
//! `n` is the id's instructions per call, free of start-up costs. Count with
//! `--toggle-collect='hot_path_instructions::run*'`: the precise clock's calibration (run once,
//! outside `run`) varies by millions of instructions between runs.
//!
//! Usage: `hot_path_instructions <id> <n>`; ids: `check`, `try_acquire`, `check_reject`,
//! `governor`, `governor_reject` (precise clocks, the quotas of `benches/rate_limit.rs`),
//! `check_coarse`, `check_reject_coarse`, `governor_upkeep`, `governor_upkeep_reject` (the
//! coarse clocks, refreshed every millisecond),
//! `pipeline` (the async `call` of `benches/pipeline.rs` on a current-thread tokio runtime),
//! `pipeline_blocking` (the same pipeline's `call_blocking`).

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use palisade::clock::Clock;
use palisade::pipeline::Pipeline;
use palisade::rate_limit::RateLimiter;
use palisade_bench::{admitting_quota, coarse_clock as coarse, limiter, spent_limiter as spent};

/// The pipeline of `benches/pipeline.rs`.
fn pipeline() -> Pipeline {
    palisade_bench::happy_path_pipeline()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn operation() -> Result<u64, std::io::Error> {
    Ok(black_box(42))
}

#[inline(never)]
fn run<O>(n: u64, mut routine: impl FnMut() -> O) {
    for _ in 0..n {
        black_box(routine());
    }
}

fn admitting(clock: Clock) -> RateLimiter {
    limiter(admitting_quota(), clock)
}

fn upkeep() -> governor::clock::QuantaUpkeepClock {
    governor::clock::QuantaUpkeepClock::from_interval(Duration::from_millis(1))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let id = args.next().unwrap_or_default();
    let n: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    match id.as_str() {
        "check" => {
            let l = admitting(Clock::monotonic());
            run(n, || l.check())
        }
        "try_acquire" => {
            let l = admitting(Clock::monotonic());
            run(n, || l.try_acquire())
        }
        "check_reject" => {
            let l = spent(Clock::monotonic());
            run(n, || l.check())
        }
        "check_coarse" => {
            let l = admitting(coarse());
            run(n, || l.check())
        }
        "check_reject_coarse" => {
            let l = spent(coarse());
            run(n, || l.check())
        }
        "governor_upkeep" => {
            let max = NonZeroU32::MAX;
            let burst = NonZeroU32::new(1_000_000).unwrap_or(NonZeroU32::MIN);
            let quota = governor::Quota::per_second(max).allow_burst(burst);
            let g = governor::RateLimiter::direct_with_clock(quota, upkeep());
            run(n, || g.check())
        }
        "governor_upkeep_reject" => {
            let quota = governor::Quota::per_hour(NonZeroU32::MIN);
            let g = governor::RateLimiter::direct_with_clock(quota, upkeep());
            let _ = g.check();
            run(n, || g.check())
        }
        "governor" => {
            let max = NonZeroU32::MAX;
            let burst = NonZeroU32::new(1_000_000).unwrap_or(NonZeroU32::MIN);
            let g =
                governor::RateLimiter::direct(governor::Quota::per_second(max).allow_burst(burst));
            run(n, || g.check())
        }
        "governor_reject" => {
            let g = governor::RateLimiter::direct(governor::Quota::per_hour(NonZeroU32::MIN));
            let _ = g.check();
            run(n, || g.check())
        }
        "pipeline" => {
            let p = pipeline();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            // Inside `run`, so that `--toggle-collect` counts it.
            run(1, || {
                rt.block_on(async {
                    for _ in 0..n {
                        black_box(p.call(operation).await.ok());
                    }
                })
            })
        }
        "pipeline_blocking" => {
            let p = pipeline();
            run(n, || {
                p.call_blocking(|| Ok::<_, std::io::Error>(black_box(42)))
                    .ok()
            })
        }
        // The size of the pipeline's call future (not a count).
        "future_size" => {
            let p = pipeline();
            println!("{}", std::mem::size_of_val(&p.call(operation)));
        }
        other => panic!("unknown id {other:?}"),
    }
}
