//! `retry/happy_path` for an instruction counter: runs one id's routine `n` times.
//!
//! `cargo build --release -p palisade-bench --example happy_path_instructions`, then run it
//! under `valgrind --tool=callgrind` with `n` and `2n`: the difference of the two totals over
//! `n` is the id's instructions per call, free of start-up costs. The routines are those of
//! `benches/retry.rs`.
//!
//! Usage: `happy_path_instructions <id> <n>`; the ids of the group, and `palisade_async`,
//! `palisade_async_inline` for the async `call` polled once.

use std::hint::black_box;

use backon::{BlockingRetryable, ExponentialBuilder};
use palisade::retry::Retry;

#[inline(never)]
fn operation() -> Result<u64, std::io::Error> {
    Ok(black_box(42))
}

#[inline]
fn inline_operation() -> Result<u64, std::io::Error> {
    Ok(black_box(42))
}

/// Polls `future` once; the happy path is ready at once.
#[inline]
fn ready<T>(future: impl std::future::Future<Output = T>) -> T {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut context) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => panic!("the happy path never waits"),
    }
}

#[inline(never)]
fn run<O>(n: u64, mut routine: impl FnMut() -> O) {
    for _ in 0..n {
        black_box(routine());
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let id = args.next().unwrap_or_default();
    let n: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let retry = Retry::builder()
        .build()
        .unwrap_or_else(|e| panic!("default retry config must build: {e}"));
    let backoff = ExponentialBuilder::default();
    match id.as_str() {
        "palisade" => run(n, || retry.call_blocking(operation).ok()),
        "backon" => run(n, || operation.retry(backoff).call().ok()),
        "baseline" => run(n, || operation().ok()),
        "palisade_inline" => run(n, || retry.call_blocking(inline_operation).ok()),
        "backon_inline" => run(n, || inline_operation.retry(backoff).call().ok()),
        "baseline_inline" => run(n, || inline_operation().ok()),
        // The async `call`, polled once (not in the criterion group: no peer to compare).
        "palisade_async" => run(n, || ready(retry.call(|| async { operation() })).ok()),
        "palisade_async_inline" => run(n, || {
            ready(retry.call(|| async { inline_operation() })).ok()
        }),
        other => panic!("unknown id {other:?}"),
    }
}
