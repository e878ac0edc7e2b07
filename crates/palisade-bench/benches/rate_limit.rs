//! Rate limiter benchmarks: admitting checks of a direct (single-key) limiter.
//!
//! `rate_limit/direct_check`, ids `palisade_gcra`, `palisade_token_bucket`, `governor` (both
//! on their default precise clocks), `palisade_gcra_coarse` and `governor_upkeep` (governor
//! on its `QuantaUpkeepClock`; both upkeeps refresh every millisecond). Goals: palisade_gcra ≤ 1.0× governor; palisade_gcra_coarse ≤
//! 1.0× governor_upkeep. `rate_limit/direct_check_2_threads`: two threads on one limiter
//! (time per check per thread).
//!
//! `rate_limit/direct_check_reject`: checks of a limiter whose one permit per hour is spent,
//! so every check is refused (ids `palisade_gcra`, `governor`, both precise clocks; and
//! `palisade_gcra_coarse`, `governor_upkeep`). Each side returns its own refusal — ours
//! carries the computed `retry_after`, governor's the snapshot it computes it from — and the
//! whole result goes through `black_box`. Goal: ≤ 1.0× governor on both clocks.
//!
//! `palisade_*` ids measure `check()`, which, like governor's `check()`, reports only whether
//! the permit was granted; `palisade_gcra_try_acquire` measures `try_acquire()`, which also
//! returns the limit, remaining and reset numbers.
//!
//! Every limiter gets the same quota — u32::MAX per second, burst 1,000,000 — so every check
//! is admitted, as the contract asks.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade::clock::Clock;
use palisade::rate_limit::{Algorithm, Rate};
use palisade_bench::{
    coarse_clock as coarse, limiter as palisade, spent_limiter as spent, two_threads,
};

const BURST: u32 = 1_000_000;

fn rate() -> Rate {
    Rate::per_second(u32::MAX)
}

fn gcra() -> Algorithm {
    Algorithm::Gcra {
        rate: rate(),
        burst: BURST,
    }
}

fn token_bucket() -> Algorithm {
    Algorithm::TokenBucket {
        rate: rate(),
        capacity: BURST,
        initial_tokens: None,
    }
}

fn quota() -> governor::Quota {
    let max = NonZeroU32::MAX;
    let burst = NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN);
    governor::Quota::per_second(max).allow_burst(burst)
}

fn direct_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit/direct_check");
    let limiter = palisade(gcra(), Clock::monotonic());
    group.bench_function("palisade_gcra", |b| b.iter(|| black_box(limiter.check())));
    group.bench_function("palisade_gcra_try_acquire", |b| {
        b.iter(|| black_box(limiter.try_acquire()))
    });
    let limiter = palisade(token_bucket(), Clock::monotonic());
    group.bench_function("palisade_token_bucket", |b| {
        b.iter(|| black_box(limiter.check()))
    });
    let governor = governor::RateLimiter::direct(quota());
    group.bench_function("governor", |b| b.iter(|| black_box(governor.check())));
    let limiter = palisade(gcra(), coarse());
    group.bench_function("palisade_gcra_coarse", |b| {
        b.iter(|| black_box(limiter.check()))
    });
    let upkeep = governor::clock::QuantaUpkeepClock::from_interval(Duration::from_millis(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let governor = governor::RateLimiter::direct_with_clock(quota(), upkeep);
    group.bench_function("governor_upkeep", |b| {
        b.iter(|| black_box(governor.check()))
    });
    group.finish();
}

fn direct_check_reject(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit/direct_check_reject");
    let quota = governor::Quota::per_hour(NonZeroU32::MIN);
    let limiter = spent(Clock::monotonic());
    group.bench_function("palisade_gcra", |b| b.iter(|| black_box(limiter.check())));
    let governor = governor::RateLimiter::direct(quota);
    let _ = governor.check();
    group.bench_function("governor", |b| b.iter(|| black_box(governor.check())));
    let limiter = spent(coarse());
    group.bench_function("palisade_gcra_coarse", |b| {
        b.iter(|| black_box(limiter.check()))
    });
    let upkeep = governor::clock::QuantaUpkeepClock::from_interval(Duration::from_millis(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let governor = governor::RateLimiter::direct_with_clock(quota, upkeep);
    let _ = governor.check();
    group.bench_function("governor_upkeep", |b| {
        b.iter(|| black_box(governor.check()))
    });
    group.finish();
}

fn direct_check_2_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit/direct_check_2_threads");
    let limiter = palisade(gcra(), Clock::monotonic());
    group.bench_function("palisade_gcra", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                let _ = black_box(limiter.check());
            })
        })
    });
    let governor = governor::RateLimiter::direct(quota());
    group.bench_function("governor", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                let _ = black_box(governor.check());
            })
        })
    });
    group.finish();
}

/// `rate_limit/keyed_check_1024`: admitting checks over 1024 keys in round robin, u64 keys.
/// Goal: palisade ≤ 0.8× governor (its default keyed limiter, a DashMap).
fn keyed_check_1024(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit/keyed_check_1024");
    let keyed = palisade::rate_limit::KeyedRateLimiter::builder(gcra())
        .build::<u64>()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut key = 0u64;
    group.bench_function("palisade", |b| {
        b.iter(|| {
            key = (key + 1) & 1023;
            black_box(keyed.try_acquire(&key))
        })
    });
    let governor = governor::RateLimiter::keyed(quota());
    let mut key = 0u64;
    group.bench_function("governor", |b| {
        b.iter(|| {
            key = (key + 1) & 1023;
            black_box(governor.check_key(&key))
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    direct_check,
    direct_check_reject,
    direct_check_2_threads,
    keyed_check_1024
);
criterion_main!(benches);
