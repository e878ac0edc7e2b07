//! `retry/happy_path`: a blocking retry whose first attempt succeeds, default configuration.
//!
//! ids: `palisade`, `backon` (backon's blocking retry with its default exponential backoff),
//! `baseline` (the plain call). The contract: palisade ≤ backon + 1 ns.

use std::hint::black_box;

use backon::{BlockingRetryable, ExponentialBuilder};
use criterion::{Criterion, criterion_group, criterion_main};
use palisade::retry::Retry;

/// The protected operation: trivially succeeds, kept opaque to the optimiser.
#[inline(never)]
fn operation() -> Result<u64, std::io::Error> {
    Ok(black_box(42))
}

fn happy_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry/happy_path");

    let retry = Retry::builder()
        .build()
        .unwrap_or_else(|e| panic!("default retry config must build: {e}"));
    group.bench_function("palisade", |b| {
        b.iter(|| black_box(retry.call_blocking(operation)))
    });

    let backoff = ExponentialBuilder::default();
    group.bench_function("backon", |b| {
        b.iter(|| black_box(operation.retry(backoff).call()))
    });

    group.bench_function("baseline", |b| b.iter(|| black_box(operation())));
    group.finish();
}

criterion_group!(benches, happy_path);
criterion_main!(benches);
