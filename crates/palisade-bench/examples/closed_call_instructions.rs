//! Instructions per closed breaker call, the work `circuit_breaker/closed_call` times:
//! `closed_call_instructions <consecutive|count> <n>`. Run it under
//! `valgrind --tool=callgrind` with n and 2n calls (n in the millions, so the precise
//! clock's start-up calibration is noise) and divide the difference of the totals by n.
use palisade::circuit_breaker::{CircuitBreaker, SlidingWindow};
use std::hint::black_box;

#[inline(never)]
fn run(b: &CircuitBreaker, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        if b.call_blocking(|| Ok::<u64, ()>(black_box(42))).is_ok() {
            ok += 1;
        }
    }
    ok
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let b = match kind.as_str() {
        "count" => CircuitBreaker::builder()
            .no_failure_threshold()
            .failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Count { size: 100 })
            .build(),
        _ => CircuitBreaker::builder().build(),
    }
    .unwrap_or_else(|e| panic!("the breaker config must build: {e}"));
    println!("{}", run(&b, n));
}
