//! `simulation/hour_at_100rps`: one simulated hour at 100 calls/s (360,000 calls, 5 %
//! failures, one 10-minute outage) through a full pipeline on virtual time — see
//! `palisade_bench::simulation` for the scenario. Goal: under 1 s on a 2-core machine.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_bench::simulation;

fn hour_at_100rps(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulation");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("hour_at_100rps", |b| {
        b.iter(|| black_box(simulation::run(black_box(360_000), 7)))
    });
    group.finish();
}

criterion_group!(benches, hour_at_100rps);
criterion_main!(benches);
