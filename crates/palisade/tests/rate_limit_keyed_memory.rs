//! Memory per key of the keyed rate limiter at a million `u64` keys, measured by a counting
//! global allocator (live heap bytes).
//!
//! The module docs promise compact entries for GCRA, token bucket and fixed window: one `u64`
//! of state per key, so 16 bytes per entry with `u64` keys and about 36 bytes per key at a
//! million keys including the hash table's slack. The tests hold that to at most 64 bytes
//! per tracked key (everything the limiter allocates, divided by the keys it tracks) and
//! print the measurement; run with `--nocapture` to see it.
//!
//! The counter is process-wide, so the tests take turns (`SERIAL`) and measure only while
//! holding the turn; the test harness's own allocations meanwhile are a few hundred bytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use palisade::clock::ManualClock;
use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};

/// Wraps the system allocator, tracking the bytes currently allocated.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

fn size(bytes: usize) -> isize {
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded unchanged to `System`; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(size(layout.size()), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(size(layout.size()), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(size(layout.size()), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` with `layout`; the caller upholds the rest.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_add(size(new_size) - size(layout.size()), Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One measurement at a time: the counter sees every thread's allocations.
static SERIAL: Mutex<()> = Mutex::new(());

const KEYS: u64 = 1_000_000;
const BUDGET_PER_KEY: f64 = 64.0;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Builds a limiter for a million `u64` keys on a frozen clock, offers it a million distinct
/// keys (one permit each), and returns (bytes per tracked key, bytes per offered key,
/// tracked keys). Also checks that dropping the limiter gives the memory back.
fn measure(algorithm: Algorithm) -> (f64, f64, usize) {
    let _turn = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let before = live_bytes();
    let limiter: KeyedRateLimiter<u64> = KeyedRateLimiter::builder(algorithm)
        .max_keys(1_000_000)
        .idle_ttl(Duration::from_secs(24 * 3600))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let mut admitted = 0usize;
    for key in 0..KEYS {
        if limiter.try_acquire(&key).is_ok() {
            admitted += 1;
        }
    }
    let used = live_bytes() - before;
    let tracked = limiter.len();
    assert_eq!(tracked, admitted, "every admitted key is tracked");
    // The cap is per shard (1,000,000 / 64 shards), so a shard that draws more than its
    // share of the keys refuses the surplus; that is a fraction of a percent.
    assert!(tracked >= 990_000, "only {tracked} keys tracked");
    drop(limiter);
    let left = live_bytes() - before;
    assert!(
        left < 64 * 1024,
        "{left} bytes still allocated after dropping the limiter"
    );
    let used = used as f64;
    (used / tracked as f64, used / KEYS as f64, tracked)
}

#[test]
fn a_gcra_keyed_limiter_costs_at_most_64_bytes_per_u64_key_at_a_million_keys() {
    let algorithm = Algorithm::Gcra {
        rate: Rate::per_second(1),
        burst: 1,
    };
    let (per_tracked, per_offered, tracked) = measure(algorithm);
    println!(
        "GCRA: {per_tracked:.1} bytes per tracked key ({tracked} keys tracked), \
         {per_offered:.1} bytes per offered key (1,000,000 offered)"
    );
    assert!(
        per_tracked <= BUDGET_PER_KEY,
        "GCRA: {per_tracked:.1} bytes per key"
    );
}

#[test]
fn a_fixed_window_keyed_limiter_costs_at_most_64_bytes_per_u64_key_at_a_million_keys() {
    let algorithm = Algorithm::FixedWindow {
        max_requests: 10,
        window: Duration::from_secs(60),
    };
    let (per_tracked, per_offered, tracked) = measure(algorithm);
    println!(
        "fixed window: {per_tracked:.1} bytes per tracked key ({tracked} keys tracked), \
         {per_offered:.1} bytes per offered key (1,000,000 offered)"
    );
    assert!(
        per_tracked <= BUDGET_PER_KEY,
        "fixed window: {per_tracked:.1} bytes per key"
    );
}
