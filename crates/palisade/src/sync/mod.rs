//! The synchronisation primitives of the lock-free policies, swappable for loom's.
//!
//! Built with `RUSTFLAGS="--cfg palisade_loom"`, these are loom's model-checked types and
//! `tests/loom_circuit_breaker.rs` explores every interleaving of the breaker's concurrent
//! paths. (A crate-specific cfg, so dependencies with their own `cfg(loom)` code are untouched.)
//!
//! The lock-free building blocks shared by several policies live here too: [`semaphore`]
//! (the bulkhead's slots, the rate limiter's waiting turn) and [`seqlock`] (the rate
//! limiter's quota parameters, the time windows' bucket snapshots). Their own loom models
//! run with `RUSTFLAGS="--cfg palisade_loom" cargo test -p palisade --release --lib loom`.

pub(crate) mod semaphore;
pub(crate) mod seqlock;

#[cfg(not(palisade_loom))]
pub(crate) use std::hint::spin_loop;
#[cfg(not(palisade_loom))]
pub(crate) use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering, fence};
#[cfg(not(palisade_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(palisade_loom)]
pub(crate) use loom::hint::spin_loop;
#[cfg(palisade_loom)]
pub(crate) use loom::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering, fence};
#[cfg(palisade_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering it if a panic elsewhere poisoned it. Every critical section in the
/// policies writes whole values, so the data behind a poisoned lock is still consistent, and a
/// panicking listener or key type must not disable a policy.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
