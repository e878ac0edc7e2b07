//! `retry/happy_path`: a blocking retry whose first attempt succeeds, default configuration.
//!
//! ids: `palisade`, `backon` (backon's blocking retry with its default exponential backoff),
//! `baseline` (the plain call), each around an opaque operation (a call the optimiser cannot
//! see into); and `palisade_inline`, `backon_inline`, `baseline_inline` around the same
//! operation made inlinable, like the small closures users wrap, where a retry whose happy path
//! is free compiles down to the operation alone. The contract: palisade ≤ backon + 1 ns, with
//! either operation.
//!
//! Every id black-boxes the operation's input once (inside the operation) and its result once
//! (criterion's `iter` does it to the routine's return). The result is reduced to an
//! `Option<u64>` first, so every id hands back the same small value and none pays for the
//! size of its error type.

use std::hint::black_box;

use backon::{BlockingRetryable, ExponentialBuilder};
use criterion::{Criterion, criterion_group, criterion_main};
use palisade::retry::Retry;

/// The protected operation: trivially succeeds, kept opaque to the optimiser.
#[inline(never)]
fn operation() -> Result<u64, std::io::Error> {
    Ok(black_box(42))
}

/// The same operation, inlinable.
#[inline]
fn inline_operation() -> Result<u64, std::io::Error> {
    Ok(black_box(42))
}

fn happy_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry/happy_path");

    let retry = Retry::builder()
        .build()
        .unwrap_or_else(|e| panic!("default retry config must build: {e}"));
    let backoff = ExponentialBuilder::default();

    group.bench_function("palisade", |b| {
        b.iter(|| retry.call_blocking(operation).ok())
    });
    group.bench_function("backon", |b| {
        b.iter(|| operation.retry(backoff).call().ok())
    });
    group.bench_function("baseline", |b| b.iter(|| operation().ok()));

    group.bench_function("palisade_inline", |b| {
        b.iter(|| retry.call_blocking(inline_operation).ok())
    });
    group.bench_function("backon_inline", |b| {
        b.iter(|| inline_operation.retry(backoff).call().ok())
    });
    group.bench_function("baseline_inline", |b| b.iter(|| inline_operation().ok()));
    group.finish();
}

criterion_group!(benches, happy_path);
criterion_main!(benches);
