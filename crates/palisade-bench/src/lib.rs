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
