//! Circuit breaker benchmarks: synchronous successful calls through a closed breaker.
//!
//! `circuit_breaker/closed_call`, ids `palisade_consecutive` (5 consecutive failures trip),
//! `palisade_count_window` (100-call window, 50% failure rate), `palisade_time_window` (10 s in
//! 10 buckets, 50% failure rate, slow-call detection; two precise clock reads per call: the
//! default clock), `palisade_time_window_coarse` (the same breaker on [`Clock::coarse`], its
//! refresher started every millisecond: what opting in to the coarse clock buys a time window),
//! `recloser` (its default: a 100-call ring at 50%), `failsafe` (its default
//! consecutive-failures policy).
//! Goals: count_window ≤ 1.0× recloser; consecutive ≤ 0.6× recloser.
//!
//! `circuit_breaker/closed_call_2_threads`: two threads calling one breaker; the time is per
//! call per thread, so lower means more aggregate throughput. Goal: palisade ≥ recloser's
//! throughput.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade::circuit_breaker::{CircuitBreaker, SlidingWindow};
use palisade::clock::Clock;
use palisade_bench::two_threads;

/// The protected call: succeeds with an opaque value. It is inlinable, like the small
/// closures users wrap, so the figures measure the breakers rather than a function call that
/// costs every breaker the same (~8 ns here); `opaque_operation` keeps that variant for
/// reference (`closed_call_opaque`).
#[inline]
fn operation() -> Result<u64, std::io::Error> {
    Ok(black_box(42))
}

#[inline(never)]
fn opaque_operation() -> Result<u64, std::io::Error> {
    Ok(black_box(42))
}

fn consecutive() -> CircuitBreaker {
    CircuitBreaker::builder()
        .failure_threshold(5)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn count_window() -> CircuitBreaker {
    CircuitBreaker::builder()
        .no_failure_threshold()
        .failure_rate_threshold(50.0)
        .sliding_window(SlidingWindow::Count { size: 100 })
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn time_window() -> CircuitBreaker {
    time_window_on(Clock::monotonic())
}

/// A coarse clock with its refresher running (palisade never starts the thread on its own).
fn coarse() -> Clock {
    palisade::clock::start_coarse_clock(Duration::from_millis(1)).unwrap_or_else(|e| panic!("{e}"));
    Clock::coarse()
}

fn time_window_on(clock: Clock) -> CircuitBreaker {
    CircuitBreaker::builder()
        .clock(clock)
        .no_failure_threshold()
        .failure_rate_threshold(50.0)
        .slow_call_rate_threshold(80.0)
        .slow_call_duration(Duration::from_secs(2))
        .sliding_window(SlidingWindow::Time {
            duration: Duration::from_secs(10),
            buckets: 10,
        })
        .minimum_calls(100)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn closed_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuit_breaker/closed_call");
    let breaker = consecutive();
    group.bench_function("palisade_consecutive", |b| {
        b.iter(|| black_box(breaker.call_blocking(operation)))
    });
    let breaker = count_window();
    group.bench_function("palisade_count_window", |b| {
        b.iter(|| black_box(breaker.call_blocking(operation)))
    });
    let breaker = time_window();
    group.bench_function("palisade_time_window", |b| {
        b.iter(|| black_box(breaker.call_blocking(operation)))
    });
    let breaker = time_window_on(coarse());
    group.bench_function("palisade_time_window_coarse", |b| {
        b.iter(|| black_box(breaker.call_blocking(operation)))
    });
    let recloser = recloser::Recloser::default();
    group.bench_function("recloser", |b| {
        b.iter(|| black_box(recloser.call(operation)))
    });
    let failsafe = failsafe::Config::new().build();
    group.bench_function("failsafe", |b| {
        b.iter(|| black_box(failsafe::CircuitBreaker::call(&failsafe, operation)))
    });
    group.bench_function("baseline", |b| b.iter(|| black_box(operation())));
    group.finish();
}

fn closed_call_2_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuit_breaker/closed_call_2_threads");
    let breaker = consecutive();
    group.bench_function("palisade_consecutive", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                let _ = black_box(breaker.call_blocking(operation));
            })
        })
    });
    let breaker = count_window();
    group.bench_function("palisade_count_window", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                let _ = black_box(breaker.call_blocking(operation));
            })
        })
    });
    let recloser = recloser::Recloser::default();
    group.bench_function("recloser", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                let _ = black_box(recloser.call(operation));
            })
        })
    });
    group.finish();
}

fn closed_call_opaque(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuit_breaker/closed_call_opaque");
    let breaker = consecutive();
    group.bench_function("palisade_consecutive", |b| {
        b.iter(|| black_box(breaker.call_blocking(opaque_operation)))
    });
    let breaker = count_window();
    group.bench_function("palisade_count_window", |b| {
        b.iter(|| black_box(breaker.call_blocking(opaque_operation)))
    });
    let recloser = recloser::Recloser::default();
    group.bench_function("recloser", |b| {
        b.iter(|| black_box(recloser.call(opaque_operation)))
    });
    group.bench_function("baseline", |b| b.iter(|| black_box(opaque_operation())));
    group.finish();
}

criterion_group!(
    benches,
    closed_call,
    closed_call_2_threads,
    closed_call_opaque
);
criterion_main!(benches);
