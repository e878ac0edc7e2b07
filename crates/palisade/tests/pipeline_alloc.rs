//! The pipeline's happy path allocates nothing: after a warm-up (which pays for lazy,
//! once-per-process or once-per-thread set-up), N successful calls through the pipeline — the
//! full stack of the `pipeline/happy_path` benchmark, and each policy alone — perform zero heap
//! allocations on the calling thread, async and blocking.
//!
//! The global allocator below counts allocations per thread, and only while a measured section
//! on that thread is open, so tokio's worker set-up, the test harness and other tests running
//! in parallel do not count. Set `PALISADE_ALLOC_BACKTRACE=1` to print a backtrace of every
//! allocation made inside a measured section, whatever `RUST_BACKTRACE` says (run with
//! `--test-threads=1` to keep the traces apart). A warm-up of zero calls passes too today:
//! nothing on the path is initialised lazily on first call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use palisade::pipeline::{Pipeline, PipelineBuilder};
use palisade::rate_limit::{Algorithm, Rate};

// ---------------------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------------------

struct CountingAllocator;

thread_local! {
    /// Whether this thread is inside a measured section.
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    /// Allocations (alloc, alloc_zeroed, realloc) made by this thread while measuring.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Set while the allocator itself is printing a backtrace, which allocates.
    static REPORTING: Cell<bool> = const { Cell::new(false) };
}

/// Print a backtrace for each counted allocation (read once from the environment, outside
/// any measured section: reading the environment allocates).
static BACKTRACES: AtomicBool = AtomicBool::new(false);

fn count(layout: Layout) {
    let measuring = MEASURING.try_with(Cell::get).unwrap_or(false);
    if !measuring || REPORTING.try_with(Cell::get).unwrap_or(true) {
        return;
    }
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    if BACKTRACES.load(Ordering::Relaxed) {
        let _ = REPORTING.try_with(|r| r.set(true));
        eprintln!(
            "allocation of {} bytes (align {}) in a measured section:\n{}",
            layout.size(),
            layout.align(),
            Backtrace::force_capture()
        );
        let _ = REPORTING.try_with(|r| r.set(false));
    }
}

// SAFETY: every method forwards to the system allocator unchanged; the bookkeeping uses
// const-initialised thread-local `Cell`s (which never allocate) and an atomic. The backtrace
// printing allocates, but re-entry is cut off by `REPORTING` before it counts again.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout);
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `new_size` and `layout.align()` come from a valid reallocation request.
        count(unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) });
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Opens a measured section on this thread: allocations are counted from here on.
fn start_counting() {
    BACKTRACES.store(
        std::env::var_os("PALISADE_ALLOC_BACKTRACE").is_some_and(|v| v != "0"),
        Ordering::Relaxed,
    );
    ALLOCATIONS.with(|n| n.set(0));
    MEASURING.with(|m| m.set(true));
}

/// Closes the measured section and returns the allocations made in it.
fn stop_counting() -> u64 {
    MEASURING.with(|m| m.set(false));
    ALLOCATIONS.with(Cell::get)
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Calls measured after the warm-up.
const CALLS: u64 = 1_000;
/// Calls made first, unmeasured: lazy set-up (the precise clock's calibration, per-thread
/// counter slots, tokio's timer driver and thread-local context) happens here.
const WARM_UP: u64 = 16;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// The benchmark's stack: rate limit + bulkhead + per-attempt timeout + retry + breaker.
fn full() -> PipelineBuilder {
    Pipeline::builder()
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(u32::MAX),
            burst: 1_000_000,
        })
        .bulkhead(|b| b.max_concurrent(1024))
        .timeout(Duration::from_secs(1))
        .retry(|r| r.max_attempts(3))
        .circuit_breaker(|b| b)
}

/// Allocations made by `CALLS` async happy-path calls through `pipeline`, after a warm-up,
/// on a current-thread runtime: the calls are polled by one `block_on` on this thread, and the
/// measured section stays open across their awaits (none of which is pending).
fn async_allocations(pipeline: &Pipeline) -> u64 {
    let rt = runtime();
    rt.block_on(async {
        for _ in 0..WARM_UP {
            let v = pipeline.call(|| async { Ok::<_, std::io::Error>(black_box(42)) });
            assert_eq!(v.await.unwrap(), 42);
        }
        start_counting();
        let mut ok = 0u64;
        for _ in 0..CALLS {
            let v = pipeline.call(|| async { Ok::<_, std::io::Error>(black_box(42)) });
            ok += u64::from(black_box(v.await).is_ok());
        }
        let allocations = stop_counting();
        assert_eq!(ok, CALLS, "every call succeeds");
        allocations
    })
}

