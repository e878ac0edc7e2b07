//! `circuit_breaker/closed_call`: synchronous successful calls through a closed breaker.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

#[inline(never)]
fn operation() -> Result<u64, std::io::Error> {
    Ok(black_box(42))
}

fn closed_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuit_breaker/closed_call");
    let recloser = recloser::Recloser::default();
    group.bench_function("recloser", |b| {
        b.iter(|| black_box(recloser.call(operation)))
    });
    let failsafe = failsafe::Config::new().build();
    group.bench_function("failsafe", |b| {
        b.iter(|| black_box(failsafe::CircuitBreaker::call(&failsafe, operation)))
    });
    group.finish();
}

criterion_group!(benches, closed_call);
criterion_main!(benches);