/// Allocations made by `CALLS` blocking happy-path calls through `pipeline`, after a warm-up.
fn blocking_allocations(pipeline: &Pipeline) -> u64 {
    for _ in 0..WARM_UP {
        let v = pipeline.call_blocking(|| Ok::<_, std::io::Error>(black_box(42)));
        assert_eq!(v.unwrap(), 42);
    }
    start_counting();
    let mut ok = 0u64;
    for _ in 0..CALLS {
        let v = pipeline.call_blocking(|| Ok::<_, std::io::Error>(black_box(42)));
        ok += u64::from(black_box(v).is_ok());
    }
    let allocations = stop_counting();
    assert_eq!(ok, CALLS, "every call succeeds");
    allocations
}

fn build(builder: PipelineBuilder) -> Pipeline {
    builder.build().unwrap()
}

/// Asserts that both the async and the blocking happy path of `builder`'s pipeline allocate
/// nothing (each on a pipeline of its own, so neither warms the other up).
fn assert_no_allocations(what: &str, builder: impl Fn() -> PipelineBuilder) {
    let async_count = async_allocations(&build(builder()));
    let blocking_count = blocking_allocations(&build(builder()));
    assert_eq!(
        (async_count, blocking_count),
        (0, 0),
        "{what}: (async, blocking) allocations in {CALLS} happy-path calls; \
         rerun with PALISADE_ALLOC_BACKTRACE=1 to see where"
    );
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn the_counter_sees_an_allocation() {
    start_counting();
    let v = black_box(vec![1u8; 16]);
    let counted = stop_counting();
    drop(v);
    assert_eq!(counted, 1);
}

#[test]
fn the_counter_sees_an_operation_allocate_inside_an_async_call() {
    // The control for the async tests: the measured section does span the awaited calls.
    let pipeline = build(full());
    let rt = runtime();
    let counted = rt.block_on(async {
        start_counting();
        for _ in 0..CALLS {
            let v = pipeline.call(|| async { Ok::<_, std::io::Error>(Box::new(black_box(42))) });
            black_box(v.await.unwrap());
        }
        stop_counting()
    });
    assert_eq!(counted, CALLS);
}

#[test]
fn full_pipeline_async_call_allocates_nothing() {
    assert_eq!(async_allocations(&build(full())), 0);
}

#[test]
fn full_pipeline_blocking_call_allocates_nothing() {
    assert_eq!(blocking_allocations(&build(full())), 0);
}

#[test]
fn full_pipeline_on_the_tokio_clock_allocates_nothing() {
    // `Clock::tokio()` reads tokio's time (the runtime's clock), the others the process clock.
    let rt = runtime();
    let pipeline = rt.block_on(async { build(full().clock(palisade::clock::Clock::tokio())) });
    assert_eq!(async_allocations(&pipeline), 0);
}

#[test]
fn empty_pipeline_allocates_nothing() {
    assert_no_allocations("no policy", Pipeline::builder);
}

#[test]
fn rate_limit_alone_allocates_nothing() {
    assert_no_allocations("rate limit", || {
        Pipeline::builder().rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(u32::MAX),
            burst: 1_000_000,
        })
    });
}

#[test]
fn bulkhead_alone_allocates_nothing() {
    assert_no_allocations("bulkhead", || {
        Pipeline::builder().bulkhead(|b| b.max_concurrent(1024))
    });
}

#[test]
fn timeout_alone_allocates_nothing() {
    assert_no_allocations("per-attempt timeout", || {
        Pipeline::builder().timeout(Duration::from_secs(1))
    });
}

#[test]
fn total_timeout_alone_allocates_nothing() {
    assert_no_allocations("total timeout", || {
        Pipeline::builder().total_timeout(Duration::from_secs(1))
    });
}

#[test]
fn retry_alone_allocates_nothing() {
    assert_no_allocations("retry", || Pipeline::builder().retry(|r| r.max_attempts(3)));
}

#[test]
fn circuit_breaker_alone_allocates_nothing() {
    assert_no_allocations("circuit breaker", || {
        Pipeline::builder().circuit_breaker(|b| b)
    });
}
